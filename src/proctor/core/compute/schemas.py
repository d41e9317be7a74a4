"""Plain data the compute service takes and returns (surfaces map their wire shapes to these)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from proctor.core.compute import money
from proctor.models import ComputeJob, ComputeMiner


@dataclass(frozen=True)
class Policy:
    auto_approve: bool = False
    heartbeat_timeout_seconds: int = 60
    max_attempts: int = 3
    run_deadline_factor: float = 3.0
    run_deadline_grace_seconds: int = 300
    default_ttl_seconds: int = 900
    max_ttl_seconds: int = 7 * 24 * 3600
    max_payload_bytes: int = 64 * 1024
    poll_max_wait_seconds: float = 30.0
    poll_recheck_seconds: float = 30.0
    default_estimated_time: int = 300
    default_price_micro: int = 10_000


def policy_from(settings: Any) -> Policy:
    return Policy(
        auto_approve=settings.compute_auto_approve,
        heartbeat_timeout_seconds=settings.compute_heartbeat_timeout_seconds,
        max_attempts=settings.compute_max_attempts,
        run_deadline_factor=settings.compute_run_deadline_factor,
        run_deadline_grace_seconds=settings.compute_run_deadline_grace_seconds,
        default_ttl_seconds=settings.compute_default_ttl_seconds,
        max_ttl_seconds=settings.compute_max_ttl_seconds,
        max_payload_bytes=settings.compute_max_payload_bytes,
        poll_max_wait_seconds=settings.compute_poll_max_wait_seconds,
        poll_recheck_seconds=settings.compute_poll_recheck_seconds,
        default_estimated_time=settings.compute_default_estimated_time,
        default_price_micro=money.to_micro(settings.compute_default_job_price),
    )


@dataclass(frozen=True)
class OfferIn:
    """A miner's offer at registration."""

    name: str
    gpu_type: str
    gpu_count: int
    location: str | None
    price_per_hour_micro: int
    max_concurrent: int


@dataclass(frozen=True)
class OfferChanges:
    """A partial update of an offer: None leaves a field as it is (location may be cleared with "")."""

    name: str | None = None
    gpu_type: str | None = None
    gpu_count: int | None = None
    location: str | None = None
    price_per_hour_micro: int | None = None
    max_concurrent: int | None = None


@dataclass(frozen=True)
class Constraints:
    """What a job asks of its miner beyond the documented offer (AITBC's `constraints{}`)."""

    region: str | None = None  # the miner's region (location), exactly
    min_vram_mb: int | None = None  # some GPU with at least this much memory
    max_price_micro: int | None = None  # the miner's price (per hour) at most this
    models: tuple[str, ...] = ()  # every one of these among the miner's models
    raw: dict[str, Any] | None = None  # as the client sent them, handed to the miner with the job


@dataclass(frozen=True)
class JobSpec:
    model: str
    gpu_type: str | None
    gpu_count: int
    estimated_time: int | None  # None: the policy's default
    price_micro: int | None  # None: the policy's default
    payload: dict[str, Any]
    ttl_seconds: int | None
    constraints: Constraints | None = None


@dataclass(frozen=True)
class Capabilities:
    """A miner's offer as AITBC's real miner registers it (`capabilities{gpus[], models, price, …}`)."""

    gpu_type: str  # the first GPU's name, or "cpu" when it reported none
    gpu_count: int
    memory_mb: int | None
    models: tuple[str, ...]
    price_per_hour_micro: int
    region: str | None
    max_concurrent: int
    raw: dict[str, Any]


@dataclass(frozen=True)
class CompletionReport:
    result_hash: str
    execution_time_seconds: float
    gpu_time_seconds: float
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class Registration:
    miner: ComputeMiner
    api_key: str  # shown once


@dataclass(frozen=True)
class Heartbeat:
    miner_id: str
    miner_status: str
    jobs_assigned: int
    queue_length: int


@dataclass(frozen=True)
class Completion:
    job: ComputeJob
    earned_micro: int
    changed: bool  # False when this repeated a completion that had already been recorded


@dataclass(frozen=True)
class MinerStats:
    total_jobs: int  # attempts that ended: completed, failed or abandoned
    completed_jobs: int
    failed_jobs: int
    running_jobs: int
    success_rate: float
    average_completion_time: float  # seconds, accept → complete, by the server's clock
    earnings_micro: int
    gpu_seconds: float
    earnings_per_gpu_hour: Decimal


@dataclass(frozen=True)
class Sweep:
    offline_miners: int
    expired_jobs: int
    reaped_leases: int
    requeued_jobs: int


@dataclass(frozen=True)
class IssuedClient:
    client_id: str
    name: str
    api_key: str  # shown once
    created_at: datetime
