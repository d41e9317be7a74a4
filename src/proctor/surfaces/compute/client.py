"""The miner's side of the compute API over HTTP: a small client and a work loop with a pluggable runner.

`proctor compute miner …` is built on this; so are the tests and the benchmark. A runner is any
callable taking the accepted job (the `AssignedJob` JSON as a dict) and returning a `RunOutcome`
(or a plain dict, taken as the result); it may be sync (run in a thread) or async. Name one on the
command line as `module:function`. When the runner raises, the job is handed back with `fail`.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

MAX_RETRIES_ON_429 = 5


class ComputeApiError(Exception):
    """A non-2xx answer from the compute API."""

    def __init__(self, status: int, code: str, detail: Any, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail, self.retry_after = status, code, detail, retry_after


@dataclass(frozen=True)
class Credentials:
    url: str
    miner_id: str
    api_key: str

    def save(self, path: Path) -> None:
        """Write the credentials readable by the owner only (the key is a secret)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"url": self.url, "miner_id": self.miner_id, "api_key": self.api_key}, handle, indent=2)

    @classmethod
    def load(cls, path: Path) -> Credentials:
        data = json.loads(path.read_text())
        return cls(url=data["url"], miner_id=data["miner_id"], api_key=data["api_key"])


class MinerClient:
    """One miner talking to one proctor. Answers 429 by waiting `Retry-After` and trying again."""

    def __init__(
        self,
        url: str,
        *,
        miner_id: str = "",
        api_key: str = "",
        http: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.miner_id, self.api_key = miner_id, api_key
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(timeout=timeout)

    @classmethod
    def from_credentials(cls, credentials: Credentials, **kwargs: Any) -> MinerClient:
        return cls(credentials.url, miner_id=credentials.miner_id, api_key=credentials.api_key, **kwargs)

    async def close(self) -> None:
        if self._own_http:
            await self.http.aclose()

    async def __aenter__(self) -> MinerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        for attempt in range(MAX_RETRIES_ON_429 + 1):
            response = await self.http.request(method, self.url + path, json=body, headers=headers)
            if response.status_code < 400:
                return response.json()
            error = _error_of(response)
            if response.status_code != 429 or attempt == MAX_RETRIES_ON_429:
                raise error
            await asyncio.sleep(error.retry_after or 1.0)
        raise AssertionError("unreachable")

    def _mine(self, suffix: str = "") -> str:
        return f"/v1/miners/{self.miner_id}{suffix}"

    async def register(self, offer: dict[str, Any]) -> Credentials:
        """Register an offer; remembers and returns the new id and key."""
        answer = await self.call("POST", "/v1/miners", offer)
        self.miner_id, self.api_key = answer["miner_id"], answer["api_key"]
        return Credentials(self.url, self.miner_id, self.api_key)

    async def me(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", self._mine())
        return result

    async def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("PUT", self._mine(), changes)
        return result

    async def heartbeat(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", self._mine("/heartbeat"))
        return result

    async def available(self, limit: int = 50) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.call("GET", self._mine(f"/jobs/available?limit={limit}")))[
            "jobs"
        ]
        return result

    async def running(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.call("GET", self._mine("/jobs")))["jobs"]
        return result

    async def accept(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", self._mine(f"/jobs/{job_id}/accept"))
        return result

    async def complete(self, job_id: str, outcome: RunOutcome) -> dict[str, Any]:
        body = {
            "result_hash": outcome.result_hash,
            "metrics": {
                "execution_time_seconds": outcome.execution_time_seconds,
                "gpu_time_seconds": outcome.gpu_time_seconds,
            },
            "result": outcome.result,
        }
        result: dict[str, Any] = await self.call("POST", self._mine(f"/jobs/{job_id}/complete"), body)
        return result

    async def fail(self, job_id: str, message: str) -> dict[str, Any]:
        body = {"error_message": message[:2000]}
        result: dict[str, Any] = await self.call("POST", self._mine(f"/jobs/{job_id}/fail"), body)
        return result

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", self._mine("/stats"))
        return result


def _error_of(response: httpx.Response) -> ComputeApiError:
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500]}
    detail = body.get("detail") if isinstance(body, dict) else body
    code = body.get("error_code", "HTTP_ERROR") if isinstance(body, dict) else "HTTP_ERROR"
    retry = response.headers.get("Retry-After")
    return ComputeApiError(response.status_code, code, detail, float(retry) if retry else None)


# --- runners --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    result_hash: str
    execution_time_seconds: float
    gpu_time_seconds: float
    result: dict[str, Any] | None = None


Runner = Callable[[dict[str, Any]], Any]


def result_hash_of(result: Any) -> str:
    """`sha256:<hex>` over the canonical JSON of a result."""
    canonical = json.dumps(result, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def echo_runner(job: dict[str, Any]) -> dict[str, Any]:
    """The default runner: hands the payload back (a stand-in for real GPU work)."""
    return {"model": job["model"], "echo": job.get("payload", {})}


def load_runner(spec: str) -> Runner:
    """`module:function` → the callable (ValueError when it cannot be found)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"runner must look like module:function, not {spec!r}")
    try:
        runner = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load runner {spec!r}: {exc}") from exc
    if not callable(runner):
        raise ValueError(f"runner {spec!r} is not callable")
    return runner  # type: ignore[no-any-return]


async def run_job(runner: Runner, job: dict[str, Any]) -> RunOutcome:
    """Run one job, measuring its wall time; a dict answer becomes the result."""
    started = time.perf_counter()
    if inspect.iscoroutinefunction(runner):
        answer = await runner(job)
    else:
        answer = await asyncio.to_thread(runner, job)
        if inspect.isawaitable(answer):
            answer = await answer
    if isinstance(answer, RunOutcome):
        return answer
    elapsed = round(time.perf_counter() - started, 3)
    result = answer if isinstance(answer, dict) or answer is None else {"value": answer}
    return RunOutcome(
        result_hash=result_hash_of(result),
        execution_time_seconds=elapsed,
        gpu_time_seconds=round(elapsed * int(job.get("gpu_count", 1)), 3),
        result=result,
    )


# --- the work loop --------------------------------------------------------------------------------


@dataclass
class WorkSummary:
    accepted: int = 0
    completed: int = 0
    failed: int = 0
    lost_races: int = 0
    earned: Decimal = Decimal(0)
    errors: list[str] = field(default_factory=list)


Event = Callable[[str, dict[str, Any]], None]


async def work(
    client: MinerClient,
    runner: Runner,
    *,
    concurrency: int = 1,
    max_jobs: int | None = None,
    idle_exit: float | None = None,
    poll_interval: float = 2.0,
    heartbeat_interval: float = 10.0,
    on_event: Event | None = None,
) -> WorkSummary:
    """Heartbeat, accept the jobs on offer, run them, complete (or fail) them, until told to stop.

    Stops after `max_jobs` accepted jobs have finished, or after `idle_exit` seconds with nothing
    to do; runs until cancelled otherwise.
    """
    summary = WorkSummary()
    emit = on_event or (lambda _kind, _data: None)
    active: set[asyncio.Task[None]] = set()
    beat = asyncio.create_task(_heartbeats(client, heartbeat_interval, emit))
    idle_since = time.monotonic()
    try:
        await client.heartbeat()
        while max_jobs is None or summary.accepted < max_jobs:
            room = concurrency - len(active)
            if max_jobs is not None:
                room = min(room, max_jobs - summary.accepted)
            taken = await _take(client, runner, room, summary, active, emit) if room > 0 else 0
            if taken or active:
                idle_since = time.monotonic()
            elif idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                break
            if not taken:
                await _wait_for_change(active, poll_interval)
        if active:
            await asyncio.gather(*active)
    finally:
        beat.cancel()
        for task in active:
            task.cancel()
    return summary


async def _wait_for_change(active: set[asyncio.Task[None]], timeout: float) -> None:
    if active:
        await asyncio.wait(active, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    else:
        await asyncio.sleep(timeout)


async def _heartbeats(client: MinerClient, interval: float, emit: Event) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            emit("heartbeat", await client.heartbeat())
        except (ComputeApiError, httpx.HTTPError) as exc:
            emit("heartbeat_error", {"error": str(exc)})


async def _take(
    client: MinerClient,
    runner: Runner,
    room: int,
    summary: WorkSummary,
    active: set[asyncio.Task[None]],
    emit: Event,
) -> int:
    """Accept up to `room` offered jobs and start running them; returns how many were taken."""
    try:
        offered = await client.available(limit=max(room * 4, 10))
    except ComputeApiError as exc:
        if exc.status == 403:  # pending approval or offline: the heartbeat task keeps trying
            emit("waiting", {"reason": str(exc.detail)})
            return 0
        raise
    taken = 0
    for job in offered:
        if taken >= room:
            break
        try:
            assigned = await client.accept(job["job_id"])
        except ComputeApiError as exc:
            if exc.status == 403:
                emit("waiting", {"reason": str(exc.detail)})
                break
            if exc.status != 409:
                raise
            summary.lost_races += exc.code == "JOB_ALREADY_ASSIGNED"
            if exc.code == "AT_CAPACITY":
                break
            continue
        summary.accepted += 1
        taken += 1
        emit("accepted", assigned)
        task = asyncio.create_task(_run_one(client, runner, assigned, summary, emit))
        active.add(task)
        task.add_done_callback(active.discard)
    return taken


async def _run_one(
    client: MinerClient, runner: Runner, job: dict[str, Any], summary: WorkSummary, emit: Event
) -> None:
    try:
        outcome = await run_job(runner, job)
    except Exception as exc:  # the runner is third-party code: any failure hands the job back
        summary.failed += 1
        emit("failed", {"job_id": job["job_id"], "error": repr(exc)})
        try:
            await client.fail(job["job_id"], f"runner error: {exc!r}")
        except (ComputeApiError, httpx.HTTPError) as report_error:
            summary.errors.append(f"{job['job_id']}: could not report failure: {report_error}")
        return
    try:
        answer = await client.complete(job["job_id"], outcome)
    except (ComputeApiError, httpx.HTTPError) as exc:
        summary.errors.append(f"{job['job_id']}: {exc}")
        emit("complete_error", {"job_id": job["job_id"], "error": str(exc)})
        return
    summary.completed += 1
    summary.earned += Decimal(str(answer.get("earned", 0)))
    emit("completed", answer)
