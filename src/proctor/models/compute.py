"""The GPU compute marketplace: miners' offers, clients, jobs, job leases (assignments), the earnings ledger.

Money is stored as integer micro-units (1 AITBC = 1,000,000): sums and comparisons are exact on every
dialect (SQLite has no exact decimal type).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from proctor.storage.base import Base, utcnow

RUNNING_ASSIGNMENT = "running"


class ComputeMiner(Base):
    """A GPU provider's offer and its standing (pending → active ⇄ offline; suspended by an operator)."""

    __tablename__ = "compute_miners"
    __table_args__ = (Index("ix_compute_miners_status_heartbeat", "status", "last_heartbeat_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    gpu_type: Mapped[str] = mapped_column(String(64))  # normalised: stripped, lower case
    gpu_count: Mapped[int]
    location: Mapped[str | None] = mapped_column(String(64))
    price_per_hour_micro: Mapped[int] = mapped_column(BigInteger)
    max_concurrent: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # sha256 of the API key, which is shown once at registration and never stored.
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_at: Mapped[datetime | None]
    last_heartbeat_at: Mapped[datetime | None]
    # AITBC's real miner (`POST /v1/miners/register`): the largest GPU memory it reported, its models as
    # "|a|b|" (matched with LIKE against a job's model pattern), and its capabilities as sent.
    memory_mb: Mapped[int | None]
    models: Mapped[str | None] = mapped_column(Text)
    capabilities: Mapped[dict[str, Any] | None]


class ComputeClient(Base):
    """A buyer of compute, holding an operator-issued API key."""

    __tablename__ = "compute_clients"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class ComputeJob(Base):
    """A client's job: QUEUED → RUNNING → COMPLETED, or back to QUEUED, FAILED, CANCELED, EXPIRED."""

    __tablename__ = "compute_jobs"
    __table_args__ = (
        Index("ix_compute_jobs_state_created", "state", "created_at"),
        Index("ix_compute_jobs_client_created", "client_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("compute_clients.id"))
    model: Mapped[str] = mapped_column(String(128))
    gpu_type: Mapped[str | None] = mapped_column(String(64))  # None: any GPU type
    gpu_count: Mapped[int]
    estimated_time: Mapped[int]  # seconds
    price_micro: Mapped[int] = mapped_column(BigInteger)  # what the client pays for the whole job
    payload: Mapped[dict[str, Any]]
    ttl_seconds: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default="QUEUED")
    attempts: Mapped[int] = mapped_column(default=0)
    assigned_miner_id: Mapped[str | None] = mapped_column(ForeignKey("compute_miners.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]  # a job still queued at this instant expires
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    result_hash: Mapped[str | None] = mapped_column(String(200))
    result: Mapped[dict[str, Any] | None]
    metrics: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    # AITBC's job constraints (`POST /v1/jobs` with `constraints{…}`); None matches any miner.
    constraints: Mapped[dict[str, Any] | None]
    region: Mapped[str | None] = mapped_column(String(64))
    min_vram_mb: Mapped[int | None]
    max_price_micro: Mapped[int | None] = mapped_column(BigInteger)  # the miner's price_per_hour cap
    model_pattern: Mapped[str | None] = mapped_column(Text)  # LIKE pattern over the miner's "|a|b|"


class ComputeAssignment(Base):
    """One miner's leased attempt at a job; the lease engine's row for compute work."""

    __tablename__ = "compute_assignments"
    __table_args__ = (
        UniqueConstraint("job_id", "attempt"),
        # A job is never held by two miners at once, whatever races happen above.
        Index(
            "uq_compute_assignments_one_running_per_job",
            "job_id",
            unique=True,
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
        Index("ix_compute_assignments_miner_status", "miner_id", "status"),
        Index("ix_compute_assignments_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    job_id: Mapped[str] = mapped_column(ForeignKey("compute_jobs.id"))
    miner_id: Mapped[str] = mapped_column(ForeignKey("compute_miners.id"))
    attempt: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=RUNNING_ASSIGNMENT)
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime]
    deadline_at: Mapped[datetime]  # heartbeats never extend the lease past this
    last_heartbeat_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class ComputeEarning(Base):
    """The ledger: one row per completed job, written in the completing transaction (pays exactly once)."""

    __tablename__ = "compute_earnings"
    __table_args__ = (Index("ix_compute_earnings_miner", "miner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("compute_jobs.id"), unique=True)
    assignment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("compute_assignments.id"), unique=True)
    miner_id: Mapped[str] = mapped_column(ForeignKey("compute_miners.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("compute_clients.id"))
    amount_micro: Mapped[int] = mapped_column(BigInteger)
    gpu_seconds: Mapped[float]  # as the miner reported it
    execution_seconds: Mapped[float]  # as the miner reported it
    duration_ms: Mapped[int] = mapped_column(BigInteger)  # accept → complete, by the server's clock
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
