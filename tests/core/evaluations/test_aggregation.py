"""Pure scoring rules."""

from __future__ import annotations

import math

import pytest

from proctor.core.evaluations.aggregation import (
    Contender,
    aggregate,
    challenge_threshold,
    dethrones,
    valid_score,
)


def test_median_and_mean() -> None:
    assert aggregate([0.2, 0.9, 0.4]) == 0.4
    assert aggregate([0.2, 0.8]) == pytest.approx(0.5)
    assert aggregate([0.2, 0.9, 0.4], "mean") == pytest.approx(0.5)
    with pytest.raises(ValueError):
        aggregate([])
    with pytest.raises(ValueError):
        aggregate([0.1], "max")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (0.0, True),
        (1.0, True),
        (0.5, True),
        (None, False),
        (-0.01, False),
        (1.01, False),
        (math.nan, False),
        (math.inf, False),
    ],
)
def test_valid_scores(value: float | None, ok: bool) -> None:
    assert valid_score(value) is ok


def test_hysteresis() -> None:
    incumbent = Contender("a", 0.80)
    assert challenge_threshold(0.80, 0.05) == pytest.approx(0.84)
    assert dethrones(Contender("b", 0.5), None, 0.05)
    assert not dethrones(Contender("b", 0.83), incumbent, 0.05)
    assert not dethrones(Contender("b", 0.84), incumbent, 0.05)
    assert dethrones(Contender("b", 0.85), incumbent, 0.05)
    assert not dethrones(Contender("a", 0.99), incumbent, 0.05), "the incumbent never dethrones itself"
    near_perfect = Contender("a", 0.97)
    assert dethrones(Contender("b", 1.0), near_perfect, 0.05), "a perfect score can always win"
    assert not dethrones(Contender("b", 1.0), Contender("a", 1.0), 0.05)
