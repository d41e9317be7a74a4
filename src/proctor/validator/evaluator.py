"""Evaluators: how a validator turns (agent, problem) into a score. Pluggable; one real one ships.

An evaluator is any object with `prepare(agent_code)` and `evaluate(agent_code, problem, cancel=)`
(the `Evaluator` protocol below). `proctor validator run --evaluator module:attr` loads another one:
`attr` is either such an object or a callable taking a `SandboxLimits` and returning one.

The shipped `SandboxEvaluator` runs `agent_main(problem_data)` in a child process per problem with
hard limits (see `proctor.validator.sandbox`). The agent receives the problem's metadata plus its
`problem_id`, with every ground-truth field removed first: `reward`, `voucher`,
`reward_title_embeddings` and proctor's other answer keys (`ground_truth`, `answer(s)`, `expected`,
`expected_output`, `solution`) always, and any field the server hides from the public suite view.

Scoring rule (`SCORING_RULE`, version 1), per problem, always in [0, 1]:

1. Problems with a `reward` (ORO-shaped; `reward` is one object or a list of objects, each with a
   `product_id`): the agent must return a list of objects. Its distinct `product_id` values are read
   in order and only the first k count, k = the number of ground-truth products (the agent's top-k
   guesses, so returning the whole catalogue earns nothing extra). Score = fraction of ground-truth
   product ids among those k. Product ids compare as strings.
2. Otherwise, problems with `metadata.expected`: 1.0 when the returned value equals `expected`
   (as JSON values), else 0.0.
3. Otherwise (no ground truth to compare against): 1.0 for a list of objects, else 0.0.

An exception, invalid output (not a list where one is needed, not JSON-serialisable), the memory
limit, a crash, or a timeout (wall clock or CPU) scores 0.0; the reason is recorded in the problem's
`score_components_summary` and its uploaded log. A run's `validator_score` is the mean of its problem
scores (problems never scored — run timeout — count as 0.0).
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from proctor.core.suites.documents import DEFAULT_HIDDEN_FIELDS
from proctor.validator import sandbox
from proctor.validator.sandbox import SandboxLimits

SCORING_RULE = "proctor-topk-product-recall/1"
# Removed from every problem before an agent sees it, whatever the server publishes.
ALWAYS_HIDDEN = frozenset(DEFAULT_HIDDEN_FIELDS)
PROBE_SECONDS = 60.0

SUCCESS, FAILED, TIMED_OUT = "SUCCESS", "FAILED", "TIMED_OUT"


class AgentUnusable(Exception):
    """The agent cannot be evaluated at all (does not import, no agent_main): the run fails."""


@dataclass(frozen=True)
class Problem:
    """One problem as the validator received it: full metadata, ground truth included."""

    problem_id: str
    metadata: Mapping[str, Any]
    hidden: frozenset[str] = ALWAYS_HIDDEN

    def agent_view(self) -> dict[str, Any]:
        """What the agent receives: metadata without hidden fields, plus `problem_id`."""
        hidden = self.hidden | ALWAYS_HIDDEN
        view = {k: v for k, v in self.metadata.items() if k not in hidden}
        view["problem_id"] = self.problem_id
        return view

    @property
    def category(self) -> str | None:
        value = self.metadata.get("category")
        return value if isinstance(value, str) else None


@dataclass
class ProblemResult:
    problem_id: str
    status: str  # SUCCESS | FAILED | TIMED_OUT
    score: float
    execution_time: float
    reason: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # public: score_components_summary
    log: dict[str, Any] = field(default_factory=dict)  # public: the uploaded per-problem log

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score {self.score} is outside [0, 1]")


@runtime_checkable
class Evaluator(Protocol):
    """What `proctor validator run` needs from an evaluator."""

    name: str

    def prepare(self, agent_code: bytes) -> None:
        """Check the agent can be evaluated at all; raise `AgentUnusable(reason)` if not."""

    def evaluate(self, agent_code: bytes, problem: Problem, *, cancel: threading.Event) -> ProblemResult:
        """Evaluate one problem. Must return (not raise) for anything the agent does."""


# --- the scoring rule -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    value: float
    valid: bool  # False: the output was unusable (the problem is FAILED)
    details: dict[str, Any]


def truth_product_ids(metadata: Mapping[str, Any]) -> list[str] | None:
    """Ground-truth product ids of an ORO-shaped problem, or None when it has no `reward`."""
    reward = metadata.get("reward")
    if reward is None:
        return None
    items: Iterable[Any] = reward if isinstance(reward, list) else [reward]
    ids: list[str] = []
    for item in items:
        if isinstance(item, Mapping) and item.get("product_id") is not None:
            pid = str(item["product_id"])
            if pid not in ids:
                ids.append(pid)
    return ids


def score_output(metadata: Mapping[str, Any], output: Any) -> Score:
    """Apply the documented rule to what `agent_main` returned."""
    truth = truth_product_ids(metadata)
    if truth is not None and truth:
        if not isinstance(output, list):
            return Score(0.0, False, {"error": f"agent_main must return a list, got {type(output).__name__}"})
        guesses: list[str] = []
        for item in output:
            if isinstance(item, Mapping) and item.get("product_id") is not None:
                pid = str(item["product_id"])
                if pid not in guesses:
                    guesses.append(pid)
        considered = guesses[: len(truth)]
        found = sum(1 for pid in truth if pid in considered)
        details = {
            "found": found,
            "expected": len(truth),
            "returned": len(output),
            "distinct_ids": len(guesses),
        }
        return Score(found / len(truth), True, details)
    if "expected" in metadata:
        expected = _as_json(metadata["expected"])
        matched = _as_json(output) == expected
        return Score(1.0 if matched else 0.0, True, {"matched": matched})
    if isinstance(output, list) and all(isinstance(item, Mapping) for item in output):
        return Score(1.0, True, {"format_only": True, "returned": len(output)})
    return Score(0.0, False, {"error": "agent_main must return a list of objects"})


def _as_json(value: Any) -> Any:
    """Compare as JSON values (tuples and lists alike, key order irrelevant)."""
    try:
        return json.loads(json.dumps(value, sort_keys=True))
    except (TypeError, ValueError):
        return repr(value)


def mean_score(scores: Iterable[float], total: int) -> float:
    """The run's validator_score: the mean over all `total` problems (unscored ones count 0)."""
    return round(sum(scores) / total, 4) if total else 0.0


