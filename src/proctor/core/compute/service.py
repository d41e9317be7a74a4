"""The GPU compute marketplace: miners' offers, clients' jobs, jobs leased to miners, the earnings ledger.

Job states (`ComputeJob.state`, AITBC's names):

    QUEUED ──accept──▶ RUNNING ──complete──▶ COMPLETED     one ledger row: the job pays exactly once
      │  ▲                │
      │  └────────────────┤ fail, or the lease lapsed, with attempts left and the ttl not run out
      │                   ├─ … at `max_attempts` ─────────▶ FAILED
      │                   └─ … after the ttl ran out ─────▶ EXPIRED
      ├──cancel (client)──▶ CANCELED
      └──ttl runs out─────▶ EXPIRED

- **ttl** bounds how long a job waits for a (re)start: `expires_at = created_at + ttl_seconds`. A
  running job is governed by its lease instead, so a miner is never robbed of a job mid-run.
- **Accepting** leases the job to one miner through the shared lease engine (`proctor.core.leases`):
  one `ComputeAssignment` row per attempt, owned by the miner, status running → completed | failed |
  expired. The lease lasts `heartbeat_timeout_seconds` and each miner heartbeat renews it, but never
  past the attempt's deadline (`accepted_at + estimated_time × run_deadline_factor + grace`), so a
  miner that heartbeats forever without finishing still gives the job back.
- **Atomicity.** Accept locks the miner's row first (its accepts are serial, so `max_concurrent`
  holds), then takes the job with `FOR UPDATE SKIP LOCKED`: a job another miner is taking right now
  answers 409 at once instead of queueing behind it. A partial unique index (one running assignment
  per job) is the database's last word. SQLite runs one writer at a time, where all of this is serial.
- **Completion** is accepted only from the miner holding a live lease; repeating it is answered with
  the same outcome; the ledger row (unique per job) is written only by the completion that changed
  the state. A miner that failed or abandoned a job is not offered it again: a retry goes to somebody
  else, and nobody can burn a job's attempts alone.
- **Miner standing**: pending → active (an operator approves, or `compute_auto_approve`) ⇄ offline
  (silent past the heartbeat timeout; the next heartbeat brings it back) ; suspended by an operator
  (its running jobs go back to the queue at once). Only active miners list and accept jobs.
- Lock order everywhere: miner → queued job; assignment → its job. The sweeper follows it (miners,
  queued jobs, then lapsed assignments and their jobs), so nothing here can deadlock.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core import leases
from proctor.core.compute import keys, matching, money
from proctor.core.compute.repository import ComputeRepository
from proctor.core.compute.schemas import (
    Completion,
    CompletionReport,
    IssuedClient,
    JobSpec,
    MinerStats,
    OfferChanges,
    OfferIn,
    Policy,
    Registration,
    Sweep,
)
from proctor.errors import BadRequest, Conflict, Forbidden, NotFound, ProctorError, Unauthorized
from proctor.models import ComputeAssignment, ComputeClient, ComputeEarning, ComputeJob, ComputeMiner
from proctor.models.compute import RUNNING_ASSIGNMENT
from proctor.storage.sql import SessionTx

QUEUED, RUNNING, COMPLETED = "QUEUED", "RUNNING", "COMPLETED"
FAILED, CANCELED, EXPIRED = "FAILED", "CANCELED", "EXPIRED"
MINER_STATUSES = ("pending", "active", "offline", "suspended")

ASSIGNMENT_LEASES = leases.LeaseKind(
    name="job",
    table=ComputeAssignment.__table__,  # type: ignore[arg-type]
    owner="miner_id",
    live=frozenset({RUNNING_ASSIGNMENT}),
    finished=frozenset({"completed", "failed"}),
    expired="expired",  # lapsed, or ended by the operator (a suspended miner)
    work_ref="job_id",
)


class InvalidApiKey(Unauthorized):
    code = "INVALID_API_KEY"
    default_message = "Invalid or missing API key"


class MinerNotFound(NotFound):
    code = "MINER_NOT_FOUND"
    default_message = "Miner not found"


class JobNotFound(NotFound):
    code = "JOB_NOT_FOUND"
    default_message = "Job not found"


class ClientNotFound(NotFound):
    code = "CLIENT_NOT_FOUND"
    default_message = "Client not found"


class MinerNotActive(Forbidden):
    code = "MINER_NOT_ACTIVE"
    default_message = "Miner is not active"


class JobAlreadyAssigned(Conflict):
    code = "JOB_ALREADY_ASSIGNED"
    default_message = "Job already assigned to another miner"


class JobNotAvailable(Conflict):
    code = "JOB_NOT_AVAILABLE"
    default_message = "Job is no longer queued"


class JobNotEligible(Conflict):
    code = "JOB_NOT_ELIGIBLE"
    default_message = "This miner cannot run this job"


class AtCapacity(Conflict):
    code = "AT_CAPACITY"
    default_message = "Miner already runs max_concurrent jobs"


class JobNotCancelable(Conflict):
    code = "JOB_NOT_CANCELABLE"
    default_message = "Only queued jobs can be canceled"


class ResultMismatch(Conflict):
    code = "RESULT_MISMATCH"
    default_message = "Job was already completed with a different result_hash"


class JobNotReady(ProctorError):
    # AITBC's client answers 425 for a result that is not there yet.
    status_code = 425
    code = "JOB_NOT_READY"
    default_message = "Job not ready"


class JobHasNoResult(Conflict):
    code = "JOB_NOT_COMPLETED"
    default_message = "Job ended without a result"


MAX_ID_LENGTH = 64


def _known_shape(public_id: str) -> bool:
    """Whether a path id could name a row at all (NUL or overlong ids would only upset the database)."""
    return len(public_id) <= MAX_ID_LENGTH and "\x00" not in public_id


# --- accounts -------------------------------------------------------------------------------------


async def authenticate_miner(session: AsyncSession, *, api_key: str | None) -> ComputeMiner:
    """The miner an API key belongs to (401 for an unknown or malformed key)."""
    if not api_key or len(api_key) > keys.MAX_KEY_LENGTH:
        raise InvalidApiKey()
    miner = await ComputeRepository(session).miner_by_key(keys.digest(api_key))
    if miner is None:
        raise InvalidApiKey()
    return miner


async def authenticate_client(session: AsyncSession, *, api_key: str | None) -> ComputeClient:
    """The client an API key belongs to (401 for an unknown, malformed or revoked key)."""
    if not api_key or len(api_key) > keys.MAX_KEY_LENGTH:
        raise InvalidApiKey()
    client = await ComputeRepository(session).client_by_key(keys.digest(api_key))
    if client is None or client.revoked_at is not None:
        raise InvalidApiKey()
    return client


def require_own(miner: ComputeMiner, miner_id: str) -> ComputeMiner:
    """A miner acts only on its own id; any other id is "not found" (existence is not revealed)."""
    if miner.id != miner_id:
        raise MinerNotFound()
    return miner


async def register_miner(
    session: AsyncSession, *, offer: OfferIn, policy: Policy, now: datetime
) -> Registration:
    """Register an offer; the miner waits for approval unless auto-approve is on. The key is shown once."""
    _check_text(name=offer.name, gpu_type=offer.gpu_type)
    api_key = keys.new_key(keys.MINER_KEY_PREFIX)
    miner = ComputeMiner(
        id=keys.new_id("miner"),
        name=offer.name.strip(),
        gpu_type=matching.normalize_gpu_type(offer.gpu_type),
        gpu_count=offer.gpu_count,
        location=(offer.location or "").strip() or None,
        price_per_hour_micro=offer.price_per_hour_micro,
        max_concurrent=offer.max_concurrent,
        status="active" if policy.auto_approve else "pending",
        api_key_hash=keys.digest(api_key),
        registered_at=now,
        updated_at=now,
        approved_at=now if policy.auto_approve else None,
    )
    session.add(miner)
    await session.flush()
    return Registration(miner=miner, api_key=api_key)


_MINER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$")


class MinerIdTaken(Conflict):
    code = "MINER_ID_TAKEN"
    default_message = "A miner with this id already exists"


async def provision_miner(
    session: AsyncSession, *, miner_id: str | None, name: str | None, now: datetime
) -> Registration:
    """An operator pre-provisions a miner key, as AITBC's operators do (`MINER_API_KEYS`).

    The miner is active at once (the operator vouches for it) with an empty offer that its first
    `POST /v1/miners/register` fills in; `miner_id` is the `MINER_ID` its software sends as `X-Miner-ID`.
    """
    if miner_id is not None and not _MINER_ID.match(miner_id):
        raise BadRequest(
            "miner id must be 1-40 characters: letters, digits, '.', '_', ':' or '-'", code="VALIDATION_ERROR"
        )
    chosen = miner_id or keys.new_id("miner")
    if await ComputeRepository(session).miner(chosen) is not None:
        raise MinerIdTaken(f"A miner with id {chosen!r} already exists")
    api_key = keys.new_key(keys.MINER_KEY_PREFIX)
    miner = ComputeMiner(
        id=chosen,
        name=(name or chosen).strip()[:100] or chosen,
        gpu_type="cpu",
        gpu_count=0,
        location=None,
        price_per_hour_micro=0,
        max_concurrent=1,
        status="active",
        api_key_hash=keys.digest(api_key),
        registered_at=now,
        updated_at=now,
        approved_at=now,
    )
    session.add(miner)
    await session.flush()
    return Registration(miner=miner, api_key=api_key)


async def update_offer(
    session: AsyncSession, *, miner_id: str, changes: OfferChanges, now: datetime
) -> ComputeMiner:
    """Change a miner's offer; running jobs keep going, new matches use the new offer."""
    values = {k: v for k, v in vars(changes).items() if v is not None}
    if not values:
        raise BadRequest("Nothing to update: send at least one field of the offer", code="EMPTY_UPDATE")
    _check_text(name=values.get("name"), gpu_type=values.get("gpu_type"))
    miner = await _miner(session, miner_id, lock=True)
    _refuse_suspended(miner)
    for name, value in values.items():
        if name == "gpu_type":
            value = matching.normalize_gpu_type(value)
        elif name == "location":
            value = value.strip() or None
        elif name == "name":
            value = value.strip()
        setattr(miner, name, value)
    miner.updated_at = now
    await session.flush()
    return miner


