"""Engines, sessions and the unit of work.

PostgreSQL (asyncpg) is the production backend; the embedded default is a SQLite file (aiosqlite).
SQLite runs as a single writer: one pooled connection per process, every transaction opened with
`BEGIN IMMEDIATE` so a read-then-write transaction can never fail half-way on a lock upgrade, and a
busy timeout so a CLI command and the server wait for each other instead of failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from proctor.config import Settings
from proctor.core.cache import Caches

SQLITE_BUSY_TIMEOUT_MS = 15_000


def create_engine(settings: Settings) -> AsyncEngine:
    """Create the async engine the settings describe."""
    url = settings.resolved_database_url
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=settings.db_pool_pre_ping,
        pool_recycle=1800,
        connect_args={"timeout": 5, "command_timeout": 60},
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so that "begin" below decides it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(
    engine: AsyncEngine, caches: Caches | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`; each carries the database's read caches (`proctor.core.cache.caches_of`)."""
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, info={"caches": caches or Caches()}
    )


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commit when the block ends normally, roll back on any exception."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def ping(engine: AsyncEngine, *, timeout: float) -> None:
    """`SELECT 1` bounded by a hard timeout (raises TimeoutError or the driver's error)."""
    async with asyncio.timeout(timeout):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
