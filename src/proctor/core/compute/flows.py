"""The compute marketplace as flows: each owns its unit of work, so a route is parse → one call → render.

Two miner protocols share one job lifecycle (`service.py`) and one lease engine:

- the **documented** miner API (list available jobs, accept, complete) — its routes call `service`
  through the request's session, and job creation and failure go through the flows here so that
  every way a job becomes QUEUED wakes long-polling miners;
- **AITBC's real miner** (`apps/miner/production_miner.py`): register capabilities, heartbeat, poll,
  result, fail. A poll is the lease engine's atomic claim (`statements.POLL`) of the oldest queued
  job the miner fits, honouring `max_wait_seconds` as a long poll woken by `wakeup.JobBell`.

Neutral errors only; each surface maps them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core import leases
from proctor.core.compute import keys, matching
from proctor.core.compute import service as svc
from proctor.core.compute import statements as st
from proctor.core.compute.schemas import (
    Capabilities,
    Completion,
    CompletionReport,
    Heartbeat,
    JobSpec,
    Policy,
    policy_from,
)
from proctor.core.compute.wakeup import bell
from proctor.core.context import Core
from proctor.errors import Forbidden
from proctor.models import ComputeJob, ComputeMiner
from proctor.storage.base import utcnow
from proctor.storage.sql import SessionTx, Tx


class MinerIdMismatch(Forbidden):
    code = "MINER_ID_MISMATCH"
    default_message = "X-Miner-ID does not name the miner this API key belongs to"


def policy(core: Core) -> Policy:
    """The compute policy of this process's settings (built once)."""
    found = core.caches.extra.get("compute.policy")
    if found is None:
        found = core.caches.extra["compute.policy"] = policy_from(core.settings)
    return found  # type: ignore[no-any-return]


def _key_hash(api_key: str | None) -> str:
    if not api_key or len(api_key) > keys.MAX_KEY_LENGTH:
        raise svc.InvalidApiKey()
    return keys.digest(api_key)


def _check_claimed_id(miner_id: str, claimed: str | None) -> None:
    if claimed is not None and claimed != miner_id:
        raise MinerIdMismatch()


async def _miner(session: AsyncSession, api_key: str | None, claimed_id: str | None) -> ComputeMiner:
    miner = await svc.authenticate_miner(session, api_key=api_key)
    _check_claimed_id(miner.id, claimed_id)
    return miner


# --- jobs becoming QUEUED ---------------------------------------------------------------------------


async def create_job(core: Core, *, client_id: str, spec: JobSpec, now: datetime) -> ComputeJob:
    """Queue a client's job (either wire shape) and wake the miners waiting for work."""
    ring = bell(core)
    async with core.sessionmaker() as session, session.begin():
        job = await svc.create_job(session, client_id=client_id, spec=spec, policy=policy(core), now=now)
        await ring.ring_in_session(session)
    ring.committed()
    return job


async def fail_job(core: Core, *, miner_id: str, job_id: str, error: str, now: datetime) -> ComputeJob:
    """A miner gives a job up (documented route): back to the queue, waking the waiting miners."""
    ring = bell(core)
    async with core.sessionmaker() as session, session.begin():
        job = await svc.fail(
            session, miner_id=miner_id, job_id=job_id, error=error, policy=policy(core), now=now
        )
        if job.state == svc.QUEUED:
            await ring.ring_in_session(session)
    if job.state == svc.QUEUED:
        ring.committed()
    return job


# --- the documented miner API's accept ----------------------------------------------------------------


async def accept(
    core: Core,
    *,
    api_key: str | None,
    miner_id: str,
    job_id: str,
    now: datetime,
    admit: Callable[[str], Awaitable[None]] | None = None,
) -> svc.Accepted:
    """Lease one named queued job to the key's miner (the documented `…/jobs/{job_id}/accept`).

    `admit(miner_id)` runs once the key is known to be this miner's and before anything is taken
    (the surface's per-miner limit). A granted accept is two statements: the miner locked with its
    load and the job's estimated time, then the lease engine's claim of that job with its deadline.
    """
    key_hash = _key_hash(api_key)
    async with core.db.transaction() as tx:
        miner = await tx.one(st.MINER_FOR_ACCEPT, {"key_hash": key_hash, "job_id": _named(job_id)})
        if miner is None:
            raise svc.InvalidApiKey()
        if miner.id != miner_id:
            raise svc.MinerNotFound()
        if admit is not None:
            await admit(miner.id)
        return await accept_in(tx, miner, job_id=job_id, policy=policy(core), now=now)


