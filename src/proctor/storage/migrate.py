"""Alembic, driven programmatically: the migrations ship inside the package, so an installed
`proctor db upgrade` works without a checkout or an alembic.ini."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from proctor.config import Settings
from proctor.storage.db import create_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any fixed 64-bit number: serialises concurrent `upgrade` calls from several replicas on PostgreSQL.
MIGRATION_LOCK_ID = 0x70726F63746F72


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option(
        "file_template", "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s"
    )
    return cfg


def head_revisions() -> set[str]:
    """The newest revision of every branch (several only while parallel work awaits a merge revision)."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def head_revision() -> str | None:
    heads = head_revisions()
    return ",".join(sorted(heads)) if heads else None


async def _run(settings: Settings, fn: Any) -> Any:
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _with_connection(conn: Connection, action: Any) -> Any:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_ID})
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    return action(cfg)


async def upgrade(settings: Settings, revision: str = "heads") -> None:
    """Apply migrations up to `revision`."""
    await _run(settings, lambda conn: _with_connection(conn, lambda cfg: command.upgrade(cfg, revision)))


async def downgrade(settings: Settings, revision: str) -> None:
    await _run(settings, lambda conn: _with_connection(conn, lambda cfg: command.downgrade(cfg, revision)))


async def current_revisions(settings: Settings) -> set[str]:
    def read(conn: Connection) -> set[str]:
        return set(MigrationContext.configure(conn).get_current_heads())

    return await _run(settings, read)


async def current_revision(settings: Settings) -> str | None:
    heads = await current_revisions(settings)
    return ",".join(sorted(heads)) if heads else None


async def pending_changes(settings: Settings) -> list[Any]:
    """What autogenerate would write against the database: empty means models and migrations agree."""
    from alembic.autogenerate import compare_metadata

    from proctor.models import Base

    def diff(conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        return list(compare_metadata(ctx, Base.metadata))

    return await _run(settings, diff)


async def make_revision(settings: Settings, message: str) -> None:
    """Autogenerate a new revision file from the model changes (a developer command)."""

    def action(cfg: Config) -> None:
        command.revision(cfg, message=message, autogenerate=True)

    await _run(settings, lambda conn: _with_connection(conn, action))
