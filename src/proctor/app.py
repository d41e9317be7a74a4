"""The application factory: builds shared resources in the lifespan and mounts the configured surfaces."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType

import redis.asyncio as aioredis
import structlog
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from proctor import __version__
from proctor.config import Settings, load_settings
from proctor.core.identity import service as identity_service
from proctor.core.identity.registry import Overrides, Registry, source_from_setting
from proctor.core.submissions.runner import GateRunner
from proctor.http import blob_routes, health
from proctor.http.errors import ErrorRenderers, install_error_handlers, render_flat
from proctor.http.metrics import Metrics
from proctor.http.middleware import EdgeMiddleware, parse_networks
from proctor.http.state import AppState
from proctor.http.surface import merged_openapi, mount_group
from proctor.storage import migrate
from proctor.storage.blobs import create_blob_store
from proctor.storage.db import create_engine, create_sessionmaker
from proctor.storage.kv import EphemeralStore, MemoryStore, RedisStore
from proctor.storage.ratelimit import RateLimiter
from proctor.worker.jobs import all_jobs
from proctor.worker.periodic import run_forever

log = structlog.get_logger(__name__)

# Each surface is a module with `mount(app, renderers)` and, optionally, `jobs(settings) -> list[Job]`
# for periodic work it needs. Imported only when mounted.
SURFACES: dict[str, str] = {
    "oro": "proctor.surfaces.oro.router",
    "pool": "proctor.surfaces.pool.router",
    "claims": "proctor.surfaces.claims.router",
    "compute": "proctor.surfaces.compute.router",
}


def surface_modules(settings: Settings) -> list[ModuleType]:
    return [importlib.import_module(SURFACES[name]) for name in settings.surfaces]


class SchemaOutOfDate(RuntimeError):
    pass


async def prepare_database(settings: Settings) -> None:
    """Migrate the embedded SQLite database; insist that PostgreSQL was migrated by the operator."""
    if settings.is_sqlite:
        await migrate.upgrade(settings)
        return
    current, heads = await migrate.current_revisions(settings), migrate.head_revisions()
    if current != heads:
        raise SchemaOutOfDate(
            f"database schema is at {sorted(current) or 'nothing'}, this proctor needs {sorted(heads)}: "
            "run `proctor db upgrade` first"
        )


def build_state(settings: Settings, metrics: Metrics) -> AppState:
    """Engines, stores and the registry for one process (nothing is connected yet)."""
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    pool = (
        aioredis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            timeout=settings.redis_pool_timeout_seconds,
        )
        if settings.redis_url
        else None
    )
    kv: EphemeralStore = RedisStore(aioredis.Redis(connection_pool=pool)) if pool else MemoryStore()

    async def load_overrides() -> Overrides:
        async with sessionmaker() as session:
            return await identity_service.load_overrides(session)

    registry = Registry(
        source_from_setting(
            settings.registry, chain_network=settings.chain_network, chain_netuid=settings.chain_netuid
        ),
        load_overrides,
        admin_hotkeys=frozenset(settings.admin_hotkeys),
        refresh_seconds=settings.registry_refresh_seconds,
        max_age_seconds=settings.registry_max_age_seconds,
    )
    return AppState(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        kv=kv,
        limiter=RateLimiter.from_url(settings.redis_url or None, connection_pool=pool),
        registry=registry,
        metrics=metrics,
        extras={
            "blobs": create_blob_store(settings),
            "gates": GateRunner(
                workers=settings.submission_workers, timeout_seconds=settings.submission_check_timeout_seconds
            ),
        },
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app. Settings are explicit so tests and several apps can coexist in one process."""
    settings = settings or load_settings()
    unknown = set(settings.surfaces) - set(SURFACES)
    if unknown:
        raise ValueError(
            f"unknown surfaces in PROCTOR_SURFACES: {sorted(unknown)}; known: {sorted(SURFACES)}"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await prepare_database(settings)
        state = build_state(settings, metrics)
        app.state.proctor = state
        state.extras["gates"].start()
        await state.registry.refresh()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(state.registry.run_refresher(stop), name="registry-refresh")]
        if settings.run_jobs:
            jobs = all_jobs(settings, modules)
            tasks += [
                asyncio.create_task(run_forever(state.sessionmaker, job, stop), name=job.name) for job in jobs
            ]
        log.info(
            "proctor.started",
            version=__version__,
            surfaces=settings.surfaces,
            database=settings.resolved_database_url.split("://")[0],
            registry=state.registry.status(),
        )
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await state.kv.close()
            await state.extras["blobs"].close()
            state.extras["gates"].close()
            await state.engine.dispose()

    # FastAPI's own OpenTelemetry hooks cost time on every request; proctor exports Prometheus itself.
    telemetry = (
        TelemetryConfig()
        if settings.otel_enabled
        else TelemetryConfig(tracing=False, metrics=False, logs=False, operation_spans=False)
    )
    app = FastAPI(title="proctor", version=__version__, lifespan=lifespan, telemetry=telemetry)
    renderers = ErrorRenderers()
    metrics = Metrics()
    install_error_handlers(app, renderers.for_path)
    app.include_router(health.router)
    mount_group(app, renderers, "/blobs", [blob_routes.router], render_flat)
    app.state.settings = settings  # surfaces read mount-time settings (e.g. a path prefix) here
    modules = surface_modules(settings)
    for module in modules:
        module.mount(app, renderers)
    app.openapi = lambda: merged_openapi(app)  # type: ignore[method-assign]
    app.add_middleware(
        EdgeMiddleware,
        enabled=settings.rate_limit_enabled,
        global_limit=settings.rate_limit_global,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        metrics=metrics,
        renderers=renderers,
    )
    return app
