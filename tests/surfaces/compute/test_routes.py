"""The compute surface's wire contract in-process, on SQLite and PostgreSQL: seed shapes, auth, 404 for
other miners' ids, validation (4xx, never 500), error bodies and rate limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from proctor.config import Settings
from tests.conftest import running_app
from tests.surfaces.compute.conftest import HASH, OFFER_A100, Compute, bearer, completion, job_body


class TestSeedShapes:
    async def test_register_heartbeat_available_accept_complete_stats(self, compute: Compute) -> None:
        registered = await compute.http.post("/v1/miners", json=OFFER_A100)
        assert registered.status_code == 201
        assert set(registered.json()) == {"miner_id", "api_key", "status"}
        miner_id, headers = registered.json()["miner_id"], bearer(registered.json()["api_key"])
        client = await compute.client()
        job_id = await compute.job(client, price="0.05", estimated_time=60)

        beat = await compute.http.post(f"/v1/miners/{miner_id}/heartbeat", headers=headers)
        assert beat.status_code == 200
        assert beat.json() == {
            "status": "ok",
            "jobs_assigned": 0,
            "queue_length": 1,
            "miner_status": "active",
        }

        available = (await compute.http.get(f"/v1/miners/{miner_id}/jobs/available", headers=headers)).json()
        [offered] = available["jobs"]
        assert {"job_id", "model", "gpu_type", "gpu_count", "estimated_time", "price"} <= set(offered)
        assert (offered["job_id"], offered["price"], offered["estimated_time"]) == (job_id, 0.05, 60)

        accepted = await compute.http.post(f"/v1/miners/{miner_id}/jobs/{job_id}/accept", headers=headers)
        assert accepted.status_code == 200 and accepted.json()["payload"] == {"prompt": "hello"}
        held = (await compute.http.get(f"/v1/miners/{miner_id}/jobs", headers=headers)).json()["jobs"]
        assert [j["job_id"] for j in held] == [job_id]

        done = await compute.http.post(
            f"/v1/miners/{miner_id}/jobs/{job_id}/complete", json=completion(), headers=headers
        )
        assert done.json() == {"job_id": job_id, "state": "COMPLETED", "earned": 0.05, "currency": "AITBC"}
        stats = (await compute.http.get(f"/v1/miners/{miner_id}/stats", headers=headers)).json()
        assert {
            "total_jobs",
            "success_rate",
            "average_completion_time",
            "earnings",
            "earnings_per_gpu_hour",
        } <= set(stats)
        assert (stats["total_jobs"], stats["success_rate"], stats["earnings"]) == (1, 1.0, 0.05)
        assert stats["earnings_per_gpu_hour"] == 3.0  # 0.05 for 60 GPU-seconds

    async def test_pending_without_auto_approve(self, compute_settings: Callable[..., Settings]) -> None:
        async with running_app(compute_settings(compute_auto_approve=False)) as (_, http):
            registered = (await http.post("/v1/miners", json=OFFER_A100)).json()
            assert registered["status"] == "pending"
            path, headers = f"/v1/miners/{registered['miner_id']}", bearer(registered["api_key"])
            beat = await http.post(path + "/heartbeat", headers=headers)
            assert beat.status_code == 200 and beat.json()["miner_status"] == "pending"
            refused = await http.get(path + "/jobs/available", headers=headers)
            assert refused.status_code == 403 and refused.json()["error_code"] == "MINER_PENDING"

    async def test_update_offer(self, compute: Compute) -> None:
        miner_id, headers = await compute.miner()
        updated = await compute.http.put(
            f"/v1/miners/{miner_id}", json={"price_per_hour": "0.25", "max_concurrent": 8}, headers=headers
        )
        assert updated.status_code == 200
        view = updated.json()
        assert (view["price_per_hour"], view["max_concurrent"], view["gpu_type"]) == (0.25, 8, "a100")
        empty = await compute.http.put(f"/v1/miners/{miner_id}", json={}, headers=headers)
        assert empty.status_code == 400 and empty.json()["error_code"] == "EMPTY_UPDATE"

    async def test_client_job_routes(self, compute: Compute) -> None:
        client = await compute.client()
        created = await compute.http.post("/v1/jobs", json=job_body(), headers=client)
        assert created.status_code == 201
        job = created.json()
        assert (job["state"], job["ttl_seconds"], job["price"], job["assigned_miner_id"]) == (
            "QUEUED",
            900,
            0.05,
            None,
        )
        listed = (await compute.http.get("/v1/jobs?state=QUEUED", headers=client)).json()
        assert [j["job_id"] for j in listed["jobs"]] == [job["job_id"]]
        not_ready = await compute.http.get(f"/v1/jobs/{job['job_id']}/result", headers=client)
        assert not_ready.status_code == 425 and not_ready.json()["error_code"] == "JOB_NOT_READY"
        canceled = await compute.http.post(f"/v1/jobs/{job['job_id']}/cancel", headers=client)
        assert canceled.status_code == 200 and canceled.json()["state"] == "CANCELED"
        never = await compute.http.get(f"/v1/jobs/{job['job_id']}/result", headers=client)
        assert never.status_code == 409 and never.json()["error_code"] == "JOB_NOT_COMPLETED"


class TestAuth:
    async def test_bearer_and_x_api_key_both_work(self, compute: Compute) -> None:
        miner_id, headers = await compute.miner()
        key = headers["Authorization"].removeprefix("Bearer ")
        for variant in (headers, {"X-Api-Key": key}, {"Authorization": "bearer " + key}):
            assert (await compute.http.get(f"/v1/miners/{miner_id}", headers=variant)).status_code == 200

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer mk_nope"},
            {"X-Api-Key": "x" * 10_000},
            {"Authorization": "Basic abc"},
        ],
    )
    async def test_missing_or_wrong_keys_are_401(self, compute: Compute, headers: dict[str, str]) -> None:
        miner_id, _ = await compute.miner()
        response = await compute.http.post(f"/v1/miners/{miner_id}/heartbeat", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid or missing API key", "error_code": "INVALID_API_KEY"}
        assert response.headers["WWW-Authenticate"] == "Bearer"

    async def test_client_and_miner_keys_do_not_cross(self, compute: Compute) -> None:
        miner_id, miner_headers = await compute.miner()
        client = await compute.client()
        assert (await compute.http.get(f"/v1/miners/{miner_id}", headers=client)).status_code == 401
        assert (await compute.http.get("/v1/jobs", headers=miner_headers)).status_code == 401

    async def test_another_miners_id_is_indistinguishable_from_an_unknown_one(self, compute: Compute) -> None:
        _, mine = await compute.miner()
        theirs, _ = await compute.miner()
        for path in ("", "/stats", "/jobs/available"):
            other = await compute.http.get(f"/v1/miners/{theirs}{path}", headers=mine)
            unknown = await compute.http.get(f"/v1/miners/miner_unknown{path}", headers=mine)
            assert other.status_code == unknown.status_code == 404
            assert (
                other.json()
                == unknown.json()
                == {"detail": "Miner not found", "error_code": "MINER_NOT_FOUND"}
            )
        update = await compute.http.put(f"/v1/miners/{theirs}", json={"max_concurrent": 9}, headers=mine)
        assert update.status_code == 404

    async def test_another_clients_job_is_not_found(self, compute: Compute) -> None:
        alice, bob = await compute.client("alice"), await compute.client("bob")
        job_id = await compute.job(alice)
        for method, path in (("GET", ""), ("GET", "/result"), ("POST", "/cancel")):
            response = await compute.http.request(method, f"/v1/jobs/{job_id}{path}", headers=bob)
            assert response.status_code == 404 and response.json()["error_code"] == "JOB_NOT_FOUND"


class TestValidation:
    @pytest.mark.parametrize(
        "change",
        [
            {"price_per_hour": -1},
            {"price_per_hour": 0.1234567},
            {"price_per_hour": 10**7},
            {"price_per_hour": "NaN"},
            {"gpu_count": 0},
            {"gpu_count": 10**6},
            {"max_concurrent": 0},
            {"name": ""},
            {"gpu_type": "x" * 65},
            {"price_per_hour": None},
        ],
    )
    async def test_bad_offers_are_422(self, compute: Compute, change: dict[str, Any]) -> None:
        response = await compute.http.post("/v1/miners", json={**OFFER_A100, **change})
        assert response.status_code == 422 and isinstance(response.json()["detail"], list)

    @pytest.mark.parametrize(
        "change",
        [
            {"price": -0.01},
            {"price": 10**10},
            {"price": 1e-7},
            {"estimated_time": 0},
            {"estimated_time": 1.5},
            {"estimated_time": 10**9},
            {"gpu_count": 0},
            {"ttl_seconds": 0},
            {"payload": []},
            {"model": ""},
        ],
    )
    async def test_bad_jobs_are_422(self, compute: Compute, change: dict[str, Any]) -> None:
        client = await compute.client()
        response = await compute.http.post("/v1/jobs", json=job_body(**change), headers=client)
        assert response.status_code == 422

    async def test_policy_refusals_are_400(self, compute: Compute) -> None:
        client = await compute.client()
        big = await compute.http.post("/v1/jobs", json=job_body(payload={"x": "y" * 70_000}), headers=client)
        assert big.status_code == 400 and big.json()["error_code"] == "PAYLOAD_TOO_LARGE"
        long = await compute.http.post("/v1/jobs", json=job_body(ttl_seconds=10**8), headers=client)
        assert long.status_code == 400 and long.json()["error_code"] == "TTL_TOO_LONG"
        nan = await compute.http.post(
            "/v1/jobs",
            content=b'{"model":"m","estimated_time":5,"price":1,"payload":{"a":NaN}}',
            headers={**client, "Content-Type": "application/json"},
        )
        # NaN is not JSON: the edge refuses it before the route (FastAPI's json_invalid shape).
        assert nan.status_code == 422 and nan.json()["detail"][0]["type"] == "json_invalid"

    @pytest.mark.parametrize(
        "body",
        [
            {"result_hash": "not-a-hash", "metrics": {"execution_time_seconds": 1, "gpu_time_seconds": 1}},
            {"result_hash": HASH, "metrics": {"execution_time_seconds": -1, "gpu_time_seconds": 1}},
            {"result_hash": HASH, "metrics": {"execution_time_seconds": 1}},
            {"result_hash": HASH},
        ],
    )
    async def test_bad_completions_are_422(self, compute: Compute, body: dict[str, Any]) -> None:
        miner_id, headers = await compute.miner()
        job_id = await compute.job(await compute.client())
        await compute.http.post(f"/v1/miners/{miner_id}/jobs/{job_id}/accept", headers=headers)
        response = await compute.http.post(
            f"/v1/miners/{miner_id}/jobs/{job_id}/complete", json=body, headers=headers
        )
        assert response.status_code == 422

    async def test_nul_characters_and_odd_ids_are_refused_not_500(self, compute: Compute) -> None:
        client = await compute.client()
        miner_id, headers = await compute.miner()
        nul_payload = await compute.http.post(
            "/v1/jobs", json=job_body(payload={"a": "x\u0000y"}), headers=client
        )
        # The edge refuses a JSON \u0000 (PostgreSQL stores it nowhere) before the route: FastAPI's 422.
        assert nul_payload.status_code == 422 and nul_payload.json()["detail"][0]["type"] == "json_invalid"
        assert (
            await compute.http.post("/v1/jobs", json=job_body(model="a\u0000"), headers=client)
        ).status_code == 422
        assert (
            await compute.http.post("/v1/miners", json={**OFFER_A100, "name": "a\u0000"})
        ).status_code == 422
        fail = {"error_message": "a\u0000"}
        for job_id in ("job_%00", "x" * 300):
            assert (await compute.http.get(f"/v1/jobs/{job_id}", headers=client)).status_code == 404
            assert (await compute.http.post(f"/v1/jobs/{job_id}/cancel", headers=client)).status_code == 404
            base = f"/v1/miners/{miner_id}/jobs/{job_id}"
            assert (await compute.http.post(base + "/accept", headers=headers)).status_code == 404
            assert (
                await compute.http.post(base + "/complete", json=completion(), headers=headers)
            ).status_code == 404
            assert (await compute.http.post(base + "/fail", headers=headers)).status_code == 404
            assert (await compute.http.post(base + "/fail", json=fail, headers=headers)).status_code == 422
        assert (await compute.http.get("/v1/miners/%00/stats", headers=headers)).status_code == 404

    async def test_garbage_bodies_never_500(self, compute: Compute) -> None:
        client = await compute.client()
        for raw in (b"{", b"[" * 100_000, b"\xff\xfe", b'{"model": 1}'):
            response = await compute.http.post(
                "/v1/jobs", content=raw, headers={**client, "Content-Type": "application/json"}
            )
            assert 400 <= response.status_code < 500, (raw[:10], response.status_code)


class TestConflicts:
    async def test_accept_and_complete_refusals(self, compute: Compute) -> None:
        a, a_headers = await compute.miner(max_concurrent=1)
        b, b_headers = await compute.miner()
        client = await compute.client()
        first, second = await compute.job(client), await compute.job(client)
        unknown = await compute.http.post(f"/v1/miners/{a}/jobs/job_nope/accept", headers=a_headers)
        assert unknown.status_code == 404 and unknown.json()["error_code"] == "JOB_NOT_FOUND"
        assert (
            await compute.http.post(f"/v1/miners/{a}/jobs/{first}/accept", headers=a_headers)
        ).status_code == 200
        taken = await compute.http.post(f"/v1/miners/{b}/jobs/{first}/accept", headers=b_headers)
        assert taken.status_code == 409 and taken.json()["error_code"] == "JOB_ALREADY_ASSIGNED"
        full = await compute.http.post(f"/v1/miners/{a}/jobs/{second}/accept", headers=a_headers)
        assert full.status_code == 409 and full.json()["error_code"] == "AT_CAPACITY"
        wrong = await compute.http.post(
            f"/v1/miners/{b}/jobs/{first}/complete", json=completion(), headers=b_headers
        )
        assert wrong.status_code == 409 and wrong.json()["error_code"] == "NOT_JOB_OWNER"
        running = await compute.http.post(f"/v1/jobs/{first}/cancel", headers=client)
        assert running.status_code == 409 and running.json()["error_code"] == "JOB_NOT_CANCELABLE"
        failed = await compute.http.post(
            f"/v1/miners/{a}/jobs/{first}/fail", json={"error_message": "CUDA OOM"}, headers=a_headers
        )
        assert failed.json() == {"job_id": first, "state": "QUEUED", "attempts": 1, "max_attempts": 3}
        bare = await compute.http.post(f"/v1/miners/{b}/jobs/{first}/accept", headers=b_headers)
        assert bare.status_code == 200 and bare.json()["attempt"] == 2

    async def test_money_is_exact_on_the_wire(self, compute: Compute) -> None:
        miner_id, headers = await compute.miner(max_concurrent=3, price_per_hour=0)
        client = await compute.client()
        for _ in range(3):
            job_id = await compute.job(client, price="0.1")
            await compute.http.post(f"/v1/miners/{miner_id}/jobs/{job_id}/accept", headers=headers)
            await compute.http.post(
                f"/v1/miners/{miner_id}/jobs/{job_id}/complete", json=completion(), headers=headers
            )
        stats = (await compute.http.get(f"/v1/miners/{miner_id}/stats", headers=headers)).json()
        assert stats["earnings"] == 0.3 and stats["earnings_micro"] == 300_000


class TestRateLimits:
    async def test_requests_and_job_operations_per_key(
        self, compute_settings: Callable[..., Settings]
    ) -> None:
        settings = compute_settings(
            compute_rate_limit_requests="4/minute", compute_rate_limit_job_ops="2/minute"
        )
        async with running_app(settings) as (app, http):
            compute = Compute(http, app.state.proctor)
            miner_id, headers = await compute.miner(max_concurrent=5)
            other_id, other = await compute.miner()
            jobs = [
                await compute.job(await compute.client(f"c{n}")) for n in range(3)
            ]  # 2 job ops per client
            statuses = [
                (await http.post(f"/v1/miners/{miner_id}/jobs/{job}/accept", headers=headers)).status_code
                for job in jobs
            ]
            assert statuses[:2] == [200, 200]
            refused = await http.post(f"/v1/miners/{miner_id}/jobs/{jobs[2]}/accept", headers=headers)
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
            assert refused.json()["error_code"] == "RATE_LIMIT_EXCEEDED"
            assert statuses[2] == 429
            over = await http.get(f"/v1/miners/{miner_id}", headers=headers)
            assert over.status_code == 429, "the 60/min-style request budget is spent too"
            assert (await http.get(f"/v1/miners/{other_id}", headers=other)).status_code == 200, "per key"

    async def test_registration_is_limited_per_address(
        self, compute_settings: Callable[..., Settings]
    ) -> None:
        async with running_app(compute_settings(compute_rate_limit_register="2/minute")) as (_, http):
            codes = [(await http.post("/v1/miners", json=OFFER_A100)).status_code for _ in range(3)]
            assert codes == [201, 201, 429]


async def test_mounted_beside_oro_each_prefix_keeps_its_envelope(
    compute_settings: Callable[..., Settings],
) -> None:
    """`/v1/miner` (ORO) and `/v1/miners` (compute) share a prefix; each answers in its own shape."""
    async with running_app(compute_settings(surfaces=["oro", "compute"])) as (_, http):
        oro = await http.get("/v1/miner/agents")
        assert oro.status_code == 401 and isinstance(oro.json()["detail"], dict)  # bittensor-auth's shape
        compute = await http.get("/v1/miners/miner_x")
        assert compute.status_code == 401 and compute.json()["error_code"] == "INVALID_API_KEY"
        assert (await http.post("/v1/miners", json=OFFER_A100)).status_code == 201
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert {
            "/v1/miners",
            "/v1/jobs",
            "/v1/miners/{miner_id}/jobs/{job_id}/accept",
            "/v1/miner/agents",
        } <= set(paths)
