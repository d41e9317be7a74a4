"""GPU compute marketplace throughput: 100 miners accepting and completing jobs on PostgreSQL.

    python -m bench.compute                                   # a throw-away database on 127.0.0.1:5432
    python -m bench.compute --database-url postgresql+asyncpg://user@host/db --redis redis://…/14

Miners hold up to 4 jobs each (max_concurrent), so the work runs in rounds. The cases, each through
one live `proctor serve` (requests pre-encoded, so the client costs little):
- accept: every miner takes its own share of the round (no two miners want the same job): the
  lock-and-lease path;
- heartbeat and jobs/available while each miner holds its 4 jobs (lease renewals, matching query);
- complete: each accepted job completed by its miner (lease check, ledger row);
- accept race: every job wanted by 4 miners at once: one 200 and three 409s, all counted as served;
- poll (`--poll`, AITBC's real-miner protocol): 100 miners long-poll (`max_wait_seconds` 10) while
  jobs arrive at `--poll-rate` per second; jobs/s assigned, creation-to-assignment latency (p50/p99),
  server CPU per request (creates, polls, results), and the statements an idle fleet costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import asyncpg
import httpx

from bench._common import LocalServer, RawClient, Result, console, cpu_seconds, drive_raw, table
from proctor.config import Settings
from proctor.core.compute import service as compute_service
from proctor.storage.base import utcnow
from proctor.storage.db import create_engine, create_sessionmaker, unit_of_work

RACERS = 4
MAX_CONCURRENT = 4  # each miner holds up to this many jobs at once


@contextmanager
def scratch_database(host: str = "127.0.0.1", port: int = 5432) -> Iterator[str]:
    """A fresh PostgreSQL database for one run, dropped afterwards."""
    name = f"proctor_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> str:
        for user in (os.environ.get("PGUSER"), "postgres", "root"):
            if not user:
                continue
            try:
                conn = await asyncpg.connect(host=host, port=port, user=user, database="postgres", timeout=5)
            except (OSError, asyncpg.PostgresError):
                continue
            try:
                await conn.execute(sql)
            finally:
                await conn.close()
            return user
        raise SystemExit(f"no PostgreSQL at {host}:{port}; pass --database-url")

    user = asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://{user}@{host}:{port}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def issue_client(database_url: str) -> str:
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            return (await compute_service.issue_client(session, name="bench", now=utcnow())).api_key
    finally:
        await engine.dispose()


async def setup(url: str, client_key: str, miners: int, jobs: int) -> tuple[list[tuple[str, str]], list[str]]:
    """Register miners and queue jobs (not measured)."""
    limits = httpx.Limits(max_connections=50, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        gate = asyncio.Semaphore(50)

        async def register(n: int) -> tuple[str, str]:
            offer = {
                "name": f"rig-{n}",
                "gpu_type": "a100",
                "price_per_hour": 1,
                "max_concurrent": MAX_CONCURRENT,
            }
            async with gate:
                body = (await http.post("/v1/miners", json=offer)).json()
            return body["miner_id"], body["api_key"]

        async def create(n: int) -> str:
            job = {
                "model": "gpt2",
                "gpu_type": "a100",
                "estimated_time": 60,
                "price": "0.05",
                "payload": {"n": n},
            }
            async with gate:
                response = await http.post("/v1/jobs", json=job, headers={"X-Api-Key": client_key})
            response.raise_for_status()
            job_id: str = response.json()["job_id"]
            return job_id

        registered = await asyncio.gather(*(register(n) for n in range(miners)))
        created = await asyncio.gather(*(create(n) for n in range(jobs)))
    return list(registered), list(created)


def interleave(per_miner: list[list[bytes]]) -> list[bytes]:
    """Round-robin over miners, so neighbouring requests come from different miners."""
    out: list[bytes] = []
    for i in range(max((len(x) for x in per_miner), default=0)):
        out += [x[i] for x in per_miner if i < len(x)]
    return out


def merge(name: str, results: list[Result]) -> Result:
    cpu = [r.server_cpu for r in results]
    return Result(
        name,
        sum(r.count for r in results),
        sum(r.errors for r in results),
        sum(r.seconds for r in results),
        [x for r in results for x in r.latencies],
        None if any(c is None for c in cpu) else sum(c for c in cpu if c is not None),
    )


class Bench:
    def __init__(self, url: str, pid: int | None, miners: list[tuple[str, str]], concurrency: int) -> None:
        self.raw = RawClient(url)
        # Idle connections expire before uvicorn's 5 s keep-alive closes them under us.
        limits = httpx.Limits(max_connections=50, keepalive_expiry=2)
        self.http = httpx.AsyncClient(base_url=url, timeout=60, limits=limits)
        self.pid, self.miners, self.concurrency = pid, miners, concurrency
        self.results: dict[str, list[Result]] = {}

    def request(self, miner: tuple[str, str], method: str, suffix: str, body: object = None) -> bytes:
        headers = {"Authorization": f"Bearer {miner[1]}"}
        data = b""
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        return self.raw.encode(method, f"/v1/miners/{miner[0]}{suffix}", headers, data)

    async def measure(self, name: str, requests: list[bytes], ok: Callable[[int], bool]) -> None:
        before = cpu_seconds(self.pid) if self.pid else None
        result = await drive_raw(name, self.raw, self.concurrency, requests, ok=ok)
        if self.pid and before is not None:
            result.server_cpu = cpu_seconds(self.pid) - before
        self.results.setdefault(name, []).append(result)

    async def held(self) -> list[list[str]]:
        """The jobs each miner holds now (read outside the measurements)."""

        async def of(miner: tuple[str, str]) -> list[str]:
            answer = await self.http.get(
                f"/v1/miners/{miner[0]}/jobs", headers={"Authorization": f"Bearer {miner[1]}"}
            )
            return [job["job_id"] for job in answer.json()["jobs"]]

        return list(await asyncio.gather(*(of(m) for m in self.miners)))

    def completes(self, held: list[list[str]]) -> list[bytes]:
        return interleave(
            [
                [self.request(m, "POST", f"/jobs/{j}/complete", DONE) for j in js]
                for m, js in zip(self.miners, held, strict=True)
            ]
        )

    async def own_jobs_round(self, jobs: list[str]) -> None:
        """Each miner accepts its own share (no contention), heartbeats and polls holding it, completes."""
        n = len(self.miners)
        shares = [jobs[i::n] for i in range(n)]
        accepts = interleave(
            [
                [self.request(m, "POST", f"/jobs/{j}/accept") for j in js]
                for m, js in zip(self.miners, shares, strict=True)
            ]
        )
        await self.measure("POST accept", accepts, lambda s: s == 200)
        await self.measure(
            "POST heartbeat", [self.request(m, "POST", "/heartbeat") for m in self.miners], ok200
        )
        polls = [self.request(m, "GET", "/jobs/available?limit=50") for m in self.miners]
        await self.measure("GET jobs/available", polls, ok200)
        await self.measure("POST complete", self.completes(shares), ok200)

    async def race_round(self, jobs: list[str]) -> None:
        """Every job wanted by RACERS miners at once; the winners then complete (not measured)."""
        n = len(self.miners)
        race = [
            self.request(self.miners[(k + r * (n // RACERS)) % n], "POST", f"/jobs/{j}/accept")
            for r in range(RACERS)
            for k, j in enumerate(jobs)
        ]
        await self.measure(f"POST accept race ({RACERS} miners/job)", race, lambda s: s in (200, 409))
        await drive_raw("settle", self.raw, self.concurrency, self.completes(await self.held()))

    async def close(self) -> None:
        await self.raw.close()
        await self.http.aclose()


DONE = {"result_hash": "sha256:" + "ab" * 32, "metrics": {"execution_time_seconds": 1, "gpu_time_seconds": 1}}


def ok200(status: int) -> bool:
    return status == 200


async def run(
    url: str, pid: int | None, client_key: str, miners: int, jobs: int, concurrency: int
) -> list[Result]:
    registered, queued = await setup(url, client_key, miners, jobs * 2)
    bench = Bench(url, pid, registered, concurrency)
    try:
        await drive_raw(
            "warmup", bench.raw, concurrency, [bench.request(m, "GET", "") for m in registered] * 3
        )
        per_round = miners * MAX_CONCURRENT
        own, contested = queued[:jobs], queued[jobs:]
        for start in range(0, jobs, per_round):
            await bench.own_jobs_round(own[start : start + per_round])
        for start in range(0, jobs, miners):
            await bench.race_round(contested[start : start + miners])
    finally:
        await bench.close()
    return [merge(name, results) for name, results in bench.results.items()]


# --- the poll case: AITBC's real miner (register, long poll, result) --------------------------------


async def provision(database_url: str, miners: int) -> list[tuple[str, str]]:
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            issued = [
                await compute_service.provision_miner(session, miner_id=f"rig-{n}", name=None, now=utcnow())
                for n in range(miners)
            ]
        return [(i.miner.id, i.api_key) for i in issued]
    finally:
        await engine.dispose()


async def statements(http: httpx.AsyncClient) -> float:
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith("proctor_db_statements"):
            return float(line.split()[-1])
    return float("nan")


async def run_poll(
    url: str, pid: int | None, client_key: str, fleet: list[tuple[str, str]], jobs: int, rate: float
) -> tuple[list[Result], dict[str, float]]:
    limits = httpx.Limits(max_connections=len(fleet) + 50, keepalive_expiry=2)  # < uvicorn's 5 s
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        headers = {m: {"X-Api-Key": k, "X-Miner-ID": m} for m, k in fleet}
        caps = {"gpus": [{"name": "RTX 4090", "memory_mb": 24564}], "models": ["llama3.2:3b"], "price": 0.01}
        for miner, _ in fleet:
            response = await http.post(
                "/v1/miners/register", json={"capabilities": caps, "concurrency": 1}, headers=headers[miner]
            )
            response.raise_for_status()
        created: dict[str, float] = {}
        assigned: dict[str, float] = {}
        requests = {"polls": 0, "results": 0, "creates": 0}
        stop = asyncio.Event()

        async def miner_loop(miner: str) -> None:
            while not stop.is_set():
                response = await http.post(
                    "/v1/miners/poll", json={"max_wait_seconds": 10}, headers=headers[miner]
                )
                requests["polls"] += 1
                if response.status_code == 204:
                    continue
                job = response.json()
                assigned[job["job_id"]] = time.monotonic()
                done = {"result": {"status": "completed", "output": "ok"}, "metrics": {"duration_ms": 1}}
                await http.post(f"/v1/miners/{job['job_id']}/result", json=done, headers=headers[miner])
                requests["results"] += 1
                if len(assigned) >= jobs:
                    stop.set()

        loops = [asyncio.create_task(miner_loop(m)) for m, _ in fleet]
        await asyncio.sleep(3)  # every miner has looked at the empty queue once and waits
        # Idle: every miner waiting (and re-polling), nothing queued.
        idle_before, idle_started = await statements(http), time.monotonic()
        await asyncio.sleep(5)
        idle_rate = (await statements(http) - idle_before) / (time.monotonic() - idle_started)

        cpu_before = cpu_seconds(pid) if pid else None
        polls_before = requests["polls"]
        started = time.monotonic()
        body = {"payload": {"type": "inference", "prompt": "hi"}, "constraints": {}, "ttl_seconds": 900}
        gate = asyncio.Semaphore(20)  # clients creating at once

        async def create(n: int) -> None:
            due = started + n / rate
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            async with gate:
                sent = time.monotonic()
                response = await http.post("/v1/jobs", json=body, headers={"X-Api-Key": client_key})
            response.raise_for_status()
            created[response.json()["job_id"]] = sent
            requests["creates"] += 1

        await asyncio.gather(*(create(n) for n in range(jobs)))
        await asyncio.wait_for(stop.wait(), timeout=600)
        elapsed = max(assigned.values()) - started
        served = requests["creates"] + requests["results"] + requests["polls"] - polls_before
        cpu = (cpu_seconds(pid) - cpu_before) if pid and cpu_before is not None else None
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)
    waits = [assigned[j] - created[j] for j in created if j in assigned]
    result = Result(f"poll: {jobs} jobs, {len(fleet)} miners", served, 0, elapsed, waits, cpu)
    return [result], {"jobs_per_second": len(waits) / elapsed, "idle_statements_per_second": idle_rate}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default: a scratch database)")
    parser.add_argument("--redis", default="", help="Redis URL for the rate limiter (default: in-process)")
    parser.add_argument("--miners", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per case")
    parser.add_argument("--concurrency", type=int, default=100, help="connections (≈ miners acting at once)")
    parser.add_argument("--poll", action="store_true", help="run only the poll case (AITBC's real miner)")
    parser.add_argument("--poll-jobs", type=int, default=1000)
    parser.add_argument("--poll-rate", type=float, default=100.0, help="jobs created per second")
    args = parser.parse_args()

    def go(database_url: str) -> None:
        env = {
            "PROCTOR_DATABASE_URL": database_url,
            "PROCTOR_SURFACES": '["compute"]',
            "PROCTOR_COMPUTE_AUTO_APPROVE": "true",
            "PROCTOR_COMPUTE_RATE_LIMIT_REQUESTS": "100000000/minute",
            "PROCTOR_COMPUTE_RATE_LIMIT_JOB_OPS": "100000000/minute",
            "PROCTOR_COMPUTE_RATE_LIMIT_CLIENT": "100000000/minute",
            "PROCTOR_COMPUTE_RATE_LIMIT_REGISTER": "100000000/minute",
            "PROCTOR_COMPUTE_HEARTBEAT_TIMEOUT_SECONDS": "3600",
            **({"PROCTOR_REDIS_URL": args.redis} if args.redis else {}),
        }
        subprocess.run(
            [sys.executable, "-m", "proctor", "db", "upgrade"],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        client_key = asyncio.run(issue_client(database_url))
        if args.poll:
            fleet = asyncio.run(provision(database_url, args.miners))
            with LocalServer(env) as server:
                pid = server.proc.pid if server.proc else None
                results, extra = asyncio.run(
                    run_poll(server.url, pid, client_key, fleet, args.poll_jobs, args.poll_rate)
                )
            r = results[0]
            console.print(
                table(
                    f"proctor compute poll bench — PostgreSQL, {args.miners} long-polling miners, "
                    f"{args.poll_rate:.0f} jobs/s offered (latency: job created → assigned)",
                    results,
                    {
                        "jobs/s assigned": [f"{extra['jobs_per_second']:.0f}"],
                        "server CPU µs/req": [f"{r.cpu_us_per_request:.0f}" if r.cpu_us_per_request else "-"],
                    },
                )
            )
            console.print(f"idle fleet: {extra['idle_statements_per_second']:.1f} statements/s")
            return
        with LocalServer(env) as server:
            pid = server.proc.pid if server.proc else None
            results = asyncio.run(run(server.url, pid, client_key, args.miners, args.jobs, args.concurrency))
            rss = server.rss_mb()
        cpu = [r.cpu_us_per_request for r in results]
        console.print(
            table(
                f"proctor compute bench — PostgreSQL, {args.miners} miners, {args.concurrency} connections, "
                f"{args.jobs} jobs per case",
                results,
                {"server CPU µs/req": [f"{c:.0f}" if c else "-" for c in cpu]},
            )
        )
        console.print(f"server RSS: {rss:.0f} MB" if rss else "")

    if args.database_url:
        go(args.database_url)
    else:
        with scratch_database() as url:
            go(url)


if __name__ == "__main__":
    main()