# --- the shipped evaluator ----------------------------------------------------------------------------


class SandboxEvaluator:
    """Runs each problem in a fresh limited child process and scores the answer with `score_output`."""

    name = "sandbox"

    def __init__(self, limits: SandboxLimits | None = None, *, work_root: Path | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self.work_root = work_root

    def prepare(self, agent_code: bytes) -> None:
        probe_limits = SandboxLimits(
            **{
                **sandbox.describe_limits(self.limits),
                "wall_seconds": min(self.limits.wall_seconds, PROBE_SECONDS),
            }
        )
        try:
            outcome = sandbox.run_agent(agent_code, None, probe_limits, work_root=self.work_root)
        except sandbox.SandboxError as exc:
            raise AgentUnusable(f"sandbox could not start: {exc}") from exc
        if not outcome.ok:
            raise AgentUnusable(f"agent failed to load: {outcome.reason}")

    def evaluate(self, agent_code: bytes, problem: Problem, *, cancel: threading.Event) -> ProblemResult:
        started = time.monotonic()
        outcome = sandbox.run_agent(
            agent_code, problem.agent_view(), self.limits, cancel=cancel, work_root=self.work_root
        )
        elapsed = round(time.monotonic() - started, 3)
        summary: dict[str, Any] = {"rule": SCORING_RULE, "category": problem.category}
        if outcome.ok:
            score = score_output(problem.metadata, outcome.value)
            summary.update(score.details)
            status = SUCCESS if score.valid else FAILED
            reason = None if score.valid else str(score.details.get("error"))
            value = score.value
        else:
            status = TIMED_OUT if outcome.kind in sandbox.TIMEOUT_KINDS else FAILED
            reason, value = outcome.reason, 0.0
        if reason:
            summary["reason"] = reason
        log = {
            "problem_id": problem.problem_id,
            "status": status,
            "score": value,
            "scoring_rule": SCORING_RULE,
            "score_details": summary,
            "execution_time": elapsed,
            "agent_output": _preview(outcome.value) if outcome.ok else None,
            "limits": sandbox.describe_limits(self.limits),
            **outcome.log(),
        }
        return ProblemResult(problem.problem_id, status, value, elapsed, reason, summary, log)


def _preview(value: Any, limit: int = 64 * 1024) -> Any:
    """The agent's answer for the log, cut to `limit` characters of JSON when large."""
    text = json.dumps(value, default=repr)
    return value if len(text) <= limit else text[:limit] + "…"


def load_evaluator(spec: str, limits: SandboxLimits, *, work_root: Path | None = None) -> Evaluator:
    """`module:attr` → an evaluator (an instance, or a factory called with the limits)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--evaluator must look like module:attr, got {spec!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import evaluator module {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ValueError(f"{module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if target is SandboxEvaluator:
        target = SandboxEvaluator(limits, work_root=work_root)
    elif isinstance(target, type) or (callable(target) and not isinstance(target, Evaluator)):
        target = target(limits)
    if not isinstance(target, Evaluator):
        raise ValueError(f"{spec} is not an evaluator (needs name, prepare() and evaluate())")
    return target


DEFAULT_EVALUATOR = "proctor.validator.evaluator:SandboxEvaluator"
