"""`proctor claims serve`: the claim app alone, at the root path, on the same database (default port 8844).

The same routes as the mounted app (`/health`, `/epochs`, `/epoch…`, and with simulation `/epoch…/claim`
and `/ledger…`), the same error envelope, the same edge middleware (rate limit, request ids, access log)
and, when enabled, the periodic publisher.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from proctor import __version__
from proctor.app import build_state, prepare_database
from proctor.config import Settings, load_settings
from proctor.http.errors import ErrorRenderers, install_error_handlers
from proctor.http.metrics import Metrics
from proctor.http.middleware import EdgeMiddleware, parse_networks
from proctor.http.state import AppState
from proctor.surfaces.claims.router import jobs, routers
from proctor.surfaces.pool.errors import render_detail
from proctor.worker.periodic import run_forever

log = structlog.get_logger(__name__)


async def _close(state: AppState) -> None:
    await state.kv.close()
    for resource in state.extras.values():
        close = getattr(resource, "close", None)
        if callable(close):
            result = close()
            if inspect.isawaitable(result):
                await result
    await state.engine.dispose()


def create_claims_app(settings: Settings | None = None) -> FastAPI:
    """The standalone claim app."""
    settings = settings or load_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await prepare_database(settings)
        state = build_state(settings, metrics)
        app.state.proctor = state
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(run_forever(state.sessionmaker, job, stop), name=job.name)
            for job in (jobs(settings) if settings.run_jobs else [])
        ]
        log.info("proctor.claims.started", version=__version__, simulation=settings.claims_simulation)
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await _close(state)

    telemetry = TelemetryConfig(tracing=False, metrics=False, logs=False, operation_spans=False)
    app = FastAPI(title="proctor claims", version=__version__, lifespan=lifespan, telemetry=telemetry)
    renderers = ErrorRenderers(default=render_detail)
    install_error_handlers(app, renderers.for_path)
    for router in routers(settings):
        app.include_router(router)
    app.add_middleware(
        EdgeMiddleware,
        enabled=settings.rate_limit_enabled,
        global_limit=settings.rate_limit_global,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        metrics=metrics,
        renderers=renderers,
    )
    return app
