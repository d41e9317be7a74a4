"""The application factory: builds shared resources in the lifespan and mounts the configured surfaces."""

from __future__ import annotations

import asyncio
import gc
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import structlog
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from proctor import __version__
from proctor.config import Settings, load_settings
from proctor.core.context import build_core
from proctor.http import blob_routes, health
from proctor.http.bodies import BodyLimitMiddleware, route_limits
from proctor.http.errors import ErrorRenderers, install_error_handlers, render_flat
from proctor.http.metrics import Metrics
from proctor.http.middleware import EdgeMiddleware, parse_networks
from proctor.http.state import AppState
from proctor.http.surface import merged_openapi, mount_group
from proctor.storage import migrate
from proctor.storage.blobs import ROUTE_PREFIX as BLOB_ROUTE_PREFIX
from proctor.storage.kv import RedisStore
from proctor.storage.ratelimit import RateLimiter
from proctor.worker.jobs import start_jobs

log = structlog.get_logger(__name__)

# Each surface is a module with `mount(app, renderers)` (and, to be served alone at the root path,
# `mount_at_root(app)` and its `ENVELOPE`). Imported only when mounted. Periodic jobs belong to the
# core's domains (`proctor.worker.jobs`), not to surfaces.
SURFACES: dict[str, str] = {
    "oro": "proctor.surfaces.oro.router",
    "pool": "proctor.surfaces.pool.router",
    "claims": "proctor.surfaces.claims.router",
    "compute": "proctor.surfaces.compute.router",
    "dashboard": "proctor.surfaces.dashboard.router",
    "bitrecs": "proctor.surfaces.bitrecs.router",
}


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


def create_app(settings: Settings | None = None, *, at_root: str | None = None) -> FastAPI:
    """Build the ASGI app: `proctor serve` mounts every surface in PROCTOR_SURFACES at its prefixes;
    `at_root="claims"` serves that one surface alone at the root path in its own error envelope (the
    standalone claim app of `proctor claims serve`). Settings are explicit so tests and several apps
    can coexist in one process.
    """
    settings = settings or load_settings()
    names = [at_root] if at_root else list(settings.surfaces)
    unknown = set(names) - set(SURFACES)
    if unknown:
        raise ValueError(
            f"unknown surfaces in PROCTOR_SURFACES: {sorted(unknown)}; known: {sorted(SURFACES)}"
        )
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await prepare_database(settings)
        core = build_core(settings)
        await core.start()
        state = AppState(
            core=core,
            # The limiter counts on the replay store's Redis connection: one per process for both.
            limiter=RateLimiter.from_url(
                settings.redis_url or None,
                connection_pool=core.redis_pool,
                calls=core.kv.calls if isinstance(core.kv, RedisStore) else None,
            ),
            metrics=metrics,
        )
        metrics.watch_database(core.db)
        metrics.watch(
            "proctor_redis_round_trips",
            "Redis calls made for rate limits and replay nonces",
            lambda: state.limiter.round_trips + getattr(core.kv, "round_trips", 0),
        )
        app.state.proctor = state
        stop = asyncio.Event()
        tasks = [asyncio.create_task(core.registry.run_refresher(stop), name="registry-refresh")]
        if settings.run_jobs and job_runner(settings):
            tasks += start_jobs(core, stop)
        log.info(
            "proctor.started",
            version=__version__,
            surfaces=names,
            database=settings.resolved_database_url.split("://")[0],
            registry=core.registry.status(),
        )
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await core.close()

    # FastAPI's own OpenTelemetry hooks cost time on every request; proctor exports Prometheus itself.
    telemetry = (
        TelemetryConfig()
        if settings.otel_enabled
        else TelemetryConfig(tracing=False, metrics=False, logs=False, operation_spans=False)
    )
    app = FastAPI(title="proctor", version=__version__, lifespan=lifespan, telemetry=telemetry)
    app.state.settings = settings  # surfaces read mount-time settings (e.g. a path prefix) here
    modules = [importlib.import_module(SURFACES[name]) for name in names]
    if at_root:
        renderers = ErrorRenderers(default=modules[0].ENVELOPE)
        install_error_handlers(app, renderers.for_path)
        modules[0].mount_at_root(app)
        app.include_router(health.metrics_router)
    else:
        renderers = ErrorRenderers()
        install_error_handlers(app, renderers.for_path)
        app.include_router(health.router)
        app.include_router(health.metrics_router)
        mount_group(app, renderers, "/blobs", [blob_routes.router], render_flat)
        for module in modules:
            module.mount(app, renderers)
        app.openapi = lambda: merged_openapi(app)  # type: ignore[method-assign]
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.max_body_bytes,
        limits=route_limits(
            submission_max_bytes=settings.submission_max_bytes,
            blob_max_upload_bytes=settings.blob_max_upload_bytes,
            validator_max_body_bytes=settings.validator_max_body_bytes,
        ),
        max_header_bytes=settings.max_header_bytes,
        opaque_prefixes=(BLOB_ROUTE_PREFIX + "/",),
        renderers=renderers,
    )
    app.add_middleware(
        EdgeMiddleware,
        enabled=settings.rate_limit_enabled,
        global_limit=settings.rate_limit_global,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        metrics=metrics,
        renderers=renderers,
        signed_prefixes=tuple(getattr(app.state, "signed_prefixes", ())),
    )
    return app


_JOB_LOCK: list[object] = []  # the open lock file of the worker elected to run the periodic jobs


def job_runner(settings: Settings) -> bool:
    """Whether this process runs the periodic jobs: always with one worker; with PROCTOR_WORKERS > 1,
    only the worker holding `<data_dir>/jobs.lock` (an OS lock, released when its process exits, so a
    restarted worker takes over). On PostgreSQL each job also holds an advisory lock while it runs,
    which keeps replicas on other machines from running it twice.
    """
    if settings.workers <= 1 or _JOB_LOCK:
        return True
    handle = take_lock(settings.data_dir / "jobs.lock")
    if handle is None:
        return False
    _JOB_LOCK.append(handle)
    return True


def take_lock(path: Path) -> IO[str] | None:
    """An exclusive, non-blocking OS lock on `path`, held while the returned file stays open."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def serve_factory() -> FastAPI:
    """What each of `proctor serve`'s worker processes runs (settings from the environment and the
    PROCTOR_CONFIG file the parent resolved)."""
    app = create_app(load_settings())
    tune_gc()
    return app


def tune_gc() -> None:  # called by `proctor serve` once the app is built, not per app (tests build many)
    """Move everything alive after start-up out of the collector's sight and collect less often.

    Requests allocate many short-lived container objects; with the default thresholds the cyclic
    collector ran often and its full collections walked every import-time object (10-16 % of CPU and
    87 ms pauses under load, profiled). Frozen objects are never scanned; the larger first threshold
    lets young garbage die by reference counting before a collection is triggered.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
