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

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field
from pydantic import BaseModel
from starlette.routing import BaseRoute

from proctor.http.errors import ENVELOPES, ErrorRenderers, Renderer

Responses = Mapping[int | str, dict[str, Any]]

MALFORMED_BODY: Responses = {
    400: {"description": "The body is not JSON (or not the form) the route reads"},
    413: {"description": "The body is over the route's limit (README, Abuse limits)"},
}
NOT_FOUND: Responses = {404: {"description": "Nothing with that id (or not the caller's)"}}


def document_errors(
    routes: Iterable[BaseRoute],
    responses: Responses | None = None,
    *,
    envelope: type[BaseModel] | None = None,
) -> None:
    """Publish in each route's OpenAPI the errors any route of its kind answers, beside its own.

    A route that reads a body answers 400 when the body does not parse and 413 when it is too large;
    one with a path parameter answers 404 for an id that names nothing; `responses` are the group's
    own (401 and 403 where every route is authenticated, say). A route's own `responses=` win.
    `envelope` is the body of the group's refusals: every 4xx but FastAPI's 422 that does not name
    its own body is published with it.
    """
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        extra: dict[int | str, dict[str, Any]] = dict(responses or {})
        if route.body_field is not None:
            extra.update(MALFORMED_BODY)
        if "{" in route.path:
            extra.update(NOT_FOUND)
        for status, description in extra.items():
            if status not in route.responses and str(status) not in route.responses:
                route.responses[status] = description
        for status, response in list(route.responses.items()):
            code = str(status)
            undocumented = not {"model", "content"} & set(response)
            if envelope and code.startswith("4") and code != "422" and undocumented:
                route.responses[status] = response = {**response, "model": envelope}
            if "model" in response and status not in route.response_fields:
                # What APIRoute derives from `responses` when it is built (the OpenAPI reads this).
                route.response_fields[status] = create_model_field(
                    name=f"Response_{code}_{route.unique_id}", type_=response["model"], mode="serialization"
                )


def mount_group(
    root: FastAPI,
    renderers: ErrorRenderers,
    prefix: str,
    routers: Sequence[APIRouter],
    renderer: Renderer,
    *,
    responses: Responses | None = None,
) -> APIRouter:
    """Mount `routers` (paths relative to `prefix`) as one group whose errors use `renderer`;
    `responses` are errors every route of the group may answer (see `document_errors`)."""
    group = APIRouter()
    for router in routers:
        document_errors(router.routes, responses, envelope=ENVELOPES.get(renderer))
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
        sub_schema = _without_clashes(
            get_openapi(title=root.title, version=root.version, routes=sub.routes), components, prefix
        )
        for path, item in sub_schema.get("paths", {}).items():
            paths[prefix + path] = item
        components.update(sub_schema.get("components", {}).get("schemas", {}))
    root.openapi_schema = schema
    return schema


def _without_clashes(sub_schema: dict[str, Any], taken: dict[str, Any], prefix: str) -> dict[str, Any]:
    """`sub_schema` with each model whose name another group already uses for a different model
    renamed (`MinerStatsResponse` of `/api/v1/miners` becomes `MinerStatsResponse_api_v1_miners`), and
    every reference to it rewritten. Two peers' models may share a class name; their schemas must
    not overwrite each other in the merged document."""
    own = sub_schema.get("components", {}).get("schemas", {})
    suffix = "_" + "_".join(part for part in prefix.split("/") if part)
    renames = {name: name + suffix for name, model in own.items() if name in taken and taken[name] != model}
    if not renames:
        return sub_schema
    refs = {f"#/components/schemas/{old}": f"#/components/schemas/{new}" for old, new in renames.items()}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: refs.get(v, v) if k == "$ref" else rewrite(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    renamed = rewrite(sub_schema)
    models = renamed["components"]["schemas"]
    renamed["components"]["schemas"] = {renames.get(name, name): model for name, model in models.items()}
    return renamed
