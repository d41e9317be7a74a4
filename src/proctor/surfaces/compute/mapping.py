"""AITBC wire shapes ↔ the compute core's objects."""

from __future__ import annotations

import math

from proctor.core.compute import money
from proctor.core.compute.schemas import (
    Capabilities,
    CompletionReport,
    Constraints,
    JobSpec,
    MinerStats,
    OfferChanges,
    OfferIn,
)
from proctor.core.compute.service import Accepted, ShownJob
from proctor.errors import BadRequest
from proctor.models import ComputeAssignment, ComputeJob, ComputeMiner
from proctor.surfaces.compute import wire


def offer_in(body: wire.MinerRegister) -> OfferIn:
    return OfferIn(
        name=body.name,
        gpu_type=body.gpu_type,
        gpu_count=body.gpu_count,
        location=body.location,
        price_per_hour_micro=money.to_micro(body.price_per_hour),
        max_concurrent=body.max_concurrent,
    )


def offer_changes(body: wire.MinerUpdate) -> OfferChanges:
    return OfferChanges(
        name=body.name,
        gpu_type=body.gpu_type,
        gpu_count=body.gpu_count,
        location=body.location,
        price_per_hour_micro=None if body.price_per_hour is None else money.to_micro(body.price_per_hour),
        max_concurrent=body.max_concurrent,
    )


def job_spec(body: wire.JobCreate) -> JobSpec:
    """Either shape: the documented fields win; AITBC's `payment_amount`, `payload.model` and
    `constraints.gpu` fill in for them; what neither says is the server's default."""
    wants = body.constraints
    documented = body.model is not None
    model = body.model or _text(body.payload.get("model")) or _text(body.payload.get("type")) or "any"
    price = body.price if body.price is not None else body.payment_amount
    return JobSpec(
        model=model[:128],
        gpu_type=body.gpu_type or (wants.gpu if wants else None),
        gpu_count=body.gpu_count if body.gpu_count is not None else (1 if documented else 0),
        estimated_time=body.estimated_time,
        price_micro=None if price is None else money.to_micro(price),
        payload=body.payload,
        ttl_seconds=body.ttl_seconds,
        constraints=None if wants is None else constraints(wants),
    )


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def constraints(wants: wire.AitbcConstraints) -> Constraints:
    """AITBC's constraints as the core's; one proctor cannot honour is refused, not ignored."""
    asked = [name for name in wire.UNSUPPORTED_CONSTRAINTS if getattr(wants, name) not in (None, False)]
    if asked:
        raise BadRequest(
            f"constraint(s) not supported by this coordinator: {', '.join(asked)}",
            code="UNSUPPORTED_CONSTRAINT",
        )
    return Constraints(
        region=wants.region,
        min_vram_mb=None if wants.min_vram_gb is None else math.ceil(wants.min_vram_gb * 1024),
        max_price_micro=None if wants.max_price is None else money.to_micro(wants.max_price),
        models=tuple(wants.models or ()),
        raw=wants.model_dump(mode="json", exclude_defaults=True),
    )


def capabilities(body: wire.AitbcRegister) -> Capabilities:
    """AITBC's `MinerRegister` as an offer: GPU name and count from `gpus[]`, memory the largest."""
    caps = body.capabilities
    names = [gpu.name.strip() for gpu in caps.gpus if gpu.name.strip()]
    memories = [gpu.memory_mb for gpu in caps.gpus]
    return Capabilities(
        gpu_type=names[0] if names else "cpu",
        gpu_count=len(caps.gpus),
        memory_mb=max(memories) if memories else None,
        models=tuple(m for m in caps.models if m),
        price_per_hour_micro=money.to_micro(caps.price),
        region=(body.region or caps.region or "").strip() or None,
        max_concurrent=body.concurrency,
        raw=body.model_dump(mode="json")["capabilities"],
    )


def completion_report(body: wire.CompleteRequest) -> CompletionReport:
    return CompletionReport(
        result_hash=body.result_hash,
        execution_time_seconds=body.metrics.execution_time_seconds,
        gpu_time_seconds=body.metrics.gpu_time_seconds,
        result=body.result,
    )


def miner_view(miner: ComputeMiner) -> wire.MinerView:
    return wire.MinerView(
        miner_id=miner.id,
        name=miner.name,
        gpu_type=miner.gpu_type,
        gpu_count=miner.gpu_count,
        location=miner.location,
        price_per_hour=money.from_micro(miner.price_per_hour_micro),
        max_concurrent=miner.max_concurrent,
        status=miner.status,
        registered_at=miner.registered_at,
        approved_at=miner.approved_at,
        last_heartbeat_at=miner.last_heartbeat_at,
    )


def available_job(job: ComputeJob) -> wire.AvailableJob:
    return wire.AvailableJob(
        job_id=job.id,
        model=job.model,
        gpu_type=job.gpu_type,
        gpu_count=job.gpu_count,
        estimated_time=job.estimated_time,
        price=money.from_micro(job.price_micro),
        requested_at=job.created_at,
        expires_at=job.expires_at,
    )


def assigned_job(job: ComputeJob | ShownJob, assignment: ComputeAssignment) -> wire.AssignedJob:
    return wire.AssignedJob(
        job_id=job.id,
        state=job.state,
        model=job.model,
        gpu_type=job.gpu_type,
        gpu_count=job.gpu_count,
        estimated_time=job.estimated_time,
        price=money.from_micro(job.price_micro),
        payload=job.payload,
        attempt=assignment.attempt,
        accepted_at=assignment.accepted_at,
        lease_expires_at=assignment.lease_expires_at,
        deadline_at=assignment.deadline_at,
    )


def accepted(result: Accepted) -> wire.AssignedJob:
    return assigned_job(result.job, result.assignment)


def stats(values: MinerStats) -> wire.MinerStatsResponse:
    return wire.MinerStatsResponse(
        total_jobs=values.total_jobs,
        success_rate=values.success_rate,
        average_completion_time=values.average_completion_time,
        earnings=money.from_micro(values.earnings_micro),
        earnings_per_gpu_hour=values.earnings_per_gpu_hour,
        completed_jobs=values.completed_jobs,
        failed_jobs=values.failed_jobs,
        running_jobs=values.running_jobs,
        gpu_hours=round(values.gpu_seconds / 3600, 6),
        earnings_micro=values.earnings_micro,
    )


def job_view(job: ComputeJob) -> wire.JobView:
    return wire.JobView(
        job_id=job.id,
        state=job.state,
        model=job.model,
        gpu_type=job.gpu_type,
        gpu_count=job.gpu_count,
        estimated_time=job.estimated_time,
        price=money.from_micro(job.price_micro),
        payload=job.payload,
        ttl_seconds=job.ttl_seconds,
        attempts=job.attempts,
        assigned_miner_id=job.assigned_miner_id,
        requested_at=job.created_at,
        expires_at=job.expires_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        result_hash=job.result_hash,
        error=job.error,
        constraints=job.constraints,
    )


def job_result(job: ComputeJob) -> wire.JobResult:
    assert job.result_hash is not None, "a COMPLETED job always has its result_hash"
    return wire.JobResult(
        job_id=job.id,
        state=job.state,
        result_hash=job.result_hash,
        result=job.result,
        metrics=job.metrics,
        miner_id=job.assigned_miner_id,
        completed_at=job.finished_at,
    )
