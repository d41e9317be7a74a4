"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from proctor import __version__
from proctor.http.deps import StateDep
from proctor.storage.db import ping

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Shallow liveness: the process answers. A mounted surface may add its peer's fields (Pool's
    `status: "healthy"` and window), so one `/health` serves every family."""
    body: dict[str, Any] = {"status": "ok", "service": "proctor", "version": __version__}
    for fields in getattr(request.app.state, "health_fields", ()):
        body.update(await fields(request.app.state.proctor.core))
    return body


@router.get("/health/deep")
async def deep_health(state: StateDep) -> JSONResponse:
    """Readiness: `SELECT 1` with a hard timeout, retried once; Redis pinged when configured.

    A failure is a 503 JSON body, returned rather than raised, so it never hangs and never looks
    like a crash.
    """
    checks: dict[str, Any] = {"database": await _check_database(state)}
    if state.settings.redis_url:
        checks["redis"] = await _check(state.kv.ping(), state.settings.health_db_timeout_seconds)
    checks["registry"] = state.registry.status()
    healthy = checks["database"] == "ok" and checks.get("redis", "ok") == "ok"
    body = {"status": "ok" if healthy else "unavailable", "version": __version__, **checks}
    return JSONResponse(body, status_code=200 if healthy else 503)


async def _check_database(state: StateDep) -> str:
    timeout = state.settings.health_db_timeout_seconds
    result = await _check(ping(state.engine, timeout=timeout), timeout)
    if result != "ok":  # one retry rides out a pool hiccup or a one-off network blip
        await asyncio.sleep(0.1)
        result = await _check(ping(state.engine, timeout=timeout), timeout)
    return result


async def _check(awaitable: Any, timeout: float) -> str:
    try:
        async with asyncio.timeout(timeout + 0.5):
            await awaitable
    except TimeoutError:
        return "timeout"
    except Exception as exc:  # any driver error means "not ready"; the type is what operators need
        return f"error: {type(exc).__name__}"
    return "ok"


metrics_router = APIRouter(tags=["health"])


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics(state: StateDep) -> Response:
    """Prometheus text exposition."""
    body = state.metrics.render()
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
