"""The miner-side client and work loop (what `proctor compute miner work` runs), against the app."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from proctor.surfaces.compute.client import (
    ComputeApiError,
    MinerClient,
    RunOutcome,
    echo_runner,
    load_runner,
    result_hash_of,
    run_job,
    work,
)
from tests.surfaces.compute.conftest import OFFER_A100, Compute


def flaky_runner(job: dict[str, Any]) -> dict[str, Any]:
    if job["payload"]["n"] == 1:
        raise RuntimeError("CUDA out of memory")
    return {"tokens": job["payload"]["n"] * 10}


async def test_work_loop_completes_and_hands_back_failures(compute: Compute) -> None:
    client_headers = await compute.client()
    jobs = [await compute.job(client_headers, payload={"n": n}) for n in range(3)]
    events: list[str] = []
    async with MinerClient("http://proctor.test", http=compute.http) as miner:
        await miner.register({**OFFER_A100, "max_concurrent": 2})
        summary = await work(
            miner,
            flaky_runner,
            concurrency=2,
            idle_exit=0.3,
            poll_interval=0.05,
            on_event=lambda kind, _data: events.append(kind),
        )
        stats = await miner.stats()
    assert (summary.accepted, summary.completed, summary.failed, summary.errors) == (3, 2, 1, [])
    assert summary.earned == Decimal("0.1") and stats["earnings"] == 0.1 and stats["failed_jobs"] == 1
    assert events.count("completed") == 2 and events.count("failed") == 1
    states = {j: (await compute.http.get(f"/v1/jobs/{j}", headers=client_headers)).json() for j in jobs}
    assert states[jobs[1]]["state"] == "QUEUED" and "CUDA out of memory" in states[jobs[1]]["error"]
    result = (await compute.http.get(f"/v1/jobs/{jobs[2]}/result", headers=client_headers)).json()
    assert result["result"] == {"tokens": 20} and result["result_hash"] == result_hash_of({"tokens": 20})


async def test_max_jobs_stops_the_loop(compute: Compute) -> None:
    client_headers = await compute.client()
    for n in range(3):
        await compute.job(client_headers, payload={"n": n})
    async with MinerClient("http://proctor.test", http=compute.http) as miner:
        await miner.register(OFFER_A100)
        summary = await work(miner, echo_runner, max_jobs=1, poll_interval=0.05)
    assert (summary.accepted, summary.completed) == (1, 1)


async def test_runner_outcomes() -> None:
    async def explicit(job: dict[str, Any]) -> RunOutcome:
        return RunOutcome("sha256:" + "00" * 32, 1.0, 2.0, {"x": 1})

    assert (await run_job(explicit, {"gpu_count": 2})).gpu_time_seconds == 2.0
    measured = await run_job(lambda job: "text", {"gpu_count": 2})
    assert measured.result == {"value": "text"} and measured.result_hash == result_hash_of({"value": "text"})
    assert load_runner("proctor.surfaces.compute.client:echo_runner") is echo_runner
    for bad in (
        "nope",
        "json:nothing_here",
        "no.such.module:f",
        "proctor.surfaces.compute.client:MAX_RETRIES_ON_429",
    ):
        with pytest.raises(ValueError):
            load_runner(bad)


async def test_the_client_waits_out_429_and_reports_errors() -> None:
    answers = iter(
        [
            httpx.Response(
                429, headers={"Retry-After": "0.01"}, json={"detail": "slow down", "error_code": "RL"}
            ),
            httpx.Response(200, json={"status": "ok", "jobs_assigned": 0, "queue_length": 0}),
            httpx.Response(409, json={"detail": "taken", "error_code": "JOB_ALREADY_ASSIGNED"}),
        ]
    )
    transport = httpx.MockTransport(lambda request: next(answers))
    async with httpx.AsyncClient(transport=transport) as http:
        miner = MinerClient("http://x", miner_id="miner_1", api_key="mk_1", http=http)
        assert (await miner.heartbeat())["status"] == "ok"
        with pytest.raises(ComputeApiError) as info:
            await miner.accept("job_1")
    assert (info.value.status, info.value.code) == (409, "JOB_ALREADY_ASSIGNED")
