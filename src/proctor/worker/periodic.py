"""Periodic background jobs (lease reaping, the compute sweeper, epoch publication, …).

Each domain lists its jobs (`jobs(settings)`), switched on by settings; they run inside `proctor
serve` (PROCTOR_RUN_JOBS, the default) or alone in `proctor worker`, whatever HTTP surfaces are
mounted. With several replicas on PostgreSQL exactly one runs each job at a time: a tick takes a
session-level advisory lock named after the job (on its own connection, released when the tick ends
or the process dies) and is skipped while another replica holds it. On SQLite there is one process.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.context import Core
from proctor.storage.base import utcnow
from proctor.storage.db import unit_of_work

log = structlog.get_logger(__name__)

JobFn = Callable[[Core, datetime], Awaitable[object]]


@dataclass(frozen=True)
class Job:
    name: str  # "domain.verb"
    interval_seconds: float
    run: JobFn

    @property
    def lock_key(self) -> int:
        return int.from_bytes(
            hashlib.sha256(f"proctor.job:{self.name}".encode()).digest()[:8], "big", signed=True
        )


def in_session(fn: Callable[[AsyncSession, datetime], Awaitable[object]]) -> JobFn:
    """A job written against an ORM session: one transaction per tick."""

    async def run(core: Core, now: datetime) -> object:
        async with unit_of_work(core.sessionmaker) as session:
            return await fn(session, now)

    return run


@asynccontextmanager
async def _exclusive(core: Core, job: Job) -> AsyncIterator[bool]:
    if core.db.dialect != "postgresql":
        yield True
        return
    await core.db.start()
    assert core.db.pool is not None
    async with core.db.pool.acquire() as conn:
        got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", job.lock_key))
        try:
            yield got
        finally:
            if got:
                try:
                    await conn.fetchval("SELECT pg_advisory_unlock($1)", job.lock_key)
                except BaseException:
                    conn.terminate()  # released connections are not reset: never pool a held lock
                    raise


async def run_once(core: Core, job: Job) -> bool:
    """One tick of `job`; False when another replica holds it right now."""
    async with _exclusive(core, job) as mine:
        if not mine:
            return False
        await job.run(core, utcnow())
    return True


async def run_forever(core: Core, job: Job, stop: asyncio.Event) -> None:
    """Tick `job` every interval until `stop` is set; a failing tick is logged and retried next time."""
    while not stop.is_set():
        try:
            await run_once(core, job)
        except Exception:  # a background job must survive a database blip
            log.exception("job.failed", job=job.name)
        try:
            await asyncio.wait_for(stop.wait(), timeout=job.interval_seconds)
        except TimeoutError:
            continue
