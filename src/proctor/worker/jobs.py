"""The periodic jobs proctor runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from proctor.config import Settings
from proctor.core.evaluations import service as evaluation_service
from proctor.worker.periodic import Job


async def reap_evaluation_leases(session: AsyncSession, now: datetime) -> int:
    return await evaluation_service.reap_expired(session, now=now)


def default_jobs(settings: Settings) -> list[Job]:
    return [Job("evaluations.reap", settings.reaper_interval_seconds, reap_evaluation_leases)]
