"""100 AITBC miners long-polling on PostgreSQL while 400 jobs arrive (more than two rounds of the fleet's
150 slots; `python -m bench.compute --poll` runs 1,000 for throughput).

- every job is leased exactly once and completed once; no miner ever holds more than its concurrency;
- while nobody has work, the database sees no statements from the waiting fleet, however many miners
  wait (the job bell and the per-miner "found nothing" memo, `proctor.core.compute.wakeup`).

The miners speak production_miner.py's wire (see test_poll.py) over ASGI, in process.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import pytest

from proctor.config import Settings
from proctor.core.compute import service as compute_service
from proctor.core.compute import wakeup
from proctor.storage.base import utcnow
from proctor.storage.db import unit_of_work
from tests.conftest import running_app
from tests.surfaces.compute.conftest import Compute
from tests.surfaces.compute.test_poll import RealMiner

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MINERS, JOBS = 100, 400


async def fleet(compute: Compute, count: int, prefix: str) -> list[tuple[RealMiner, int]]:
    miners: list[tuple[RealMiner, int]] = []
    async with unit_of_work(compute.state.sessionmaker) as session:
        for n in range(count):
            issued = await compute_service.provision_miner(
                session, miner_id=f"{prefix}-{n}", name=None, now=utcnow()
            )
            miners.append((RealMiner(compute, issued.miner.id, issued.api_key), 1 + n % 2))
    for miner, concurrency in miners:
        body = {
            "capabilities": {"gpus": [{"name": "RTX 4090", "memory_mb": 24564}]},
            "concurrency": concurrency,
        }
        response = await compute.http.post("/v1/miners/register", json=body, headers=miner.headers)
        assert response.status_code == 200, response.text
    return miners


async def idle_statements(compute: Compute, miners: list[tuple[RealMiner, int]], rounds: int) -> int:
    """Statements the database saw while every miner polled `rounds` more times with nothing queued."""
    ring = wakeup.bell(compute.state.core)
    await asyncio.gather(*(miner.poll(wait=0) for miner, _ in miners))  # each looks once, finds nothing
    assert all(ring.idle(miner.id) for miner, _ in miners)
    before = compute.state.core.db.statements
    for _ in range(rounds):
        assert await asyncio.gather(*(miner.poll(wait=0.05) for miner, _ in miners)) == [None] * len(miners)
    return compute.state.core.db.statements - before


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_100_miners_long_poll_400_jobs(compute_settings: Callable[..., Settings]) -> None:
    settings = compute_settings(
        rate_limit_global="10000000/minute",
        compute_rate_limit_client="10000000/minute",
        compute_poll_recheck_seconds=600,
        db_pool_timeout_seconds=60,
    )
    async with running_app(settings) as (app, http):
        compute = Compute(http, app.state.proctor)
        client = await compute.client()
        bearer = {"Authorization": f"Bearer {client['X-Api-Key']}"}

        few = await fleet(compute, 10, "few")
        idle_few = await idle_statements(compute, few, rounds=3)  # 30 polls
        miners = few + await fleet(compute, MINERS - 10, "rig")
        idle_all = await idle_statements(compute, miners, rounds=3)  # 300 polls
        print(f"idle: {idle_few} statements for 30 polls by 10 miners, {idle_all} for 300 polls by 100")
        assert idle_few <= 5 and idle_all <= 5, "waiting miners must not query the database"

        held: Counter[str] = Counter()
        over: list[str] = []
        leased: Counter[str] = Counter()
        done = asyncio.Event()
        waits: list[float] = []

        async def worker(miner: RealMiner, concurrency: int) -> None:
            while not done.is_set():
                started = time.monotonic()
                job = await miner.poll(wait=2)
                if job is None:
                    continue
                waits.append(time.monotonic() - started)
                held[miner.id] += 1
                if held[miner.id] > concurrency:
                    over.append(miner.id)
                leased[job["job_id"]] += 1
                await asyncio.sleep(0)  # the "execution": let others run while this slot is held
                held[miner.id] -= 1  # before the result: once it is in, the server may lease again
                response = await miner.result(job["job_id"], output=job["job_id"])
                assert response.status_code == 200, response.text
                if sum(leased.values()) >= JOBS:
                    done.set()

        workers = [
            asyncio.create_task(worker(miner, concurrency))
            for miner, concurrency in miners
            for _ in range(concurrency + 1)  # one worker more than it may hold: the server must refuse it
        ]
        semaphore = asyncio.Semaphore(20)

        async def submit(n: int) -> str:
            async with semaphore:
                body = {
                    "payload": {"type": "inference", "prompt": str(n)},
                    "constraints": {},
                    "ttl_seconds": 900,
                }
                response = await http.post("/v1/jobs", json=body, headers=bearer)
                assert response.status_code == 201, response.text
                job_id: str = response.json()["job_id"]
                return job_id

        started = time.monotonic()
        jobs = await asyncio.gather(*(submit(n) for n in range(JOBS)))
        await asyncio.wait_for(done.wait(), timeout=240)
        elapsed = time.monotonic() - started
        await asyncio.gather(*workers)

        assert over == []
        assert set(leased) == set(jobs) and set(leased.values()) == {1}, "each job leased exactly once"
        async with unit_of_work(compute.state.sessionmaker) as session:
            completed = 0
            for miner, _ in miners:
                stats = await compute_service.miner_stats(session, miner_id=miner.id)
                completed += stats.completed_jobs
                assert stats.running_jobs == 0
            assert completed == JOBS
        print(f"{JOBS} jobs through {MINERS} long-polling miners in {elapsed:.1f}s")
