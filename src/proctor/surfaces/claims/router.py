"""The Pool Merkle claim app on `proctor serve`, mounted at PROCTOR_CLAIMS_PATH_PREFIX (`/claims`).

Mounted when PROCTOR_CLAIMS_ENABLED=true (or "claims" is in PROCTOR_SURFACES). The same routes run
without a prefix in `proctor claims serve` (`proctor.surfaces.claims.app`).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from proctor.config import Settings, load_settings
from proctor.core.rewards.jobs import publisher_jobs
from proctor.http.errors import ErrorRenderers
from proctor.http.surface import mount_group
from proctor.surfaces.claims import routes
from proctor.surfaces.pool.errors import render_detail
from proctor.worker.periodic import Job


def routers(settings: Settings) -> list[APIRouter]:
    """The proof routes, plus the claim and ledger routes when simulation is on."""
    return [routes.router, *([routes.simulation_router] if settings.claims_simulation else [])]


def mount(app: FastAPI, renderers: ErrorRenderers) -> None:
    """Attach the claim app at the configured prefix; its errors are `{"detail": ...}`."""
    settings: Settings = getattr(app.state, "settings", None) or load_settings()
    mount_group(app, renderers, settings.claims_path_prefix, routers(settings), render_detail)


def jobs(settings: Settings) -> list[Job]:
    """The periodic epoch publisher, when PROCTOR_EPOCH_PUBLISH_INTERVAL_SECONDS > 0."""
    return publisher_jobs(settings)
