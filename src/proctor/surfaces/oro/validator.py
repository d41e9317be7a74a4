"""ORO validator routes (`/v1/validator/*`): claim, heartbeat, progress, uploads, complete, problems."""

from __future__ import annotations

import json
import uuid
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from proctor.core import leases
from proctor.core.credentials import service as credential_service
from proctor.core.evaluations import service as evaluation_service
from proctor.errors import Conflict, ValidationFailed
from proctor.http.deps import SessionDep, public_base_url, state_of
from proctor.storage.base import utcnow
from proctor.storage.db import unit_of_work
from proctor.surfaces.oro import mapping, wire
from proctor.surfaces.oro.auth import ValidatorAuth

router = APIRouter(tags=["validator"])  # mounted at /v1/validator
M = TypeVar("M", bound=BaseModel)
CODE_URL_TTL_SECONDS = 3600
UPLOAD_URL_TTL_SECONDS = 900


async def optional_body(request: Request, model: type[M]) -> M | None:
    """A JSON body that may be absent: oro-sdk ≤ 6 sends `Content-Type: application/json` and no bytes."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return model.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise ValidationFailed(f"invalid request body: {exc}".splitlines()[0]) from None


def host_report(body: wire.HeartbeatRequest | None) -> evaluation_service.HostReport | None:
    if body is None:
        return None
    return evaluation_service.HostReport(
        service_versions=body.service_versions,
        cpu_pct=body.cpu_pct,
        ram_pct=body.ram_pct,
        disk_pct=body.disk_pct,
        docker_container_count=body.docker_container_count,
    )


def _run_key_prefix(run_id: uuid.UUID) -> str:
    return f"runs/{run_id}/"


@router.post(
    "/work/claim",
    response_model=wire.ClaimWorkResponse,
    responses={204: {"description": "No work available"}, 409: {"description": "AT_CAPACITY"}},
)
async def claim_work(request: Request, principal: ValidatorAuth) -> wire.ClaimWorkResponse | Response:
    """FIFO claim of the next available evaluation work item."""
    state = state_of(request)
    body = await optional_body(request, wire.HeartbeatRequest)
    policy = evaluation_service.policy_from(state.settings)
    now = utcnow()
    # The claim commits on its own before the inference token is minted: minting calls the
    # miner's provider over the network, and no database lock may wait on that.
    async with unit_of_work(state.sessionmaker) as session:
        claim = await evaluation_service.claim(
            session, validator=principal.hotkey, policy=policy, now=now, report=host_report(body)
        )
        if claim is None:
            return Response(status_code=204)
        miner, blob_key = claim.version.miner_hotkey, claim.version.blob_key
    code_url = await state.extras["blobs"].presign_get(
        blob_key, expires_in=CODE_URL_TTL_SECONDS, base_url=public_base_url(request), filename="agent.py"
    )
    async with unit_of_work(state.sessionmaker) as session:
        grant = await credential_service.mint_for_claim(
            session, hotkey=miner, settings=state.settings, ttl_seconds=state.settings.eval_lease_seconds * 10
        )
    return mapping.claim_response(claim, code_url, grant)


@router.post("/evaluation-runs/{eval_run_id}/heartbeat", response_model=wire.HeartbeatResponse)
async def heartbeat(
    eval_run_id: uuid.UUID, request: Request, principal: ValidatorAuth, session: SessionDep
) -> wire.HeartbeatResponse:
    """Extend the lease and mark the run RUNNING."""
    state = state_of(request)
    body = await optional_body(request, wire.HeartbeatRequest)
    run = await evaluation_service.heartbeat(
        session,
        run_id=eval_run_id,
        validator=principal.hotkey,
        policy=evaluation_service.policy_from(state.settings),
        now=utcnow(),
        report=host_report(body),
    )
    return wire.HeartbeatResponse(lease_expires_at=run.lease_expires_at)


def _as_finished(exc: leases.LeaseExpired) -> Conflict:
    # Progress and complete declare no LEASE_EXPIRED: the run went STALE, which for its old owner is
    # "already complete" (the SDK would crash on an undeclared code).
    return Conflict(f"{exc.message}; the run was returned to the queue", code="RUN_ALREADY_COMPLETE")


@router.post("/evaluation-runs/{eval_run_id}/progress", response_model=wire.ProgressUpdateResponse)
async def update_progress(
    eval_run_id: uuid.UUID, body: wire.ProgressUpdateRequest, principal: ValidatorAuth, session: SessionDep
) -> wire.ProgressUpdateResponse:
    """Report per-problem progress; updates merge per problem (cumulative resends are harmless)."""
    prefix = _run_key_prefix(eval_run_id)
    updates = []
    for item in body.problems:
        fields = item.model_dump(exclude={"problem_id", "status"})
        if fields.get("logs_s3_key") and not fields["logs_s3_key"].startswith(prefix):
            fields["logs_s3_key"] = None  # only keys proctor issued for this run may be recorded
        updates.append(evaluation_service.ProblemUpdate(item.problem_id, item.status, fields))
    try:
        await evaluation_service.progress(
            session, run_id=eval_run_id, validator=principal.hotkey, updates=updates, now=utcnow()
        )
    except leases.LeaseExpired as exc:
        raise _as_finished(exc) from None
    return wire.ProgressUpdateResponse(accepted=True)


@router.post("/evaluation-runs/{eval_run_id}/complete", response_model=wire.CompleteRunResponse)
async def complete_run(
    eval_run_id: uuid.UUID,
    body: wire.CompleteRunRequest,
    request: Request,
    principal: ValidatorAuth,
    session: SessionDep,
) -> wire.CompleteRunResponse:
    """Finalize a run with its terminal status and score (repeating the same completion is harmless)."""
    if body.results_s3_key and not body.results_s3_key.startswith(_run_key_prefix(eval_run_id)):
        raise ValidationFailed(
            "results_s3_key must be a key issued by /v1/validator/uploads/presign for this run"
        )
    try:
        done = await evaluation_service.complete(
            session,
            run_id=eval_run_id,
            validator=principal.hotkey,
            status=body.terminal_status,
            score=body.validator_score,
            failure_reason=body.failure_reason,
            details=body.model_dump(include={"score_components", "results_s3_key", "sandbox_metadata"}),
            policy=evaluation_service.policy_from(state_of(request).settings),
            now=utcnow(),
        )
    except leases.LeaseExpired as exc:
        raise _as_finished(exc) from None
    return mapping.completion_response(done)


@router.post("/uploads/presign", response_model=wire.PresignUploadResponse)
async def presign_upload(
    body: wire.PresignUploadRequest, request: Request, principal: ValidatorAuth, session: SessionDep
) -> wire.PresignUploadResponse:
    """A presigned PUT URL for one problem's logs, capped at the declared content length."""
    state = state_of(request)
    try:
        await evaluation_service.check_upload(
            session,
            run_id=body.eval_run_id,
            problem_id=body.problem_id,
            validator=principal.hotkey,
            content_length=body.content_length,
            content_type=body.content_type,
            policy=evaluation_service.policy_from(state.settings),
            now=utcnow(),
        )
    except (leases.LeaseExpired, leases.LeaseFinished) as exc:
        # Presign declares only NOT_RUN_OWNER for 409: a finished or lapsed run is no longer theirs.
        raise Conflict(f"{exc.message}; uploads are closed", code="NOT_RUN_OWNER") from None
    key = f"{_run_key_prefix(body.eval_run_id)}{body.problem_id}/{uuid.uuid4().hex}"
    upload = await state.extras["blobs"].presign_put(
        key,
        expires_in=UPLOAD_URL_TTL_SECONDS,
        base_url=public_base_url(request),
        content_type=body.content_type,
        content_length=body.content_length,
    )
    return wire.PresignUploadResponse(
        upload_url=upload.url,
        results_s3_key=key,
        expires_at=upload.expires_at,
        method=upload.method,
        headers=dict(upload.headers),
    )


@router.get("/evaluation-runs/{eval_run_id}/problems", response_model=wire.RunProblemsResponse)
async def get_run_problems(
    eval_run_id: uuid.UUID, principal: ValidatorAuth, session: SessionDep
) -> wire.RunProblemsResponse:
    """The problems to evaluate for a run, with the ground truth validators score against."""
    run = await evaluation_service.run_for_validator(session, run_id=eval_run_id, validator=principal.hotkey)
    problems = await evaluation_service.run_problems(session, run=run)
    return wire.RunProblemsResponse(
        problems=[
            wire.ProblemPublic(problem_id=p.problem_id, suite_id=run.suite_id, metadata=p.problem_metadata)
            for p in problems
        ]
    )
