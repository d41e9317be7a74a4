"""Bitrecs' statements, built once at import; evaluations are leases of the one lease engine (`EVALUATIONS`).

An agent row is the work: `active_count`/`success_count` count its current stage's evaluations. A claim
(`SCREEN` for screeners, FIFO; `VALIDATE` for validators, best screener-2 score first) picks an agent in
the stage the claimer serves that still needs an evaluation and that this claimer has not evaluated, and
writes the evaluation lease in the same atomic step.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, exists, func, insert, select, update

from proctor.core import leases
from proctor.models import (
    BitrecsAgent,
    BitrecsApiKey,
    BitrecsEvaluation,
    BitrecsEvaluationRun,
    BitrecsSession,
    SystemFlag,
)


def _t(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


A, E, R = _t(BitrecsAgent), _t(BitrecsEvaluation), _t(BitrecsEvaluationRun)
S, F, K = _t(BitrecsSession), _t(SystemFlag), _t(BitrecsApiKey)

LIVE_RUN = ("pending", "initializing_agent", "running_agent", "initializing_eval", "running_eval")
DONE_RUN = ("finished", "error")

EVALUATIONS = leases.LeaseKind(
    name="evaluation",
    table=E,
    owner="validator_hotkey",
    live=frozenset({"running"}),
    finished=frozenset({"finished", "failed"}),
    expired="error",
    cancelled=frozenset({"cancelled"}),
    heartbeat_at="last_heartbeat_at",
    finished_at="finished_at",
    work_ref="agent_id",
)


def _p(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


_evaluated_by_me = exists().where(
    E.c.agent_id == A.c.id,
    E.c.validator_hotkey == _p("owner", E.c.validator_hotkey),
    E.c.status.in_(("running", "finished")),
)
_candidates = select(A.c.id, A.c.miner_hotkey, A.c.name, A.c.status).where(
    A.c.status == _p("agent_status", A.c.status),
    A.c.success_count + A.c.active_count < bindparam("needed"),
    ~_evaluated_by_me,
)


def _plan(order: tuple[Any, ...]) -> leases.ClaimPlan:
    return leases.ClaimPlan(
        kind=EVALUATIONS,
        work=A,
        candidates=_candidates.order_by(*order),
        work_values={"active_count": A.c.active_count + 1, "total_count": A.c.total_count + 1},
        lease_values=lambda c: {
            "id": _p("evaluation_id", E.c.id),
            "agent_id": c.id,
            "validator_hotkey": _p("owner", E.c.validator_hotkey),
            "set_group": _p("set_group", E.c.set_group),
            "status": "running",
            "created_at": _p("now", E.c.created_at),
            "lease_expires_at": _p("expires", E.c.lease_expires_at),
            "last_heartbeat_at": _p("now", E.c.last_heartbeat_at),
        },
        extra=("miner_hotkey", "name", "status"),
    )


SCREEN = _plan((A.c.created_at, A.c.id))
VALIDATE = _plan((A.c.screener_2_score.desc().nulls_last(), A.c.created_at, A.c.id))

# --- submissions ----------------------------------------------------------------------------------

ADMISSION_FACTS = select(
    select(F.c.value).where(F.c.key == "submissions_enabled").scalar_subquery().label("enabled"),
    select(F.c.reason).where(F.c.key == "submissions_enabled").scalar_subquery().label("reason"),
    select(func.count())
    .select_from(S)
    .where(
        S.c.role == "validator",
        S.c.ended_at.is_(None),
        S.c.last_heartbeat_at > _p("alive_after", S.c.last_heartbeat_at),
    )
    .scalar_subquery()
    .label("validators"),
    select(func.count())
    .select_from(A)
    .where(A.c.created_at > _p("window_start", A.c.created_at))
    .scalar_subquery()
    .label("recent"),
    exists().where(A.c.miner_hotkey == _p("hotkey", A.c.miner_hotkey)).label("hotkey_used"),
    exists().where(A.c.gist_id == _p("gist_id", A.c.gist_id)).label("gist_used"),
)

INSERT_AGENT = insert(A)

RECENT_TEMPLATES = (
    select(A.c.id, A.c.miner_hotkey, A.c.gist_id, A.c.system_prompt_template, A.c.user_prompt_template)
    .order_by(A.c.created_at.desc())
    .limit(bindparam("limit"))
)

# --- sessions -------------------------------------------------------------------------------------

SESSION = select(S).where(S.c.token_sha256 == _p("token", S.c.token_sha256))
LIVE_SESSION_OF = select(S.c.token_sha256).where(
    S.c.owner == _p("owner", S.c.owner),
    S.c.ended_at.is_(None),
    S.c.last_heartbeat_at > _p("alive_after", S.c.last_heartbeat_at),
)
INSERT_SESSION = insert(S)
TOUCH_SESSION = (
    update(S)
    .where(S.c.token_sha256 == _p("token", S.c.token_sha256), S.c.ended_at.is_(None))
    .values(
        last_heartbeat_at=_p("now", S.c.last_heartbeat_at), system_metrics=_p("metrics", S.c.system_metrics)
    )
)
END_SESSION = (
    update(S)
    .where(S.c.token_sha256 == _p("token", S.c.token_sha256), S.c.ended_at.is_(None))
    .values(ended_at=_p("now", S.c.ended_at))
)
END_SILENT_SESSIONS = (
    update(S)
    .where(S.c.ended_at.is_(None), S.c.last_heartbeat_at <= _p("alive_after", S.c.last_heartbeat_at))
    .values(ended_at=_p("now", S.c.ended_at))
    .returning(S.c.owner)
)

# --- evaluations and runs -------------------------------------------------------------------------

HELD_EVALUATION = select(E).where(
    E.c.validator_hotkey == _p("owner", E.c.validator_hotkey), E.c.status == "running"
)
INSERT_RUNS = insert(R)
RUNS_OF = (
    select(R).where(R.c.evaluation_id == _p("evaluation_id", R.c.evaluation_id)).order_by(R.c.problem_name)
)
RUN = select(R).where(R.c.id == _p("run_id", R.c.id))


def move_run(values: frozenset[str]) -> Any:
    """`UPDATE run SET status=:new, … WHERE id=:run_id AND status=:expected` (the state machine's guard)."""
    return (
        update(R)
        .where(R.c.id == _p("run_id", R.c.id), R.c.status == _p("expected", R.c.status))
        .values({"status": _p("new", R.c.status), "updated_at": _p("now", R.c.updated_at)})
        .values({name: bindparam(f"v_{name}", type_=R.c[name].type) for name in sorted(values)})
    )


ERROR_OPEN_RUNS = (
    update(R)
    .where(R.c.evaluation_id == _p("for_evaluation", R.c.evaluation_id), R.c.status.in_(LIVE_RUN))
    .values(
        status="error",
        error_code=_p("code", R.c.error_code),
        error_message=_p("message", R.c.error_message),
        updated_at=_p("now", R.c.updated_at),
    )
)

AGENT = select(A).where(A.c.id == _p("agent_id", A.c.id))
AGENT_RELEASED = (
    update(A)
    .where(A.c.id == _p("for_agent", A.c.id), A.c.active_count > 0)
    .values(active_count=A.c.active_count - 1)
)
TOP_FINAL = select(func.max(A.c.final_score)).where(A.c.status == "finished")
VALIDATOR_SCORES = select(E.c.score).where(
    E.c.agent_id == _p("agent_id", E.c.agent_id),
    E.c.set_group == "validator",
    E.c.status == "finished",
    E.c.score.is_not(None),
)


def advance(values: frozenset[str]) -> Any:
    """Move an agent on from the stage it is in (guarded by that stage), writing `values` too."""
    return (
        update(A)
        .where(A.c.id == _p("agent_id", A.c.id), A.c.status == _p("expected", A.c.status))
        .values({name: bindparam(f"v_{name}", type_=A.c[name].type) for name in sorted(values)})
    )


# Scoring input: every finished validator run's score, with the agent's hotkey and first-commit block.
SCORED_RUNS = (
    select(A.c.miner_hotkey, A.c.id.label("agent_id"), A.c.block, R.c.problem_name, R.c.score)
    .select_from(R.join(E, E.c.id == R.c.evaluation_id).join(A, A.c.id == R.c.agent_id))
    .where(
        E.c.set_group == "validator",
        E.c.status == "finished",
        R.c.status == "finished",
        R.c.score.is_not(None),
        A.c.status.in_(("evaluating", "finished")),
    )
)

COUNT_BY_STATUS = select(A.c.status, func.count()).group_by(A.c.status)
LIVE_SESSIONS = select(S.c.owner, S.c.role, S.c.created_at, S.c.last_heartbeat_at).where(
    S.c.ended_at.is_(None), S.c.last_heartbeat_at > _p("alive_after", S.c.last_heartbeat_at)
)
AGENT_BY = select(A).where(
    (A.c.id == _p("agent_id", A.c.id))
    | (A.c.miner_hotkey == _p("hotkey", A.c.miner_hotkey))
    | (A.c.gist_id == _p("gist_id", A.c.gist_id))
)
