"""Pool miners, task leases, windows, consensus, results and root routes over HTTP with Pool-signed
requests, on SQLite and PostgreSQL (in-process ASGI; the real client runs against a live server in
the compatibility run described in the README)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from bittensor_wallet import Keypair
from sqlalchemy import func, select

from proctor.config import Settings
from proctor.core.context import Core
from proctor.core.pool import flows
from proctor.models import PoolAssignment
from proctor.storage.base import utcnow
from tests.conftest import running_app
from tests.surfaces.pool.signing import pool_headers

SEEDS = [{"algorithm_dsl": f"# setup:\ns{i} = {i}\n# predict:\ns1 = dot(v0, v1)\n"} for i in range(4)]
WINDOW_SECONDS = 360 * 12
ACTIVE = "Miner already has active task"
WINDOW_USED = "Lease already issued for this window. Wait for next window."
GONE = "Active lease assignment not found"


def key(n: int | str) -> Keypair:
    return Keypair.create_from_uri(f"//pool-miner-{n}")


class Pool:
    def __init__(self, client: httpx.AsyncClient, core: Core) -> None:
        self.client, self.core = client, core

    async def post(self, who: Keypair, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.client.post(path, json=body if body is not None else {}, headers=pool_headers(who))

    async def get(self, who: Keypair | None, path: str, **params: Any) -> httpx.Response:
        headers = pool_headers(who) if who else {}
        return await self.client.get(path, params=params, headers=headers)

    async def lease(self, who: Keypair, **body: Any) -> httpx.Response:
        return await self.post(
            who, "/api/v1/tasks/lease", {"eval_batch_size": 8, "seed_batch_size": 8, **body}
        )

    async def submit(self, who: Keypair, lease_id: str, **body: Any) -> httpx.Response:
        return await self.post(who, f"/api/v1/tasks/{lease_id}/submit_lease", body)


@pytest.fixture
async def pool(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Pool]:
    settings = make_settings(database_url=database_url, surfaces=["oro", "pool", "claims"], run_jobs=False)
    async with running_app(settings) as (app, client):
        core = app.state.proctor.core
        await flows.import_seeds(core, seeds=SEEDS, now=utcnow())
        yield Pool(client, core)


async def test_register_is_idempotent_and_stats_follow(pool: Pool) -> None:
    a = key(1)
    first = await pool.post(a, "/api/v1/miners/register")
    again = await pool.post(a, "/api/v1/miners/register")
    assert first.status_code == again.status_code == 200
    assert first.json()["miner_hotkey"] == a.ss58_address and first.json()["reputation"] == 0.0
    assert again.json()["registered_at"] == first.json()["registered_at"]
    stats = (await pool.get(a, "/api/v1/miners/stats")).json()
    assert stats["miner"]["miner_hotkey"] == a.ss58_address and stats["pool"]["seeds"] == 4
    assert (await pool.client.post("/api/v1/miners/register", json={})).status_code == 401


async def test_the_lease_cycle_with_its_exact_refusals(pool: Pool) -> None:
    a = key(2)
    r = await pool.lease(a, gossip_limit=0)
    assert r.status_code == 200, r.text
    lease = r.json()
    assert lease["evolve_budget"] == 1 and lease["window_number"] >= 0
    assert {x["id"] for x in lease["evaluate_algorithms"]} and all(
        set(x) >= {"id", "algorithm_dsl", "input_dim"} for x in lease["seed_algorithms"]
    )
    assert lease["timeout_at"].endswith(("Z", "+00:00"))
    busy = await pool.lease(a)
    assert (busy.status_code, busy.json()["detail"]) == (400, ACTIVE)
    evaluations = [{"algorithm_id": x["id"], "score": 0.5} for x in lease["evaluate_algorithms"]]
    evolutions = [{"parent_algorithm_ids": [lease["seed_algorithms"][0]["id"]], "algorithm_dsl": "# new\n"}]
    signed = {"public_address": a.ss58_address, "signature": "00", "message": "auth:0"}  # tolerated
    done = await pool.submit(
        a, lease["lease_id"], evaluations=evaluations, evolutions=evolutions, iterations=12, **signed
    )
    assert done.status_code == 200, done.text
    assert done.json()["evaluations_accepted"] == len(evaluations) and done.json()["evolutions_accepted"] == 1
    again = await pool.submit(a, lease["lease_id"], evaluations=[], evolutions=[], iterations=1)
    assert (again.status_code, again.json()["detail"]) == (404, GONE)
    used = await pool.lease(a)
    assert (used.status_code, used.json()["detail"]) == (400, WINDOW_USED)
    later = await pool.lease(a, sim_window_number=lease["window_number"] + 1)
    assert later.status_code == 200 and later.json()["window_number"] == lease["window_number"] + 1


async def test_bad_submissions_are_clear_4xx_and_change_nothing(pool: Pool) -> None:
    a, b = key(3), key(4)
    lease = (await pool.lease(a)).json()
    lid = lease["lease_id"]
    assert (await pool.submit(a, lid, evaluations=[{"algorithm_id": 999999, "score": 1}])).status_code == 400
    assert (await pool.submit(a, lid, evaluations=[{"algorithm_id": 1, "score": "x"}])).status_code == 422
    assert (await pool.submit(a, lid, iterations=-1)).status_code == 422
    assert (await pool.submit(a, lid, evolutions=[{"algorithm_dsl": "   "}])).status_code == 400
    assert (await pool.submit(b, lid)).json()["detail"] == GONE  # not the owner's
    assert (await pool.submit(a, "not-a-uuid")).status_code == 404
    assert (await pool.lease(a, eval_batch_size=1)).status_code == 422
    assert (await pool.lease(a, gossip_limit=51)).status_code == 422
    assert (await pool.post(a, "/api/v1/tasks/request", {"task_type": "mine"})).status_code == 422
    ok = await pool.submit(a, lid, evaluations=[], evolutions=[], iterations=0)
    assert ok.status_code == 200, "the refused attempts left the lease live"


async def test_an_expired_lease_is_gone_and_its_batch_goes_to_another_miner(pool: Pool) -> None:
    a, b = key(5), key(6)
    lease = (await pool.lease(a)).json()
    late = utcnow() + timedelta(seconds=pool.core.settings.pool_lease_seconds + 1)
    assert await flows.reap(pool.core, late) == 1
    gone = await pool.submit(a, lease["lease_id"], evaluations=[], iterations=0)
    assert (gone.status_code, gone.json()["detail"]) == (404, GONE)
    taken = await flows.take(pool.core, miner=b.ss58_address, kind="lease", now=utcnow())
    assert taken is not None, "the reopened batch is handed out again"


async def test_legacy_task_pool(pool: Pool) -> None:
    a = key(7)
    evolve = await pool.post(a, "/api/v1/tasks/request", {"task_type": "evolve"})
    assert (
        evolve.status_code == 200 and evolve.json()["task_type"] == "evolve" and evolve.json()["algorithms"]
    )
    batch = evolve.json()["batch_id"]
    busy = await pool.post(a, "/api/v1/tasks/request", {"task_type": "evaluate"})
    assert (busy.status_code, busy.json()["detail"]) == (400, ACTIVE)
    body = {
        "evolved_function": "# evolved\n",
        "parent_functions": [{"id": evolve.json()["algorithms"][0]["id"]}],
    }
    assert (await pool.post(a, f"/api/v1/tasks/{batch}/submit_evolution", body)).status_code == 200
    pending = await pool.get(a, "/api/v1/tasks/pending_evaluations")
    assert pending.json() == {"has_pending_evaluations": True}
    evaluate = await pool.post(a, "/api/v1/tasks/request", {"task_type": "evaluate"})
    assert evaluate.status_code == 200 and evaluate.json()["task_type"] == "evaluate"
    scores = [{"algorithm_id": x["id"], "score": 0.7} for x in evaluate.json()["algorithms"]]
    path = f"/api/v1/tasks/{evaluate.json()['batch_id']}/submit_evaluation"
    assert (await pool.post(a, path, {"evaluations": scores})).status_code == 200


async def test_consensus_closes_the_window_into_points_sota_and_reputation(pool: Pool) -> None:
    miners = [key(f"c{i}") for i in range(3)]
    scores = [0.80, 0.82, 0.20]  # two agree (k = 2), one is far off; each candidate wants 3
    window = None
    for who, score in zip(miners, scores, strict=True):
        lease = (await pool.lease(who, eval_batch_size=2, seed_batch_size=2)).json()
        window = lease["window_number"]
        evals = [{"algorithm_id": x["id"], "score": score} for x in lease["evaluate_algorithms"]]
        r = await pool.submit(who, lease["lease_id"], evaluations=evals, iterations=3)
        assert r.status_code == 200, r.text
    closed = await flows.close_windows(pool.core, utcnow() + timedelta(seconds=2 * WINDOW_SECONDS))
    assert closed == [window]
    assert await flows.close_windows(pool.core, utcnow() + timedelta(seconds=2 * WINDOW_SECONDS)) == []
    sota = (await pool.get(None, "/api/v1/results/sota", task_type="cifar10_binary")).json()
    assert sota["sota_score"] == pytest.approx(0.81)
    board = (await pool.get(None, "/api/v1/miners/leaderboard")).json()["leaderboard"]
    assert board[0]["reputation"] > 0 and board[-1]["reputation"] == 0.0
    results = (await pool.get(miners[0], "/api/v1/results/", limit=10, min_score=0.5)).json()
    assert results["count"] >= 1 and results["results"][0]["score"] == pytest.approx(0.81)
    rid = results["results"][0]["result_id"]
    verified = await pool.post(miners[0], f"/api/v1/results/verify/{rid}")
    assert verified.status_code == 200 and verified.json()["result_id"] == rid
    assert (await pool.post(miners[0], "/api/v1/results/verify/999999")).status_code == 404
    stats = (await pool.get(miners[2], "/api/v1/miners/stats")).json()
    assert stats["recent_windows"][0]["disagreements"] >= 1 and stats["recent_windows"][0]["points"] == 0.0
    monitor = (await pool.get(None, "/api/v1/monitor/summary")).json()
    assert monitor["leases"]["completed_15m"] == 3 and monitor["last_window"]["window_number"] == window


async def test_health_and_status_serve_both_families(pool: Pool) -> None:
    for path in ("/health", "/status"):
        body = (await pool.client.get(path)).json()
        assert body["status"] == "healthy"
        assert {"window_number", "current_block", "time_remaining_s", "onchain_runtime"} <= set(body)
        runtime = body["onchain_runtime"]
        assert runtime["proof_api"]["enabled"] is True and runtime["contract_status"]["read_error"] is None
    assert (await pool.client.get("/health")).json()["service"] == "proctor"  # ORO's free-form fields
    assert (await pool.client.get("/disclaimer.md")).text.startswith("# Disclaimer")
    assert (await pool.client.get("/api/v1/disclaimer.md")).status_code == 200
    assert (await pool.client.get("/api/v1/disclaimer")).json()["title"] == "Disclaimer"


@pytest.mark.postgres
async def test_fifty_miners_lease_concurrently(make_settings: Callable[..., Settings], pg: Any) -> None:
    from tests.support import services

    dbs: services.PostgresDatabases = pg
    url = dbs.url(await dbs.create())
    settings = make_settings(database_url=url, surfaces=["pool"], run_jobs=False, db_pool_size=30)
    async with running_app(settings) as (app, client):
        core = app.state.proctor.core
        await flows.import_seeds(core, seeds=[{"algorithm_dsl": f"# s{i}"} for i in range(40)], now=utcnow())
        p = Pool(client, core)
        miners = [key(f"m{i}") for i in range(50)]
        answers = await asyncio.gather(*(p.lease(m, eval_batch_size=4) for m in miners))
        twice = await asyncio.gather(*(p.lease(m) for m in miners[:10]), *(p.lease(m) for m in miners[:10]))
        async with core.db.transaction() as tx:
            shared = await tx.all(
                select(PoolAssignment.batch_id).group_by(PoolAssignment.batch_id).having(func.count() > 1)
            )
        assert shared == [], "no batch handed out twice"
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers if r.status_code != 200]
    assert all(r.status_code == 400 for r in twice), "no miner holds two assignments"
    leases = [r.json() for r in answers]
    assert len({x["lease_id"] for x in leases}) == 50
    handed: dict[int, int] = {}
    for lease in leases:
        for algo in lease["evaluate_algorithms"]:
            handed[algo["id"]] = handed.get(algo["id"], 0) + 1
    assert max(handed.values()) <= settings.pool_eval_required, "no candidate handed out beyond its need"
    assert uuid.UUID(leases[0]["lease_id"])


async def test_monitor_token_and_production_windows(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    secret = "s" * 40
    settings = make_settings(
        database_url=database_url,
        surfaces=["pool"],
        run_jobs=False,
        env="production",
        secret_key=secret,
        pool_monitor_token="watch",
    )
    async with running_app(settings) as (_, client):
        assert (await client.get("/api/v1/monitor/summary")).status_code == 401
        bad = await client.get("/api/v1/monitor/summary", headers={"X-Monitor-Token": "nope"})
        assert bad.status_code == 401 and "detail" in bad.json()
        good = await client.get("/api/v1/monitor/summary", headers={"X-Monitor-Token": "watch"})
        assert good.status_code == 200 and good.json()["leases"]["overdue"] == 0
        body = {"sim_window_number": 9000}
        refused = await client.post("/api/v1/tasks/lease", json=body, headers=pool_headers(key("prod")))
        assert refused.status_code == 400 and "production" in refused.json()["detail"]


def test_pool_jobs_are_switched_by_settings(make_settings: Callable[..., Settings]) -> None:
    from proctor.worker.jobs import all_jobs

    names = {job.name for job in all_jobs(make_settings(surfaces=["oro"]))}
    assert {"pool.reap", "pool.close_windows"} <= names, "on by setting, whatever surfaces are mounted"
    off = make_settings(pool_reaper_interval_seconds=0, pool_consensus_interval_seconds=0)
    assert not {j.name for j in all_jobs(off)} & {"pool.reap", "pool.close_windows"}


def test_seeds_import_cli(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from proctor.cli.main import app

    env = {"PROCTOR_DATA_DIR": str(tmp_path / "cli"), "PROCTOR_REGISTRY": "open"}
    sample = "src/proctor/data/pool/seeds.json"
    first = CliRunner().invoke(app, ["admin", "pool", "seeds", "import", sample], env=env)
    assert first.exit_code == 0 and "added=4" in first.output, first.output
    again = CliRunner().invoke(app, ["admin", "pool", "seeds", "import", sample], env=env)
    assert "added=0" in again.output and "already_known=4" in again.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"seeds": [{"nope": 1}]}')
    refused = CliRunner().invoke(app, ["admin", "pool", "seeds", "import", str(bad)], env=env)
    assert refused.exit_code == 2


async def test_a_banned_hotkey_cannot_register_or_lease(pool: Pool) -> None:
    from proctor.core.identity import service as identity_service
    from proctor.storage.db import unit_of_work

    banned = key("banned")
    async with unit_of_work(pool.core.sessionmaker) as s:
        await identity_service.ban(s, hotkey=banned.ss58_address, reason="sybil")
    await pool.core.registry.refresh()
    for path in ("/api/v1/miners/register", "/api/v1/tasks/lease", "/api/v1/tasks/request"):
        r = await pool.post(banned, path)
        assert r.status_code == 403 and "sybil" in r.json()["detail"], path


async def test_a_window_closes_only_once_its_live_leases_are_done(pool: Pool) -> None:
    from proctor.core.pool.windows import window_at

    start = utcnow()
    w = window_at(start, window_blocks=360, block_seconds=12.0)
    end = start + timedelta(seconds=w.time_remaining_s)
    before = end - timedelta(seconds=10)
    lease = await flows.lease(
        pool.core,
        miner="late-miner",
        eval_batch_size=2,
        seed_batch_size=2,
        sim_window_number=None,
        now=before,
    )
    assert lease.window == w.number
    assert await flows.close_windows(pool.core, end + timedelta(seconds=5)) == [], "its lease is still live"
    evaluations = [flows.Evaluation(int(a["id"]), 0.5) for a in lease.evaluate]
    await flows.submit(
        pool.core,
        miner="late-miner",
        lease_id=lease.lease.id,
        kinds=("lease",),
        evaluations=evaluations,
        evolutions=[],
        iterations=1,
        now=end + timedelta(seconds=20),
    )
    assert await flows.close_windows(pool.core, end + timedelta(seconds=30)) == [w.number]
    from proctor.core.pool import reads

    [points] = await reads.all_rows(pool.core, reads.MINER_WINDOWS, {"miner": "late-miner"})
    assert points.window_number == w.number and points.evaluations == len(evaluations), "its work counted"
