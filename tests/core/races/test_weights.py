"""The weights a validator sets after a race (`proctor.core.races.weights`): pure, deterministic."""

from __future__ import annotations

import pytest

from proctor.core.races.weights import BURN, UNIT, Finisher, split


def finisher(hotkey: str, score: float, version: str | None = None) -> Finisher:
    return Finisher(hotkey, version or f"v-{hotkey}", score)


def table(shares: list) -> list[tuple[int | None, str, float]]:  # type: ignore[type-arg]
    return [(s.rank, s.miner_hotkey, s.weight) for s in shares]


def test_no_finisher_sets_nothing() -> None:
    assert split([], burn=0.75) == []


def test_a_lone_finisher_takes_the_unburned_share() -> None:
    assert table(split([finisher("a", 0.6)], burn=0.75)) == [(1, "a", 0.25), (None, BURN, 0.75)]
    assert table(split([finisher("a", 0.6)], burn=0.0)) == [(1, "a", 1.0)]


def test_top_half_paid_with_a_taper_out_of_the_burn() -> None:
    field = [finisher(h, s) for h, s in (("c", 0.5), ("a", 0.9), ("e", 0.1), ("b", 0.7), ("d", 0.3))]
    shares = split(field, burn=0.75)
    assert [s.miner_hotkey for s in shares] == ["a", "b", "c", "d", "e", BURN]
    weights = [s.weight for s in shares]
    assert weights[:5] == [0.25, 2 * UNIT, UNIT, 0.0, 0.0], "ceil(5/2) = 3 paid: the top, then 2 and 1 units"
    assert weights[5] == pytest.approx(0.75 - 3 * UNIT)
    assert sum(weights) == pytest.approx(1.0)


def test_without_burn_the_top_gives_up_the_taper() -> None:
    shares = split([finisher("a", 0.9), finisher("b", 0.8), finisher("c", 0.7)], burn=0.0)
    assert table(shares) == [(1, "a", 1.0 - UNIT), (2, "b", UNIT), (3, "c", 0.0)]


def test_ties_go_to_the_smaller_version_id_whatever_the_input_order() -> None:
    one = split([finisher("x", 0.5, "v2"), finisher("y", 0.5, "v1")], burn=0.5)
    two = split([finisher("y", 0.5, "v1"), finisher("x", 0.5, "v2")], burn=0.5)
    assert one == two and one[0].miner_hotkey == "y"


@pytest.mark.parametrize("burn", [-0.1, 1.5])
def test_burn_outside_zero_one_is_refused(burn: float) -> None:
    with pytest.raises(ValueError):
        split([finisher("a", 0.5)], burn=burn)
