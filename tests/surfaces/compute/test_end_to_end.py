"""The compute marketplace end to end against real `proctor serve` processes, on SQLite and on
PostgreSQL + Redis: an operator (CLI), a client and miners over HTTP, and the miner CLI's work loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import services
from tests.support.server import ServerProcess
from tests.surfaces.compute.conftest import bearer, cli, completion, issue_client_key, job_body

pytestmark = pytest.mark.slow

HEARTBEAT_TIMEOUT = 2


def with_compute(server_env: dict[str, str]) -> dict[str, str]:
    return {
        **server_env,
        "PROCTOR_SURFACES": '["compute"]',
        "PROCTOR_COMPUTE_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT),
        "PROCTOR_COMPUTE_REAPER_INTERVAL_SECONDS": "0.2",
        "PROCTOR_COMPUTE_RATE_LIMIT_REQUESTS": "100000/minute",
        "PROCTOR_COMPUTE_RATE_LIMIT_JOB_OPS": "100000/minute",
    }


@pytest.fixture(
    params=["sqlite", pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis])]
)
def compute_env(request: pytest.FixtureRequest, server_env: dict[str, str]) -> dict[str, str]:
    env = with_compute(server_env)
    if request.param == "sqlite":
        return env
    dbs: services.PostgresDatabases = request.getfixturevalue("pg")
    return {
        **env,
        "PROCTOR_DATABASE_URL": dbs.url(services.blocking(dbs.create())),
        "PROCTOR_REDIS_URL": request.getfixturevalue("redis_url"),
    }


class Miner:
    def __init__(self, http: httpx.AsyncClient, miner_id: str, key: str) -> None:
        self.http, self.id, self.headers = http, miner_id, bearer(key)

    def path(self, suffix: str = "") -> str:
        return f"/v1/miners/{self.id}{suffix}"

    async def get(self, suffix: str = "") -> httpx.Response:
        return await self.http.get(self.path(suffix), headers=self.headers)

    async def post(self, suffix: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(self.path(suffix), json=body, headers=self.headers)

    async def available(self) -> list[str]:
        response = await self.get("/jobs/available")
        assert response.status_code == 200, response.text
        return [job["job_id"] for job in response.json()["jobs"]]


async def register(http: httpx.AsyncClient, **offer: Any) -> Miner:
    response = await http.post("/v1/miners", json={"name": "rig", "location": "eu", **offer})
    assert response.status_code == 201 and response.json()["status"] == "pending", response.text
    return Miner(http, response.json()["miner_id"], response.json()["api_key"])


@contextlib.asynccontextmanager
async def heartbeating(miner: Miner, interval: float = 0.4) -> AsyncIterator[None]:
    """Keep a miner alive for the duration of the block (the rest of the time it is silent)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(interval)
            await miner.post("/heartbeat")

    # The first beat before the block: a miner the sweeper marked offline is back before it acts.
    assert (await miner.post("/heartbeat")).status_code == 200
    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_marketplace_end_to_end(
    compute_env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess]
) -> None:
    server = start_server(compute_env)
    client = {"X-Api-Key": issue_client_key(compute_env)}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        a = await register(http, gpu_type="A100", gpu_count=1, price_per_hour="1", max_concurrent=2)
        b = await register(http, gpu_type="v100", gpu_count=2, price_per_hour="2", max_concurrent=1)
        pending = await a.get("/jobs/available")
        assert pending.status_code == 403 and pending.json()["error_code"] == "MINER_PENDING"
        approved = cli(compute_env, "compute", "miners", "approve", a.id, b.id)
        assert approved.returncode == 0, approved.stderr

        async def create(**fields: Any) -> str:
            response = await http.post("/v1/jobs", json=job_body(**fields), headers=client)
            assert response.status_code == 201, response.text
            job_id: str = response.json()["job_id"]
            return job_id

        only_a = await create(gpu_type="a100", estimated_time=1800, price="0.5")
        only_b = await create(gpu_type="v100", gpu_count=2, estimated_time=3600, price="2")
        either = await create(gpu_type=None, estimated_time=60, price="0.1")
        await create(gpu_type="a100", estimated_time=3600, price="0.5")  # below A's hourly ask
        await create(gpu_type="v100", gpu_count=4, estimated_time=60, price="9")  # more GPUs than B has

        async with heartbeating(a), heartbeating(b):
            # Two miners see only the jobs they can run.
            assert await a.available() == [only_a, either]
            assert await b.available() == [only_b, either]

            # The accept race: exactly one wins, the other hears 409.
            race = await asyncio.gather(a.post(f"/jobs/{either}/accept"), b.post(f"/jobs/{either}/accept"))
            assert sorted(r.status_code for r in race) == [200, 409]
            loser_response = next(r for r in race if r.status_code == 409)
            assert loser_response.json()["error_code"] == "JOB_ALREADY_ASSIGNED"
            winner, loser = (a, b) if race[0].status_code == 200 else (b, a)

            # Completion by the wrong miner is refused, and changes nothing.
            wrong = await loser.post(f"/jobs/{either}/complete", completion())
            assert wrong.status_code == 409 and wrong.json()["error_code"] == "NOT_JOB_OWNER"
            assert (await http.get(f"/v1/jobs/{either}", headers=client)).json()["state"] == "RUNNING"

            if winner is b:  # B runs one job at a time
                full = await b.post(f"/jobs/{only_b}/accept")
                assert full.status_code == 409 and full.json()["error_code"] == "AT_CAPACITY"
            assert (await winner.post(f"/jobs/{either}/complete", completion())).status_code == 200
            for miner, job_id in ((a, only_a), (b, only_b)):
                assert (await miner.post(f"/jobs/{job_id}/accept")).status_code == 200
                done = await miner.post(f"/jobs/{job_id}/complete", completion(seconds=30, gpu_seconds=60))
                assert done.status_code == 200 and done.json()["state"] == "COMPLETED"

            # Stats and earnings come from the ledger, exactly.
            earned = {a.id: Decimal("0.5"), b.id: Decimal("2")}
            earned[winner.id] += Decimal("0.1")
            for miner in (a, b):
                stats = (await miner.get("/stats")).json()
                assert (stats["total_jobs"], stats["success_rate"]) == (2 if miner is winner else 1, 1.0)
                assert Decimal(str(stats["earnings"])) == earned[miner.id]
                assert stats["earnings_micro"] == int(earned[miner.id] * 1_000_000)
            result = (await http.get(f"/v1/jobs/{either}/result", headers=client)).json()
            assert result["miner_id"] == winner.id and result["result_hash"] == completion()["result_hash"]

            # A goes silent holding a job: it goes offline, the job returns, B finishes it.
            abandoned = await create(gpu_type=None, estimated_time=60, price="0.2", ttl_seconds=600)
            assert (await a.post(f"/jobs/{abandoned}/accept")).status_code == 200

        async with heartbeating(b):
            await wait_for(lambda: _job_state_is(http, client, abandoned, "QUEUED"))
            assert (await a.get()).json()["status"] == "offline"
            assert abandoned in await b.available()
            assert (await b.post(f"/jobs/{abandoned}/accept")).status_code == 200
            late = await a.post(f"/jobs/{abandoned}/complete", completion())
            assert late.status_code == 409 and late.json()["error_code"] == "LEASE_EXPIRED"
            assert (await b.post(f"/jobs/{abandoned}/complete", completion())).status_code == 200

        final = (await http.get(f"/v1/jobs/{abandoned}", headers=client)).json()
        assert (final["state"], final["attempts"], final["assigned_miner_id"]) == ("COMPLETED", 2, b.id)
        a_stats, b_stats = (await a.get("/stats")).json(), (await b.get("/stats")).json()
        a_done = 2 if winner is a else 1
        assert (a_stats["total_jobs"], a_stats["failed_jobs"]) == (a_done + 1, 1)
        assert a_stats["success_rate"] == round(a_done / (a_done + 1), 6)
        assert Decimal(str(b_stats["earnings"])) == earned[b.id] + Decimal("0.2")


