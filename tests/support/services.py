"""Real PostgreSQL and Redis for tests: required when CI=true, skipped with a reason otherwise."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg
import pytest
import redis

T = TypeVar("T")

CI = os.environ.get("CI", "").lower() == "true"
PG_HOST = os.environ.get("PROCTOR_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PROCTOR_TEST_PG_PORT", "5432"))
PG_USERS = [u for u in [os.environ.get("PROCTOR_TEST_PG_USER"), "postgres", "root"] if u]
# Each pytest-xdist worker gets its own Redis database (15, 14, …), flushed when its session starts.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_URL = os.environ.get("PROCTOR_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - _WORKER % 8}")


def blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in a thread (usable from sync fixtures even
    while the test session's event loop is running)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def unavailable(what: str, why: str) -> None:
    """Fail under CI (the services must be there), skip with a clear message elsewhere."""
    message = f"{what} is not reachable ({why})"
    if CI:
        pytest.fail(f"{message}; CI=true requires it (see DEVELOPERS.md for the start command)")
    pytest.skip(f"{message}; start it to run this test")


async def find_pg_user() -> str | None:
    for user in PG_USERS:
        try:
            conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=user, database="test", timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            continue
        await conn.close()
        return user
    return None


class PostgresDatabases:
    """Creates throw-away databases, cloned from one migrated template for speed."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.template: str | None = None
        self.created: list[str] = []

    def url(self, name: str) -> str:
        return f"postgresql+asyncpg://{self.user}@{PG_HOST}:{PG_PORT}/{name}"

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=self.user, database="test")

    async def create(self, *, migrated: bool = True) -> str:
        name = f"proctor_t_{uuid.uuid4().hex[:12]}"
        conn = await self._admin()
        try:
            if migrated and self.template:
                await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
            else:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        return name

    async def drop_all(self) -> None:
        conn = await self._admin()
        try:
            for name in [*self.created, *([self.template] if self.template else [])]:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def redis_available() -> str | None:
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        return str(exc)
    return None
