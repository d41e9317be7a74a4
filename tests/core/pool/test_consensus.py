"""k-of-n consensus (reference pool-api §5.2): properties of the cluster choice and a worked example."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from proctor.core.pool import consensus
from proctor.core.pool.consensus import Candidate, Rules, close_window, cluster

RULES = Rules(
    k=2,
    tolerance=0.1,
    abs_tolerance=1e-6,
    evaluator_weight=1.0,
    evolver_weight=10.0,
    repetition_penalty=0.5,
    min_activity=1,
)
scores = st.lists(
    st.tuples(st.text(min_size=1, max_size=6), st.floats(min_value=-10, max_value=10, allow_nan=False)),
    max_size=12,
    unique_by=lambda t: t[0],
)


@settings(max_examples=300, deadline=None)
@given(scores, st.integers(min_value=1, max_value=6), st.randoms(use_true_random=False))
def test_order_independent_and_deterministic(
    pairs: list[tuple[str, float]], k: int, rnd: random.Random
) -> None:
    first = cluster(pairs, k=k, tolerance=0.1, abs_tolerance=1e-6)
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    assert cluster(shuffled, k=k, tolerance=0.1, abs_tolerance=1e-6) == first
    assert cluster(pairs, k=k, tolerance=0.1, abs_tolerance=1e-6) == first


@settings(max_examples=300, deadline=None)
@given(scores, st.integers(min_value=1, max_value=6))
def test_no_consensus_without_k_members(pairs: list[tuple[str, float]], k: int) -> None:
    found = cluster(pairs, k=k, tolerance=0.1, abs_tolerance=1e-6)
    if len(pairs) < k:
        assert found is None
    if found is not None:
        assert len(found.members) >= k
        inside = [s for m, s in pairs if m in found.members]
        assert consensus.within(min(inside), max(inside), tolerance=0.1, abs_tolerance=1e-6)
        assert min(inside) <= found.score <= max(inside)
        assert found.members | found.outsiders == {m for m, _ in pairs}


def test_worked_example() -> None:
    """Four evaluations of one candidate, k = 3, tolerance 10 %: three agree near 0.81, one is off.

    Sorted: 0.20, 0.80, 0.81, 0.82. The run 0.80–0.82 spreads 0.02 ≤ 0.1 × 0.82, a cluster of three;
    0.20 joins none. Consensus is the cluster's median, 0.81; the three earn an agreement each, the
    outlier a disagreement (net −1: not in consensus, paid 0). The candidate beats the pre-window SOTA
    0.70 by 0.11, so its evolver earns 10 × 0.11 = 1.1, less 0.5 for one repeated DSL: 0.6.
    """
    rules = Rules(
        k=3,
        tolerance=0.1,
        abs_tolerance=0.0,
        evaluator_weight=1.0,
        evolver_weight=10.0,
        repetition_penalty=0.5,
        min_activity=1,
    )
    evaluations = [("a", 0.80), ("b", 0.82), ("c", 0.81), ("d", 0.20)]
    found = cluster(evaluations, k=3, tolerance=0.1)
    assert found is not None and found.score == 0.81
    assert found.members == {"a", "b", "c"} and found.outsiders == {"d"}
    out = close_window(
        [Candidate(7, "evolver", "cifar10_binary", evaluations)],
        rules=rules,
        sota_before={"cifar10_binary": 0.70},
        required=4,
        activity={**{m: (1, 0, 0) for m in "abcd"}, "evolver": (0, 1, 1)},
    )
    assert out.settled == {7: 0.81}
    assert out.tallies["a"].points(rules)[4] == 1.0
    evaluator, _, _, in_consensus, paid = out.tallies["d"].points(rules)
    assert (evaluator, in_consensus, paid) == (-1.0, False, 0.0)
    _, evolver, penalty, _, paid = out.tallies["evolver"].points(rules)
    assert round(evolver, 9) == 1.1 and penalty == 0.5 and round(paid, 9) == 0.6


def test_no_cluster_settles_only_when_every_evaluation_is_in() -> None:
    spread = [("a", 0.1), ("b", 0.5), ("c", 0.9)]
    one = [Candidate(1, None, "t", spread[:2])]
    assert close_window(one, rules=RULES, sota_before={}, required=3, activity={}).settled == {}
    done = close_window(
        [Candidate(1, None, "t", spread)], rules=RULES, sota_before={}, required=3, activity={}
    )
    assert done.settled == {1: None} and not done.tallies
