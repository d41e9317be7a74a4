"""100 miners race for 400 jobs through two `proctor serve` processes sharing one PostgreSQL.

Each job is accepted exactly once, losers hear 409, no miner ever holds more than its
`max_concurrent` (checked by the miners themselves, by a monitor polling the database during the
race, and in the final ledger), and no miner gets a job it cannot run.

The contention comes from the 100 miners (each round every one of them wants one more job than it may
hold, out of the same 100 listed); 400 jobs make two such rounds. `python -m bench.compute` runs 100
miners over 2,000 jobs for throughput.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from proctor.core.compute import service as compute_service
from proctor.models import ComputeAssignment, ComputeEarning, ComputeJob, ComputeMiner
from proctor.storage.base import utcnow
from proctor.storage.db import create_sessionmaker, unit_of_work
from tests.support import services
from tests.support.server import ServerProcess
from tests.surfaces.compute.conftest import bearer, completion, job_body

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

MINERS = 100
JOBS = 400
TWO_GPU_JOBS = 120
PRICE = Decimal("0.05")


async def _gather_bounded(limit: int, calls: list[Callable[[], Any]]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Any]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(run(c) for c in calls))


class Race:
    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.over_capacity: list[str] = []
        self.requests = 0


async def miner_loop(http: httpx.AsyncClient, miner: dict[str, Any], race: Race, rng: random.Random) -> None:
    """List, accept a few more than there is room for (on purpose), complete what was won; repeat."""
    path, headers = f"/v1/miners/{miner['id']}", miner["headers"]
    while True:
        listing = await http.get(path + "/jobs/available?limit=100", headers=headers)
        if listing.status_code != 200:
            race.unexpected.append(f"list {listing.status_code} {listing.text[:200]}")
            return
        offered = [job["job_id"] for job in listing.json()["jobs"]]
        if not offered:
            return
        picks = rng.sample(offered, min(len(offered), miner["max_concurrent"] + 1))
        race.requests += 1 + len(picks)
        answers = await asyncio.gather(
            *(http.post(f"{path}/jobs/{j}/accept", headers=headers) for j in picks)
        )
        won = []
        for job_id, answer in zip(picks, answers, strict=True):
            if answer.status_code == 200:
                won.append(job_id)
                race.accepted[job_id] += 1
            elif answer.status_code == 409:
                race.refusals[answer.json()["error_code"]] += 1
            else:
                race.unexpected.append(f"accept {answer.status_code} {answer.text[:200]}")
        if len(won) > miner["max_concurrent"]:  # nothing was held before this round
            race.over_capacity.append(f"{miner['id']} won {len(won)} > {miner['max_concurrent']}")
        race.requests += len(won)
        done = await asyncio.gather(
            *(http.post(f"{path}/jobs/{j}/complete", json=completion(), headers=headers) for j in won)
        )
        race.unexpected += [f"complete {d.status_code} {d.text[:200]}" for d in done if d.status_code != 200]


async def monitor(url: str, stop: asyncio.Event, limits: dict[str, int], seen: list[str]) -> int:
    """Poll the database during the race: no miner may ever hold more running jobs than it may."""
    engine = create_async_engine(url, pool_size=1)
    polls = 0
    try:
        while not stop.is_set():
            async with engine.connect() as conn:
                rows = await conn.execute(
                    select(ComputeAssignment.miner_id, func.count())
                    .where(ComputeAssignment.status == "running")
                    .group_by(ComputeAssignment.miner_id)
                )
                seen += [f"{m} held {n}" for m, n in rows.all() if n > limits[m]]
            polls += 1
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
    return polls


@pytest.mark.timeout(420)
async def test_100_miners_race_for_400_jobs(
    pg: services.PostgresDatabases,
    redis_url: str,
    server_env: dict[str, str],
    start_server: Callable[[dict[str, str]], ServerProcess],
) -> None:
    url = pg.url(services.blocking(pg.create()))
    env = {
        **server_env,
        "PROCTOR_DATABASE_URL": url,
        "PROCTOR_REDIS_URL": redis_url,
        "PROCTOR_SURFACES": '["compute"]',
        "PROCTOR_COMPUTE_AUTO_APPROVE": "true",
        "PROCTOR_COMPUTE_HEARTBEAT_TIMEOUT_SECONDS": "600",
        "PROCTOR_COMPUTE_RATE_LIMIT_REQUESTS": "10000000/minute",
        "PROCTOR_COMPUTE_RATE_LIMIT_JOB_OPS": "10000000/minute",
        "PROCTOR_COMPUTE_RATE_LIMIT_REGISTER": "10000000/minute",
        "PROCTOR_COMPUTE_RATE_LIMIT_CLIENT": "10000000/minute",
        "PROCTOR_RATE_LIMIT_GLOBAL": "10000000/minute",
        "PROCTOR_DB_POOL_SIZE": "8",
        "PROCTOR_DB_POOL_OVERFLOW": "8",
    }
    servers = [start_server(env), start_server(env)]
    engine = create_async_engine(url, pool_size=2)
    async with unit_of_work(create_sessionmaker(engine)) as session:
        client = {
            "X-Api-Key": (await compute_service.issue_client(session, name="load", now=utcnow())).api_key
        }
    # Idle connections expire before uvicorn's 5 s keep-alive closes them under the client.
    limits_http = httpx.Limits(max_connections=150, max_keepalive_connections=150, keepalive_expiry=2)
    https = [httpx.AsyncClient(base_url=s.base_url, timeout=60, limits=limits_http) for s in servers]
    setup_started = time.monotonic()
    try:
        miners = await _gather_bounded(
            20,
            [
                lambda n=n: register(https[n % 2], n)  # type: ignore[misc]
                for n in range(MINERS)
            ],
        )
        jobs = await _gather_bounded(
            20,
            [
                lambda n=n: create_job(https[n % 2], client, gpu_count=2 if n < TWO_GPU_JOBS else 1)  # type: ignore[misc]
                for n in range(JOBS)
            ],
        )
        assert len(set(jobs)) == JOBS

        setup = time.monotonic() - setup_started
        race, stop, seen = Race(), asyncio.Event(), []
        limits = {m["id"]: m["max_concurrent"] for m in miners}
        watcher = asyncio.create_task(monitor(url, stop, limits, seen))
        started = time.monotonic()
        rng = random.Random(2026)
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    miner_loop(https[n % 2], m, race, random.Random(rng.random()))
                    for n, m in enumerate(miners)
                )
            ),
            timeout=300,
        )
        elapsed = time.monotonic() - started
        stop.set()
        polls = await watcher
    finally:
        for http in https:
            await http.aclose()

    assert race.unexpected == []
    assert race.over_capacity == [] and seen == [] and polls > 3
    assert set(race.accepted) == set(jobs) and set(race.accepted.values()) == {1}, "each job accepted once"
    assert race.refusals["JOB_ALREADY_ASSIGNED"] > 0, "the race must have had losers"
    assert set(race.refusals) <= {"JOB_ALREADY_ASSIGNED", "AT_CAPACITY", "JOB_NOT_AVAILABLE"}

    async with engine.connect() as conn:
        states = dict(
            (await conn.execute(select(ComputeJob.state, func.count()).group_by(ComputeJob.state))).all()
        )
        assignments = await conn.scalar(select(func.count()).select_from(ComputeAssignment))
        paid = await conn.scalar(select(func.sum(ComputeEarning.amount_micro)))
        misfits = await conn.scalar(
            select(func.count())
            .select_from(ComputeAssignment)
            .join(ComputeJob, ComputeJob.id == ComputeAssignment.job_id)
            .join(ComputeMiner, ComputeMiner.id == ComputeAssignment.miner_id)
            .where(ComputeJob.gpu_count > ComputeMiner.gpu_count)
        )
    await engine.dispose()
    assert states == {"COMPLETED": JOBS} and assignments == JOBS and misfits == 0
    assert paid == JOBS * int(PRICE * 1_000_000)
    print(  # visible with -s: how long the race took
        f"\n{JOBS} jobs, {MINERS} miners, 2 servers: setup {setup:.1f}s, race {elapsed:.1f}s, "
        f"{race.requests} requests, "
        f"{sum(race.refusals.values())} refusals {dict(race.refusals)}"
    )


async def register(http: httpx.AsyncClient, n: int) -> dict[str, Any]:
    offer = {
        "name": f"rig-{n}",
        "gpu_type": "a100",
        "gpu_count": 2 if n % 2 else 1,
        "price_per_hour": 1,
        "max_concurrent": 1 + n % 3,
    }
    response = await http.post("/v1/miners", json=offer)
    assert response.status_code == 201, response.text
    body = response.json()
    return {
        "id": body["miner_id"],
        "headers": bearer(body["api_key"]),
        "max_concurrent": offer["max_concurrent"],
    }


async def create_job(http: httpx.AsyncClient, client: dict[str, str], *, gpu_count: int) -> str:
    response = await http.post(
        "/v1/jobs", json=job_body(gpu_count=gpu_count, price=str(PRICE)), headers=client
    )
    assert response.status_code == 201, response.text
    job_id: str = response.json()["job_id"]
    return job_id
