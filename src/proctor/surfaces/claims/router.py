"""The Pool Merkle claim app on `proctor serve`, mounted at PROCTOR_CLAIMS_PATH_PREFIX (`/claims`).

Mounted when PROCTOR_CLAIMS_ENABLED=true (or "claims" is in PROCTOR_SURFACES). The same routes run
without a prefix in `proctor claims serve` (`create_app(settings, at_root="claims")`).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from proctor.config import Settings, load_settings
from proctor.http.errors import ErrorRenderers
from proctor.http.surface import Responses, document_errors, mount_group
from proctor.surfaces.claims import routes
from proctor.surfaces.pool.errors import render_detail


def routers(settings: Settings) -> list[APIRouter]:
    """The proof routes, plus the claim and ledger routes when simulation is on."""
    return [routes.router, *([routes.simulation_router] if settings.claims_simulation else [])]


# Beside each route's own: a claim the contract's rules refuse (400), an epoch or hotkey not published.
CLAIMS: Responses = {
    400: {"description": "An invalid claim or proof"},
    404: {"description": '`{"detail": "not found"}`'},
}
ENVELOPE = render_detail  # errors as `{"detail": ...}`, as Pool's claim server answers


def mount_at_root(app: FastAPI) -> None:
    """The claim routes at the root path (`proctor claims serve`, Pool's standalone claim server)."""
    settings: Settings = app.state.settings
    for router in routers(settings):
        document_errors(router.routes, CLAIMS)
        app.include_router(router)


def mount(app: FastAPI, renderers: ErrorRenderers) -> None:
    """Attach the claim app at the configured prefix; its errors are `{"detail": ...}`."""
    settings: Settings = getattr(app.state, "settings", None) or load_settings()
    mount_group(
        app, renderers, settings.claims_path_prefix, routers(settings), render_detail, responses=CLAIMS
    )