async def accept_as(
    session: AsyncSession, *, miner_id: str, job_id: str, policy: Policy, now: datetime
) -> svc.Accepted:
    """The same accept for a miner named by id, inside the caller's session (operators, core tests)."""
    tx = SessionTx(session)
    known = svc._known_shape(miner_id)
    miner = (
        await tx.one(st.MINER_BY_ID_FOR_ACCEPT, {"miner_id": miner_id, "job_id": _named(job_id)})
        if known
        else None
    )
    if miner is None:
        raise svc.MinerNotFound()
    return await accept_in(tx, miner, job_id=job_id, policy=policy, now=now)


def _named(job_id: str) -> str | None:
    """The job id MINER_FOR_ACCEPT looks up: one of no known shape (a NUL, 300 characters) never
    reaches SQL, and `accept_in` answers it not found."""
    return job_id if svc._known_shape(job_id) else None


async def accept_in(tx: Tx, miner: Any, *, job_id: str, policy: Policy, now: datetime) -> svc.Accepted:
    """Lease `job_id` to the locked `miner` (a `MINER_FOR_ACCEPT` row): a retried accept gets the same
    lease back; at capacity, taken, expired, unfit or already tried by this miner is refused."""
    svc._require_working(miner)
    if not svc._known_shape(job_id):
        raise svc.JobNotFound()
    ids = {"miner_id": miner.id, "job_id": job_id}
    # The load read with the lock may be stale (see statements.py): it can only miss changes that
    # committed while this accept waited, so refusing on it orders this accept before them.
    if miner.running >= miner.max_concurrent:  # max_concurrent may have been lowered below the load
        held = await tx.one(st.HELD, ids)
        if held is not None:
            return _held(held)
        raise svc.AtCapacity(f"Miner already runs {miner.max_concurrent} job(s), its max_concurrent")
    expires = now + timedelta(seconds=policy.heartbeat_timeout_seconds)
    deadline = expires  # no such job: the claim below finds nothing and says why
    if miner.job_estimated_time is not None:
        deadline = now + timedelta(
            seconds=miner.job_estimated_time * policy.run_deadline_factor + policy.run_deadline_grace_seconds
        )
    expires = min(expires, deadline)
    claimed = await leases.claim(
        tx, st.ACCEPT, params={**ids, **_offer_params(miner, now, expires), "deadline": deadline}
    )
    if claimed is None:
        held = await tx.one(st.HELD, ids)
        if held is not None:
            return _held(held)
        job = await tx.one(st.JOB, ids)
        if job is not None and job.running >= miner.max_concurrent:
            raise svc.AtCapacity(f"Miner already runs {miner.max_concurrent} job(s), its max_concurrent")
        raise svc.why_not_accepted(miner, job, now=now)
    work, lease = claimed.work, claimed.lease
    job = svc.ShownJob(
        id=job_id,
        state=svc.RUNNING,
        payload=_as_dict(work["payload"]),
        **{name: work[name] for name in st.SHOWN if name != "payload"},
    )
    return svc.Accepted(job=job, assignment=lease)


def _held(row: Any) -> svc.Accepted:
    job = svc.ShownJob(
        id=row.job_id,
        state=row.job_state,
        payload=_as_dict(row.job_payload),
        **{name: getattr(row, f"job_{name}") for name in st.SHOWN if name != "payload"},
    )
    return svc.Accepted(job=job, assignment=row)


def _offer_params(miner: Any, now: datetime, expires: datetime) -> dict[str, Any]:
    """The claim plans' bind parameters: the miner's offer (`m_…`), the time, the new lease."""
    return {
        "now": now,
        "expires": expires,
        "assignment_id": uuid.uuid4(),
        "m_gpu_type": miner.gpu_type,
        "m_gpu_count": miner.gpu_count,
        "m_price_per_hour_micro": miner.price_per_hour_micro,
        "m_region": miner.location,
        "m_memory_mb": miner.memory_mb,
        "m_models": miner.models,
        "m_max_concurrent": miner.max_concurrent,
    }


# --- AITBC's real miner ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    miner: ComputeMiner
    session_token: str


async def register(
    core: Core, *, api_key: str | None, claimed_id: str | None, offer: Capabilities, now: datetime
) -> Registered:
    """Set the key's miner's offer from AITBC capabilities; it is a sign of life, like a heartbeat.

    Nothing about running jobs changes (AITBC resets `inflight`; here the leases are the books).
    """
    _check_text(offer)
    async with core.sessionmaker() as session, session.begin():
        miner = await _miner(session, api_key, claimed_id)
        svc._refuse_suspended(miner)
        miner = await svc._miner(session, miner.id, lock=True)
        miner.gpu_type, miner.gpu_count = matching.normalize_gpu_type(offer.gpu_type), offer.gpu_count
        miner.memory_mb, miner.models = offer.memory_mb, matching.models_text(offer.models)
        miner.price_per_hour_micro, miner.max_concurrent = offer.price_per_hour_micro, offer.max_concurrent
        miner.location, miner.capabilities = offer.region, offer.raw
        miner.updated_at = miner.last_heartbeat_at = now
        if miner.status == "offline":
            miner.status = "active"
        await session.flush()
    bell(core).forget(miner.id)
    return Registered(miner=miner, session_token=secrets.token_hex(32))


