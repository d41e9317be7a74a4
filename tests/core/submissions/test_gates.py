"""The gate pipeline, gate by gate, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from proctor.core.identity.registry import Identity
from proctor.core.submissions.gates import Candidate, CooldownCost, Facts, Policy, judge
from proctor.core.submissions.service import answers_in
from proctor.models import Problem
from tests.support import agents

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOTKEY = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"


def facts(**overrides: object) -> Facts:
    values: dict[str, object] = {
        "identity": Identity(HOTKEY, registered=True),
        "suite_id": 1,
        "next_allowed_at": None,
        "duplicate_of": None,
        "duplicate_is_own": False,
        "answers": frozenset(),
        "now": NOW,
        "policy": Policy(max_bytes=1000, cooldown_seconds=3600, reduced_cooldown_seconds=60),
    }
    values.update(overrides)
    return Facts(**values)  # type: ignore[arg-type]


def candidate(
    content: bytes | None = None, name: str | None = "my agent", oversized: bool = False
) -> Candidate:
    return Candidate(
        HOTKEY, name, "agent.py", agents.valid_agent() if content is None else content, oversized
    )


def first(c: Candidate, f: Facts | None = None) -> tuple[str | None, int | None, CooldownCost]:
    verdict = judge(c, f or facts())
    rejection = verdict.rejection
    return (rejection.code if rejection else None, rejection.status if rejection else None, verdict.cooldown)


class TestGates:
    def test_a_valid_file_passes_every_gate_and_costs_a_full_cooldown(self) -> None:
        verdict = judge(candidate(), facts())
        assert verdict.rejection is None
        assert [r.outcome for r in verdict.results] == ["passed"] * 12
        assert verdict.cooldown is CooldownCost.FULL

    def test_a_pause_decides_first_and_costs_nothing(self) -> None:
        paused = facts(paused="suite rotation", suite_id=None)
        assert first(candidate(agents.SYNTAX_ERROR), paused) == ("SUBMISSIONS_PAUSED", 503, CooldownCost.NONE)
        verdict = judge(candidate(agents.SYNTAX_ERROR), paused, exhaustive=True)
        assert verdict.rejection is not None and verdict.rejection.message == "suite rotation"
        outcomes = {r.gate: r.outcome for r in verdict.results}
        assert outcomes["open"] == outcomes["syntax"] == outcomes["suite"] == "rejected"

    @pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bad/name", "emoji🙂", "semi;colon", None])
    def test_bad_names(self, name: str | None) -> None:
        assert first(candidate(name=name))[:2] == ("INVALID_AGENT_NAME", 400)

    @pytest.mark.parametrize("name", ["a", "My Agent v1.2", "under_score-dash", "x" * 100, "  padded  "])
    def test_good_names(self, name: str) -> None:
        assert first(candidate(name=name))[0] is None

    def test_size_limits(self) -> None:
        assert first(candidate(b"x" * 1001))[:2] == ("FILE_TOO_LARGE", 413)
        assert first(candidate(oversized=True))[:2] == ("FILE_TOO_LARGE", 413)
        assert first(candidate(b""))[:2] == ("INVALID_FILE", 400)
        missing = Candidate(HOTKEY, "a", None, None)
        assert first(missing)[:2] == ("INVALID_FILE", 400)

    @pytest.mark.parametrize(
        "content",
        [
            agents.NOT_UTF8,
            agents.NUL_BYTES,
            agents.SYNTAX_ERROR,
            agents.NO_ENTRYPOINT,
            b"def agent_main():\n    return []\n",
            b"class agent_main: pass\n",
        ],
    )
    def test_file_content_refusals_cost_nothing(self, content: bytes) -> None:
        code, status, cost = first(candidate(content))
        assert (code, status, cost) == ("INVALID_FILE", 400, CooldownCost.NONE)

    def test_byte_order_mark_is_tolerated(self) -> None:
        assert first(candidate(b"\xef\xbb\xbf" + agents.valid_agent()))[0] is None

    def test_security_violation_costs_a_reduced_cooldown(self) -> None:
        c = candidate(agents.SECURITY_VIOLATION)
        verdict = judge(c, facts())
        assert verdict.rejection is not None and verdict.rejection.status == 422
        assert verdict.cooldown is CooldownCost.REDUCED
        violations = verdict.rejection.extra["violations"]
        assert violations[0]["rule"] == "forbidden-import" and violations[0]["line"] == 1

    def test_integrity_violation_costs_a_full_cooldown(self) -> None:
        assert first(candidate(agents.INTEGRITY_VIOLATION)) == ("CODE_ANALYSIS_ERROR", 422, CooldownCost.FULL)

    def test_hard_coded_answers_are_integrity_violations(self) -> None:
        code = agents.valid_agent().replace(b'SALT = "', b'SALT = "4000000123 ')
        assert first(candidate(code), facts(answers=frozenset({"4000000123"})))[0] == "CODE_ANALYSIS_ERROR"
        assert first(candidate(code))[0] is None

    def test_identity_gates_answer_200_rejected(self) -> None:
        unregistered = facts(identity=Identity(HOTKEY, registered=False))
        banned = facts(identity=Identity(HOTKEY, registered=True, banned=True))
        for f, reason in ((unregistered, "NOT_REGISTERED_ONCHAIN"), (banned, "BANNED")):
            rejection = judge(candidate(), f).rejection
            assert rejection is not None and rejection.status == 200 and rejection.admission_reason == reason

    def test_no_suite_cooldown_and_duplicate(self) -> None:
        assert first(candidate(), facts(suite_id=None))[:2] == ("NO_ACTIVE_SUITE", 503)
        cooling = judge(candidate(), facts(next_allowed_at=NOW + timedelta(seconds=90))).rejection
        assert cooling is not None and cooling.code == "COOLDOWN_ACTIVE" and cooling.status == 429
        assert cooling.extra["remaining_seconds"] == 90
        assert first(candidate(), facts(next_allowed_at=NOW - timedelta(seconds=1)))[0] is None
        dup = judge(candidate(), facts(duplicate_of=uuid.uuid4(), duplicate_is_own=False)).rejection
        assert dup is not None and dup.code == "INVALID_FILE" and "existing submission" in dup.message

    def test_order_decides_which_failure_answers(self) -> None:
        verdict = judge(candidate(agents.SECURITY_VIOLATION, name=""), facts(suite_id=None))
        assert verdict.rejection is not None and verdict.rejection.code == "INVALID_AGENT_NAME"
        outcomes = [(r.gate, r.outcome) for r in verdict.results]
        assert outcomes == [("open", "passed"), ("name", "rejected")], (
            "a real submission stops at the first failure"
        )


class TestDryRun:
    def test_exhaustive_run_reports_every_gate_and_skips_dependents(self) -> None:
        verdict = judge(
            candidate(agents.NOT_UTF8), facts(next_allowed_at=NOW + timedelta(hours=1)), exhaustive=True
        )
        outcomes = {r.gate: r.outcome for r in verdict.results}
        assert outcomes["encoding"] == "rejected"
        assert outcomes["syntax"] == outcomes["entrypoint"] == outcomes["code"] == "skipped"
        assert outcomes["cooldown"] == "rejected" and outcomes["suite"] == "passed"
        assert verdict.rejection is not None and verdict.rejection.code == "INVALID_FILE"

    def test_code_is_analysed_even_on_cooldown(self) -> None:
        verdict = judge(
            candidate(agents.SECURITY_VIOLATION),
            facts(next_allowed_at=NOW + timedelta(hours=1)),
            exhaustive=True,
        )
        outcomes = {r.gate: r.outcome for r in verdict.results}
        assert outcomes["code"] == "rejected" and outcomes["cooldown"] == "rejected"

    def test_flags_are_reported_not_rejected(self) -> None:
        code = agents.valid_agent().replace(b"import json", b"import json\nimport time\nSTART = time.time()")
        verdict = judge(candidate(code), facts(), exhaustive=True)
        assert verdict.rejection is None
        assert [f.rule for f in verdict.flags] == ["wall-clock"]


def test_answers_are_identifier_values_in_hidden_fields() -> None:
    def problem(meta: dict[str, object]) -> Problem:
        return Problem(suite_id=1, problem_id=uuid.uuid4(), position=0, problem_metadata=meta)

    problems = [
        problem(
            {
                "query": "q 1234567",
                "reward": {"product_id": "4000000001", "title": ["A title"], "service": ["official"]},
            }
        ),
        problem(
            {
                "reward": [{"product_id": 5000000002}, {"product_id": "12"}],
                "voucher": {"voucher_id": "VCH-778899"},
            }
        ),
    ]
    assert answers_in(problems, ["reward", "voucher"]) == {"4000000001", "5000000002", "VCH-778899"}
    assert answers_in(problems, []) == frozenset()
