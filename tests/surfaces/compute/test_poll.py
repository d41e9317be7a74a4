"""AITBC's real-miner protocol over HTTP (register, heartbeat, poll, result, fail), on both databases.

The requests are the wire of oib/AITBC `apps/miner/production_miner.py` (headers `X-Api-Key` and
`X-Miner-ID`, its register/heartbeat/result bodies) and of its `aitbc ai submit` (the JobCreate shape
without `model`, `estimated_time` or `price`), written out here with our own code.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from proctor.core.compute import flows, wakeup
from proctor.core.compute import service as compute_service
from proctor.storage.base import utcnow
from proctor.storage.db import unit_of_work
from tests.surfaces.compute.conftest import Compute

RTX = {"name": "NVIDIA GeForce RTX 4090", "memory_mb": 24564, "architecture": "ada_lovelace"}


def capabilities(**overrides: Any) -> dict[str, Any]:
    caps: dict[str, Any] = {
        "gpus": [RTX],
        "cuda": "550.54.14",
        "models": ["llama3.2:3b"],
        "price": 0.01,
        "region": "localhost",
        "platform": "CUDA",
        "supported_tasks": ["inference"],
        "max_concurrent_jobs": 1,
    }
    caps.update(overrides)
    return caps


class RealMiner:
    """What production_miner.py sends, as it sends it."""

    def __init__(self, compute: Compute, miner_id: str, key: str) -> None:
        self.compute, self.id = compute, miner_id
        self.headers = {"X-Api-Key": key, "X-Miner-ID": miner_id, "Content-Type": "application/json"}

    async def register(self, **caps: Any) -> dict[str, Any]:
        body = {
            "capabilities": capabilities(**caps),
            "concurrency": 1,
            "region": caps.get("region", "localhost"),
        }
        response = await self.compute.http.post("/v1/miners/register", json=body, headers=self.headers)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def heartbeat(self) -> int:
        body = {
            "status": "active",
            "current_jobs": 0,
            "last_seen": utcnow().isoformat(),
            "gpu_utilization": 3,
            "memory_used": 1200,
            "memory_total": 24564,
            "architecture": "ada_lovelace",
            "edge_optimized": True,
            "network_latency_ms": 1.5,
        }
        response = await self.compute.http.post("/v1/miners/heartbeat", json=body, headers=self.headers)
        return response.status_code

    async def poll(self, wait: float = 0) -> dict[str, Any] | None:
        response = await self.compute.http.post(
            "/v1/miners/poll", json={"max_wait_seconds": wait}, headers=self.headers
        )
        if response.status_code == 204:
            assert response.content == b""
            return None
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job

    async def result(self, job_id: str, output: str = "echo: hi", status: str = "completed") -> Any:
        body: dict[str, Any] = {
            "result": {"status": status, "output": output, "execution_time": 1.25, "gpu_used": True},
            "metrics": {"gpu_utilization": 3, "memory_used": 1200, "memory_peak": 2048, "duration_ms": 1250},
        }
        if status == "failed":
            body = {"result": {"status": "failed", "error": "Ollama error"}}
        return await self.compute.http.post(f"/v1/miners/{job_id}/result", json=body, headers=self.headers)


async def provision(compute: Compute, miner_id: str) -> RealMiner:
    async with unit_of_work(compute.state.sessionmaker) as session:
        issued = await compute_service.provision_miner(session, miner_id=miner_id, name=None, now=utcnow())
    return RealMiner(compute, miner_id, issued.api_key)


async def submit(compute: Compute, client: dict[str, str], **extra: Any) -> str:
    """`aitbc ai submit --prompt … --model …`'s request."""
    body: dict[str, Any] = {
        "payload": {"type": "inference", "prompt": "hi", "model": "llama3.2:3b"},
        "constraints": {},
        "ttl_seconds": 900,
    }
    body.update(extra)
    response = await compute.http.post(
        "/v1/jobs", json=body, headers={"Authorization": f"Bearer {client['X-Api-Key']}"}
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["payment_id"] is None and answer["state"] == "QUEUED"
    job_id: str = answer["job_id"]
    return job_id


async def test_register_heartbeat_poll_result(compute: Compute) -> None:
    client = await compute.client()
    miner = await provision(compute, "rig-1")
    registered = await miner.register()
    assert registered["status"] == "ok" and len(registered["session_token"]) == 64
    assert await miner.heartbeat() == 200
    assert await miner.poll() is None  # nothing queued: 204

    job_id = await submit(compute, client)
    job = await miner.poll()
    assert job is not None and job["job_id"] == job_id
    assert job["payload"] == {"type": "inference", "prompt": "hi", "model": "llama3.2:3b"}
    assert job["constraints"] == {}
    assert await miner.poll() is None  # concurrency 1, and nothing else queued

    assert await miner.heartbeat() == 200  # renews the lease, whatever the body says about inflight
    done = await miner.result(job_id)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "ok" and done.json()["state"] == "COMPLETED"
    assert done.json()["earned"] == 0.01  # the server's default price, not anything the miner said
    again = await miner.result(job_id)  # a retried request: same answer, paid once
    assert again.status_code == 200 and again.json()["state"] == "COMPLETED"
    different = await miner.result(job_id, output="something else")
    assert different.status_code == 409 and different.json()["error_code"] == "RESULT_MISMATCH"

    bearer = {"Authorization": f"Bearer {client['X-Api-Key']}"}
    view = (await compute.http.get(f"/v1/jobs/{job_id}/result", headers=bearer)).json()
    assert view["result"]["output"] == "echo: hi" and view["miner_id"] == "rig-1"
    assert view["result_hash"] == flows.result_hash(view["result"])  # computed by the server
    stats = await compute.http.get("/v1/miners/rig-1/stats", headers=miner.headers)  # the documented route
    assert stats.json()["completed_jobs"] == 1 and stats.json()["earnings"] == 0.01
    history = await compute.http.get("/v1/jobs/history", headers=bearer)
    assert history.status_code == 200 and [j["job_id"] for j in history.json()["jobs"]] == [job_id]


async def test_failure_retries_on_another_miner_and_only_the_holder_finishes(compute: Compute) -> None:
    client = await compute.client()
    a, b = await provision(compute, "rig-a"), await provision(compute, "rig-b")
    await a.register()
    await b.register()
    job_id = await submit(compute, client, payment_amount=0.5)
    assert (await a.poll() or {}).get("job_id") == job_id
    assert await b.poll() is None  # leased to a: not handed out twice

    refused = await b.result(job_id)  # another miner's result
    assert refused.status_code == 409 and refused.json()["error_code"] == "NOT_JOB_OWNER"

    failed = await a.result(job_id, status="failed")  # AITBC's failure is a result with status failed
    assert failed.status_code == 200 and failed.json()["state"] == "QUEUED"
    assert failed.json()["earned"] == 0
    assert await a.poll() is None  # a retry goes to somebody else
    assert (await b.poll() or {}).get("job_id") == job_id
    late = await a.result(job_id)
    assert late.status_code == 409, late.text
    done = await b.result(job_id)
    assert done.status_code == 200 and done.json()["earned"] == 0.5  # the client's payment_amount

    job_2 = await submit(compute, client)
    assert (await a.poll() or {}).get("job_id") == job_2
    gave_up = await compute.http.post(
        f"/v1/miners/{job_2}/fail",
        json={"error_code": "OOM", "error_message": "out of memory", "metrics": {}},
        headers=a.headers,
    )
    assert gave_up.status_code == 200 and gave_up.json()["state"] == "QUEUED"
    async with unit_of_work(compute.state.sessionmaker) as session:
        assert (await compute_service.miner_stats(session, miner_id="rig-b")).earnings_micro == 500_000
        assert (await compute_service.miner_stats(session, miner_id="rig-a")).earnings_micro == 0


async def test_long_poll_is_woken_by_a_new_job(compute: Compute) -> None:
    client = await compute.client()
    miner = await provision(compute, "rig-1")
    await miner.register()
    ring = wakeup.bell(compute.state.core)
    waiting = asyncio.create_task(miner.poll(wait=20))
    while not ring.idle("rig-1"):  # until it looked, found nothing and waits (yields, no wall clock)
        await asyncio.sleep(0)
    job_id = await submit(compute, client)
    job = await asyncio.wait_for(waiting, timeout=10)  # far below the 20 s it asked to wait
    assert job is not None and job["job_id"] == job_id


async def test_constraints_pick_the_miner(compute: Compute) -> None:
    client = await compute.client()
    small, big = await provision(compute, "small"), await provision(compute, "big")
    await small.register(gpus=[{"name": "RTX 3060", "memory_mb": 12288}], models=["tiny"], region="eu")
    await big.register(gpus=[RTX], models=["llama3.2:3b", "mixtral"], region="us", price=0.1)
    vram = await submit(compute, client, constraints={"min_vram_gb": 16})
    models = await submit(compute, client, constraints={"models": ["mixtral", "llama3.2:3b"]})
    region = await submit(compute, client, constraints={"region": "eu"})
    cheap = await submit(compute, client, constraints={"max_price": 0.07})
    gpu = await submit(compute, client, constraints={"gpu": "rtx 3060"})
    assert (await small.poll() or {}).get("job_id") == region
    assert (await big.poll() or {}).get("job_id") == vram
    for job_id in (region, vram):
        other = small if job_id == region else big
        assert (await other.result(job_id)).status_code == 200
    assert (await small.poll() or {}).get("job_id") == cheap
    assert (await big.poll() or {}).get("job_id") == models
    assert (await small.result(cheap)).status_code == 200
    assert (await small.poll() or {}).get("job_id") == gpu


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "INVALID_API_KEY"),
        ({"X-Api-Key": "mk_nope"}, 401, "INVALID_API_KEY"),
        ({"X-Miner-ID": "someone-else"}, 403, "MINER_ID_MISMATCH"),
    ],
)
async def test_refusals(compute: Compute, headers: dict[str, str], status: int, code: str) -> None:
    miner = await provision(compute, "rig-1")
    sent = {**miner.headers, **headers} if "X-Api-Key" in headers or "X-Miner-ID" in headers else {}
    for path in ("/v1/miners/register", "/v1/miners/heartbeat", "/v1/miners/poll", "/v1/miners/job_x/result"):
        response = await compute.http.post(path, json={}, headers=sent)
        assert response.status_code == status, (path, response.text)
        assert response.json()["error_code"] == code and "detail" in response.json()


async def test_bad_input_is_a_4xx(compute: Compute) -> None:
    client = await compute.client()
    bearer = {"Authorization": f"Bearer {client['X-Api-Key']}"}
    miner = await provision(compute, "rig-1")
    unsupported = await compute.http.post(
        "/v1/jobs",
        json={"payload": {"prompt": "x"}, "constraints": {"zk_proof_required": True}},
        headers=bearer,
    )
    assert unsupported.status_code == 400 and unsupported.json()["error_code"] == "UNSUPPORTED_CONSTRAINT"
    for body in ({"capabilities": {"gpus": "many"}}, {"concurrency": 0}, {"capabilities": {"price": -1}}):
        response = await compute.http.post("/v1/miners/register", json=body, headers=miner.headers)
        assert response.status_code == 422, response.text
    poll = await compute.http.post(
        "/v1/miners/poll", json={"max_wait_seconds": "soon"}, headers=miner.headers
    )
    assert poll.status_code == 422
    unknown = await miner.result("job_" + "0" * 32)
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "JOB_NOT_FOUND"
    huge = await compute.http.post("/v1/miners/" + "j" * 500 + "/result", json={}, headers=miner.headers)
    assert huge.status_code == 404