def _check_text(offer: Capabilities) -> None:
    svc.check_json_size(offer.raw, what="capabilities", policy=Policy())
    svc._check_text(name=None, gpu_type=offer.gpu_type)


async def heartbeat(core: Core, *, api_key: str | None, claimed_id: str | None, now: datetime) -> Heartbeat:
    """AITBC's heartbeat: the server's leases, not the body's `inflight`, say what the miner runs."""
    key_hash = _key_hash(api_key)
    async with core.db.transaction() as tx:
        miner = await tx.one(st.BEAT, {"key_hash": key_hash, "now": now})
        if miner is None:
            raise svc.InvalidApiKey()
        _check_claimed_id(miner.id, claimed_id)  # raising rolls the beat back
        return await _beat(tx, miner, policy=policy(core), now=now)


async def miner_heartbeat(core: Core, *, api_key: str | None, miner_id: str, now: datetime) -> Heartbeat:
    """The documented `POST /v1/miners/{miner_id}/heartbeat`: the same beat, for the key's own id only."""
    key_hash = _key_hash(api_key)
    async with core.db.transaction() as tx:
        miner = await tx.one(st.BEAT, {"key_hash": key_hash, "now": now})
        if miner is None:
            raise svc.InvalidApiKey()
        if miner.id != miner_id:
            raise svc.MinerNotFound()
        return await _beat(tx, miner, policy=policy(core), now=now)


async def heartbeat_as(session: AsyncSession, *, miner_id: str, policy: Policy, now: datetime) -> Heartbeat:
    """The same beat for a miner named by id, inside the caller's session (operators, core tests)."""
    tx = SessionTx(session)
    known = svc._known_shape(miner_id)
    miner = await tx.one(st.BEAT_BY_ID, {"miner_id": miner_id, "now": now}) if known else None
    if miner is None:
        raise svc.MinerNotFound()
    return await _beat(tx, miner, policy=policy, now=now)


async def _beat(tx: Tx, miner: Any, *, policy: Policy, now: datetime) -> Heartbeat:
    """After the miner row's beat: renew its live leases and count the queue it could take from.

    Leases that lapsed are the sweeper's (it re-queues their jobs); a job's lease never outlives the
    job's own deadline."""
    svc._refuse_suspended(miner)  # raising rolls the beat back
    renewed = await leases.renew_all(
        tx,
        svc.ASSIGNMENT_LEASES,
        owner=miner.id,
        now=now,
        seconds=policy.heartbeat_timeout_seconds,
        cap="deadline_at",
    )
    queue_length = await tx.scalar(
        st.AVAILABLE_COUNT, {"miner_id": miner.id, **_offer_params(miner, now, now)}
    )
    return Heartbeat(
        miner_id=miner.id,
        miner_status=miner.status,
        jobs_assigned=renewed,
        queue_length=int(queue_length or 0),
    )


@dataclass(frozen=True)
class Assignment:
    job_id: str
    payload: dict[str, Any]
    constraints: dict[str, Any]
    lease_expires_at: datetime


@dataclass(frozen=True)
class _Look:
    miner_id: str
    assignment: Assignment | None
    at_capacity: bool


async def poll(
    core: Core, *, api_key: str | None, claimed_id: str | None, max_wait_seconds: float
) -> Assignment | None:
    """Lease the oldest queued job this miner fits, waiting up to `max_wait_seconds` for one.

    The wait is capped by `poll_max_wait_seconds`. While waiting, the miner is woken only by the
    job bell; a miner that already found nothing at the bell's current generation waits without a
    statement. A miner at its concurrency gets nothing (after the wait, like an empty queue).
    """
    rules = policy(core)
    key_hash = _key_hash(api_key)
    ring = bell(core)
    await ring.listen()
    known: dict[str, str] = core.caches.extra.setdefault("compute.poll_keys", {})
    give_up = time.monotonic() + max(0.0, min(max_wait_seconds, rules.poll_max_wait_seconds))
    woken = False  # a ring woke this poll: it owes a look, and a pass_on when it takes nothing
    while True:
        generation = ring.generation
        miner_id = known.get(key_hash)
        if miner_id is not None:
            _check_claimed_id(miner_id, claimed_id)
        if miner_id is None or woken or not ring.idle(miner_id):
            try:
                look = await _look(core, key_hash=key_hash, claimed_id=claimed_id, rules=rules, now=utcnow())
            except BaseException:
                if woken:
                    ring.pass_on()
                raise
            if len(known) > 100_000:
                known.clear()
            known[key_hash] = look.miner_id
            if look.assignment is not None:
                return look.assignment
            if woken:
                ring.pass_on()
            if look.at_capacity:  # a ring does not free a slot: only the time passes
                remaining = give_up - time.monotonic()
                if remaining > 0:
                    await asyncio.sleep(remaining)
                return None
            ring.found_nothing(look.miner_id, generation)
        remaining = give_up - time.monotonic()
        if remaining <= 0:
            return None
        woken = await ring.wait(generation, remaining) == "rang"


