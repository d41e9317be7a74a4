"""The periodic jobs proctor runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from types import ModuleType

from sqlalchemy.ext.asyncio import AsyncSession

from proctor.config import Settings
from proctor.core.evaluations import service as evaluation_service
from proctor.storage.db import create_engine, create_sessionmaker
from proctor.worker.periodic import Job, run_forever


async def reap_evaluation_leases(session: AsyncSession, now: datetime) -> int:
    return await evaluation_service.reap_expired(session, now=now)


def default_jobs(settings: Settings) -> list[Job]:
    return [Job("evaluations.reap", settings.reaper_interval_seconds, reap_evaluation_leases)]


def all_jobs(settings: Settings, surfaces: Iterable[ModuleType]) -> list[Job]:
    """The core's jobs plus those of every mounted surface (a surface module may define `jobs`)."""
    jobs = default_jobs(settings)
    for module in surfaces:
        jobs += module.jobs(settings) if hasattr(module, "jobs") else []
    return jobs


async def run_all(settings: Settings, surfaces: Iterable[ModuleType], stop: asyncio.Event) -> None:
    """`proctor worker`: every periodic job until `stop` is set, without serving HTTP."""
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    try:
        await asyncio.gather(*(run_forever(sessionmaker, job, stop) for job in all_jobs(settings, surfaces)))
    finally:
        await engine.dispose()
