"""AITBC client job routes (`/v1/jobs…`): create, list, status, result, cancel. A client sees only
its own jobs; another client's job id is "not found"."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from proctor.core.compute import flows
from proctor.core.compute import service as compute_service
from proctor.http.deps import SessionDep, core_of
from proctor.http.params import Identifier, Offset
from proctor.storage.base import utcnow
from proctor.surfaces.compute import mapping, wire
from proctor.surfaces.compute.auth import Client, ClientForFlow, ClientJobOp

router = APIRouter(tags=["compute: jobs"])  # mounted at /v1/jobs
root = APIRouter(tags=["compute: jobs"])  # the bare /v1/jobs path

JobState = Literal["QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELED", "EXPIRED"]
CLIENT_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Invalid or missing API key"},
    404: {"description": "JOB_NOT_FOUND (also for another client's job)"},
    429: {"description": "Rate limit exceeded (Retry-After)"},
}


@root.post("/v1/jobs", status_code=201, response_model=wire.JobView, responses=CLIENT_ERRORS)
async def create_job(body: wire.JobCreate, client: ClientForFlow, request: Request) -> wire.JobView:
    """Queue a job for a miner with the right GPUs; it waits at most `ttl_seconds`.

    Either shape: the documented one (`model`, `estimated_time`, `price`) or AITBC's CLI's
    (`payload{type,prompt,model}`, `constraints{}`, `ttl_seconds`, optional `payment_amount`)."""
    job = await flows.create_job(
        core_of(request), client_id=client.id, spec=mapping.job_spec(body), now=utcnow()
    )
    return mapping.job_view(job)


@root.get("/v1/jobs", response_model=wire.JobList, responses=CLIENT_ERRORS)
async def list_jobs(
    client: Client,
    session: SessionDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
    status: Annotated[JobState | None, Query(description="AITBC's name for `state`.")] = None,
) -> wire.JobList:
    """The client's jobs, newest first."""
    jobs = await compute_service.client_jobs(
        session, client_id=client.id, state=state or status, limit=limit, offset=offset
    )
    return wire.JobList(jobs=[mapping.job_view(job) for job in jobs], limit=limit, offset=offset)


@router.get("/history", response_model=wire.JobList, responses=CLIENT_ERRORS)
async def job_history(
    client: Client,
    session: SessionDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
    status: Annotated[JobState | None, Query(description="AITBC's name for `state`.")] = None,
) -> wire.JobList:
    """The client's jobs, newest first (AITBC's path; declared before `/{job_id}`, so not shadowed)."""
    return await list_jobs(client, session, state, limit, offset, status)


@router.get("/{job_id}", response_model=wire.JobView, responses=CLIENT_ERRORS)
async def get_job(job_id: Identifier, client: Client, session: SessionDep) -> wire.JobView:
    """A job's state."""
    return mapping.job_view(
        await compute_service.client_job(session, client_id=client.id, job_id=job_id, now=utcnow())
    )


@router.get(
    "/{job_id}/result",
    response_model=wire.JobResult,
    responses={
        **CLIENT_ERRORS,
        409: {"description": "JOB_NOT_COMPLETED: it ended without a result"},
        425: {"description": "JOB_NOT_READY: still queued or running"},
    },
)
async def get_result(job_id: Identifier, client: Client, session: SessionDep) -> wire.JobResult:
    """A completed job's result (425 while it is still queued or running)."""
    job = await compute_service.job_result(session, client_id=client.id, job_id=job_id, now=utcnow())
    return mapping.job_result(job)


@router.post(
    "/{job_id}/cancel",
    response_model=wire.JobView,
    responses={**CLIENT_ERRORS, 409: {"description": "JOB_NOT_CANCELABLE: a miner took it, or it ended"}},
)
async def cancel_job(job_id: Identifier, client: ClientJobOp, session: SessionDep) -> wire.JobView:
    """Cancel a queued job (again is harmless)."""
    return mapping.job_view(
        await compute_service.cancel_job(session, client_id=client.id, job_id=job_id, now=utcnow())
    )
