"""ORO validator routes (`/v1/validator/*`): claim, heartbeat, progress, uploads, complete, problems."""

from __future__ import annotations

import json
import uuid
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from proctor.core import leases
from proctor.core.evaluations import flows
from proctor.core.evaluations import service as evaluation_service
from proctor.core.evaluations.service import ProblemUpdate
from proctor.errors import ValidationFailed
from proctor.http.deps import core_of, public_base_url
from proctor.http.errors import Translation
from proctor.storage.base import utcnow
from proctor.surfaces.oro import mapping, wire
from proctor.surfaces.oro.auth import ValidatorAuth

router = APIRouter(tags=["validator"])  # mounted at /v1/validator
M = TypeVar("M", bound=BaseModel)


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


# ORO's codes for the lease engine's neutral errors; progress, complete and presign declare fewer.
LEASE_CODES = Translation(
    {
        leases.LeaseNotFound: (404, "EVAL_RUN_NOT_FOUND"),
        leases.NotOwner: (409, "NOT_RUN_OWNER"),
        leases.LeaseLost: (409, "LEASE_EXPIRED"),
        leases.AlreadyFinished: (409, "RUN_ALREADY_COMPLETE"),
    },
    routes={
        # The run went STALE: for its old owner it is "already complete" (the SDK would crash on an
        # undeclared code).
        "progress": {leases.LeaseLost: (409, "RUN_ALREADY_COMPLETE")},
        "complete": {leases.LeaseLost: (409, "RUN_ALREADY_COMPLETE")},
        # Presign declares only NOT_RUN_OWNER for 409: a finished or lapsed run is no longer theirs.
        "presign": {
            leases.LeaseLost: (409, "NOT_RUN_OWNER"),
            leases.AlreadyFinished: (409, "NOT_RUN_OWNER"),
        },
    },
)


@router.post(
    "/work/claim",
    response_model=wire.ClaimWorkResponse,
    responses={204: {"description": "No work available"}, 409: {"description": "AT_CAPACITY"}},
)
async def claim_work(request: Request, principal: ValidatorAuth) -> wire.ClaimWorkResponse | Response:
    """FIFO claim of the next available evaluation work item (a held live run is answered again)."""
    body = await optional_body(request, wire.HeartbeatRequest)
    answer = await flows.claim_work(
        core_of(request),
        validator=principal.hotkey,
        report=host_report(body),
        now=utcnow(),
        base_url=public_base_url(request),
    )
    if answer is None:
        return Response(status_code=204)
    return mapping.claim_response(answer)


@router.post("/evaluation-runs/{eval_run_id}/heartbeat", response_model=wire.HeartbeatResponse)
async def heartbeat(
    eval_run_id: uuid.UUID, request: Request, principal: ValidatorAuth
) -> wire.HeartbeatResponse:
    """Extend the lease and mark the run RUNNING."""
    body = await optional_body(request, wire.HeartbeatRequest)
    with LEASE_CODES.route("heartbeat"):
        expires = await flows.heartbeat(
            core_of(request),
            run_id=eval_run_id,
            validator=principal.hotkey,
            report=host_report(body),
            now=utcnow(),
        )
    return wire.HeartbeatResponse(lease_expires_at=expires)


@router.post("/evaluation-runs/{eval_run_id}/progress", response_model=wire.ProgressUpdateResponse)
async def update_progress(
    eval_run_id: uuid.UUID, body: wire.ProgressUpdateRequest, request: Request, principal: ValidatorAuth
) -> wire.ProgressUpdateResponse:
    """Report per-problem progress; updates merge per problem (cumulative resends are harmless)."""
    prefix = flows.run_key_prefix(eval_run_id)
    updates = []
    for item in body.problems:
        fields = item.model_dump(exclude={"problem_id", "status"})
        if fields.get("logs_s3_key") and not fields["logs_s3_key"].startswith(prefix):
            fields["logs_s3_key"] = None  # only keys proctor issued for this run may be recorded
        updates.append(ProblemUpdate(item.problem_id, item.status, fields))
    with LEASE_CODES.route("progress"):
        await flows.record_progress(
            core_of(request), run_id=eval_run_id, validator=principal.hotkey, updates=updates, now=utcnow()
        )
    return wire.ProgressUpdateResponse(accepted=True)


@router.post("/evaluation-runs/{eval_run_id}/complete", response_model=wire.CompleteRunResponse)
async def complete_run(
    eval_run_id: uuid.UUID, body: wire.CompleteRunRequest, request: Request, principal: ValidatorAuth
) -> wire.CompleteRunResponse:
    """Finalize a run with its terminal status and score (repeating the same completion is harmless;
    a different one is 409 RUN_ALREADY_COMPLETE and changes nothing)."""
    if body.results_s3_key and not body.results_s3_key.startswith(flows.run_key_prefix(eval_run_id)):
        raise ValidationFailed(
            "results_s3_key must be a key issued by /v1/validator/uploads/presign for this run"
        )
    with LEASE_CODES.route("complete"):
        done = await flows.complete_run(
            core_of(request),
            run_id=eval_run_id,
            validator=principal.hotkey,
            status=body.terminal_status,
            score=body.validator_score,
            failure_reason=body.failure_reason,
            details=body.model_dump(include={"score_components", "results_s3_key", "sandbox_metadata"}),
            now=utcnow(),
        )
    return mapping.completion_response(done)


@router.post("/uploads/presign", response_model=wire.PresignUploadResponse)
async def presign_upload(
    body: wire.PresignUploadRequest, request: Request, principal: ValidatorAuth
) -> wire.PresignUploadResponse:
    """A presigned PUT URL for one problem's logs, capped at the declared content length."""
    with LEASE_CODES.route("presign"):
        upload = await flows.presign_upload(
            core_of(request),
            run_id=body.eval_run_id,
            problem_id=body.problem_id,
            validator=principal.hotkey,
            content_length=body.content_length,
            content_type=body.content_type,
            base_url=public_base_url(request),
            now=utcnow(),
        )
    return wire.PresignUploadResponse(
        upload_url=upload.presigned.url,
        results_s3_key=upload.key,
        expires_at=upload.presigned.expires_at,
        method=upload.presigned.method,
        headers=dict(upload.presigned.headers),
    )


@router.get("/evaluation-runs/{eval_run_id}/problems", response_model=wire.RunProblemsResponse)
async def get_run_problems(
    eval_run_id: uuid.UUID, request: Request, principal: ValidatorAuth
) -> wire.RunProblemsResponse:
    """The problems to evaluate for a run, with the ground truth validators score against."""
    suite_id, problems = await flows.run_problems(
        core_of(request), run_id=eval_run_id, validator=principal.hotkey
    )
    return wire.RunProblemsResponse(
        problems=[
            wire.ProblemPublic(problem_id=p.problem_id, suite_id=suite_id, metadata=p.problem_metadata)
            for p in problems
        ]
    )
