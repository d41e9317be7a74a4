"""Mounting the dashboard: the leaderboard at `/`, every other page under `/dashboard`."""

from __future__ import annotations

from fastapi import FastAPI

from proctor.http.errors import ErrorRenderers
from proctor.http.surface import mount_group
from proctor.surfaces.dashboard import pages, rendering

PREFIX = rendering.PREFIX


def mount(app: FastAPI, renderers: ErrorRenderers) -> None:
    """Every error under /dashboard (an unknown page included) is answered as an HTML page."""
    mount_group(app, renderers, PREFIX, [pages.router], rendering.render_error)
    # One root route only: routes on the root app are matched linearly before any mount.
    app.add_api_route("/", pages.home, methods=["GET"], include_in_schema=False)
