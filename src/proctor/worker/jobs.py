"""Every domain's periodic jobs, each switched on by its own settings (never by the mounted surfaces)."""

from __future__ import annotations

import asyncio

from proctor.config import Settings
from proctor.core.bitrecs.jobs import jobs as bitrecs_jobs
from proctor.core.compute.jobs import jobs as compute_jobs
from proctor.core.context import Core, build_core
from proctor.core.evaluations.jobs import jobs as evaluation_jobs
from proctor.core.pool.jobs import jobs as pool_jobs
from proctor.core.races.jobs import jobs as race_jobs
from proctor.core.rewards.jobs import jobs as reward_jobs
from proctor.worker.periodic import Job, run_forever

DOMAINS = (evaluation_jobs, compute_jobs, reward_jobs, bitrecs_jobs, pool_jobs, race_jobs)


def all_jobs(settings: Settings) -> list[Job]:
    """The enabled jobs of every domain."""
    return [job for domain in DOMAINS for job in domain(settings)]


def start_jobs(core: Core, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """Run every enabled job in this process until `stop` is set."""
    return [
        asyncio.create_task(run_forever(core, job, stop), name=job.name) for job in all_jobs(core.settings)
    ]


async def run_all(settings: Settings, stop: asyncio.Event) -> None:
    """`proctor worker`: every enabled periodic job until `stop` is set, without serving HTTP."""
    core = build_core(settings, gate_workers=0)
    await core.start()
    try:
        await asyncio.gather(*start_jobs(core, stop))
    finally:
        await core.close()
