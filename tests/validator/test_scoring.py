"""The documented scoring rule, the agent's view of a problem, and evaluator loading."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from proctor.validator.evaluator import (
    ALWAYS_HIDDEN,
    SCORING_RULE,
    AgentUnusable,
    Evaluator,
    Problem,
    ProblemResult,
    SandboxEvaluator,
    load_evaluator,
    mean_score,
    score_output,
    truth_product_ids,
)
from proctor.validator.sandbox import SandboxLimits


def product(pid: str) -> dict[str, Any]:
    return {"product_id": pid, "title": [f"item {pid}"], "price": [{"between": [1, 2]}]}


PRODUCT = {"query": "a lamp", "category": "Product", "reward": product("111")}
SHOP = {"query": "two things", "category": "Shop", "reward": [product("111"), product("222")]}


def test_truth_is_read_from_a_dict_or_a_list_of_dicts() -> None:
    assert truth_product_ids(PRODUCT) == ["111"]
    assert truth_product_ids(SHOP) == ["111", "222"]
    assert truth_product_ids({"reward": [product("7"), product("7"), {"title": "no id"}]}) == ["7"]
    assert truth_product_ids({"query": "no reward"}) is None


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ([{"product_id": "111"}], 1.0),
        ([{"product_id": 111}], 1.0),  # ids compare as strings
        ([{"product_id": "999"}], 0.0),
        ([], 0.0),
        ([{"product_id": "999"}, {"product_id": "111"}], 0.0),  # k = 1: only the first guess counts
        ([{"product_id": "111"}, {"product_id": "111"}], 1.0),
        (["111", {"name": "no id"}, {"product_id": "111"}], 1.0),  # non-objects and id-less items skipped
    ],
)
def test_single_product_problems(output: Any, expected: float) -> None:
    score = score_output(PRODUCT, output)
    assert score.valid and score.value == expected


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ([{"product_id": "111"}, {"product_id": "222"}], 1.0),
        ([{"product_id": "222"}, {"product_id": "111"}], 1.0),  # order inside the top k is free
        ([{"product_id": "111"}], 0.5),  # partial credit
        ([{"product_id": "111"}, {"product_id": "333"}, {"product_id": "222"}], 0.5),  # 222 is 3rd of k=2
        ([{"product_id": "111"}, {"product_id": "111"}, {"product_id": "222"}], 1.0),  # duplicates collapse
    ],
)
def test_multi_product_problems_give_partial_credit_within_the_top_k(output: Any, expected: float) -> None:
    score = score_output(SHOP, output)
    assert score.valid and score.value == expected
    assert score.details["expected"] == 2


def test_returning_the_whole_catalogue_earns_nothing_extra() -> None:
    catalogue = [{"product_id": str(n)} for n in range(100, 400)]
    assert score_output(SHOP, catalogue).value == 0.0


@pytest.mark.parametrize("output", [None, "111", {"product_id": "111"}, 111])
def test_output_that_is_not_a_list_is_invalid(output: Any) -> None:
    score = score_output(PRODUCT, output)
    assert not score.valid and score.value == 0.0
    assert "must return a list" in score.details["error"]


def test_expected_problems_compare_equality() -> None:
    meta = {"question": "2+2", "expected": [{"answer": 4}]}
    assert score_output(meta, [{"answer": 4}]).value == 1.0
    assert score_output(meta, [{"answer": 5}]).value == 0.0
    assert score_output({"expected": {"a": 1, "b": [1, 2]}}, {"b": (1, 2), "a": 1}).value == 1.0


def test_problems_without_ground_truth_check_the_format_only() -> None:
    assert score_output({"query": "x"}, [{"anything": 1}]).value == 1.0
    assert score_output({"query": "x"}, []).value == 1.0
    bad = score_output({"query": "x"}, [1, 2])
    assert not bad.valid and bad.value == 0.0


def test_the_run_score_is_the_mean_over_all_problems() -> None:
    assert mean_score([1.0, 0.5, 0.0, 1.0], 4) == 0.625
    assert mean_score([1.0, 1.0], 4) == 0.5  # unscored problems count as 0
    assert mean_score([], 0) == 0.0
    assert mean_score([1 / 3, 1 / 3, 1 / 3], 3) == 0.3333


def test_the_agent_view_drops_ground_truth_and_server_hidden_fields() -> None:
    metadata = {
        "query": "q",
        "category": "Voucher",
        "catalog": [{"product_id": "1"}],
        "reward": [product("111")],
        "voucher": {"budget": 500},
        "reward_title_embeddings": {"x": [0.1]},
        "answer": "42",
        "expected": [1],
        "ground_truth": "g",
        "secret_hint": "only the server knows",
    }
    view = Problem("p-1", metadata, hidden=frozenset({"secret_hint"})).agent_view()
    assert view == {
        "query": "q",
        "category": "Voucher",
        "catalog": [{"product_id": "1"}],
        "problem_id": "p-1",
    }
    assert {"reward", "voucher", "reward_title_embeddings"} <= ALWAYS_HIDDEN


def test_ground_truth_never_reaches_the_child() -> None:
    """The agent dumps everything it can reach; no ground-truth value is among it."""
    spy = b"""
import json, os, sys

def agent_main(problem_data):
    seen = {"data": problem_data, "env": dict(os.environ), "argv": sys.argv, "files": {}}
    for name in os.listdir("."):
        with open(name, encoding="utf-8", errors="replace") as handle:
            seen["files"][name] = handle.read()
    return [{"product_id": "000", "seen": json.dumps(seen)}]
