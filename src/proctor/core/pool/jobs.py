"""The Pool domain's periodic jobs: reaping lapsed assignments and closing ended windows.

PROCTOR_POOL_REAPER_INTERVAL_SECONDS and PROCTOR_POOL_CONSENSUS_INTERVAL_SECONDS set their intervals;
0 turns either off.
"""

from __future__ import annotations

from datetime import datetime

from proctor.config import Settings
from proctor.core.context import Core
from proctor.core.pool import flows
from proctor.worker.periodic import Job


async def _close(core: Core, now: datetime) -> list[int]:
    return await flows.close_windows(core, now)


def jobs(settings: Settings) -> list[Job]:
    found = []
    if settings.pool_reaper_interval_seconds > 0:
        found.append(Job("pool.reap", settings.pool_reaper_interval_seconds, flows.reap))
    if settings.pool_consensus_interval_seconds > 0:
        found.append(Job("pool.close_windows", settings.pool_consensus_interval_seconds, _close))
    return found
