"""Evaluation lifecycle on PostgreSQL: full signed cycles with concurrent validators, and read latency
of the leaderboard and top agent with 100,000 eligible versions.

    python -m bench.evaluation --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/proctor_bench \\
        [--redis redis://127.0.0.1:6379/14] [--validators 64] [--seconds 30] [--eligible 100000]

The database is created (or emptied) and migrated by the script. Work items are seeded straight into
the database (submissions are measured by bench/submit.py); every validator then loops over HTTP:
claim → heartbeat → progress (all problems) → complete, each request signed with ORO's headers.
Reported: cycles per second, p50/p99 per endpoint, double assignments (must be 0, checked both from
the answers and in the database), then leaderboard/top latency with the eligible versions loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from bittensor_wallet import Keypair
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from bench._common import LocalServer, RawClient, Result, console, drive_raw, metric_total, table
from proctor.config import Settings
from proctor.core.suites import service as suite_service
from proctor.models import Agent, AgentVersion, EvaluationRun, WorkItem
from proctor.storage import migrate
from proctor.storage.db import create_sessionmaker, unit_of_work

PROBLEMS = 5


def signed(key: Keypair) -> dict[str, str]:
    ts, nonce = str(int(time.time())), str(uuid.uuid4())
    sig = key.sign(f"{key.ss58_address}:{ts}:{nonce}".encode()).hex()
    return {
        "X-Hotkey": key.ss58_address,
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": "0x" + sig,
        "Content-Type": "application/json",
    }


async def reset_database(url: str) -> None:
    """A fresh bench database (dropped and created again), migrated from scratch."""
    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    base, name = plain.rsplit("/", 1)
    admin = await asyncpg.connect(base + "/test")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await migrate.upgrade(Settings(database_url=url))


async def seed_work(url: str, items: int, history: int = 0, validators: Sequence[str] = ()) -> int:
    """`items` accepted versions, each waiting for two validators, behind `history` versions that two of
    the validators already evaluated (a database in service, not a new one); returns the suite id.

    The tables are then analysed, as autovacuum does within a minute on a live database: a benchmark
    that starts on empty tables without statistics measures plans PostgreSQL never keeps (a sequential
    scan of `evaluation_runs` inside every claim), not the service.
    """
    engine = create_async_engine(url)
    maker = create_sessionmaker(engine)
    problems = [
        {"query": f"q{i}", "reward": {"product_id": f"{9000000000 + i}"}, "category": "Product"}
        for i in range(PROBLEMS)
    ]
    async with unit_of_work(maker) as session:
        suite = (await suite_service.import_suite(session, document=problems, activate=True)).suite
        suite_id = suite.id
    now = datetime.now(UTC)
    agents, versions, work, runs = [], [], [], []
    for i in range(-history, items):
        agent_id, version_id = uuid.uuid4(), uuid.uuid4()
        hotkey = f"bench-miner-{i}"
        done = i < 0
        agents.append({"id": agent_id, "miner_hotkey": hotkey, "name": f"agent {i}", "created_at": now})
        versions.append(
            {
                "id": version_id,
                "agent_id": agent_id,
                "miner_hotkey": hotkey,
                "version_number": 1,
                "suite_id": suite_id,
                "code_sha256": uuid.uuid4().hex * 2,
                "code_size": 10,
                "blob_key": "agent-code/00/bench",
                "state": "ELIGIBLE" if done else "QUEUED",
                "submitted_at": now,
                "review_flags": [],
                "final_score": 0.5 if done else None,
            }
        )
        item_id = uuid.uuid4()
        work.append(
            {
                "id": item_id,
                "agent_version_id": version_id,
                "suite_id": suite_id,
                "phase": "QUALIFYING",
                "status": "CLOSED" if done else "OPEN",
                "required_successes": 2,
                "success_count": 2 if done else 0,
                "failure_count": 0,
                "active_count": 0,
                "queued_at": now + timedelta(microseconds=i),
                "closed_at": now if done else None,
                "final_score": 0.5 if done else None,
            }
        )
        if done:
            for n in range(2):
                runs.append(
                    {
                        "id": uuid.uuid4(),
                        "work_item_id": item_id,
                        "agent_version_id": version_id,
                        "suite_id": suite_id,
                        "validator_hotkey": validators[(2 * i + n) % len(validators)],
                        "slot": 0,
                        "status": "SUCCESS",
                        "claimed_at": now - timedelta(minutes=5),
                        "lease_expires_at": now - timedelta(minutes=2),
                        "completed_at": now - timedelta(minutes=4),
                        "validator_score": 0.5,
                        "is_included": True,
                        "progress_done": PROBLEMS,
                        "progress_total": PROBLEMS,
                    }
                )
    async with engine.begin() as conn:
        for table_, rows in (
            (Agent, agents),
            (AgentVersion, versions),
            (WorkItem, work),
            (EvaluationRun, runs),
        ):
            for start in range(0, len(rows), 5000):
                await conn.execute(insert(table_), rows[start : start + 5000])
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).exec_driver_sql("ANALYZE")
    await engine.dispose()
    return suite_id


class Recorder:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.handed: dict[str, str] = {}
        self.doubles = 0
        self.cycles = 0

    def note(self, endpoint: str, seconds: float, ok: bool) -> None:
        self.latency.setdefault(endpoint, []).append(seconds)
        self.errors[endpoint] = self.errors.get(endpoint, 0) + (0 if ok else 1)


async def validator_loop(
    base: str, key: Keypair, rec: Recorder, deadline: float, problem_ids: list[str]
) -> None:
    client = RawClient(base)

    async def call(endpoint: str, path: str, body: object) -> tuple[int, bytes]:
        raw = client.encode("POST", path, signed(key), json.dumps(body).encode())
        started = time.perf_counter()
        status, payload = await client.send(raw)
        rec.note(endpoint, time.perf_counter() - started, status in (200, 204))
        return status, payload

    while time.perf_counter() < deadline:
        status, payload = await call("claim", "/v1/validator/work/claim", {"cpu_pct": 10.0})
        if status != 200:
            await asyncio.sleep(0.05)
            continue
        run = json.loads(payload)["eval_run_id"]
        if run in rec.handed:
            rec.doubles += 1
        rec.handed[run] = key.ss58_address
        await call("heartbeat", f"/v1/validator/evaluation-runs/{run}/heartbeat", {"ram_pct": 20.0})
        updates = [{"problem_id": p, "status": "SUCCESS", "score": random.random()} for p in problem_ids]
        await call("progress", f"/v1/validator/evaluation-runs/{run}/progress", {"problems": updates})
        status, _ = await call(
            "complete",
            f"/v1/validator/evaluation-runs/{run}/complete",
            {"terminal_status": "SUCCESS", "validator_score": random.random()},
        )
        rec.cycles += status == 200
    await client.close()


async def problem_ids(url: str, suite_id: int) -> list[str]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT problem_id FROM problems WHERE suite_id = $1", suite_id)
    finally:
        await conn.close()
    return [str(r["problem_id"]) for r in rows]


async def doubles_in_database(url: str) -> int:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        per_pair = (
            await conn.execute(
                select(func.count()).select_from(
                    select(EvaluationRun.work_item_id, EvaluationRun.validator_hotkey)
                    .group_by(EvaluationRun.work_item_id, EvaluationRun.validator_hotkey)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
        ).scalar_one()
        over = (
            await conn.execute(
                select(func.count())
                .select_from(WorkItem)
                .where(WorkItem.success_count > WorkItem.required_successes)
            )
        ).scalar_one()
    await engine.dispose()
    return int(per_pair) + int(over)


async def seed_eligible(url: str, suite_id: int, count: int) -> None:
    engine = create_async_engine(url)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(delete(WorkItem).where(WorkItem.status == "OPEN"))
        for start in range(0, count, 5000):
            agents, versions = [], []
            for i in range(start, min(count, start + 5000)):
                agent_id = uuid.uuid4()
                hotkey = f"5Bench{i:08d}"
                agents.append(
                    {"id": agent_id, "miner_hotkey": hotkey, "name": f"eligible agent {i}", "created_at": now}
                )
                versions.append(
                    {
                        "id": uuid.uuid4(),
                        "agent_id": agent_id,
                        "miner_hotkey": hotkey,
                        "version_number": 1,
                        "suite_id": suite_id,
                        "code_sha256": uuid.uuid4().hex * 2,
                        "code_size": 10,
                        "blob_key": "agent-code/00/bench",
                        "state": "ELIGIBLE",
                        "submitted_at": now - timedelta(days=2),
                        "review_flags": [],
                        "final_score": random.random(),
                        "eligible_at": now - timedelta(seconds=i),
                        "code_available_at": now,
                    }
                )
            await conn.execute(insert(Agent), agents)
            await conn.execute(insert(AgentVersion), versions)
        await conn.exec_driver_sql("ANALYZE")
    await engine.dispose()


async def read_latency(base: str, requests: int) -> list[Result]:
    client = RawClient(base)
    cases = {
        "GET /v1/public/leaderboard": "/v1/public/leaderboard?score_type=qualifying&limit=100&offset=0",
        "GET /v1/public/leaderboard (offset 50k)": "/v1/public/leaderboard?limit=100&offset=50000",
        "GET /v1/public/leaderboard?q=agent 4242": "/v1/public/leaderboard?limit=100&q=agent%204242",
        "GET /v1/public/top": "/v1/public/top",
    }
    results = []
    for name, path in cases.items():
        raw = client.encode("GET", path)
        await drive_raw("warmup", client, 4, [raw] * 20)
        results.append(await drive_raw(name, client, 4, [raw] * requests))
    # Every request different, so none is answered from the 2 s cache of rendered pages: the cost of
    # a page (a slice of the cached ranking, a primary-key fetch and the decoration) and of a search.
    varied = {
        "GET /v1/public/leaderboard (new page each time)": [
            f"/v1/public/leaderboard?limit=100&offset={(i * 7919) % 99_900}" for i in range(requests)
        ],
        "GET /v1/public/leaderboard?q=(new term each time)": [
            f"/v1/public/leaderboard?limit=100&q=agent%20{(i * 7919) % 100_000}" for i in range(requests)
        ],
    }
    for name, paths in varied.items():
        results.append(await drive_raw(name, client, 4, [client.encode("GET", p) for p in paths]))
    await client.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/proctor_bench"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--validators", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument(
        "--history", type=int, default=20000, help="versions already evaluated (two finished runs each)"
    )
    parser.add_argument("--eligible", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=400)
    parser.add_argument("--workers", type=int, default=1, help="PROCTOR_WORKERS for the server")
    args = parser.parse_args()

    asyncio.run(reset_database(args.database_url))
    keys = [Keypair.create_from_uri(f"//bench-validator-{i}") for i in range(args.validators)]
    suite_id = asyncio.run(
        seed_work(args.database_url, args.items, args.history, [k.ss58_address for k in keys])
    )
    neurons = [{"hotkey": k.ss58_address, "validator_permit": True, "stake": 100.0} for k in keys]
    env = {
        "PROCTOR_DATABASE_URL": args.database_url,
        "PROCTOR_REDIS_URL": args.redis,
        "PROCTOR_DB_POOL_SIZE": "30",
        "PROCTOR_DB_POOL_OVERFLOW": "10",
        "PROCTOR_WORKERS": str(args.workers),
    }
    with LocalServer(env, neurons) as server:
        ids = asyncio.run(problem_ids(args.database_url, suite_id))
        rec = Recorder()

        def counters() -> dict[str, float | None]:
            text = httpx.get(server.url + "/metrics").text
            return {n: metric_total(text, n) for n in ("proctor_db_statements", "proctor_redis_round_trips")}

        async def cycles() -> float:
            started = time.perf_counter()
            deadline = started + args.seconds
            await asyncio.gather(*(validator_loop(server.url, k, rec, deadline, ids) for k in keys))
            return time.perf_counter() - started

        before, cpu_before = counters(), server.cpu_seconds()
        elapsed = asyncio.run(cycles())
        cpu, after = server.cpu_seconds() - cpu_before, counters()
        rss = server.rss_mb()
        requests = sum(len(v) for v in rec.latency.values())
        endpoints = [
            Result(f"POST {name}", len(v), rec.errors.get(name, 0), elapsed, v)
            for name, v in rec.latency.items()
        ]
        console.print(
            table(
                f"{args.validators} validators, full signed cycles over HTTP for {elapsed:.0f} s "
                "(PostgreSQL + Redis)",
                endpoints,
            )
        )
        in_db = asyncio.run(doubles_in_database(args.database_url))
        console.print(
            f"full evaluation cycles/s: {rec.cycles / elapsed:,.1f}  ({rec.cycles} cycles)   "
            f"double assignments: {rec.doubles} in answers, {in_db} in the database   "
            f"server RSS: {rss:.0f} MB"
        )
        per_request = {
            name: (after[name] - before[name]) / requests  # type: ignore[operator]
            for name in after
            if args.workers == 1 and after[name] is not None and before[name] is not None and requests
        }
        console.print(
            f"server CPU per full cycle: {cpu / max(rec.cycles, 1) * 1000:.2f} ms   "
            f"per request: {cpu / max(requests, 1) * 1e6:,.0f} µs   workers: {args.workers}   "
            + "   ".join(
                f"{name.removeprefix('proctor_')} per request: {v:.2f}" for name, v in per_request.items()
            )
        )
        asyncio.run(seed_eligible(args.database_url, suite_id, args.eligible))
        reads = asyncio.run(read_latency(server.url, args.reads))
        console.print(
            table(
                f"read latency with {args.eligible:,} eligible versions (4 concurrent readers; "
                "target p95 < 25 ms)",
                reads,
                {"p95 ms": [f"{r.pct(95):.1f}" for r in reads]},
            )
        )


if __name__ == "__main__":
    main()
