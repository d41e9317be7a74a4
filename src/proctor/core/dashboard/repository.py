"""The few aggregates the dashboard shows that the JSON API has no read for (everything else it shows
comes from the same reads the API uses)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.models import (
    AgentVersion,
    ComputeJob,
    EvaluationRun,
    Race,
    RewardEpoch,
    RunProblemResult,
    WorkItem,
)
from proctor.models.evaluations import ACTIVE_RUN_STATUSES
from proctor.models.races import OPEN_RACE_STATUSES

R = EvaluationRun


@dataclass(frozen=True)
class ValidatorTally:
    runs_done: int
    runs_failed: int


async def validator_tallies(session: AsyncSession) -> dict[str, ValidatorTally]:
    """Finished and failed runs per validator (STALE and CANCELLED runs count as failed)."""
    failed = func.sum(case((R.status.in_(("SUCCESS", *ACTIVE_RUN_STATUSES)), 0), else_=1))
    query = (
        select(R.validator_hotkey, func.count(), failed)
        .where(R.status.not_in(ACTIVE_RUN_STATUSES))
        .group_by(R.validator_hotkey)
    )
    return {
        hotkey: ValidatorTally(int(n), int(f or 0)) for hotkey, n, f in (await session.execute(query)).all()
    }


async def score_buckets(
    session: AsyncSession, *, suite_id: int, buckets: int
) -> tuple[float, float, list[int]]:
    """(lowest, highest, counts) of eligible final scores in `buckets` equal-width bins: two aggregate
    passes over the leaderboard index, no rows shipped."""
    eligible = (AgentVersion.suite_id == suite_id, AgentVersion.state == "ELIGIBLE")
    low, high = (
        await session.execute(
            select(func.min(AgentVersion.final_score), func.max(AgentVersion.final_score)).where(*eligible)
        )
    ).one()
    if low is None or high is None:
        return 0.0, 0.0, []
    low, high = float(low), float(high)
    width = (high - low) / buckets
    score = AgentVersion.final_score
    # One conditional count per bin (portable: no floor or greatest needed); the last bin holds `high`.
    edges = [low + i * width for i in range(1, buckets)]
    bins = [case((score < edges[0], 1), else_=0)]
    bins += [case((and_(score >= a, score < b), 1), else_=0) for a, b in zip(edges, edges[1:], strict=False)]
    bins.append(case((score >= edges[-1], 1), else_=0))
    row = (await session.execute(select(*[func.sum(b) for b in bins]).where(*eligible))).one()
    counts = [int(n or 0) for n in row]
    return low, high, counts


async def finished_since(session: AsyncSession, since: datetime) -> list[datetime]:
    """When each run that finished after `since` finished (a day's runs: a few thousand at most)."""
    query = select(R.completed_at).where(
        R.status.in_(("SUCCESS", "FAILED", "TIMED_OUT")), R.completed_at >= since
    )
    return [at for at in (await session.scalars(query)).all() if at is not None]


@dataclass(frozen=True)
class JobCounts:
    by_state: dict[str, int]
    recent: Sequence[ComputeJob]


async def compute_jobs(session: AsyncSession, *, limit: int) -> JobCounts:
    """Compute jobs by state, and the newest `limit` of them."""
    counts = (await session.execute(select(ComputeJob.state, func.count()).group_by(ComputeJob.state))).all()
    recent = (
        await session.scalars(select(ComputeJob).order_by(ComputeJob.created_at.desc()).limit(limit))
    ).all()
    return JobCounts({state: int(n) for state, n in counts}, recent)


# --- the change feed: what one poll reads ------------------------------------------------------------


@dataclass(frozen=True)
class ActiveRun:
    run_id: uuid.UUID
    version_id: uuid.UUID
    validator: str
    status: str
    progress_done: int
    results_at: datetime | None  # newest per-problem write: a score can change without the count
    race_id: uuid.UUID | None  # a RACE run's race


async def active_runs(session: AsyncSession) -> list[ActiveRun]:
    """Every CLAIMED or RUNNING run with its newest result write (the active set is small: one run per
    validator at most)."""
    newest = (
        select(func.max(RunProblemResult.updated_at))
        .where(RunProblemResult.run_id == R.id)
        .correlate(R)
        .scalar_subquery()
    )
    query = select(
        R.id, R.agent_version_id, R.validator_hotkey, R.status, R.progress_done, newest, R.race_id
    ).where(R.status.in_(ACTIVE_RUN_STATUSES))
    return [ActiveRun(*row) for row in (await session.execute(query)).all()]


@dataclass(frozen=True)
class EndedRun:
    run_id: uuid.UUID
    version_id: uuid.UUID
    status: str
    version_state: str
    race_id: uuid.UUID | None


async def ended_runs(session: AsyncSession, run_ids: Sequence[uuid.UUID]) -> list[EndedRun]:
    """Runs that left the active set, with how they ended and their version's state now."""
    if not run_ids:
        return []
    query = (
        select(R.id, R.agent_version_id, R.status, AgentVersion.state, R.race_id)
        .join(AgentVersion, AgentVersion.id == R.agent_version_id)
        .where(R.id.in_(run_ids))
    )
    return [EndedRun(*row) for row in (await session.execute(query)).all()]


async def queue_stamp(session: AsyncSession) -> tuple[Any, ...]:
    """What changes when work is queued or leaves the queue (the open queue is small and indexed)."""
    query = select(func.count(), func.max(WorkItem.queued_at)).where(WorkItem.status == "OPEN")
    count, newest = (await session.execute(query)).one()
    return int(count), newest


@dataclass(frozen=True)
class RaceState:
    race_id: uuid.UUID
    number: int
    status: str


async def open_races(session: AsyncSession) -> list[RaceState]:
    """Races in qualifying or running (one per suite at most; through the status index)."""
    query = select(Race.id, Race.number, Race.status).where(Race.status.in_(OPEN_RACE_STATUSES))
    return [RaceState(*row) for row in (await session.execute(query)).all()]


async def race_states(session: AsyncSession, race_ids: Sequence[uuid.UUID]) -> list[RaceState]:
    """How races that left the open set stand now (completed or cancelled)."""
    if not race_ids:
        return []
    query = select(Race.id, Race.number, Race.status).where(Race.id.in_(race_ids))
    return [RaceState(*row) for row in (await session.execute(query)).all()]


async def latest_epoch(session: AsyncSession) -> int | None:
    value = await session.scalar(select(func.max(RewardEpoch.number)))
    return int(value) if value is not None else None