def _check_text(*, name: str | None, gpu_type: str | None) -> None:
    if name is not None and not name.strip():
        raise BadRequest("name must not be blank", code="VALIDATION_ERROR")
    if gpu_type is not None and not matching.normalize_gpu_type(gpu_type):
        raise BadRequest("gpu_type must not be blank", code="VALIDATION_ERROR")


async def _miner(session: AsyncSession, miner_id: str, *, lock: bool = False) -> ComputeMiner:
    miner = await ComputeRepository(session).miner(miner_id, lock=lock) if _known_shape(miner_id) else None
    if miner is None:
        raise MinerNotFound()
    return miner


def _refuse_suspended(miner: ComputeMiner) -> None:
    if miner.status == "suspended":
        raise MinerNotActive("Miner is suspended by the operator", code="MINER_SUSPENDED")


def _require_working(miner: ComputeMiner) -> None:
    """Only active miners take work; the others are told what would change that."""
    _refuse_suspended(miner)
    if miner.status == "pending":
        raise MinerNotActive("Miner is pending approval by the operator", code="MINER_PENDING")
    if miner.status == "offline":
        raise MinerNotActive("Miner is offline: send a heartbeat first", code="MINER_OFFLINE")


# --- operator actions -----------------------------------------------------------------------------


async def approve_miner(session: AsyncSession, *, miner_id: str, now: datetime) -> ComputeMiner:
    """Let a pending (or suspended) miner take work."""
    miner = await _miner(session, miner_id, lock=True)
    if miner.status in ("pending", "suspended"):
        miner.status, miner.approved_at, miner.updated_at = "active", now, now
        await session.flush()
    return miner


