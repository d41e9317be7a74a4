"""Bitrecs scoring: worked examples of each step and order-independence."""

from __future__ import annotations

import random

import pytest

from proctor.core.bitrecs import scoring
from proctor.core.bitrecs.scoring import Result


def results(table: dict[str, dict[str, float]], blocks: dict[str, int]) -> list[Result]:
    return [Result(h, t, s, blocks[h]) for h, per in table.items() for t, s in per.items()]


def test_best_per_task_takes_the_max_and_the_first_block() -> None:
    best, blocks = scoring.best_per_task(
        [
            Result("a", "x", 0.2, 7),
            Result("a", "x", 0.6, 5),
            Result("a", "y", 0.1, 9),
            Result("b", "x", 0.3, 1),
        ]
    )
    assert best == {"a": {"x": 0.6, "y": 0.1}, "b": {"x": 0.3}}
    assert blocks == {"a": 5, "b": 1}


def test_epsilon_is_clipped_twice_the_standard_error() -> None:
    assert scoring.standard_error([0.5]) == 0.0
    se = scoring.standard_error([0.0, 1.0])  # sd 0.7071, n 2: se 0.5
    assert se == pytest.approx(0.5)
    outcome = scoring.score(results({"a": {"x": 0.5}, "b": {"x": 0.5}}, {"a": 1, "b": 2}))
    assert outcome.epsilon == {"x": 0.005}  # se 0: the floor
    outcome = scoring.score(results({"a": {"x": 0.0}, "b": {"x": 1.0}}, {"a": 1, "b": 2}))
    assert outcome.epsilon == {"x": 0.05}  # 2 × 0.5: the ceiling


def test_the_frontier_drops_only_agents_beaten_by_epsilon_everywhere() -> None:
    table = {
        "strong": {"x": 0.9, "y": 0.9},
        "specialist": {"x": 0.95, "y": 0.1},
        "weak": {"x": 0.5, "y": 0.5},
        "near": {"x": 0.899, "y": 0.899},  # within ε of strong: kept
    }
    outcome = scoring.score(results(table, {"strong": 1, "specialist": 2, "weak": 3, "near": 4}))
    assert set(outcome.frontier) == {"strong", "specialist", "near"}


def test_a_subset_leader_must_clear_the_threshold_or_the_earliest_block_wins() -> None:
    # Two agents a hair apart on one task: the later one leads but not by the gap, so the earlier wins.
    outcome = scoring.score(results({"early": {"x": 0.800}, "late": {"x": 0.803}}, {"early": 10, "late": 20}))
    assert outcome.winner == "early"
    # Far apart: the better one wins although it committed later.
    outcome = scoring.score(results({"early": {"x": 0.50}, "late": {"x": 0.90}}, {"early": 10, "late": 20}))
    assert outcome.winner == "late"
    assert outcome.frontier == ("late",)


def test_subset_points_and_weights_worked_example() -> None:
    # a wins x clearly, b wins y clearly; {x, y} has a tie of means within the gap: the earlier block (a).
    table = {"a": {"x": 0.9, "y": 0.5}, "b": {"x": 0.5, "y": 0.9}}
    outcome = scoring.score(results(table, {"a": 1, "b": 2}))
    assert outcome.subsets == 3
    assert outcome.points == {"a": 1 + 2, "b": 1}  # linear: |S| points per subset
    assert outcome.winner == "a"
    assert outcome.weights["a"] > outcome.weights["b"]
    assert sum(outcome.weights.values()) == pytest.approx(1.0)
    exponential = scoring.score(results(table, {"a": 1, "b": 2}), weighting="exponential")
    assert exponential.points == {"a": 1 + 2, "b": 1}  # 2^(k-1): 1 for singles, 2 for the pair


def test_no_results_no_winner() -> None:
    assert scoring.score([]).winner is None


@pytest.mark.parametrize("seed", range(20))
def test_the_outcome_does_not_depend_on_the_order_of_results(seed: int) -> None:
    rng = random.Random(seed)
    hotkeys = [f"hk{i}" for i in range(rng.randint(2, 7))]
    tasks = [f"t{i}" for i in range(rng.randint(1, 4))]
    rows = [
        Result(h, t, round(rng.random(), 2), rng.randint(1, 5))
        for h in hotkeys
        for t in tasks
        for _ in range(rng.randint(1, 3))
    ]
    expected = scoring.score(rows)
    for _ in range(5):
        shuffled = rows[:]
        rng.shuffle(shuffled)
        again = scoring.score(shuffled)
        assert (again.winner, again.frontier, again.points) == (
            expected.winner,
            expected.frontier,
            expected.points,
        )
