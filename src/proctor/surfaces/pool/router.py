"""The Pool surface (BitSOTA SN94): its route groups, each answering errors as `{"detail": ...}`."""

from __future__ import annotations

from fastapi import FastAPI

from proctor.http.errors import ErrorRenderers
from proctor.http.surface import mount_group
from proctor.surfaces.pool import recipients
from proctor.surfaces.pool.errors import render_detail


def mount(app: FastAPI, renderers: ErrorRenderers) -> None:
    """Attach Pool's miner routes at /api/v1/miners and the root compatibility update route."""
    mount_group(app, renderers, "/api/v1/miners", [recipients.router], render_detail)
    mount_group(app, renderers, "/coldkey_address", [recipients.root_router], render_detail)
