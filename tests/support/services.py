"""Real PostgreSQL and Redis for tests: required when CI=true, skipped with a reason otherwise."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
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
    """Throw-away databases, each cloned from one migrated template, each test's own.

    PostgreSQL makes every CREATE DATABASE wait for its WAL to reach disk and every DROP DATABASE for a
    checkpoint of the whole cluster: one at a time they cost 0.3–2 s each on a loaded machine, and
    several at once hardly more than one. So clones are made `BATCH` at a time, the next batch in the
    background while the last one is used; and databases are dropped `DROP_BATCH` at a time in the
    background once their tests are over (the newest is kept until the next one is released, in case
    a server of its test is still stopping), the rest when the session ends.
    """

    BATCH = 4
    DROP_BATCH = 8

    def __init__(self, user: str) -> None:
        self.user = user
        self.template: str | None = None
        self.created: list[str] = []
        self.spare: list[str] = []  # cloned from the template, not handed out yet
        self.released: list[str] = []  # their tests are over, not dropped yet
        self._cloning: Future[list[str]] | None = None
        self._dropping: list[Future[None]] = []
        self._clone_thread = ThreadPoolExecutor(1, thread_name_prefix="pg-clone")
        self._drop_thread = ThreadPoolExecutor(1, thread_name_prefix="pg-drop")

    def url(self, name: str) -> str:
        return f"postgresql+asyncpg://{self.user}@{PG_HOST}:{PG_PORT}/{name}"

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=self.user, database="test")

    async def _execute(self, statement: str) -> None:
        conn = await self._admin()
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    @staticmethod
    def _new_name() -> str:
        return f"proctor_t_{uuid.uuid4().hex[:12]}"

    def _clone_batch(self) -> list[str]:
        """`BATCH` clones of the template at once (run on the clone thread)."""

        async def clone() -> list[str]:
            names = [self._new_name() for _ in range(self.BATCH)]
            results = await asyncio.gather(
                *(self._execute(f'CREATE DATABASE "{n}" TEMPLATE "{self.template}"') for n in names),
                return_exceptions=True,
            )
            made = [n for n, r in zip(names, results, strict=True) if not isinstance(r, BaseException)]
            if not made:
                error = results[0]
                assert isinstance(error, BaseException)
                raise error
            return made

        return asyncio.run(clone())

    async def _drop_now(self, names: list[str]) -> None:
        gate = asyncio.Semaphore(self.DROP_BATCH * 2)

        async def drop(name: str) -> None:
            async with gate:
                await self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        await asyncio.gather(*(drop(name) for name in names))

    def _drop(self, names: list[str]) -> None:
        asyncio.run(self._drop_now(names))

    def _collect_clones(self) -> None:
        assert self._cloning is not None
        try:
            made = self._cloning.result()
        finally:
            self._cloning = None
        self.created += made
        self.spare += made

    async def create(self, *, migrated: bool = True) -> str:
        if not (migrated and self.template):
            name = self._new_name()
            await self._execute(f'CREATE DATABASE "{name}"')
            self.created.append(name)
            return name
        if not self.spare:
            if self._cloning is None:
                self._cloning = self._clone_thread.submit(self._clone_batch)
            self._collect_clones()
        if len(self.spare) == 1 and self._cloning is None:
            self._cloning = self._clone_thread.submit(self._clone_batch)
        return self.spare.pop()

    def release(self, name: str) -> None:
        """`name`'s test is over: drop it soon, in the background with others."""
        self.released.append(name)
        if len(self.released) > self.DROP_BATCH:
            batch, self.released = self.released[:-1], self.released[-1:]
            self.created = [n for n in self.created if n not in batch]
            self._dropping.append(self._drop_thread.submit(self._drop, batch))

    async def drop_all(self) -> None:
        if self._cloning is not None:
            self._collect_clones()
        for dropping in self._dropping:
            dropping.result()
        self._dropping = []
        self._clone_thread.shutdown()
        self._drop_thread.shutdown()
        await self._drop_now(self.created)
        if self.template:
            await self._drop_now([self.template])


def redis_available() -> str | None:
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        return str(exc)
    return None