async def suspend_miner(session: AsyncSession, *, miner_id: str, policy: Policy, now: datetime) -> int:
    """Stop a miner taking work and hand its running jobs back; returns how many went back."""
    miner = await _miner(session, miner_id, lock=True)
    miner.status, miner.updated_at = "suspended", now
    await session.flush()
    ended = await leases.end(
        SessionTx(session),
        ASSIGNMENT_LEASES,
        where=ASSIGNMENT_LEASES.c.miner_id == miner.id,
        status=ASSIGNMENT_LEASES.expired,
        now=now,
        values={"error": "miner suspended by the operator"},
    )
    returned = 0
    for assignment in ended:
        returned += await _release_job(session, assignment, policy=policy, now=now, reason="miner suspended")
    await session.flush()
    return returned


async def list_miners(session: AsyncSession, *, status: str | None = None) -> Sequence[ComputeMiner]:
    return await ComputeRepository(session).miners(status=status)


async def issue_client(session: AsyncSession, *, name: str, now: datetime) -> IssuedClient:
    """A new client account and its API key (shown once, stored as a hash)."""
    if not name.strip() or len(name.strip()) > 100:
        raise BadRequest("client name must be 1-100 characters", code="VALIDATION_ERROR")
    api_key = keys.new_key(keys.CLIENT_KEY_PREFIX)
    client = ComputeClient(
        id=keys.new_id("client"), name=name.strip(), api_key_hash=keys.digest(api_key), created_at=now
    )
    session.add(client)
    await session.flush()
    return IssuedClient(client_id=client.id, name=client.name, api_key=api_key, created_at=now)


