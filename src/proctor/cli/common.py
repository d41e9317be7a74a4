"""Helpers every CLI command shares: settings, a migrated database, one transaction, output."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.app import SchemaOutOfDate, prepare_database
from proctor.config import Settings, load_settings
from proctor.core.admin.audit import Actor
from proctor.errors import ProctorError
from proctor.logging import configure_logging
from proctor.storage.db import create_engine, create_sessionmaker, unit_of_work

if TYPE_CHECKING:
    from proctor.core.context import Core

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


def cli_actor() -> Actor:
    """Who acts at the shell, as the audit trail records it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "operator"
    return Actor(f"cli:{user}"[:100], "cli")


def settings_from(ctx: typer.Context | None = None) -> Settings:
    config = (ctx.find_root().obj or {}).get("config") if ctx else None
    try:
        settings = load_settings(config)
    except (ValueError, FileNotFoundError) as exc:
        err_console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    configure_logging("WARNING", json=settings.log_json)
    return settings


@asynccontextmanager
async def transaction(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A migrated database and one unit of work (committed on success)."""
    await prepare_database(settings)
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            yield session
    finally:
        await engine.dispose()


def run_in_transaction(settings: Settings, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `action` in one transaction; domain errors become a clean message and exit code 1."""

    async def go() -> T:
        async with transaction(settings) as session:
            return await action(session)

    try:
        return asyncio.run(go())
    except ProctorError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    except SchemaOutOfDate as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def ok(message: str, **fields: Any) -> None:
    extra = "  ".join(f"[dim]{k}[/dim]={v}" for k, v in fields.items())
    console.print(f"[green]✓[/green] {message}" + (f"  {extra}" if extra else ""))


def with_core(settings: Settings, action: Callable[[Core], Awaitable[T]]) -> T:
    """Run one core call (a flow) for a CLI command on a migrated database with a started `Core`;
    domain errors and an out-of-date schema become a clean message and exit code 1."""
    from proctor.core.context import build_core

    async def go() -> T:
        await prepare_database(settings)
        core = build_core(settings, gate_workers=0)
        await core.start()
        try:
            return await action(core)
        finally:
            await core.close()

    try:
        return asyncio.run(go())
    except (ProctorError, SchemaOutOfDate) as exc:
        err_console.print(f"[red]error:[/red] {getattr(exc, 'message', exc)}")
        raise typer.Exit(1) from exc
