"""Mounting the dashboard: the leaderboard at `/`, every other page under `/dashboard`."""

from __future__ import annotations

from fastapi import FastAPI

from proctor.http.errors import ErrorRenderers, render_flat
from proctor.http.surface import mount_group
from proctor.surfaces.dashboard import pages

PREFIX = "/dashboard"


def mount(app: FastAPI, renderers: ErrorRenderers) -> None:
    """Pages render their own HTML errors; anything that escapes them uses the flat JSON envelope."""
    mount_group(app, renderers, PREFIX, [pages.router], render_flat)
    # One root route only: routes on the root app are matched linearly before any mount.
    app.add_api_route("/", pages.home, methods=["GET"], include_in_schema=False)