async def revoke_client(session: AsyncSession, *, client_id: str, now: datetime) -> ComputeClient:
    """Refuse a client's key from now on (its jobs stay as they are)."""
    client = await ComputeRepository(session).client(client_id) if _known_shape(client_id) else None
    if client is None:
        raise ClientNotFound()
    client.revoked_at = client.revoked_at or now
    await session.flush()
    return client


async def list_clients(session: AsyncSession) -> Sequence[ComputeClient]:
    return await ComputeRepository(session).clients()


# --- the miner's side of a job --------------------------------------------------------------------


def offer_of(miner: ComputeMiner) -> matching.Offer:
    return matching.Offer(
        gpu_type=miner.gpu_type,
        gpu_count=miner.gpu_count,
        price_per_hour_micro=miner.price_per_hour_micro,
        max_concurrent=miner.max_concurrent,
        region=miner.location,
        memory_mb=miner.memory_mb,
        models=miner.models,
    )


def requirement_of(job: ComputeJob) -> matching.Requirement:
    return matching.Requirement(
        gpu_type=job.gpu_type,
        gpu_count=job.gpu_count,
        estimated_time=job.estimated_time,
        price_micro=job.price_micro,
        region=job.region,
        min_vram_mb=job.min_vram_mb,
        max_price_micro=job.max_price_micro,
        models=tuple((job.constraints or {}).get("models") or ()) if job.model_pattern else (),
    )


async def available_jobs(
    session: AsyncSession, *, miner_id: str, now: datetime, limit: int
) -> Sequence[ComputeJob]:
    """Queued jobs this miner can run now, oldest first; none while it has no free slot."""
    repo = ComputeRepository(session)
    miner = await _miner(session, miner_id)
    _require_working(miner)
    if matching.free_slots(offer_of(miner), await repo.running_count(miner.id)) == 0:
        return []
    return await repo.available(miner, now=now, limit=limit)


async def running_jobs(
    session: AsyncSession, *, miner_id: str
) -> Sequence[tuple[ComputeJob, ComputeAssignment]]:
    """The jobs this miner holds right now, with their leases."""
    return await ComputeRepository(session).running_jobs(miner_id)


