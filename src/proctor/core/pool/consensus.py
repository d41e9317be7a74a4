"""k-of-n consensus over evaluation scores, and a window's points (reference pool-api §5.2). Pure.

Cluster choice: sort the scores; a cluster is a run of neighbours whose spread (max − min) is within
`tolerance × max(|min|, |max|)` or within `abs_tolerance`. Among clusters with at least `k` members
the largest wins, then the tightest, then the lowest; the consensus score is its median. With no such
cluster there is no consensus. The result depends only on the multiset of (miner, score) pairs, never
on their order.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Consensus:
    score: float
    members: frozenset[str]  # evaluators inside the cluster
    outsiders: frozenset[str]


def within(lo: float, hi: float, *, tolerance: float, abs_tolerance: float) -> bool:
    spread = hi - lo
    return spread <= abs_tolerance or spread <= tolerance * max(abs(lo), abs(hi))


def cluster(
    scores: Iterable[tuple[str, float]], *, k: int, tolerance: float, abs_tolerance: float = 0.0
) -> Consensus | None:
    """The consensus of one algorithm's evaluations (one per miner), or None without k agreeing."""
    ordered = sorted((float(s), m) for m, s in scores if math.isfinite(s))
    best: tuple[int, float, float, int, int] | None = None  # (-size, spread, lo, i, j)
    j = 0
    for i in range(len(ordered)):
        j = max(j, i)
        while j + 1 < len(ordered) and within(
            ordered[i][0], ordered[j + 1][0], tolerance=tolerance, abs_tolerance=abs_tolerance
        ):
            j += 1
        size = j - i + 1
        if size >= k:
            key = (-size, ordered[j][0] - ordered[i][0], ordered[i][0], i, j)
            if best is None or key[:3] < best[:3]:
                best = key
    if best is None:
        return None
    _, _, _, i, j = best
    inside = ordered[i : j + 1]
    members = frozenset(m for _, m in inside)
    return Consensus(
        score=statistics.median(s for s, _ in inside),
        members=members,
        outsiders=frozenset(m for _, m in ordered) - members,
    )


@dataclass(frozen=True)
class Rules:
    k: int
    tolerance: float
    abs_tolerance: float
    evaluator_weight: float
    evolver_weight: float
    repetition_penalty: float
    min_activity: int


@dataclass
class Tally:
    agreements: int = 0
    disagreements: int = 0
    evaluations: int = 0
    evolutions: int = 0
    repeats: int = 0
    evolver_points: float = 0.0

    def points(self, rules: Rules) -> tuple[float, float, float, bool, float]:
        """(evaluator, evolver, penalty, in_consensus, paid)."""
        evaluator = rules.evaluator_weight * (self.agreements - self.disagreements)
        penalty = rules.repetition_penalty * self.repeats
        in_consensus = self.agreements >= self.disagreements
        active = self.evaluations + self.evolutions >= rules.min_activity
        total = evaluator + self.evolver_points - penalty
        return (
            evaluator,
            self.evolver_points,
            penalty,
            in_consensus,
            (max(0.0, total) if in_consensus and active else 0.0),
        )


@dataclass(frozen=True)
class Candidate:
    algorithm_id: int
    submitter: str | None
    task_type: str
    evaluations: Sequence[tuple[str, float]]  # (miner, score), every evaluation it has


@dataclass
class WindowOutcome:
    settled: dict[int, float | None] = field(default_factory=dict)  # algorithm → consensus (None: none)
    tallies: dict[str, Tally] = field(default_factory=dict)


def close_window(
    candidates: Sequence[Candidate],
    *,
    rules: Rules,
    sota_before: Mapping[str, float],
    required: int,
    activity: Mapping[str, tuple[int, int, int]],  # miner → (evaluations, evolutions, repeats) this window
) -> WindowOutcome:
    """Settle every candidate with enough evaluations and tally the window's points.

    A candidate is settled when a k-member cluster exists, or with no consensus once it has all the
    `required` evaluations. Evaluators in the cluster earn an agreement, the others a disagreement;
    the submitter earns `evolver_weight × (score − SOTA before the window)` when that is positive
    (the `sota` baseline).
    """
    out = WindowOutcome()

    def tally(miner: str) -> Tally:
        return out.tallies.setdefault(miner, Tally())

    for miner, (evaluations, evolutions, repeats) in activity.items():
        t = tally(miner)
        t.evaluations, t.evolutions, t.repeats = evaluations, evolutions, repeats
    for c in sorted(candidates, key=lambda c: c.algorithm_id):
        found = cluster(
            c.evaluations, k=rules.k, tolerance=rules.tolerance, abs_tolerance=rules.abs_tolerance
        )
        if found is None:
            if len(c.evaluations) >= required:
                out.settled[c.algorithm_id] = None
            continue
        out.settled[c.algorithm_id] = found.score
        for miner in found.members:
            tally(miner).agreements += 1
        for miner in found.outsiders:
            tally(miner).disagreements += 1
        baseline = sota_before.get(c.task_type, 0.0)
        if c.submitter is not None and found.score > baseline:
            tally(c.submitter).evolver_points += rules.evolver_weight * (found.score - baseline)
    return out