"""
    metadata = {
        "query": "find the canary",
        "category": "Shop",
        "reward": [product("CANARY-PRODUCT-1"), product("CANARY-PRODUCT-2")],
        "voucher": {"budget": "CANARY-VOUCHER"},
        "reward_title_embeddings": {"CANARY-EMBEDDING": [0.5]},
        "answer": "CANARY-ANSWER",
        "server_hidden": "CANARY-HIDDEN",
    }
    evaluator = SandboxEvaluator(SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=256))
    result = evaluator.evaluate(
        spy, Problem("p-1", metadata, hidden=ALWAYS_HIDDEN | {"server_hidden"}), cancel=threading.Event()
    )
    assert result.status == "SUCCESS" and result.score == 0.0
    seen = result.log["agent_output"][0]["seen"]
    assert "find the canary" in seen
    assert "CANARY" not in seen
    assert "CANARY" not in str(result.summary)  # the public summary names counts, never the answer


def _evaluate(code: bytes, metadata: dict[str, Any], limits: SandboxLimits | None = None) -> ProblemResult:
    evaluator = SandboxEvaluator(limits or SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=256))
    return evaluator.evaluate(code, Problem("p-9", metadata), cancel=threading.Event())


def test_a_right_answer_scores_one() -> None:
    code = b"def agent_main(p):\n    return [{'product_id': '111'}, {'product_id': '222'}]\n"
    result = _evaluate(code, SHOP)
    assert (result.status, result.score) == ("SUCCESS", 1.0)
    assert result.summary == {
        "rule": SCORING_RULE,
        "category": "Shop",
        "found": 2,
        "expected": 2,
        "returned": 2,
        "distinct_ids": 2,
    }
    assert result.log["scoring_rule"] == SCORING_RULE and result.log["sandbox_outcome"] == "ok"


def test_a_timeout_scores_zero_with_the_reason() -> None:
    code = b"def agent_main(p):\n    while True:\n        pass\n"
    result = _evaluate(code, PRODUCT, SandboxLimits(wall_seconds=30, cpu_seconds=1, memory_mb=256))
    assert (result.status, result.score) == ("TIMED_OUT", 0.0)
    assert "CPU time limit" in (result.reason or "") and result.summary["reason"] == result.reason


def test_a_wall_clock_timeout_scores_zero() -> None:
    code = b"import time\ndef agent_main(p):\n    time.sleep(30)\n"
    result = _evaluate(code, PRODUCT, SandboxLimits(wall_seconds=1, cpu_seconds=30, memory_mb=256))
    assert (result.status, result.score) == ("TIMED_OUT", 0.0)
    assert "wall-clock" in (result.reason or "")


def test_errors_and_invalid_output_fail_the_problem_with_zero() -> None:
    raising = _evaluate(b"def agent_main(p):\n    raise KeyError('x')\n", PRODUCT)
    assert (raising.status, raising.score) == ("FAILED", 0.0) and "KeyError" in (raising.reason or "")
    not_a_list = _evaluate(b"def agent_main(p):\n    return {'product_id': '111'}\n", PRODUCT)
    assert (not_a_list.status, not_a_list.score) == ("FAILED", 0.0)
    assert "must return a list" in (not_a_list.reason or "")
    hungry = _evaluate(b"def agent_main(p):\n    return [bytearray(2**31)]\n", PRODUCT)
    assert (hungry.status, hungry.score) == ("FAILED", 0.0) and "memory limit" in (hungry.reason or "")


def test_prepare_refuses_an_agent_that_cannot_load() -> None:
    evaluator = SandboxEvaluator(SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=256))
    with pytest.raises(AgentUnusable, match="agent failed to load: ModuleNotFoundError"):
        evaluator.prepare(b"import not_a_module_anywhere\n\ndef agent_main(p):\n    return []\n")
    with pytest.raises(AgentUnusable, match="agent_main"):
        evaluator.prepare(b"def main(p):\n    return []\n")
    evaluator.prepare(b"def agent_main(p):\n    return []\n")


class FixedEvaluator:
    """A custom evaluator: everything scores 0.25."""

    name = "fixed"

    def __init__(self, limits: SandboxLimits) -> None:
        self.limits = limits

    def prepare(self, agent_code: bytes) -> None:
        return None

    def evaluate(self, agent_code: bytes, problem: Problem, *, cancel: threading.Event) -> ProblemResult:
        return ProblemResult(problem.problem_id, "SUCCESS", 0.25, 0.0)


INSTANCE = FixedEvaluator(SandboxLimits())


def test_evaluators_load_from_module_attr() -> None:
    limits = SandboxLimits(wall_seconds=5, cpu_seconds=5, memory_mb=128)
    default = load_evaluator("proctor.validator.evaluator:SandboxEvaluator", limits)
    assert isinstance(default, SandboxEvaluator) and default.limits == limits
    made = load_evaluator(f"{__name__}:FixedEvaluator", limits)
    assert isinstance(made, FixedEvaluator) and made.limits == limits
    assert load_evaluator(f"{__name__}:INSTANCE", limits) is INSTANCE
    assert isinstance(made, Evaluator)
    for bad in ("no-colon", "not.a.module:X", f"{__name__}:missing", f"{__name__}:PRODUCT"):
        with pytest.raises(ValueError):
            load_evaluator(bad, limits)