async def _job_state_is(http: httpx.AsyncClient, client: dict[str, str], job_id: str, state: str) -> bool:
    return bool((await http.get(f"/v1/jobs/{job_id}", headers=client)).json()["state"] == state)


async def test_miner_cli_registers_and_works(
    server_env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    """The miner's command line: register (credentials saved), approve, work through the queue.

    SQLite only: the storage paths are the end-to-end test's; each CLI process costs seconds to start.
    """
    compute_env = with_compute(server_env)
    server = start_server(compute_env)
    client = {"X-Api-Key": issue_client_key(compute_env)}
    credentials = tmp_path / "miner.json"
    env = {**compute_env, "PROCTOR_COMPUTE_URL": server.base_url}
    registered = cli(
        env, "compute", "miner", "register", "--name", "cli-rig", "--gpu-type", "a100",
        "--price-per-hour", "0.5", "--max-concurrent", "2", "--save", str(credentials),
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    assert credentials.stat().st_mode & 0o777 == 0o600
    assert cli(env, "compute", "miners", "approve", "--all-pending").returncode == 0
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        jobs = []
        for n in range(3):
            response = await http.post("/v1/jobs", json=job_body(payload={"n": n}), headers=client)
            jobs.append(response.json()["job_id"])
        worked = await asyncio.to_thread(
            cli, env, "compute", "miner", "work", "--credentials", str(credentials),
            "--concurrency", "2", "--max-jobs", "3", "--poll-interval", "0.2",
        )  # fmt: skip
        assert worked.returncode == 0, worked.stdout + worked.stderr
        assert "completed=3" in worked.stdout.replace(" ", "")
        for n, job_id in enumerate(jobs):
            result = (await http.get(f"/v1/jobs/{job_id}/result", headers=client)).json()
            assert result["result"] == {"model": "gpt2", "echo": {"n": n}}
    listing = cli(env, "compute", "miners", "list")
    assert listing.returncode == 0 and "cli-rig" in listing.stdout
