"""The ORO surface: every route group that speaks ORO's wire format, each mounted at its prefix."""

from __future__ import annotations

from fastapi import FastAPI

from proctor.http.errors import ErrorRenderers, render_flat
from proctor.http.surface import mount_group
from proctor.surfaces.oro import admin, auth_routes, miner, public, races, validator


def mount(app: FastAPI, renderers: ErrorRenderers) -> None:
    """Attach ORO's route groups; all of them answer errors in ORO's flat envelope."""
    mount_group(app, renderers, "/v1/public", [public.router, races.public_router], render_flat)
    mount_group(app, renderers, "/v1/auth", [auth_routes.router], render_flat)
    mount_group(app, renderers, "/v1/miner", [miner.router, races.miner_router], render_flat)
    mount_group(app, renderers, "/v1/validator", [validator.router], render_flat)
    mount_group(app, renderers, "/v1/admin", [admin.router, races.admin_router], render_flat)
    # Every route here is signed: the global limit is counted with the nonce (`auth._signed`).
    app.state.signed_prefixes = (
        *getattr(app.state, "signed_prefixes", ()),
        "/v1/miner",
        "/v1/validator",
        "/v1/admin",
        "/v1/auth/whoami",
    )
