"""BitSOTA Pool (seed 002): miners, DSL algorithms, task batches and their leases, evaluations, windows.

A *batch* is one piece of leasable work: algorithms to evaluate, seeds to evolve from and an evolve
budget. A miner's *assignment* is its lease on a batch (the lease engine's row). Evaluations and
evolutions land per window; a closed window's consensus and points never change.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from proctor.storage.base import Base, utcnow


class PoolMiner(Base):
    __tablename__ = "pool_miners"

    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    reputation: Mapped[float] = mapped_column(default=0.0)  # the sum of its closed windows' points
    leases_completed: Mapped[int] = mapped_column(default=0)
    evaluations_submitted: Mapped[int] = mapped_column(default=0)
    evolutions_submitted: Mapped[int] = mapped_column(default=0)


class PoolAlgorithm(Base):
    """A DSL algorithm: an imported seed or an evolved candidate, content-addressed by its text."""

    __tablename__ = "pool_algorithms"
    __table_args__ = (
        Index("ix_pool_algorithms_open", "consensus_window", "is_seed", "id"),
        Index("ix_pool_algorithms_task_score", "task_type", "consensus_score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dsl_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the DSL text
    algorithm_dsl: Mapped[str] = mapped_column(Text)
    task_type: Mapped[str] = mapped_column(String(64))
    input_dim: Mapped[int]
    parent_ids: Mapped[list[Any]]
    submitter_hotkey: Mapped[str | None] = mapped_column(String(64))  # None: an operator's seed
    is_seed: Mapped[bool] = mapped_column(default=False)
    created_window: Mapped[int | None]
    eval_pending: Mapped[int] = mapped_column(default=0)  # in batches held by live leases
    eval_count: Mapped[int] = mapped_column(default=0)
    consensus_score: Mapped[float | None]  # set once, when a window closes with a k-of-n cluster
    consensus_window: Mapped[int | None]  # the window that settled it (score or no consensus)
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PoolBatch(Base):
    """Leasable work: OPEN while nobody holds or finished it, TAKEN while leased, DONE when submitted."""

    __tablename__ = "pool_batches"
    __table_args__ = (Index("ix_pool_batches_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # lease | evolve | evaluate
    task_type: Mapped[str] = mapped_column(String(64))
    evaluate_ids: Mapped[list[Any]]
    seed_ids: Mapped[list[Any]]
    evolve_budget: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="OPEN")
    active_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PoolAssignment(Base):
    """A miner's lease on a batch (the lease engine's row for Pool work)."""

    __tablename__ = "pool_assignments"
    __table_args__ = (
        # At most one lease per miner per window (legacy batches have no lease window).
        UniqueConstraint("miner_hotkey", "lease_window"),
        Index("ix_pool_assignments_miner_status", "miner_hotkey", "status"),
        Index("ix_pool_assignments_status_lease", "status", "lease_expires_at"),
        Index("ix_pool_assignments_window", "window_number"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    batch_id: Mapped[int] = mapped_column(ForeignKey("pool_batches.id"))
    miner_hotkey: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    window_number: Mapped[int]
    lease_window: Mapped[int | None]
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime]
    last_heartbeat_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    iterations: Mapped[int | None]
    evaluations_n: Mapped[int | None]
    evolutions_n: Mapped[int | None]
    repeats_n: Mapped[int | None]  # evolutions whose DSL the pool already had


class PoolEvaluation(Base):
    __tablename__ = "pool_evaluations"
    __table_args__ = (
        UniqueConstraint("algorithm_id", "miner_hotkey"),
        Index("ix_pool_evaluations_window", "window_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    algorithm_id: Mapped[int] = mapped_column(ForeignKey("pool_algorithms.id"))
    miner_hotkey: Mapped[str] = mapped_column(String(64))
    assignment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pool_assignments.id"))
    score: Mapped[float]
    window_number: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PoolWindow(Base):
    """A closed window (immutable): its consensus outcome and the SOTA before it."""

    __tablename__ = "pool_windows"

    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    closed_at: Mapped[datetime] = mapped_column(default=utcnow)
    algorithms_settled: Mapped[int]
    algorithms_scored: Mapped[int]
    sota_before: Mapped[float | None]
    total_points: Mapped[float]


class PoolWindowPoints(Base):
    """One miner's points in a closed window (immutable)."""

    __tablename__ = "pool_window_points"

    window_number: Mapped[int] = mapped_column(ForeignKey("pool_windows.number"), primary_key=True)
    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    agreements: Mapped[int]
    disagreements: Mapped[int]
    evaluations: Mapped[int]
    evolutions: Mapped[int]
    repeats: Mapped[int]
    evaluator_points: Mapped[float]
    evolver_points: Mapped[float]
    penalty_points: Mapped[float]
    in_consensus: Mapped[bool]
    points: Mapped[float]  # what pays: the total when in consensus and active enough, else 0
