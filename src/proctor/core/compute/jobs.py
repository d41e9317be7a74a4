"""The compute marketplace's periodic job: the sweeper (PROCTOR_COMPUTE_REAPER_INTERVAL_SECONDS).

It marks silent miners offline, expires queued jobs past their ttl and re-queues lapsed leases. It is
cheap on empty tables, so it runs whether or not the compute surface is mounted on this replica.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from proctor.config import Settings
from proctor.core.compute import service as compute_service
from proctor.core.compute import wakeup
from proctor.core.compute.schemas import Sweep, policy_from
from proctor.worker.periodic import Job, in_session


def jobs(settings: Settings) -> list[Job]:
    policy = policy_from(settings)

    async def sweep(session: AsyncSession, now: datetime) -> Sweep:
        swept = await compute_service.sweep(session, policy=policy, now=now)
        if swept.requeued_jobs:  # wake long-polling miners on every replica (PostgreSQL)
            await wakeup.notify_in_session(session)
        return swept

    return [Job("compute.sweep", settings.compute_reaper_interval_seconds, in_session(sweep))]
