"""Pure parts of the compute core: matching rules and exact money."""

from __future__ import annotations

from decimal import Decimal

import pytest

from proctor.core.compute import keys, matching, money
from proctor.core.compute.matching import Offer, Requirement

OFFER = Offer(gpu_type="a100", gpu_count=2, price_per_hour_micro=2_000_000, max_concurrent=3)


def job(**overrides: object) -> Requirement:
    values: dict[str, object] = {
        "gpu_type": "a100",
        "gpu_count": 1,
        "estimated_time": 1800,
        "price_micro": 1_000_000,
    }
    values.update(overrides)
    return Requirement(**values)  # type: ignore[arg-type]


class TestMismatch:
    def test_a_fitting_job(self) -> None:
        assert matching.mismatch(OFFER, job()) is None

    @pytest.mark.parametrize("gpu_type", [" A100 ", "a100", None])
    def test_gpu_type_ignores_case_and_space_and_none_means_any(self, gpu_type: str | None) -> None:
        assert matching.mismatch(OFFER, job(gpu_type=gpu_type)) is None

    def test_other_gpu_type(self) -> None:
        reason = matching.mismatch(OFFER, job(gpu_type="v100"))
        assert reason is not None and "v100" in reason

    def test_too_many_gpus(self) -> None:
        assert matching.mismatch(OFFER, job(gpu_count=2)) is None
        reason = matching.mismatch(OFFER, job(gpu_count=3))
        assert reason is not None and "3 GPUs" in reason

    def test_price_is_compared_exactly_at_the_boundary(self) -> None:
        # 2.0/hour for 1800 s is exactly 1.0: equal pays enough, one micro-unit less does not.
        assert matching.mismatch(OFFER, job(price_micro=1_000_000)) is None
        reason = matching.mismatch(OFFER, job(price_micro=999_999))
        assert reason is not None and "price" in reason

    def test_price_for_awkward_durations_has_no_rounding_drift(self) -> None:
        offer = Offer(gpu_type="a100", gpu_count=1, price_per_hour_micro=1_000_000, max_concurrent=1)
        minimum = matching.minimum_price_micro(1_000_000, 7)  # 7 s at 1.0/hour = 1944.44… µ → 1945
        assert minimum == 1945
        assert matching.pays_enough(offer, job(estimated_time=7, price_micro=minimum))
        assert not matching.pays_enough(offer, job(estimated_time=7, price_micro=minimum - 1))

    def test_free_slots_never_negative(self) -> None:
        assert matching.free_slots(OFFER, 0) == 3
        assert matching.free_slots(OFFER, 3) == 0
        assert matching.free_slots(OFFER, 5) == 0  # max_concurrent lowered below what runs


class TestMoney:
    @pytest.mark.parametrize(
        ("text", "micro"),
        [("0.05", 50_000), ("0", 0), ("1000000000", 10**15), ("0.000001", 1), ("1.50", 1_500_000)],
    )
    def test_round_trip(self, text: str, micro: int) -> None:
        assert money.to_micro(Decimal(text)) == micro
        assert money.from_micro(micro) == Decimal(text)

    @pytest.mark.parametrize("text", ["0.0000001", "-1", "NaN", "Infinity"])
    def test_refuses_what_cannot_be_exact(self, text: str) -> None:
        with pytest.raises(ValueError):
            money.to_micro(Decimal(text))

    def test_no_float_drift(self) -> None:
        total = sum(money.to_micro(Decimal("0.1")) for _ in range(3))
        assert money.from_micro(total) == Decimal("0.3")

    def test_ratio(self) -> None:
        assert money.ratio(1_500_000, Decimal("0.5")) == Decimal("3.000000")
        assert money.ratio(1_000_000, Decimal(3)) == Decimal("0.333333")
        assert money.ratio(1_000_000, Decimal(0)) == Decimal("0.000000")


class TestKeys:
    def test_keys_are_long_random_and_hashed(self) -> None:
        a, b = keys.new_key(keys.MINER_KEY_PREFIX), keys.new_key(keys.MINER_KEY_PREFIX)
        assert a != b and a.startswith("mk_") and len(a) > 40
        assert keys.digest(a) == keys.digest(a) != keys.digest(b) and len(keys.digest(a)) == 64
        assert keys.new_id("job").startswith("job_") and len(keys.new_id("job")) == 36
