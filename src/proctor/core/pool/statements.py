"""The Pool domain's statements, built once at import (bind parameters filled per call).

Assignments are leases of the one lease engine (`ASSIGNMENTS`); `CLAIM` hands an open batch to a
miner. Every insert names every NOT NULL column: the fast executor does not apply ORM defaults.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from proctor.core import leases
from proctor.models import PoolAlgorithm, PoolAssignment, PoolBatch, PoolEvaluation, PoolMiner, PoolWindow


def _t(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


M, A, B, AS, E, W = (
    _t(PoolMiner),
    _t(PoolAlgorithm),
    _t(PoolBatch),
    _t(PoolAssignment),
    _t(PoolEvaluation),
    _t(PoolWindow),
)


def _p(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


ASSIGNMENTS = leases.LeaseKind(
    name="pool assignment",
    table=AS,
    owner="miner_hotkey",
    live=frozenset({"ACTIVE"}),
    finished=frozenset({"COMPLETED", "FAILED"}),
    expired="EXPIRED",
    work_ref="batch_id",
)

# --- miners ---------------------------------------------------------------------------------------------

_miner_values = {
    "hotkey": _p("miner", M.c.hotkey),
    "registered_at": _p("now", M.c.registered_at),
    "last_seen_at": _p("now", M.c.last_seen_at),
    "reputation": 0.0,
    "leases_completed": 0,
    "evaluations_submitted": 0,
    "evolutions_submitted": 0,
}
# Register or refresh in one statement; on PostgreSQL it also locks the miner's row for the
# transaction, so two requests of one miner serialise on the rules checked after it.
REGISTER = {
    name: dialect.insert(M)
    .values(_miner_values)
    .on_conflict_do_update(index_elements=[M.c.hotkey], set_={"last_seen_at": _p("now", M.c.last_seen_at)})
    .returning(*M.c)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
MINER_DONE = (
    update(M)
    .where(M.c.hotkey == _p("miner", M.c.hotkey))
    .values(
        leases_completed=M.c.leases_completed + 1,
        evaluations_submitted=M.c.evaluations_submitted + _p("evaluations", M.c.evaluations_submitted),
        evolutions_submitted=M.c.evolutions_submitted + _p("evolutions", M.c.evolutions_submitted),
        last_seen_at=_p("now", M.c.last_seen_at),
    )
)

# --- a miner's assignments ------------------------------------------------------------------------------

LIVE_OF_MINER = select(AS.c.id, AS.c.lease_expires_at).where(
    AS.c.miner_hotkey == _p("miner", AS.c.miner_hotkey), AS.c.status == "ACTIVE"
)
LEASE_IN_WINDOW = select(AS.c.id).where(
    AS.c.miner_hotkey == _p("miner", AS.c.miner_hotkey),
    AS.c.lease_window == _p("window", AS.c.lease_window),
)

# --- claiming a batch -----------------------------------------------------------------------------------

_taken_before = exists().where(AS.c.batch_id == B.c.id, AS.c.miner_hotkey == _p("miner", AS.c.miner_hotkey))

CLAIM = leases.ClaimPlan(
    kind=ASSIGNMENTS,
    work=B,
    # The oldest open batch of the asked kind that this miner never held.
    candidates=select(B.c.id, B.c.kind, B.c.task_type, B.c.evaluate_ids, B.c.seed_ids, B.c.evolve_budget)
    .where(B.c.status == "OPEN", B.c.kind == _p("kind", B.c.kind), B.c.active_count == 0, ~_taken_before)
    .order_by(B.c.id),
    work_values={"status": "TAKEN", "active_count": B.c.active_count + 1},
    lease_values=lambda c: {
        "id": _p("lease_id", AS.c.id),
        "miner_hotkey": _p("miner", AS.c.miner_hotkey),
        "kind": c.kind,
        "status": "ACTIVE",
        "window_number": _p("window_number", AS.c.window_number),
        "lease_window": _p("lease_window", AS.c.lease_window),
        "claimed_at": _p("now", AS.c.claimed_at),
        "lease_expires_at": _p("expires", AS.c.lease_expires_at),
    },
    extra=("kind", "task_type", "evaluate_ids", "seed_ids", "evolve_budget"),
)

NEW_BATCH = (
    insert(B)
    .values(
        kind=_p("kind", B.c.kind),
        task_type=_p("task_type", B.c.task_type),
        evaluate_ids=_p("evaluate_ids", B.c.evaluate_ids),
        seed_ids=_p("seed_ids", B.c.seed_ids),
        evolve_budget=_p("evolve_budget", B.c.evolve_budget),
        status="OPEN",
        active_count=0,
        created_at=_p("now", B.c.created_at),
    )
    .returning(B.c.id)
)
BATCH = select(B).where(B.c.id == _p("batch_id", B.c.id))
BATCH_DONE = (
    update(B).where(B.c.id == _p("batch_id", B.c.id)).values(status="DONE", active_count=B.c.active_count - 1)
)
BATCH_REOPEN = (
    update(B)
    .where(B.c.id == _p("batch_id", B.c.id), B.c.status == "TAKEN")
    .values(status="OPEN", active_count=B.c.active_count - 1)
)

# --- algorithms -----------------------------------------------------------------------------------------

_evaluated_by_miner = exists().where(
    E.c.algorithm_id == A.c.id, E.c.miner_hotkey == _p("miner", E.c.miner_hotkey)
)
ALGO_FIELDS = (A.c.id, A.c.algorithm_dsl, A.c.input_dim, A.c.task_type)

# Candidates still needing evaluations, not the miner's own, not evaluated by it; evolved ones before
# seeds (seeds are what an empty pool evaluates, so it never deadlocks). Locked rows are skipped.
# Reserve them in the same statement (`eval_pending + 1`), returning what the batch needs.
TO_EVALUATE = (
    update(A)
    .where(
        A.c.id.in_(
            select(A.c.id)
            .where(
                A.c.consensus_window.is_(None),
                A.c.eval_count + A.c.eval_pending < _p("required", A.c.eval_count),
                (A.c.submitter_hotkey.is_(None))
                | (A.c.submitter_hotkey != _p("miner", A.c.submitter_hotkey)),
                ~_evaluated_by_miner,
            )
            .order_by(A.c.is_seed, A.c.id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
        )
    )
    .values(eval_pending=A.c.eval_pending + 1)
    .returning(*ALGO_FIELDS)
)
# Parents to evolve from: the best scored first, then seeds.
TO_EVOLVE = (
    select(*ALGO_FIELDS)
    .where((A.c.consensus_score.is_not(None)) | A.c.is_seed)
    .order_by(A.c.consensus_score.is_(None), A.c.consensus_score.desc(), A.c.id)
    .limit(bindparam("limit"))
)
ALGO = select(*ALGO_FIELDS).where(A.c.id == _p("algorithm_id", A.c.id))
PENDING_DOWN = update(A).where(A.c.id == _p("algorithm_id", A.c.id)).values(eval_pending=A.c.eval_pending - 1)
EVALUATED = (
    update(A)
    .where(A.c.id == _p("algorithm_id", A.c.id))
    .values(eval_pending=A.c.eval_pending - 1, eval_count=A.c.eval_count + 1)
)
ANY_TO_EVALUATE = (
    select(A.c.id)
    .where(
        A.c.consensus_window.is_(None),
        A.c.eval_count + A.c.eval_pending < _p("required", A.c.eval_count),
        (A.c.submitter_hotkey.is_(None)) | (A.c.submitter_hotkey != _p("miner", A.c.submitter_hotkey)),
        ~_evaluated_by_miner,
    )
    .limit(1)
)

_algo_values = {
    "dsl_hash": _p("dsl_hash", A.c.dsl_hash),
    "algorithm_dsl": _p("algorithm_dsl", A.c.algorithm_dsl),
    "task_type": _p("task_type", A.c.task_type),
    "input_dim": _p("input_dim", A.c.input_dim),
    "parent_ids": _p("parent_ids", A.c.parent_ids),
    "submitter_hotkey": _p("submitter", A.c.submitter_hotkey),
    "is_seed": _p("is_seed", A.c.is_seed),
    "created_window": _p("created_window", A.c.created_window),
    "eval_pending": 0,
    "eval_count": 0,
    "created_at": _p("now", A.c.created_at),
}
NEW_ALGORITHM = {
    "postgresql": postgresql.insert(A).values(_algo_values).on_conflict_do_nothing().returning(A.c.id),
    "sqlite": sqlite.insert(A).values(_algo_values).on_conflict_do_nothing().returning(A.c.id),
}
KNOWN_IDS = select(A.c.id).where(A.c.id == _p("algorithm_id", A.c.id))

_eval_values = {
    "algorithm_id": _p("algorithm_id", E.c.algorithm_id),
    "miner_hotkey": _p("miner", E.c.miner_hotkey),
    "assignment_id": _p("lease_id", E.c.assignment_id),
    "score": _p("score", E.c.score),
    "window_number": _p("window_number", E.c.window_number),
    "created_at": _p("now", E.c.created_at),
}
NEW_EVALUATION = {
    "postgresql": postgresql.insert(E).values(_eval_values).on_conflict_do_nothing().returning(E.c.id),
    "sqlite": sqlite.insert(E).values(_eval_values).on_conflict_do_nothing().returning(E.c.id),
}

# --- windows --------------------------------------------------------------------------------------------

LAST_CLOSED = select(func.max(W.c.number))
NEXT_ACTIVE_WINDOW = select(func.min(AS.c.window_number)).where(
    AS.c.window_number > _p("after", AS.c.window_number)
)
LIVE_IN_WINDOW = (
    select(AS.c.id)
    .where(
        AS.c.window_number == _p("window", AS.c.window_number),
        AS.c.status == "ACTIVE",
        AS.c.lease_expires_at > _p("now", AS.c.lease_expires_at),
    )
    .limit(1)
)
