"""AITBC's real-miner protocol (`apps/miner/production_miner.py`), beside the documented miner API.

    POST /v1/miners/register            {capabilities{gpus[], models, price, region}, concurrency}
    POST /v1/miners/heartbeat           AITBC's body (ignored: the server's leases are the books)
    POST /v1/miners/poll                {max_wait_seconds} → 200 {job_id, payload, constraints} | 204
    POST /v1/miners/{job_id}/result     {result{status, output, …}, metrics{duration_ms, …}}
    POST /v1/miners/{job_id}/fail       {error_code, error_message, metrics}

Auth is AITBC's: `X-Api-Key` (or `Authorization: Bearer`) with an operator-issued miner key
(`proctor admin compute-miners issue-key`), or one from the documented self-registration; an
`X-Miner-ID` naming another miner than the key's is refused (403 MINER_ID_MISMATCH): AITBC lets any
key holder assert any id. These paths do not clash with the documented `/v1/miners/{miner_id}/…`:
different methods or segment counts, and ids are prefixed (`job_…`, `miner_…`).

Each route parses, makes one flow call (`proctor.core.compute.flows`) and renders; errors are the
compute envelope (`{"detail": …, "error_code": …}`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from proctor.core.compute import flows, money
from proctor.http.deps import core_of, state_of
from proctor.http.params import Identifier
from proctor.storage.base import utcnow
from proctor.surfaces.compute import mapping, wire
from proctor.surfaces.compute.auth import _key_bucket, enforce, presented_key

router = APIRouter(tags=["compute: AITBC miner (poll)"])  # mounted at /v1/miners

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Invalid or missing API key"},
    403: {"description": "MINER_ID_MISMATCH, MINER_PENDING, MINER_OFFLINE or MINER_SUSPENDED"},
    429: {"description": "Rate limit exceeded (Retry-After)"},
}
JOB_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    404: {"description": "JOB_NOT_FOUND"},
    409: {"description": "NOT_JOB_OWNER, LEASE_EXPIRED, JOB_ALREADY_FINISHED, RESULT_MISMATCH"},
}


async def _key(request: Request) -> str | None:
    key = presented_key(request)
    await enforce(state_of(request), "compute_rate_limit_requests", _key_bucket(key))
    return key


async def _job_op_key(request: Request, key: Annotated[str | None, Depends(_key)]) -> str | None:
    await enforce(state_of(request), "compute_rate_limit_job_ops", "key:" + _key_bucket(key))
    return key


Key = Annotated[str | None, Depends(_key)]
JobOpKey = Annotated[str | None, Depends(_job_op_key)]
MinerId = Annotated[str | None, Header(alias="X-Miner-ID", max_length=200)]


@router.post("/register", response_model=wire.AitbcRegistered, responses=ERRORS)
async def register(
    body: wire.AitbcRegister, request: Request, key: Key, x_miner_id: MinerId = None
) -> wire.AitbcRegistered:
    """Set the key's miner's offer from AITBC capabilities (re-registering touches no running job)."""
    done = await flows.register(
        core_of(request), api_key=key, claimed_id=x_miner_id, offer=mapping.capabilities(body), now=utcnow()
    )
    return wire.AitbcRegistered(session_token=done.session_token, miner_id=done.miner.id)


@router.post("/heartbeat", response_model=wire.AitbcOk, responses=ERRORS)
async def heartbeat(request: Request, key: Key, x_miner_id: MinerId = None) -> wire.AitbcOk:
    """Alive: renews the leases of the miner's running jobs (the body's `inflight` is not believed)."""
    await flows.heartbeat(core_of(request), api_key=key, claimed_id=x_miner_id, now=utcnow())
    return wire.AitbcOk()


@router.post(
    "/poll",
    response_model=wire.AitbcAssignedJob,
    responses={**ERRORS, 204: {"description": "No job for this miner within max_wait_seconds"}},
)
async def poll(
    request: Request, key: Key, x_miner_id: MinerId = None, body: wire.AitbcPoll | None = None
) -> Any:
    """Lease the oldest queued job this miner fits, waiting up to `max_wait_seconds` (capped) for one."""
    assigned = await flows.poll(
        core_of(request),
        api_key=key,
        claimed_id=x_miner_id,
        max_wait_seconds=(body or wire.AitbcPoll()).max_wait_seconds,
    )
    if assigned is None:
        return Response(status_code=204)
    return wire.AitbcAssignedJob(
        job_id=assigned.job_id,
        payload=assigned.payload,
        constraints=assigned.constraints,
        lease_expires_at=assigned.lease_expires_at,
    )


@router.post("/{job_id}/result", response_model=wire.AitbcResultResponse, responses=JOB_ERRORS)
async def result(
    job_id: Identifier, body: wire.AitbcResult, request: Request, key: JobOpKey, x_miner_id: MinerId = None
) -> wire.AitbcResultResponse:
    """Finish a job this miner holds; `result.status == "failed"` gives it up instead."""
    done = await flows.submit_result(
        core_of(request),
        api_key=key,
        claimed_id=x_miner_id,
        job_id=job_id,
        report=flows.ResultReport(result=body.result, metrics=body.metrics),
        now=utcnow(),
    )
    return wire.AitbcResultResponse(
        job_id=done.job.id, state=done.job.state, earned=money.from_micro(done.earned_micro)
    )


@router.post("/{job_id}/fail", response_model=wire.AitbcFailResponse, responses=JOB_ERRORS)
async def fail(
    job_id: Identifier,
    request: Request,
    key: JobOpKey,
    x_miner_id: MinerId = None,
    body: wire.AitbcFail | None = None,
) -> wire.AitbcFailResponse:
    """Give a job up: back to the queue for another miner, or FAILED at the retry limit."""
    given = body or wire.AitbcFail()
    error = " ".join(part for part in (given.error_code, given.error_message) if part)
    job = await flows.fail(
        core_of(request), api_key=key, claimed_id=x_miner_id, job_id=job_id, error=error, now=utcnow()
    )
    return wire.AitbcFailResponse(job_id=job.id, state=job.state, attempts=job.attempts)
