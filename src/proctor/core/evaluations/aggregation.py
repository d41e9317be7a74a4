"""Pure scoring rules: validator scores → a final score, and who holds the top spot."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def aggregate(scores: Sequence[float], method: str = "median") -> float:
    """Combine the included validator scores of one version (median by default, or mean)."""
    if not scores:
        raise ValueError("no scores to aggregate")
    if method == "mean":
        return float(statistics.fmean(scores))
    if method == "median":
        return float(statistics.median(scores))
    raise ValueError(f"unknown aggregation {method!r} (median or mean)")


def valid_score(value: float | None) -> bool:
    """Scores are finite numbers in [0, 1]."""
    return value is not None and math.isfinite(value) and 0.0 <= value <= 1.0


@dataclass(frozen=True)
class Contender:
    agent_version_id: object
    score: float


def challenge_threshold(incumbent_score: float, margin: float) -> float:
    """The score a challenger must exceed to take the top spot."""
    return incumbent_score * (1.0 + margin)


def dethrones(challenger: Contender, incumbent: Contender | None, margin: float) -> bool:
    """Hysteresis: an incumbent keeps the top spot unless clearly beaten.

    A perfect score can always take the top from a lower one, even when the margin would put the
    threshold above the maximum score of 1.
    """
    if incumbent is None:
        return True
    if challenger.agent_version_id == incumbent.agent_version_id:
        return False
    threshold = challenge_threshold(incumbent.score, margin)
    return challenger.score > threshold or (threshold >= 1.0 and challenger.score >= 1.0 > incumbent.score)