@dataclass(frozen=True)
class ShownJob:
    """What an accept shows of the job it leased (the job's columns, read back with the lease)."""

    id: str
    state: str
    model: str
    gpu_type: str | None
    gpu_count: int
    estimated_time: int
    price_micro: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class Accepted:
    job: ShownJob
    assignment: Any  # the assignment row (id, attempt, accepted_at, lease_expires_at, deadline_at, …)


def why_not_accepted(miner: Any, job: Any, *, now: datetime) -> ProctorError:
    """Why a job the claim did not grant can't be this miner's, in the order a miner would fix it.

    `job` is the job row (None when there is none) with `attempted`: whether this miner tried it."""
    if job is None:
        return JobNotFound()
    if job.state == RUNNING:
        return JobAlreadyAssigned()
    if job.state != QUEUED:
        return JobNotAvailable(f"Job is {job.state}, not QUEUED")
    if job.expires_at <= now:
        return JobNotAvailable("Job expired before anyone accepted it", code="JOB_EXPIRED")
    reason = matching.mismatch(offer_of(miner), requirement_of(job))
    if reason is not None:
        return JobNotEligible(f"This miner cannot run this job: {reason}")
    if job.attempted:
        return JobNotEligible("This miner already attempted this job; a retry goes to another miner")
    # It qualified when read: another miner's accept held it and took it (or gave it back) since.
    return JobAlreadyAssigned("Job is being assigned to another miner")


async def _own_lease_id(repo: ComputeRepository, *, job_id: str, miner_id: str) -> uuid.UUID:
    if not _known_shape(job_id):
        raise JobNotFound()
    lease_id = await repo.latest_attempt_id(job_id, miner_id)
    if lease_id is None:
        if await repo.job(job_id) is None:
            raise JobNotFound()
        raise leases.NotOwner("Job is not assigned to this miner")
    return lease_id


async def complete(
    session: AsyncSession,
    *,
    miner_id: str,
    job_id: str,
    report: CompletionReport,
    policy: Policy,
    now: datetime,
) -> Completion:
    """Finish a job with its result; only its lease holder may, and the ledger pays exactly once."""
    check_json_size(report.result, what="result", policy=policy)
    repo = ComputeRepository(session)
    lease_id = await _own_lease_id(repo, job_id=job_id, miner_id=miner_id)
    finished = await leases.finish(
        SessionTx(session), ASSIGNMENT_LEASES, lease_id=lease_id, owner=miner_id, now=now, status="completed"
    )
    job = await repo.job(job_id, lock=True)
    assert job is not None
    if not finished.changed:
        if job.result_hash != report.result_hash:
            raise ResultMismatch()
        return Completion(job=job, earned_micro=job.price_micro, changed=False)
    assignment = finished.row
    job.state, job.finished_at, job.error = COMPLETED, now, None
    job.result_hash, job.result = report.result_hash, report.result
    job.metrics = {
        "execution_time_seconds": report.execution_time_seconds,
        "gpu_time_seconds": report.gpu_time_seconds,
    }
    session.add(
        ComputeEarning(
            job_id=job.id,
            assignment_id=assignment.id,
            miner_id=miner_id,
            client_id=job.client_id,
            amount_micro=job.price_micro,
            gpu_seconds=report.gpu_time_seconds,
            execution_seconds=report.execution_time_seconds,
            duration_ms=max(0, int((now - assignment.accepted_at).total_seconds() * 1000)),
            recorded_at=now,
        )
    )
    await session.flush()
    return Completion(job=job, earned_micro=job.price_micro, changed=True)


async def fail(
    session: AsyncSession, *, miner_id: str, job_id: str, error: str, policy: Policy, now: datetime
) -> ComputeJob:
    """Give a job up: back to the queue for another miner, or FAILED once its attempts are spent."""
    repo = ComputeRepository(session)
    lease_id = await _own_lease_id(repo, job_id=job_id, miner_id=miner_id)
    finished = await leases.finish(
        SessionTx(session),
        ASSIGNMENT_LEASES,
        lease_id=lease_id,
        owner=miner_id,
        now=now,
        status="failed",
        values={"error": error},
        compare=(),
    )
    if finished.changed:
        await _release_job(session, finished.row, policy=policy, now=now, reason=f"miner failed: {error}")
        await session.flush()
    job = await repo.job(job_id)
    assert job is not None
    return job