async def _look(core: Core, *, key_hash: str, claimed_id: str | None, rules: Policy, now: datetime) -> _Look:
    async with core.db.transaction() as tx:
        miner = await tx.one(st.MINER_FOR_CLAIM, {"key_hash": key_hash})
        if miner is None:
            raise svc.InvalidApiKey()
        _check_claimed_id(miner.id, claimed_id)
        svc._require_working(miner)  # type: ignore[arg-type]
        if miner.running >= miner.max_concurrent:
            return _Look(miner.id, None, True)
        expires = now + timedelta(seconds=rules.heartbeat_timeout_seconds)
        claimed = await leases.claim(
            tx, st.POLL, params={"miner_id": miner.id, **_offer_params(miner, now, expires)}
        )
        if claimed is None:
            return _Look(miner.id, None, False)
        work = claimed.work
        deadline = now + timedelta(
            seconds=work["estimated_time"] * rules.run_deadline_factor + rules.run_deadline_grace_seconds
        )
        expires = min(expires, deadline)
        await tx.run(
            st.SET_DEADLINE, {"lease_id": claimed.lease.id, "deadline": deadline, "expires": expires}
        )
        job_id = claimed.lease.job_id
    return _Look(
        miner.id,
        Assignment(
            job_id=job_id,
            payload=_as_dict(work["payload"]),
            constraints=_as_dict(work["constraints"]),
            lease_expires_at=expires,
        ),
        False,
    )


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # a JSON column read back through a plain SELECT on SQLite
        value = json.loads(value)
    return dict(value or {})


@dataclass(frozen=True)
class ResultReport:
    """What AITBC's miner posts to `/v1/miners/{job_id}/result`."""

    result: dict[str, Any]
    metrics: dict[str, Any]


def result_hash(result: dict[str, Any]) -> str:
    """The server's own digest of a result (canonical JSON), never the miner's word."""
    text = json.dumps(result, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _seconds(report: ResultReport) -> float:
    metrics, result = report.metrics, report.result
    for value in (
        metrics.get("duration_ms") and float(metrics["duration_ms"]) / 1000,
        metrics.get("duration_seconds"),
        metrics.get("compute_time"),
        result.get("execution_time"),
    ):
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e8:
            return float(value)
    return 0.0


@dataclass(frozen=True)
class ResultOutcome:
    job: ComputeJob
    completed: bool  # False: the miner reported a failure; the job went back or FAILED
    earned_micro: int


async def submit_result(
    core: Core,
    *,
    api_key: str | None,
    claimed_id: str | None,
    job_id: str,
    report: ResultReport,
    now: datetime,
) -> ResultOutcome:
    """AITBC's `/result`: only the lease holder finishes; `result.status == "failed"` is a failure;
    the server hashes the result; the job's own price is credited, once."""
    if str(report.result.get("status", "")).lower() == "failed":
        error = str(report.result.get("error") or "the miner reported a failure")[:2000]
        job = await fail(core, api_key=api_key, claimed_id=claimed_id, job_id=job_id, error=error, now=now)
        return ResultOutcome(job=job, completed=False, earned_micro=0)
    rules = policy(core)
    svc.check_json_size(report.result, what="result", policy=rules)
    svc.check_json_size(report.metrics, what="metrics", policy=rules)
    seconds = _seconds(report)
    completion = CompletionReport(
        result_hash=result_hash(report.result),
        execution_time_seconds=seconds,
        gpu_time_seconds=seconds,
        result=report.result,
    )
    async with core.sessionmaker() as session, session.begin():
        miner = await _miner(session, api_key, claimed_id)
        done: Completion = await svc.complete(
            session, miner_id=miner.id, job_id=job_id, report=completion, policy=rules, now=now
        )
        if done.changed:
            done.job.metrics = {**(done.job.metrics or {}), "reported": report.metrics}
    return ResultOutcome(job=done.job, completed=True, earned_micro=done.earned_micro)


async def fail(
    core: Core, *, api_key: str | None, claimed_id: str | None, job_id: str, error: str, now: datetime
) -> ComputeJob:
    """AITBC's `/fail` (and a failed `/result`): back to the queue for another miner, or FAILED."""
    async with core.sessionmaker() as session:
        async with session.begin():
            miner = await _miner(session, api_key, claimed_id)
    return await fail_job(
        core, miner_id=miner.id, job_id=job_id, error=error.strip() or "unspecified", now=now
    )
