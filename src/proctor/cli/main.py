"""The `proctor` command."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from proctor import __version__
from proctor.cli import admin, bitrecs, claims, compute, demo, miner, validator
from proctor.cli.common import console, err_console, ok, settings_from

app = typer.Typer(
    help="proctor: one coordinator for Bittensor-style incentive networks.", no_args_is_help=True
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin.app, name="admin")
app.add_typer(bitrecs.app, name="bitrecs")
app.add_typer(claims.app, name="claims")
app.add_typer(compute.app, name="compute")
app.add_typer(miner.app, name="miner")
app.add_typer(validator.app, name="validator")
app.command("demo")(demo.demo)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file (PROCTOR_* variables still win).")
    ] = None,
) -> None:
    ctx.obj = {"config": config}


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
) -> None:
    """Run the API server (migrating the embedded SQLite database first)."""
    import uvicorn

    from proctor.app import create_app
    from proctor.logging import configure_logging

    if config is not None:
        ctx.find_root().obj = {"config": config}
    settings = settings_from(ctx)
    configure_logging(settings.log_level, json=settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from proctor.app import tune_gc

    options: dict[str, Any] = dict(
        host=host,
        port=port,
        access_log=False,  # proctor logs each request itself, with the route template and client IP
        proxy_headers=False,  # X-Forwarded-For is honoured only from PROCTOR_TRUSTED_PROXIES
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
    )
    if settings.workers > 1:  # each worker process builds its own app from the same settings
        import asyncio

        from proctor.app import prepare_database

        asyncio.run(prepare_database(settings))  # once, before the workers start (they only check it)
        if settings.is_sqlite:
            console.print("[yellow]PROCTOR_WORKERS > 1 on SQLite: writers queue on the file lock[/]")
        uvicorn.run("proctor.app:serve_factory", factory=True, workers=settings.workers, **options)
        return
    app_ = create_app(settings)
    tune_gc()
    uvicorn.run(app_, **options)


@app.command()
def worker(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
) -> None:
    """Run the periodic jobs (lease reaping, epoch publication, …) without serving HTTP.

    For deployments that start API replicas with PROCTOR_RUN_JOBS=false; with several workers on
    PostgreSQL each job still runs on one of them at a time.
    """
    import signal

    from proctor.app import prepare_database
    from proctor.logging import configure_logging
    from proctor.worker.jobs import all_jobs, run_all

    if config is not None:
        ctx.find_root().obj = {"config": config}
    settings = settings_from(ctx)
    configure_logging(settings.log_level, json=settings.log_json)

    async def main() -> None:
        await prepare_database(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        ok("worker started", jobs=",".join(job.name for job in all_jobs(settings)))
        await run_all(settings, stop)

    asyncio.run(main())


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: str = "heads") -> None:
    """Apply migrations."""
    from proctor.storage import migrate

    settings = settings_from(ctx)
    asyncio.run(migrate.upgrade(settings, revision))
    ok("database upgraded", revision=asyncio.run(migrate.current_revision(settings)))


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the applied revision and the newest one this version knows."""
    from proctor.storage import migrate

    settings = settings_from(ctx)
    current = asyncio.run(migrate.current_revision(settings))
    console.print(f"current={current} head={migrate.head_revision()}")


@db_app.command("check")
def db_check(ctx: typer.Context) -> None:
    """Exit 1 when the models and the migrated schema disagree (a missing migration)."""
    from proctor.storage import migrate

    settings = settings_from(ctx)
    diff = asyncio.run(migrate.pending_changes(settings))
    if diff:
        for item in diff:
            err_console.print(str(item))
        raise typer.Exit(1)
    ok("schema matches the models")


@db_app.command("revision")
def db_revision(ctx: typer.Context, message: Annotated[str, typer.Option("-m", "--message")]) -> None:
    """Autogenerate a migration from model changes (for developers)."""
    from proctor.storage import migrate

    settings = settings_from(ctx)
    asyncio.run(migrate.upgrade(settings))
    asyncio.run(migrate.make_revision(settings, message))


def _main() -> None:  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