async def _release_job(
    session: AsyncSession, assignment: Any, *, policy: Policy, now: datetime, reason: str
) -> int:
    """After an attempt ended without a result: re-queue the job, or end it. 1 when it went back."""
    job = await ComputeRepository(session).job(assignment.job_id, lock=True)
    if job is None or job.state != RUNNING or job.assigned_miner_id != assignment.miner_id:
        return 0
    job.assigned_miner_id, job.started_at = None, None
    if job.attempts >= policy.max_attempts:
        job.state, job.finished_at = FAILED, now
        job.error = f"{reason} (attempt {job.attempts} of {policy.max_attempts})"
        return 0
    if job.expires_at <= now:
        job.state, job.finished_at = EXPIRED, now
        job.error = f"{reason}; its ttl ran out before another miner could take it"
        return 0
    job.state, job.error = QUEUED, reason
    return 1


async def miner_stats(session: AsyncSession, *, miner_id: str) -> MinerStats:
    """Totals from the miner's attempts and from the earnings ledger."""
    repo = ComputeRepository(session)
    counts = await repo.assignment_counts(miner_id)
    completed, earned, gpu_seconds, mean_ms = await repo.earnings_totals(miner_id)
    failed = counts.get("failed", 0) + counts.get("expired", 0)
    ended = completed + failed
    return MinerStats(
        total_jobs=ended,
        completed_jobs=completed,
        failed_jobs=failed,
        running_jobs=counts.get(RUNNING_ASSIGNMENT, 0),
        success_rate=round(completed / ended, 6) if ended else 0.0,
        average_completion_time=round(mean_ms / 1000, 3),
        earnings_micro=earned,
        gpu_seconds=gpu_seconds,
        earnings_per_gpu_hour=money.ratio(earned, Decimal(repr(gpu_seconds)) / 3600),
    )


# --- the client's side ----------------------------------------------------------------------------


# JSON's escape for NUL (`\u0000`), not preceded by an escaped backslash (`\\u0000` is harmless text).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _payload_size(value: Any, what: str) -> int:
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        raise BadRequest(f"{what} must be plain JSON (no NaN or Infinity)", code="VALIDATION_ERROR") from None
    if _NUL_ESCAPE.search(text):  # PostgreSQL's jsonb cannot hold NUL characters
        raise BadRequest(f"{what} must not contain NUL characters", code="VALIDATION_ERROR")
    return len(text.encode())


def check_json_size(value: Any, *, what: str, policy: Policy) -> None:
    """Refuse a payload or result larger than `max_payload_bytes` as compact JSON."""
    size = _payload_size(value, what)
    if size > policy.max_payload_bytes:
        raise BadRequest(
            f"{what} is {size} bytes as JSON; the limit is {policy.max_payload_bytes}",
            code="PAYLOAD_TOO_LARGE",
        )


