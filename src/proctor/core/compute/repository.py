"""Queries for compute miners, clients, jobs, assignments and the earnings ledger."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, cast, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.compute.matching import SECONDS_PER_HOUR
from proctor.models import ComputeAssignment, ComputeClient, ComputeEarning, ComputeJob, ComputeMiner
from proctor.models.compute import RUNNING_ASSIGNMENT

QUEUED = "QUEUED"


def constraints_met(*, region: Any, memory_mb: Any, price_per_hour_micro: Any, models: Any) -> list[Any]:
    """AITBC's job constraints against a miner's values (SQL expressions), the SQL twin of the
    constraint half of `matching.mismatch`; a job without a constraint matches anyone."""
    return [
        or_(ComputeJob.region.is_(None), ComputeJob.region == region),
        or_(ComputeJob.min_vram_mb.is_(None), ComputeJob.min_vram_mb <= func.coalesce(memory_mb, 0)),
        or_(ComputeJob.max_price_micro.is_(None), ComputeJob.max_price_micro >= price_per_hour_micro),
        or_(
            ComputeJob.model_pattern.is_(None),
            func.coalesce(models, "").like(ComputeJob.model_pattern, escape="\\"),
        ),
    ]


class ComputeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- accounts ---------------------------------------------------------------------------------

    async def miner_by_key(self, key_hash: str) -> ComputeMiner | None:
        return await self.session.scalar(select(ComputeMiner).where(ComputeMiner.api_key_hash == key_hash))

    async def client_by_key(self, key_hash: str) -> ComputeClient | None:
        return await self.session.scalar(select(ComputeClient).where(ComputeClient.api_key_hash == key_hash))

    async def miner(self, miner_id: str, *, lock: bool = False) -> ComputeMiner | None:
        query = select(ComputeMiner).where(ComputeMiner.id == miner_id)
        if lock:
            # populate_existing: the row read under the lock replaces any copy the session already has.
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(query)

    async def client(self, client_id: str) -> ComputeClient | None:
        return await self.session.get(ComputeClient, client_id)

    async def miners(self, *, status: str | None) -> Sequence[ComputeMiner]:
        query = select(ComputeMiner).order_by(ComputeMiner.registered_at, ComputeMiner.id)
        if status is not None:
            query = query.where(ComputeMiner.status == status)
        return (await self.session.scalars(query)).all()

    async def clients(self) -> Sequence[ComputeClient]:
        query = select(ComputeClient).order_by(ComputeClient.created_at, ComputeClient.id)
        return (await self.session.scalars(query)).all()

    async def mark_silent_offline(self, *, cutoff: datetime) -> int:
        """Active miners whose last sign of life (heartbeat, else approval) is older than `cutoff`."""
        seen = func.coalesce(ComputeMiner.last_heartbeat_at, ComputeMiner.approved_at)
        result = await self.session.execute(
            update(ComputeMiner)
            .where(ComputeMiner.status == "active", seen < cutoff)
            .values(status="offline")
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # --- jobs ---------------------------------------------------------------------------------------

    async def job(self, job_id: str, *, lock: bool = False) -> ComputeJob | None:
        if not lock:
            return await self.session.get(ComputeJob, job_id)  # no round trip when this session has it
        query = (
            select(ComputeJob)
            .where(ComputeJob.id == job_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return await self.session.scalar(query)

    async def client_jobs(
        self, client_id: str, *, state: str | None, limit: int, offset: int
    ) -> Sequence[ComputeJob]:
        query = select(ComputeJob).where(ComputeJob.client_id == client_id)
        if state is not None:
            query = query.where(ComputeJob.state == state)
        query = query.order_by(ComputeJob.created_at.desc(), ComputeJob.id).limit(limit).offset(offset)
        return (await self.session.scalars(query)).all()

    async def expire_queued(self, *, now: datetime) -> int:
        result = await self.session.execute(
            update(ComputeJob)
            .where(ComputeJob.state == QUEUED, ComputeJob.expires_at <= now)
            .values(state="EXPIRED", finished_at=now, error="not accepted before its ttl ran out")
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def available_query(self, miner: ComputeMiner, *, now: datetime) -> Select[ComputeJob]:
        """Queued jobs `miner` can run, oldest first (the SQL twin of `matching.mismatch`)."""
        attempted = select(ComputeAssignment.id).where(
            ComputeAssignment.job_id == ComputeJob.id, ComputeAssignment.miner_id == miner.id
        )
        return (
            select(ComputeJob)
            .where(
                ComputeJob.state == QUEUED,
                ComputeJob.expires_at > now,
                or_(ComputeJob.gpu_type.is_(None), ComputeJob.gpu_type == miner.gpu_type),
                ComputeJob.gpu_count <= miner.gpu_count,
                # 64-bit on both sides: seconds × µ/hour overflows PostgreSQL's 32-bit integer.
                ComputeJob.price_micro * literal(SECONDS_PER_HOUR, BigInteger)
                >= cast(ComputeJob.estimated_time, BigInteger)
                * literal(miner.price_per_hour_micro, BigInteger),
                ~attempted.exists(),
                *constraints_met(
                    region=literal(miner.location, ComputeJob.region.type),
                    memory_mb=literal(miner.memory_mb, ComputeMiner.memory_mb.type),
                    price_per_hour_micro=literal(miner.price_per_hour_micro, BigInteger),
                    models=literal(miner.models, ComputeMiner.models.type),
                ),
            )
            .order_by(ComputeJob.created_at, ComputeJob.id)
        )

    async def available(self, miner: ComputeMiner, *, now: datetime, limit: int) -> Sequence[ComputeJob]:
        return (await self.session.scalars(self.available_query(miner, now=now).limit(limit))).all()

    async def count_available(self, miner: ComputeMiner, *, now: datetime) -> int:
        query = self.available_query(miner, now=now).order_by(None).with_only_columns(func.count())
        return int(await self.session.scalar(query) or 0)

    # --- assignments (the leases) --------------------------------------------------------------------

    async def running_count(self, miner_id: str) -> int:
        query = select(func.count()).where(
            ComputeAssignment.miner_id == miner_id, ComputeAssignment.status == RUNNING_ASSIGNMENT
        )
        return int(await self.session.scalar(query) or 0)

    async def running_jobs(self, miner_id: str) -> Sequence[tuple[ComputeJob, ComputeAssignment]]:
        query = (
            select(ComputeJob, ComputeAssignment)
            .join(ComputeAssignment, ComputeAssignment.job_id == ComputeJob.id)
            .where(ComputeAssignment.miner_id == miner_id, ComputeAssignment.status == RUNNING_ASSIGNMENT)
            .order_by(ComputeAssignment.accepted_at)
        )
        return [(row[0], row[1]) for row in (await self.session.execute(query)).all()]

    async def latest_attempt_id(self, job_id: str, miner_id: str) -> uuid.UUID | None:
        """The id of this miner's most recent assignment for the job, if it ever had one.

        Only the id: the lease engine then reads the row itself under its lock, so a completion racing
        another completion sees the row as it is now, not a copy loaded before the lock.
        """
        query = (
            select(ComputeAssignment.id)
            .where(ComputeAssignment.job_id == job_id, ComputeAssignment.miner_id == miner_id)
            .order_by(ComputeAssignment.attempt.desc())
            .limit(1)
        )
        return await self.session.scalar(query)

    async def running_assignment_ids(self, miner_id: str) -> Sequence[uuid.UUID]:
        query = select(ComputeAssignment.id).where(
            ComputeAssignment.miner_id == miner_id, ComputeAssignment.status == RUNNING_ASSIGNMENT
        )
        return (await self.session.scalars(query)).all()

    async def assignment_counts(self, miner_id: str) -> dict[str, int]:
        query = (
            select(ComputeAssignment.status, func.count())
            .where(ComputeAssignment.miner_id == miner_id)
            .group_by(ComputeAssignment.status)
        )
        return {status: int(n) for status, n in (await self.session.execute(query)).all()}

    # --- the ledger ------------------------------------------------------------------------------------

    async def earnings_totals(self, miner_id: str) -> tuple[int, int, float, float]:
        """(completed jobs, micro-units earned, GPU seconds, mean accept→complete milliseconds)."""
        query = select(
            func.count(),
            func.coalesce(func.sum(ComputeEarning.amount_micro), 0),
            func.coalesce(func.sum(ComputeEarning.gpu_seconds), 0.0),
            func.coalesce(func.avg(ComputeEarning.duration_ms), 0.0),
        ).where(ComputeEarning.miner_id == miner_id)
        row = (await self.session.execute(query)).one()
        return int(row[0]), int(row[1]), float(row[2]), float(row[3])
