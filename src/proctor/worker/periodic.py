"""Periodic background jobs (lease reaping, and later epoch publication and similar).

They run inside `proctor serve` by default, or alone in `proctor worker`. With several replicas on
PostgreSQL exactly one runs each job at a time: every tick takes a transaction-scoped advisory lock
named after the job and skips the tick when another replica holds it. On SQLite there is one process.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proctor.storage.base import utcnow
from proctor.storage.db import unit_of_work

log = structlog.get_logger(__name__)

JobFn = Callable[[AsyncSession, datetime], Awaitable[object]]


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


async def run_once(sessionmaker: async_sessionmaker[AsyncSession], job: Job) -> bool:
    """One tick of `job`; False when another replica holds it right now."""
    async with unit_of_work(sessionmaker) as session:
        if session.get_bind().dialect.name == "postgresql":
            got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": job.lock_key})
            if not got:
                return False
        await job.run(session, utcnow())
    return True


async def run_forever(sessionmaker: async_sessionmaker[AsyncSession], job: Job, stop: asyncio.Event) -> None:
    """Tick `job` every interval until `stop` is set; a failing tick is logged and retried next time."""
    while not stop.is_set():
        try:
            await run_once(sessionmaker, job)
        except Exception:  # a background job must survive a database blip
            log.exception("job.failed", job=job.name)
        try:
            await asyncio.wait_for(stop.wait(), timeout=job.interval_seconds)
        except TimeoutError:
            continue