async def create_job(
    session: AsyncSession, *, client_id: str, spec: JobSpec, policy: Policy, now: datetime
) -> ComputeJob:
    """Queue a job; it waits at most its ttl for a miner."""
    ttl = spec.ttl_seconds if spec.ttl_seconds is not None else policy.default_ttl_seconds
    if ttl > policy.max_ttl_seconds:
        raise BadRequest(f"ttl_seconds may be at most {policy.max_ttl_seconds}", code="TTL_TOO_LONG")
    check_json_size(spec.payload, what="payload", policy=policy)
    if not spec.model.strip():
        raise BadRequest("model must not be blank", code="VALIDATION_ERROR")
    _check_text(name=None, gpu_type=spec.gpu_type)
    gpu_type = matching.normalize_gpu_type(spec.gpu_type) if spec.gpu_type is not None else None
    job = ComputeJob(
        id=keys.new_id("job"),
        client_id=client_id,
        model=spec.model.strip(),
        gpu_type=gpu_type,
        gpu_count=spec.gpu_count,
        estimated_time=policy.default_estimated_time if spec.estimated_time is None else spec.estimated_time,
        price_micro=policy.default_price_micro if spec.price_micro is None else spec.price_micro,
        payload=spec.payload,
        ttl_seconds=ttl,
        state=QUEUED,
        attempts=0,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    wants = spec.constraints
    if wants is not None:
        job.constraints = wants.raw
        job.region = wants.region
        job.min_vram_mb = wants.min_vram_mb
        job.max_price_micro = wants.max_price_micro
        job.model_pattern = matching.model_pattern(wants.models) if wants.models else None
    session.add(job)
    await session.flush()
    return job


async def client_job(session: AsyncSession, *, client_id: str, job_id: str, now: datetime) -> ComputeJob:
    """One of the client's jobs (another client's job is not found); a queued job past its ttl expires."""
    job = await ComputeRepository(session).job(job_id) if _known_shape(job_id) else None
    if job is None or job.client_id != client_id:
        raise JobNotFound()
    if job.state == QUEUED and job.expires_at <= now:
        job.state, job.finished_at = EXPIRED, now
        job.error = "not accepted before its ttl ran out"
        await session.flush()
    return job


async def client_jobs(
    session: AsyncSession, *, client_id: str, state: str | None, limit: int, offset: int
) -> Sequence[ComputeJob]:
    """The client's jobs, newest first."""
    return await ComputeRepository(session).client_jobs(client_id, state=state, limit=limit, offset=offset)


async def cancel_job(session: AsyncSession, *, client_id: str, job_id: str, now: datetime) -> ComputeJob:
    """Cancel a queued job (canceling it again is harmless); a job a miner took can no longer be."""
    job = await ComputeRepository(session).job(job_id, lock=True) if _known_shape(job_id) else None
    if job is None or job.client_id != client_id:
        raise JobNotFound()
    if job.state == CANCELED:
        return job
    if job.state != QUEUED or job.expires_at <= now:
        state = EXPIRED if job.state == QUEUED else job.state
        raise JobNotCancelable(f"Job is {state}; only QUEUED jobs can be canceled")
    job.state, job.finished_at, job.error = CANCELED, now, "canceled by the client"
    await session.flush()
    return job


async def job_result(session: AsyncSession, *, client_id: str, job_id: str, now: datetime) -> ComputeJob:
    """A completed job (425 while it may still complete, 409 once it never will)."""
    job = await client_job(session, client_id=client_id, job_id=job_id, now=now)
    if job.state in (QUEUED, RUNNING):
        raise JobNotReady(f"Job is {job.state}; its result is not ready yet")
    if job.state != COMPLETED:
        raise JobHasNoResult(f"Job ended {job.state} without a result")
    return job


# --- background -----------------------------------------------------------------------------------


async def sweep(session: AsyncSession, *, policy: Policy, now: datetime) -> Sweep:
    """Silent miners go offline, unaccepted jobs past their ttl expire, lapsed leases give jobs back."""
    repo = ComputeRepository(session)
    offline = await repo.mark_silent_offline(cutoff=now - timedelta(seconds=policy.heartbeat_timeout_seconds))
    expired = await repo.expire_queued(now=now)
    lapsed = await leases.reap(SessionTx(session), ASSIGNMENT_LEASES, now=now)
    requeued = 0
    for assignment in lapsed:
        late = assignment.deadline_at <= now
        error = "ran past its deadline" if late else "no heartbeat before the lease ran out"
        await session.execute(
            update(ComputeAssignment).where(ComputeAssignment.id == assignment.id).values(error=error)
        )
        requeued += await _release_job(
            session, assignment, policy=policy, now=now, reason=f"miner {assignment.miner_id} {error}"
        )
    await session.flush()
    return Sweep(
        offline_miners=offline,
        expired_jobs=expired,
        reaped_leases=len(lapsed),
        requeued_jobs=requeued,
    )
