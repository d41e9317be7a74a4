"""The race domain's periodic job: complete overdue races; with PROCTOR_RACE_ENABLED, open a race for
the active suite and close its qualifying when the window ends.

PROCTOR_RACE_INTERVAL_SECONDS sets its interval; 0 turns it off (close qualifying by command)."""

from __future__ import annotations

from proctor.config import Settings
from proctor.core.races import flows
from proctor.worker.periodic import Job


def jobs(settings: Settings) -> list[Job]:
    if settings.race_interval_seconds <= 0:
        return []
    return [Job("races.tick", settings.race_interval_seconds, flows.tick)]
