"""The evaluation domain's periodic jobs: reaping lapsed runs, and settling items a completion left
decided but open (its process died between counting the run and closing the item).

PROCTOR_REAPER_INTERVAL_SECONDS sets their interval; 0 turns them off.
"""

from __future__ import annotations

from proctor.config import Settings
from proctor.core.evaluations import flows
from proctor.worker.periodic import Job


def jobs(settings: Settings) -> list[Job]:
    if settings.reaper_interval_seconds <= 0:
        return []
    return [
        Job("evaluations.reap", settings.reaper_interval_seconds, flows.reap),
        Job("evaluations.settle", settings.reaper_interval_seconds, flows.settle_unsettled),
    ]
