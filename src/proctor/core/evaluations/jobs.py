"""The evaluation domain's periodic job: reaping lapsed runs.

PROCTOR_REAPER_INTERVAL_SECONDS sets its interval; 0 turns it off.
"""

from __future__ import annotations

from proctor.config import Settings
from proctor.core.evaluations import flows
from proctor.worker.periodic import Job


def jobs(settings: Settings) -> list[Job]:
    if settings.reaper_interval_seconds <= 0:
        return []
    return [Job("evaluations.reap", settings.reaper_interval_seconds, flows.reap)]
