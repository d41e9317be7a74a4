"""The poll protocol's statements, built once at import (bind parameters filled per call).

`POLL` is the lease engine's claim plan for compute jobs: the oldest queued job the polling miner
fits (the same conditions as `ComputeRepository.available_query`, with the miner's offer as bind
parameters named `m_…`: an UPDATE takes a parameter named like one of its columns as a value to set)
becomes RUNNING and gets an assignment leased to the miner, in one statement on PostgreSQL
(`FOR UPDATE SKIP LOCKED`), inside the single writer's transaction on SQLite.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Table, bindparam, case, cast, func, literal, or_, select, update

from proctor.core import leases
from proctor.core.compute.matching import SECONDS_PER_HOUR
from proctor.core.compute.repository import constraints_met
from proctor.core.compute.service import ASSIGNMENT_LEASES, QUEUED, RUNNING
from proctor.models import ComputeAssignment, ComputeJob, ComputeMiner
from proctor.models.compute import RUNNING_ASSIGNMENT


def _t(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


M, J, A = _t(ComputeMiner), _t(ComputeJob), _t(ComputeAssignment)


def _p(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


_running = (
    select(func.count())
    .where(A.c.miner_id == M.c.id, A.c.status == RUNNING_ASSIGNMENT)
    .correlate(M)
    .scalar_subquery()
)

# A miner's identity, standing and offer: what claims and heartbeats need of it.
_OFFER = (
    "id",
    "status",
    "gpu_type",
    "gpu_count",
    "price_per_hour_micro",
    "max_concurrent",
    "location",
    "memory_mb",
    "models",
)


def _miner_for_claim(where: Any) -> Any:
    """A miner, locked (its claims are serial from here on), with its load."""
    return (
        select(*(M.c[name] for name in _OFFER), _running.label("running"))
        .where(where)
        # FOR NO KEY UPDATE: the foreign keys of a completion's ledger row (KEY SHARE) do not wait on it.
        .with_for_update(of=M, key_share=True)
    )


# The miner an API key belongs to (the miners' own way in), and by its id (the operator's and tests').
MINER_FOR_CLAIM = _miner_for_claim(M.c.api_key_hash == _p("key_hash", M.c.api_key_hash))
MINER_BY_ID_FOR_CLAIM = _miner_for_claim(M.c.id == _p("miner_id", M.c.id))

# An accept names its job: the job's estimated time (fixed when the job is created; NULL when there is
# no such job) comes with the miner's lock, so the claim can write the attempt's deadline itself.
_job_estimated_time = (
    select(J.c.estimated_time)
    .where(J.c.id == _p("job_id", J.c.id))
    .scalar_subquery()
    .label("job_estimated_time")
)
MINER_FOR_ACCEPT = MINER_FOR_CLAIM.add_columns(_job_estimated_time)
MINER_BY_ID_FOR_ACCEPT = MINER_BY_ID_FOR_CLAIM.add_columns(_job_estimated_time)

# The claimer's running jobs, counted by the claim itself: its snapshot starts after the miner's lock
# was granted, so it sees every accept of this miner that committed while this one waited (the count
# read with the lock is from before the wait, and only a hint).
_running_now = (
    select(func.count())
    .where(A.c.miner_id == _p("miner_id", A.c.miner_id), A.c.status == RUNNING_ASSIGNMENT)
    .scalar_subquery()
)

_attempted = select(A.c.id).where(A.c.job_id == J.c.id, A.c.miner_id == _p("miner_id", A.c.miner_id)).exists()

_PICKED = ("attempts", "estimated_time", "payload", "constraints")
# The queued jobs a miner's offer (`m_…`) fits: the SQL twin of `matching.mismatch`.
_fits = (
    J.c.state == QUEUED,
    J.c.expires_at > _p("now", J.c.expires_at),
    or_(J.c.gpu_type.is_(None), J.c.gpu_type == _p("m_gpu_type", M.c.gpu_type)),
    J.c.gpu_count <= _p("m_gpu_count", M.c.gpu_count),
    J.c.price_micro * literal(SECONDS_PER_HOUR, BigInteger)
    >= cast(J.c.estimated_time, BigInteger) * bindparam("m_price_per_hour_micro", type_=BigInteger()),
    ~_attempted,
    *constraints_met(
        region=_p("m_region", J.c.region),
        memory_mb=_p("m_memory_mb", M.c.memory_mb),
        price_per_hour_micro=bindparam("m_price_per_hour_micro", type_=BigInteger()),
        models=_p("m_models", M.c.models),
    ),
)
_candidates = select(J.c.id, *(J.c[name] for name in _PICKED)).where(
    _running_now < _p("m_max_concurrent", M.c.max_concurrent), *_fits
)
# How many queued jobs the miner could take (a heartbeat's `queue_length`), whatever its load.
AVAILABLE_COUNT = select(func.count()).select_from(J).where(*_fits)


def _beat(where: Any) -> Any:
    """A heartbeat: the miner is alive (offline → active; pending and suspended stay as they are)."""
    return (
        update(M)
        .where(where)
        .values(
            last_heartbeat_at=_p("now", M.c.last_heartbeat_at),
            status=case((M.c.status == "offline", "active"), else_=M.c.status),
        )
        .returning(*(M.c[name] for name in _OFFER))
    )


BEAT = _beat(M.c.api_key_hash == _p("key_hash", M.c.api_key_hash))
BEAT_BY_ID = _beat(M.c.id == _p("miner_id", M.c.id))

_work_values = {
    "state": RUNNING,
    "assigned_miner_id": _p("miner_id", J.c.assigned_miner_id),
    "started_at": _p("now", J.c.started_at),
    "attempts": J.c.attempts + 1,
}


def _lease_values(c: Any) -> dict[str, Any]:
    return {
        "id": _p("assignment_id", A.c.id),
        "miner_id": _p("miner_id", A.c.miner_id),
        "attempt": c.attempts + 1,
        "status": RUNNING_ASSIGNMENT,
        "accepted_at": _p("now", A.c.accepted_at),
        "lease_expires_at": _p("expires", A.c.lease_expires_at),
        "deadline_at": _p("expires", A.c.deadline_at),  # set from the job's estimated_time just after
    }


POLL = leases.ClaimPlan(
    kind=ASSIGNMENT_LEASES,
    work=J,
    candidates=_candidates.order_by(J.c.created_at, J.c.id),
    work_values=_work_values,
    lease_values=_lease_values,
    extra=("attempts", "estimated_time", "payload", "constraints"),
)

# The documented API's accept: the same claim of one named job (`job_id`), when this miner fits it.
# What the wire shows of the job comes back with the lease, so a granted accept is one statement.
SHOWN = ("model", "gpu_type", "gpu_count", "estimated_time", "price_micro", "payload")
ACCEPT = leases.ClaimPlan(
    kind=ASSIGNMENT_LEASES,
    work=J,
    candidates=_candidates.add_columns(*(J.c[name] for name in SHOWN if name not in _PICKED)).where(
        J.c.id == _p("job_id", J.c.id)
    ),
    work_values=_work_values,
    # The deadline is known before the claim (MINER_FOR_ACCEPT), so the lease is written whole.
    lease_values=lambda c: {**_lease_values(c), "deadline_at": _p("deadline", A.c.deadline_at)},
    extra=("attempts", *SHOWN),
)

# A job and this miner's running assignment of it: a retried accept gets the same lease back.
HELD = (
    select(A, J.c.state.label("job_state"), *(J.c[name].label(f"job_{name}") for name in SHOWN))
    .join(J, J.c.id == A.c.job_id)
    .where(
        A.c.job_id == _p("job_id", A.c.job_id),
        A.c.miner_id == _p("miner_id", A.c.miner_id),
        A.c.status == RUNNING_ASSIGNMENT,
    )
)

# Why a job could not be accepted: the job itself, and whether this miner tried it before.
JOB = select(J, _attempted.label("attempted"), _running_now.label("running")).where(
    J.c.id == _p("job_id", J.c.id)
)

# The attempt's deadline depends on the job picked; its lease never outlives it.
SET_DEADLINE = (
    update(A)
    .where(A.c.id == _p("lease_id", A.c.id))
    .values(deadline_at=_p("deadline", A.c.deadline_at), lease_expires_at=_p("expires", A.c.lease_expires_at))
)
