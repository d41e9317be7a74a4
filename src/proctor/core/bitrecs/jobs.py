"""The Bitrecs domain's periodic job: ending silent validator sessions and erroring out their runs.

PROCTOR_BITRECS_REAPER_INTERVAL_SECONDS sets its interval; 0 turns it off.
"""

from __future__ import annotations

from proctor.config import Settings
from proctor.core.bitrecs import flows
from proctor.worker.periodic import Job


def jobs(settings: Settings) -> list[Job]:
    if settings.bitrecs_reaper_interval_seconds <= 0:
        return []
    return [Job("bitrecs.reap", settings.bitrecs_reaper_interval_seconds, flows.reap)]
