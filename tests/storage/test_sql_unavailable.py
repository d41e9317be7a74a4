"""The fast executor when PostgreSQL goes away: a connection killed under a transaction (what a server
restart does to every pooled connection) and a pool with no connection free in time both surface as
`DatabaseUnavailable` (a 503 upstream, not a 500), and the pool serves the next transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, literal, select

from proctor.config import Settings
from proctor.core.context import Core, build_core
from tests.support import services

pytestmark = pytest.mark.postgres


@pytest.fixture
async def core(pg: services.PostgresDatabases, tmp_path: Path) -> AsyncIterator[Core]:
    url = pg.url(await pg.create())
    built = build_core(
        Settings(database_url=url, data_dir=tmp_path, db_pool_size=1, db_pool_timeout_seconds=0.3),
        gate_workers=0,
    )
    await built.start()
    try:
        yield built
    finally:
        await built.close()


async def test_a_backend_terminated_mid_transaction_is_unavailable_and_the_pool_recovers(core: Core) -> None:
    from proctor.storage.sql import DatabaseUnavailable

    async def victim() -> None:
        async with core.db.transaction() as tx:
            await tx.scalar(select(func.pg_sleep(30)))

    task = asyncio.create_task(victim())
    dsn = core.settings.resolved_database_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    try:
        terminated = False
        for _ in range(200):
            terminated = bool(
                await admin.fetchval(
                    "SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE '%pg_sleep%' "
                    "AND pid <> pg_backend_pid()"
                )
            )
            if terminated:
                break
            await asyncio.sleep(0.05)
        assert terminated
    finally:
        await admin.close()
    with pytest.raises(DatabaseUnavailable) as caught:
        await asyncio.wait_for(task, 10)
    assert isinstance(caught.value, ConnectionError)  # the HTTP layer's "backend unavailable": 503
    async with core.db.transaction() as tx:  # the only pooled connection was replaced
        assert await tx.scalar(select(literal(1))) == 1


async def test_no_connection_free_in_time_is_unavailable(core: Core) -> None:
    from proctor.storage.sql import DatabaseUnavailable

    async with core.db.transaction() as held:  # the pool's one connection
        await held.scalar(select(literal(1)))
        with pytest.raises(DatabaseUnavailable, match="no database connection"):
            async with core.db.transaction():
                pass
    async with core.db.transaction() as tx:
        assert await tx.scalar(select(literal(2))) == 2
