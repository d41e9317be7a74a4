"""The Pool surface (BitSOTA SN94): its route groups, each answering errors as `{"detail": ...}`."""

from __future__ import annotations

from fastapi import FastAPI

from proctor.http.errors import ErrorRenderers
from proctor.http.surface import Responses, document_errors, mount_group
from proctor.surfaces.pool import miners, recipients, results, root, tasks
from proctor.surfaces.pool.errors import render_detail

# The errors Pool's routes answer beside their own, as `{"detail": ...}`.
POOL: Responses = {
    400: {"description": "A request Pool's rules refuse (an address that is not SS58, say)"},
    401: {"description": "Missing, stale or invalid wallet signature"},
    404: {"description": "Nothing with that id, or not the caller's"},
}


def mount(app: FastAPI, renderers: ErrorRenderers) -> None:
    """Attach Pool's route groups (/api/v1/miners, tasks, results, the rest of /api/v1), its root routes
    (/status, /disclaimer.md, the compat recipient update) and its fields on `/health`."""
    mount_group(
        app, renderers, "/api/v1/miners", [miners.router, recipients.router], render_detail, responses=POOL
    )
    mount_group(app, renderers, "/api/v1/tasks", [tasks.router], render_detail, responses=POOL)
    mount_group(app, renderers, "/api/v1/results", [results.router], render_detail, responses=POOL)
    mount_group(app, renderers, "/coldkey_address", [recipients.root_router], render_detail, responses=POOL)
    document_errors(root.router.routes)
    app.include_router(root.router)
    contributors = getattr(app.state, "health_fields", [])
    app.state.health_fields = [*contributors, root.pool_health]
    # Last: /api/v1 catches only what the groups above did not (the disclaimer and the monitor).
    mount_group(app, renderers, "/api/v1", [root.api_router], render_detail)
