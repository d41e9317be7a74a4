"""The periodic epoch publisher (off unless PROCTOR_EPOCH_PUBLISH_INTERVAL_SECONDS > 0).

It ticks every minute (or every interval, when shorter) and publishes an epoch when the latest one is
at least an interval old, splitting PROCTOR_EPOCH_BUDGET_UNITS over PROCTOR_EPOCH_SCORES (a snapshot
file or URL, or proctor's own ORO top policy when empty). With several replicas on PostgreSQL one
tick runs at a time (the job's advisory lock) and the publication lock serialises it with the CLI; a
tick that finds the window's epoch already out does nothing. A refused publication (no scores, a bad
snapshot, an unreachable URL) is logged and retried on the next tick; nothing is written.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.config import Settings
from proctor.core.rewards import service as epoch_service
from proctor.core.rewards import sources
from proctor.errors import ProctorError
from proctor.worker.periodic import Job, in_session

log = structlog.get_logger(__name__)
MAX_TICK_SECONDS = 60.0


def score_loader(settings: Settings) -> epoch_service.ScoreLoader:
    """Load the scores the settings name (used by the job and by `proctor admin epoch publish`)."""

    async def load(session: AsyncSession) -> sources.ScoreSource:
        return await sources.load_scores(
            session,
            location=settings.epoch_scores,
            max_bytes=settings.epoch_scores_max_mb * 2**20,
            timeout_seconds=settings.epoch_scores_timeout_seconds,
            margin=settings.top_margin,
            emission_weight=settings.top_emission_weight,
        )

    return load


def publisher_jobs(settings: Settings) -> list[Job]:
    """The publisher job when enabled, else nothing."""
    interval = settings.epoch_publish_interval_seconds
    if interval <= 0:
        return []
    load = score_loader(settings)

    async def tick(session: AsyncSession, now: datetime) -> None:
        try:
            published = await epoch_service.publish_if_due(
                session,
                budget_units=settings.epoch_budget_units,
                load_scores=load,
                interval_seconds=interval,
                now=now,
            )
        except ProctorError as exc:
            await session.rollback()
            log.warning("rewards.publish_refused", code=exc.error_code, reason=exc.message)
            return
        if published is not None:
            epoch = published.epoch
            log.info(
                "rewards.published",
                epoch=epoch.number,
                root=epoch.root,
                leaves=epoch.leaf_count,
                total_units=epoch.total_units,
                allocated_units=epoch.allocated_units,
            )

    return [Job("rewards.publish", min(interval, MAX_TICK_SECONDS), in_session(tick))]


def jobs(settings: Settings) -> list[Job]:
    """The rewards domain's jobs: the publisher, on when PROCTOR_EPOCH_PUBLISH_INTERVAL_SECONDS > 0."""
    return publisher_jobs(settings)
