"""The integer budget split (reference pool-api §5.3): exact examples and a property test."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from proctor.core.rewards.allocation import MAX_UNITS, Competition, Rational, accumulate, allocate

F = Fraction


def comp(
    weight: Fraction | int, scores: dict[str, Fraction] | dict[str, int], enabled: bool = True
) -> Competition:
    return Competition(weight=F(weight), scores={h: F(s) for h, s in scores.items()}, enabled=enabled)


def frac(value: Rational) -> Fraction:
    return Fraction(value.numerator, value.denominator)


class TestExamples:
    def test_two_step_split_by_weight_then_score(self) -> None:
        # 1000 units: 70 % to A (scores 3:1), 30 % to B (one miner); a miner in both gets the sum.
        result = allocate(1000, [comp(F(7, 10), {"a": 3, "b": 1}), comp(F(3, 10), {"b": 5})])
        assert result.amounts == {"a": 525, "b": 175 + 300}
        assert result.allocated_units == 1000

    def test_remainder_goes_to_largest_fractions_then_hotkey_order(self) -> None:
        assert allocate(10, [comp(1, {"c": 1, "a": 1, "b": 1})]).amounts == {"a": 4, "b": 3, "c": 3}
        # 7 × 1/3 = 2.33…, 7 × 2/3 = 4.66…: the larger remainder takes the extra unit.
        assert allocate(7, [comp(1, {"x": 1, "y": 2})]).amounts == {"x": 2, "y": 5}

    def test_decimal_scores_are_exact(self) -> None:
        # 0.1 + 0.2 ≠ 0.3 in floats; as exact tenths the three shares are 1 : 2 : 3.
        scores = {"a": F("0.1"), "b": F("0.2"), "c": F("0.3")}
        assert allocate(600, [comp(1, scores)]).amounts == {"a": 100, "b": 200, "c": 300}

    def test_competition_without_scores_keeps_its_share_unallocated(self) -> None:
        result = allocate(1000, [comp(3, {"a": 1}), comp(1, {}), comp(1, {"z": 0})])
        assert result.amounts == {"a": 600}
        assert result.allocated_units == 600

    def test_disabled_and_zero_weight_competitions_are_left_out(self) -> None:
        result = allocate(100, [comp(1, {"a": 1}), comp(5, {"b": 1}, enabled=False), comp(0, {"c": 1})])
        assert result.amounts == {"a": 100}

    def test_nothing_to_split(self) -> None:
        assert allocate(0, [comp(1, {"a": 1})]).amounts == {}
        assert allocate(100, []).amounts == {}
        assert allocate(100, [comp(1, {"a": 0})]).amounts == {}

    def test_tiny_budget_many_miners(self) -> None:
        result = allocate(2, [comp(1, {f"m{i:02d}": 1 for i in range(10)})])
        assert result.amounts == {"m00": 1, "m01": 1}

    def test_rejects_negative_and_out_of_range(self) -> None:
        with pytest.raises(ValueError):
            allocate(-1, [])
        with pytest.raises(ValueError):
            allocate(MAX_UNITS + 1, [])
        with pytest.raises(ValueError):
            allocate(10, [comp(1, {"a": -1})])

    def test_accumulate_adds_and_checks_bounds(self) -> None:
        assert accumulate({"a": 5, "b": 1}, {"a": 2, "c": 3}) == {"a": 7, "b": 1, "c": 3}
        with pytest.raises(ValueError):
            accumulate({"a": MAX_UNITS}, {"a": 1})
        with pytest.raises(ValueError):
            accumulate({"a": MAX_UNITS // 2 + 1}, {"b": MAX_UNITS // 2 + 1})


def random_number(rng: random.Random) -> Fraction:
    """Scores and weights as a snapshot would carry them: ints, short decimals, long decimals, zero."""
    kind = rng.random()
    if kind < 0.1:
        return F(0)
    if kind < 0.4:
        return F(rng.randint(1, 10**6))
    if kind < 0.8:
        return F(f"{rng.randint(0, 999)}.{rng.randint(0, 10**6 - 1):06d}")
    return F(f"{rng.random():.17g}")


def random_case(rng: random.Random) -> tuple[int, list[Competition]]:
    hotkeys = [f"5hk{i:03d}" for i in range(rng.randint(1, 60))]
    competitions = []
    for _ in range(rng.randint(0, 5)):
        members = rng.sample(hotkeys, rng.randint(0, len(hotkeys)))
        competitions.append(
            Competition(
                weight=random_number(rng),
                scores={h: random_number(rng) for h in members},
                enabled=rng.random() > 0.1,
            )
        )
    budget = rng.choice([0, 1, 7, rng.randint(1, 10**4), rng.randint(1, 10**12), rng.randint(1, MAX_UNITS)])
    return budget, competitions


def exact_amounts(budget: int, competitions: list[Competition]) -> dict[str, Fraction]:
    """An independent, slow reference: the same rule in plain Fractions."""
    enabled = [c for c in competitions if c.enabled and frac(c.weight) > 0]
    total_weight = sum((frac(c.weight) for c in enabled), F(0))
    exact: dict[str, Fraction] = {}
    for c in enabled:
        total = sum((frac(s) for s in c.scores.values()), F(0))
        for hotkey, score in c.scores.items():
            if score.numerator > 0:
                share = budget * frac(c.weight) / total_weight * frac(score) / total
                exact[hotkey] = exact.get(hotkey, F(0)) + share
    return exact


def test_property_many_random_inputs() -> None:
    """Total ≤ budget (= floor of the exact total), each amount within one unit of its exact share,
    independent of input order, and cumulative amounts never decrease."""
    rng = random.Random(20261122)
    cumulative: dict[str, int] = {}
    for _ in range(600):
        budget, competitions = random_case(rng)
        result = allocate(budget, competitions)
        exact = exact_amounts(budget, competitions)
        assert result.allocated_units <= budget
        assert result.allocated_units == math.floor(sum(exact.values(), F(0)))
        assert set(result.amounts) <= set(exact)
        for hotkey, units in result.amounts.items():
            assert units > 0 and math.floor(exact[hotkey]) <= units <= math.floor(exact[hotkey]) + 1
        for hotkey, value in exact.items():
            assert result.amounts.get(hotkey, 0) >= math.floor(value)
        shuffled = [
            Competition(c.weight, dict(rng.sample(list(c.scores.items()), len(c.scores))), c.name, c.enabled)
            for c in rng.sample(competitions, len(competitions))
        ]
        assert allocate(budget, shuffled).amounts == result.amounts, "the order of the input must not matter"
        assert allocate(budget, competitions).amounts == result.amounts, "deterministic"
        if sum(cumulative.values()) + result.allocated_units > MAX_UNITS:
            cumulative = {}
        after = accumulate(cumulative, result.amounts)
        assert all(after[h] >= units for h, units in cumulative.items()), "cumulative amounts never decrease"
        assert sum(after.values()) == sum(cumulative.values()) + result.allocated_units
        cumulative = after
