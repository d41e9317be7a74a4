"""Wake long-polling miners when a job may have become claimable, without polling the database.

One `JobBell` per process (kept in `core.caches.extra`). Whatever makes a job QUEUED — a client's
new job, a failed attempt handed back — rings it once:

- on PostgreSQL with `NOTIFY proctor_compute_jobs` inside the transaction that queued the job, so it
  is heard on commit by every replica (this one included) through one `LISTEN` connection per process;
- on SQLite (one process by construction), in process after the commit.

A ring bumps the bell's generation and wakes ONE waiting miner of this process, the longest waiting
(one ring, one job). A woken miner that does not fit the job (or lost it to a miner polling on
another replica) passes the wake on to the next waiter, so a job nobody here fits costs a chain of
looks, and a job somebody fits costs one or two — never a stampede of every waiting miner.

A miner whose last look at the queue found nothing, at the current generation, polls again without a
statement: an idle fleet costs the database nothing, however many miners wait (`idle(miner)`).
`poll_recheck_seconds` bounds how long that memo is trusted, as a safety net for anything that
queued work without ringing (the sweeper re-queueing a lapsed lease, an operator's direct SQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import deque
from typing import Any, Literal

import asyncpg

from proctor.storage.sql import asyncpg_dsn

log = logging.getLogger(__name__)

CHANNEL = "proctor_compute_jobs"
_NOTIFY_SQL = f"SELECT pg_notify('{CHANNEL}', :origin)"
ORIGIN = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"  # this process: it rings itself at once, not on the echo


class JobBell:
    def __init__(self, *, database_url: str, dialect: str, recheck_seconds: float) -> None:
        self.database_url, self.dialect, self.recheck_seconds = database_url, dialect, recheck_seconds
        self.generation = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._looked: dict[str, tuple[int, float]] = {}  # miner → (generation, monotonic) of an empty look
        self._listener: asyncpg.Connection | None = None
        self._starting: asyncio.Lock | None = None
        self.rings = 0  # how often this process heard the bell (for tests and metrics)

    # --- ringing --------------------------------------------------------------------------------------

    async def ring_in_session(self, session: Any) -> None:
        """Inside the unit of work that queued a job: PostgreSQL tells every replica on commit."""
        await notify_in_session(session)

    def committed(self) -> None:
        """After that commit: ring here at once (the NOTIFY's echo to this process is ignored)."""
        self.rang()

    def _heard(self, _connection: Any, _pid: int, _channel: str, origin: str) -> None:
        if origin != ORIGIN:  # another process queued work
            self.rang()

    def rang(self) -> None:
        self.generation += 1
        self.rings += 1
        self.pass_on()

    def pass_on(self) -> None:
        """Wake the longest-waiting miner (a woken miner that did not take the job calls this again)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _hearing(self) -> bool:
        return self.dialect == "postgresql" and self._listener is not None and not self._listener.is_closed()

    # --- waiting --------------------------------------------------------------------------------------

    def idle(self, miner_id: str) -> bool:
        """Whether this miner already found nothing at the current generation (skip the database)."""
        if self.dialect == "postgresql" and not self._hearing():
            return False  # not hearing other replicas: look at the queue every time
        looked = self._looked.get(miner_id)
        return (
            looked is not None
            and looked[0] == self.generation
            and time.monotonic() - looked[1] < self.recheck_seconds
        )

    def found_nothing(self, miner_id: str, generation: int) -> None:
        if len(self._looked) > 100_000:
            self._looked.clear()
        self._looked[miner_id] = (generation, time.monotonic())

    def forget(self, miner_id: str) -> None:
        """The miner's offer changed: its next poll looks at the queue again."""
        self._looked.pop(miner_id, None)

    async def wait(self, generation: int, timeout: float) -> Literal["rang", "moved", "timeout"]:
        """Until a ring wakes this waiter ("rang": it owes a look, or a `pass_on`), or `timeout`;
        "moved" when the generation had already changed (nothing was consumed)."""
        if self.generation != generation:
            return "moved"
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            if waiter.done():  # woken at the very last moment: take the wake
                return "rang"
            waiter.cancel()
            return "timeout"
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.pass_on()  # a client gone mid-wake must not swallow the job's wake
            waiter.cancel()
            raise
        return "rang"

    # --- listening (PostgreSQL) -------------------------------------------------------------------------

    async def listen(self) -> None:
        """Start the process's LISTEN connection once (PostgreSQL only; idempotent, cheap after)."""
        if self.dialect != "postgresql" or (self._listener is not None and not self._listener.is_closed()):
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._listener is not None and not self._listener.is_closed():
                return
            dsn, options = asyncpg_dsn(self.database_url)
            try:
                conn = await asyncpg.connect(dsn, **options)
                await conn.add_listener(CHANNEL, self._heard)
                conn.add_termination_listener(lambda *_: self.rang())  # reconnects at the next poll
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("compute: LISTEN %s failed (%s); polls re-read the queue instead", CHANNEL, exc)
                return
            self._listener = conn

    async def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None


def bell(core: Any) -> JobBell:
    """This process's bell (built on first use)."""
    found = core.caches.extra.get("compute.bell")
    if found is None:
        settings = core.settings
        url = settings.resolved_database_url
        found = core.caches.extra["compute.bell"] = JobBell(
            database_url=url,
            dialect="postgresql" if url.startswith("postgresql") else "sqlite",
            recheck_seconds=settings.compute_poll_recheck_seconds,
        )
    return found  # type: ignore[no-any-return]


async def notify_in_session(session: Any) -> None:
    """`NOTIFY` the job bell's channel from an ORM unit of work (PostgreSQL; heard on commit)."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy import text

        await session.execute(text(_NOTIFY_SQL), {"origin": ORIGIN})
