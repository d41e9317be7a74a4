"""AITBC miner routes (`/v1/miners…`): register, offer, heartbeat, available jobs, accept, complete,
fail, stats. Every route after registration acts on the caller's own `{miner_id}` only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from proctor.core.compute import flows, money, schemas
from proctor.core.compute import service as compute_service
from proctor.http.deps import SessionDep, core_of, state_of
from proctor.http.params import Identifier
from proctor.storage.base import utcnow
from proctor.surfaces.compute import mapping, wire
from proctor.surfaces.compute.auth import (
    OwnMiner,
    OwnMinerForFlow,
    OwnMinerJobOp,
    counted_auth_failures,
    enforce,
    limited_key,
    register_limit,
)

router = APIRouter(tags=["compute: miners"])  # mounted at /v1/miners
root = APIRouter(tags=["compute: miners"])  # the bare /v1/miners path (a mount only matches below it)

MINER_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Invalid or missing API key"},
    404: {"description": "MINER_NOT_FOUND (also for another miner's id) or JOB_NOT_FOUND"},
    429: {"description": "Rate limit exceeded (Retry-After)"},
}
JOB_OP_ERRORS: dict[int | str, dict[str, Any]] = {
    **MINER_ERRORS,
    403: {"description": "MINER_PENDING, MINER_OFFLINE or MINER_SUSPENDED"},
    409: {
        "description": "JOB_ALREADY_ASSIGNED, AT_CAPACITY, JOB_NOT_ELIGIBLE, JOB_NOT_AVAILABLE, "
        "NOT_JOB_OWNER, LEASE_EXPIRED, JOB_ALREADY_FINISHED, RESULT_MISMATCH"
    },
}


def policy(request: Request) -> schemas.Policy:
    extra = state_of(request).core.caches.extra
    if "compute.policy" not in extra:
        extra["compute.policy"] = schemas.policy_from(state_of(request).settings)
    result: schemas.Policy = extra["compute.policy"]
    return result


@root.post(
    "/v1/miners",
    status_code=201,
    response_model=wire.MinerRegistered,
    dependencies=[Depends(register_limit)],
    responses={429: {"description": "Too many registrations from this address"}},
)
async def register_miner(
    body: wire.MinerRegister, request: Request, session: SessionDep
) -> wire.MinerRegistered:
    """Register a GPU offer. The API key is shown once; the miner is pending until an operator approves it."""
    registration = await compute_service.register_miner(
        session, offer=mapping.offer_in(body), policy=policy(request), now=utcnow()
    )
    return wire.MinerRegistered(
        miner_id=registration.miner.id, api_key=registration.api_key, status=registration.miner.status
    )


@router.get("/{miner_id}", response_model=wire.MinerView, responses=MINER_ERRORS)
async def get_miner(miner: OwnMiner) -> wire.MinerView:
    """The miner's offer and standing."""
    return mapping.miner_view(miner)


@router.put("/{miner_id}", response_model=wire.MinerView, responses=MINER_ERRORS)
async def update_miner(body: wire.MinerUpdate, miner: OwnMiner, session: SessionDep) -> wire.MinerView:
    """Update the offer (any subset of the registration fields)."""
    updated = await compute_service.update_offer(
        session, miner_id=miner.id, changes=mapping.offer_changes(body), now=utcnow()
    )
    return mapping.miner_view(updated)


@router.post("/{miner_id}/heartbeat", response_model=wire.HeartbeatResponse, responses=MINER_ERRORS)
async def heartbeat(miner_id: Identifier, request: Request) -> wire.HeartbeatResponse:
    """Say the miner is alive: renews the leases of its running jobs and brings it back online."""
    key = await limited_key(request)
    with counted_auth_failures(request):
        beat = await flows.miner_heartbeat(core_of(request), api_key=key, miner_id=miner_id, now=utcnow())
    return wire.HeartbeatResponse(
        jobs_assigned=beat.jobs_assigned, queue_length=beat.queue_length, miner_status=beat.miner_status
    )


@router.get("/{miner_id}/jobs/available", response_model=wire.AvailableJobs, responses=JOB_OP_ERRORS)
async def available_jobs(
    miner: OwnMiner, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> wire.AvailableJobs:
    """Queued jobs this miner can run (GPU type and count, price, a free slot), oldest first."""
    jobs = await compute_service.available_jobs(session, miner_id=miner.id, now=utcnow(), limit=limit)
    return wire.AvailableJobs(jobs=[mapping.available_job(job) for job in jobs])


@router.get("/{miner_id}/jobs", response_model=wire.AssignedJobs, responses=MINER_ERRORS)
async def running_jobs(miner: OwnMiner, session: SessionDep) -> wire.AssignedJobs:
    """The jobs this miner holds now (to pick up after a restart)."""
    rows = await compute_service.running_jobs(session, miner_id=miner.id)
    return wire.AssignedJobs(jobs=[mapping.assigned_job(job, lease) for job, lease in rows])


@router.post("/{miner_id}/jobs/{job_id}/accept", response_model=wire.AssignedJob, responses=JOB_OP_ERRORS)
async def accept_job(miner_id: Identifier, job_id: Identifier, request: Request) -> wire.AssignedJob:
    """Take a queued job. 409 when another miner got it first, at capacity, or the job does not fit."""
    key = await limited_key(request)
    state = state_of(request)

    async def admit(own_id: str) -> None:
        await enforce(state, "compute_rate_limit_job_ops", "miner:" + own_id)

    with counted_auth_failures(request):
        result = await flows.accept(
            core_of(request), api_key=key, miner_id=miner_id, job_id=job_id, now=utcnow(), admit=admit
        )
    return mapping.accepted(result)


@router.post(
    "/{miner_id}/jobs/{job_id}/complete", response_model=wire.CompleteResponse, responses=JOB_OP_ERRORS
)
async def complete_job(
    job_id: Identifier,
    body: wire.CompleteRequest,
    miner: OwnMinerJobOp,
    request: Request,
    session: SessionDep,
) -> wire.CompleteResponse:
    """Deliver a job's result while holding its lease; the job's price is credited once."""
    done = await compute_service.complete(
        session,
        miner_id=miner.id,
        job_id=job_id,
        report=mapping.completion_report(body),
        policy=policy(request),
        now=utcnow(),
    )
    return wire.CompleteResponse(
        job_id=done.job.id, state=done.job.state, earned=money.from_micro(done.earned_micro)
    )


@router.post("/{miner_id}/jobs/{job_id}/fail", response_model=wire.FailResponse, responses=JOB_OP_ERRORS)
async def fail_job(
    job_id: Identifier,
    miner: OwnMinerForFlow,
    request: Request,
    body: wire.FailRequest | None = None,
) -> wire.FailResponse:
    """Give a job up: it goes back to the queue for another miner, or fails at the retry limit."""
    rules = policy(request)
    job = await flows.fail_job(
        core_of(request),
        miner_id=miner.id,
        job_id=job_id,
        error=(body.error_message if body else "").strip() or "unspecified",
        now=utcnow(),
    )
    return wire.FailResponse(
        job_id=job.id, state=job.state, attempts=job.attempts, max_attempts=rules.max_attempts
    )


@router.get("/{miner_id}/stats", response_model=wire.MinerStatsResponse, responses=MINER_ERRORS)
async def miner_stats(miner: OwnMiner, session: SessionDep) -> wire.MinerStatsResponse:
    """Jobs, success rate, mean completion time and earnings, from the earnings ledger."""
    return mapping.stats(await compute_service.miner_stats(session, miner_id=miner.id))
