"""Where the gate pipeline runs.

Parsing and analysing a 1 MB agent is CPU work measured in hundreds of milliseconds. Done on the event
loop it would stall every other request of the process (heartbeats, claims) for that long, so the pure
pipeline runs in a small pool of worker processes (`PROCTOR_SUBMISSION_WORKERS`, default 1), which on a
multi-core machine also runs it beside the server rather than in its stead. Workers are started with
`spawn`: forking a process that already runs threads (aiosqlite, the thread pool) is unsafe. With 0
workers the pipeline runs in a thread instead.

A file that takes longer than `PROCTOR_SUBMISSION_CHECK_TIMEOUT_SECONDS` to judge is refused as too
complex (a security finding, reduced cooldown) and the pool is replaced, so the stuck worker is killed.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import structlog

from proctor.core.submissions.gates import (
    Candidate,
    CooldownCost,
    Facts,
    GateResult,
    Rejection,
    Verdict,
    judge,
)

log = structlog.get_logger(__name__)


_in_worker = False


def _judge(candidate: Candidate, facts: Facts, exhaustive: bool, family: str = "oro") -> Verdict:
    if not _in_worker:
        return judge(candidate, facts, exhaustive=exhaustive, family=family)
    # A 1 MB agent parses into ~300,000 AST nodes; with the cyclic collector on, CPython re-scans the
    # growing young generations hundreds of times while they are built, which roughly doubles the
    # parse. A syntax tree holds no reference cycles (refcounting frees it), so in a worker process,
    # which does nothing else, the collector is paused for the judgement and run once afterwards.
    gc.disable()
    try:
        return judge(candidate, facts, exhaustive=exhaustive, family=family)
    finally:
        gc.enable()


def _ready() -> bool:
    return _in_worker


def _init_worker() -> None:
    global _in_worker
    _in_worker = True
    # Importing the analyser up front keeps the first submission's latency honest, and freezing what
    # the imports left keeps those objects out of every later collection.
    from proctor.core.submissions import codecheck  # noqa: F401

    gc.collect()
    gc.freeze()


def timed_out(seconds: float) -> Verdict:
    rejection = Rejection(
        "code",
        "CODE_ANALYSIS_ERROR",
        422,
        f"Code analysis did not finish within {seconds:g} s: the file is too complex to check",
        cooldown=CooldownCost.REDUCED,
        extra={
            "violations": [
                {"line": 1, "rule": "too-complex", "message": "analysis timed out", "severity": "security"}
            ]
        },
    )
    return Verdict(results=(GateResult("code", "rejected", rejection),), flags=())


class GateRunner:
    """Runs `judge` off the event loop, in worker processes when configured."""

    def __init__(self, *, workers: int = 1, timeout_seconds: float = 20.0) -> None:
        self.workers = workers
        self.timeout_seconds = timeout_seconds
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> GateRunner:
        if self.workers > 0 and self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
            )
            for _ in range(self.workers):  # processes start on demand: start them now, not on a submit
                self._pool.submit(_ready)
        return self

    async def judge(self, candidate: Candidate, facts: Facts, *, exhaustive: bool = False) -> Verdict:
        """The pipeline's verdict; a file that cannot be judged in time is refused as too complex."""
        loop = asyncio.get_running_loop()
        executor: Executor | None = self._pool
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(executor, _judge, candidate, facts, exhaustive), self.timeout_seconds
            )
        except TimeoutError:
            log.warning("submission.judge_timeout", hotkey=candidate.hotkey, seconds=self.timeout_seconds)
            self._replace_pool()
            return timed_out(self.timeout_seconds)
        except BrokenProcessPool:
            # A worker died (out of memory on a hostile file, say): judge this one inline, heal the pool.
            log.warning("submission.pool_broken", hotkey=candidate.hotkey)
            self._replace_pool()
            return await asyncio.to_thread(_judge, candidate, facts, exhaustive)

    def _replace_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()  # a wedged analysis must not keep burning a core
            pool.shutdown(wait=False, cancel_futures=True)
        self.start()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
