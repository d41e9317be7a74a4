"""Bitrecs scoring (pure): best per (hotkey, task), the ε-Pareto frontier, winner-takes-all over
environment subsets with a threshold rule and the first-commit tie-break, softmax weights.

Reference bitrecs-and-aitbc §1.8 "Scoring":
1. aggregate the **max** score per (hotkey, task);
2. keep the ε-Pareto frontier, ε_t = clip(2·SE_t, 0.005, 0.05) where SE_t is the standard error of the
   task's scores across hotkeys: a hotkey is dropped when another is better by at least ε_t on every task;
3. for every non-empty subset of tasks, the frontier hotkey with the best mean over the subset wins it
   only if it beats each rival by the threshold gap_t = clamp(1.5·SE_t, 0.02, 0.08) on a majority of the
   subset's tasks; otherwise the earliest first-commit block among those it does not clearly beat wins;
4. each subset is worth |S| points (linear, the docs) or 2^(|S|-1) (exponential, `/scoring/wta`);
5. points become weights by a softmax; the winner (most points, then earliest block) takes the weight.

Every step sorts by (value, block, hotkey), so the outcome does not depend on the order of the input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations

MAX_TASKS = 12  # 4,095 subsets


@dataclass(frozen=True)
class Result:
    hotkey: str
    task: str
    score: float
    block: int


@dataclass(frozen=True)
class Outcome:
    tasks: tuple[str, ...]
    best: dict[str, dict[str, float]]
    epsilon: dict[str, float]
    frontier: tuple[str, ...]
    points: dict[str, float]
    weights: dict[str, float]
    winner: str | None
    subsets: int = 0
    blocks: dict[str, int] = field(default_factory=dict)


def best_per_task(results: Iterable[Result]) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """Max score per (hotkey, task), and each hotkey's first-commit block (its smallest)."""
    best: dict[str, dict[str, float]] = {}
    blocks: dict[str, int] = {}
    for r in results:
        tasks = best.setdefault(r.hotkey, {})
        if r.score > tasks.get(r.task, -math.inf):
            tasks[r.task] = r.score
        blocks[r.hotkey] = min(blocks.get(r.hotkey, r.block), r.block)
    return best, blocks


def standard_error(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return math.sqrt(variance / n)


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def pareto_frontier(
    best: dict[str, dict[str, float]], tasks: tuple[str, ...], epsilon: dict[str, float]
) -> tuple[str, ...]:
    """Hotkeys no other hotkey beats by at least ε_t on every task (missing scores count 0)."""

    def dominated(h: str) -> bool:
        return any(
            g != h and all(best[g].get(t, 0.0) >= best[h].get(t, 0.0) + epsilon[t] for t in tasks)
            for g in best
        )

    return tuple(sorted(h for h in best if not dominated(h)))


def subset_weight(size: int, weighting: str) -> float:
    return float(2 ** (size - 1)) if weighting == "exponential" else float(size)


def _subset_winner(
    subset: tuple[str, ...],
    frontier: tuple[str, ...],
    best: dict[str, dict[str, float]],
    blocks: dict[str, int],
    gaps: dict[str, float],
) -> str:
    def mean(h: str) -> float:
        return sum(best[h].get(t, 0.0) for t in subset) / len(subset)

    ranked = sorted(frontier, key=lambda h: (-mean(h), blocks[h], h))
    leader = ranked[0]
    majority = len(subset) // 2 + 1

    def clearly_beats(a: str, b: str) -> bool:
        wins = sum(1 for t in subset if best[a].get(t, 0.0) - best[b].get(t, 0.0) >= gaps[t])
        return wins >= majority

    contenders = [leader] + [h for h in ranked[1:] if not clearly_beats(leader, h)]
    if len(contenders) == 1:
        return leader
    return min(contenders, key=lambda h: (blocks[h], h))


def softmax(points: dict[str, float]) -> dict[str, float]:
    if not points:
        return {}
    top = max(points.values())
    exps = {h: math.exp(p - top) for h, p in points.items()}
    total = sum(exps.values())
    return {h: e / total for h, e in sorted(exps.items())}


def score(results: Iterable[Result], *, weighting: str = "linear") -> Outcome:
    """The whole pipeline over validator results."""
    best, blocks = best_per_task(results)
    tasks = tuple(sorted({t for per in best.values() for t in per}))[:MAX_TASKS]
    if not best or not tasks:
        return Outcome(tasks, best, {}, (), {}, {}, None, 0, blocks)
    columns = {t: [best[h].get(t, 0.0) for h in sorted(best)] for t in tasks}
    errors = {t: standard_error(values) for t, values in columns.items()}
    epsilon = {t: _clip(2 * errors[t], 0.005, 0.05) for t in tasks}
    gaps = {t: _clip(1.5 * errors[t], 0.02, 0.08) for t in tasks}
    frontier = pareto_frontier(best, tasks, epsilon)
    points: dict[str, float] = dict.fromkeys(frontier, 0.0)
    subsets = 0
    for size in range(1, len(tasks) + 1):
        for subset in combinations(tasks, size):
            winner = _subset_winner(subset, frontier, best, blocks, gaps)
            points[winner] += subset_weight(size, weighting)
            subsets += 1
    weights = softmax(points)
    winner = min(points, key=lambda h: (-points[h], blocks[h], h))
    return Outcome(tasks, best, epsilon, frontier, points, weights, winner, subsets, blocks)
