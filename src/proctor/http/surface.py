"""Mounting a surface's route groups.

Each path prefix (`/v1/public`, `/v1/miner`, `/api/v1/tasks`, …) is one APIRouter mounted on the root
app, instead of every route in one flat table. FastAPI matches routes linearly (about 5 µs per route
tried, twice over with `include_router`); with ~150 routes across four API families, a request for a
late route would pay most of a millisecond just being routed. Mounts are matched by prefix first, so a
request only scans its own group. The router is mounted bare (not wrapped in a sub-application), so a
request still crosses the app's middleware stack once; errors bubble up to the root app, which renders
them in the envelope registered for the prefix. The root app merges every group's OpenAPI into one
`/openapi.json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from proctor.http.errors import ErrorRenderers, Renderer


def mount_group(
    root: FastAPI,
    renderers: ErrorRenderers,
    prefix: str,
    routers: Sequence[APIRouter],
    renderer: Renderer,
) -> APIRouter:
    """Mount `routers` (paths relative to `prefix`) as one group whose errors use `renderer`."""
    group = APIRouter()
    for router in routers:
        # Routes are copied rather than included: `include_router` would add another matching layer.
        group.routes.extend(router.routes)
    root.mount(prefix, group)
    renderers.register(prefix, renderer)
    if not hasattr(root.state, "groups"):
        root.state.groups = []
    root.state.groups.append((prefix, group))
    return group


def merged_openapi(root: FastAPI) -> dict[str, Any]:
    """One OpenAPI document for the root app and every mounted group."""
    if root.openapi_schema:
        return root.openapi_schema
    schema = get_openapi(title=root.title, version=root.version, routes=root.routes)
    paths = schema.setdefault("paths", {})
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for prefix, sub in getattr(root.state, "groups", []):
        sub_schema = get_openapi(title=root.title, version=root.version, routes=sub.routes)
        for path, item in sub_schema.get("paths", {}).items():
            paths[prefix + path] = item
        components.update(sub_schema.get("components", {}).get("schemas", {}))
    root.openapi_schema = schema
    return schema
