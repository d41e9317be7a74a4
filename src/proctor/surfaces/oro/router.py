"""The ORO surface: every route group that speaks ORO's wire format, each mounted at its prefix."""

from __future__ import annotations

from fastapi import FastAPI

from proctor.http.errors import ErrorRenderers, render_flat
from proctor.http.surface import Responses, mount_group
from proctor.surfaces.oro import admin, auth_routes, miner, public, races, validator

# The errors each group's routes answer beside their own (ORO's flat `{detail, error_code}` envelope).
REFUSED: Responses = {400: {"description": "A request ORO's rules refuse (`error_code` says which)"}}
PUBLIC: Responses = {404: {"description": "No active suite, or nothing with that id"}}
SIGNED: Responses = {
    **REFUSED,
    401: {"description": "Missing, stale, replayed or invalid signature (bittensor-auth's `detail`)"},
    403: {"description": "The hotkey lacks the role, is banned or unregistered"},
    404: {"description": "Nothing with that id, or not the caller's"},
    409: {"description": "The state does not allow it (lease, cooldown, already done)"},
    429: {"description": "Rate limit exceeded (Retry-After)"},
}
AUTH: Responses = {**REFUSED, 401: SIGNED[401], 429: SIGNED[429]}


def mount(app: FastAPI, renderers: ErrorRenderers) -> None:
    """Attach ORO's route groups; all of them answer errors in ORO's flat envelope."""
    public_routes = [public.router, races.public_router]
    mount_group(app, renderers, "/v1/public", public_routes, render_flat, responses={**REFUSED, **PUBLIC})
    mount_group(app, renderers, "/v1/auth", [auth_routes.router], render_flat, responses=AUTH)
    mount_group(
        app, renderers, "/v1/miner", [miner.router, races.miner_router], render_flat, responses=SIGNED
    )
    mount_group(app, renderers, "/v1/validator", [validator.router], render_flat, responses=SIGNED)
    mount_group(
        app, renderers, "/v1/admin", [admin.router, races.admin_router], render_flat, responses=SIGNED
    )
    # Every route here is signed: the global limit is counted with the nonce (`auth._signed`).
    app.state.signed_prefixes = (
        *getattr(app.state, "signed_prefixes", ()),
        "/v1/miner",
        "/v1/validator",
        "/v1/admin",
        "/v1/auth/whoami",
    )
