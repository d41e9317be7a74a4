"""Dashboard page render time with 100,000 eligible agent versions.

    python -m bench.dashboard [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/proctor_bench_dash]
        [--eligible 100000] [--requests 300]

Without --database-url the embedded SQLite default is used (a fresh file in a temp folder). The script
seeds the versions in bulk (plus two validators' runs with per-problem results for 1,000 of them, so
agent pages have a matrix, and 200 completed races of 8 qualifiers with two race runs each plus one
race running, so race pages and race scores have something to show), runs ANALYZE (on PostgreSQL
VACUUM ANALYZE, what autovacuum gives a live database), starts `proctor serve`, and asks each page
`--requests` times, one request at a time. Server time is the app's own `Server-Timing`
header (arrival to answer, rendering included); client time adds the loopback round trip.
Target: p95 server time < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bittensor_wallet import Keypair
from rich.table import Table
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from bench._common import LocalServer, console
from bench.evaluation import PROBLEMS, reset_database, seed_eligible
from proctor.config import Settings
from proctor.core.suites import service as suite_service
from proctor.models import (
    AgentVersion,
    EvaluationRun,
    Problem,
    Race,
    RaceElimination,
    RaceQualifier,
    RunProblemResult,
    ValidatorState,
    WorkItem,
)
from proctor.storage import migrate
from proctor.storage.db import create_sessionmaker, unit_of_work

VALIDATORS = [Keypair.create_from_uri(f"//dashboard-bench-{i}").ss58_address for i in range(2)]
WITH_RUNS = 1000
RACES, FIELD = 200, 8  # completed races, qualifiers per race (one more race is running)


def race_rows(
    suite_id: int, field: list[tuple[uuid.UUID, str]], number: int, now: datetime, *, running: bool
) -> tuple[dict[str, object], list[dict[str, object]], list[dict[str, object]], list[dict[str, object]]]:
    """One race with its field: the race, its qualifiers, their RACE work items and race runs (two
    validators each when complete; in a running race half the field is done and two runs are active)."""
    race_id = uuid.uuid4()
    started = now - timedelta(days=RACES + 1 - number)
    race = {
        "id": race_id,
        "suite_id": suite_id,
        "number": number,
        "status": "RACE_RUNNING" if running else "RACE_COMPLETE",
        "created_at": started - timedelta(hours=1),
        "qualifying_closes_at": started,
        "race_started_at": started,
        "race_deadline_at": started + timedelta(hours=12),
        "race_completed_at": None if running else started + timedelta(hours=2),
        "qualifying_threshold": 0.0,
        "winner_agent_version_id": None if running else field[0][0],
        "winner_score": None if running else 0.99,
    }
    qualifiers, items, runs = [], [], []
    for rank, (version_id, hotkey) in enumerate(field, start=1):
        done = not running or rank <= len(field) // 2
        item_id = uuid.uuid4()
        score = round(1.0 - rank / 100, 4) if done else None
        items.append(
            {
                "id": item_id,
                "agent_version_id": version_id,
                "suite_id": suite_id,
                "phase": "RACE",
                "race_id": race_id,
                "status": "CLOSED" if done else "OPEN",
                "required_successes": 2,
                "success_count": 2 if done else 0,
                "queued_at": started,
                "closed_at": started + timedelta(hours=1) if done else None,
                "final_score": score,
            }
        )
        qualifiers.append(
            {
                "race_id": race_id,
                "agent_version_id": version_id,
                "miner_hotkey": hotkey,
                "qualification_type": "INCUMBENT" if rank == 1 else "SCORED",
                "qualifying_score": 0.5,
                "work_item_id": item_id,
                "race_score": score,
                "race_rank": rank if not running else None,
                "outcome": "FINISHED" if done else None,
            }
        )
        validators = VALIDATORS if done else VALIDATORS[rank % 2 : rank % 2 + 1] if rank <= 6 else []
        for validator in validators:
            runs.append(
                {
                    "id": uuid.uuid4(),
                    "work_item_id": item_id,
                    "agent_version_id": version_id,
                    "suite_id": suite_id,
                    "race_id": race_id,
                    "validator_hotkey": validator,
                    "status": "SUCCESS" if done else "RUNNING",
                    "claimed_at": started,
                    "lease_expires_at": started + timedelta(hours=1) if done else now + timedelta(hours=1),
                    "completed_at": started + timedelta(hours=1) if done else None,
                    "validator_score": score,
                    "progress_done": PROBLEMS if done else 2,
                    "progress_total": PROBLEMS,
                }
            )
    return race, qualifiers, items, runs


async def prepare(url: str, eligible: int) -> tuple[list[uuid.UUID], list[object], list[uuid.UUID]]:
    """A migrated database with a suite, `eligible` versions, and runs for the first WITH_RUNS."""
    if url.startswith("postgresql"):
        await reset_database(url)
    else:
        await migrate.upgrade(Settings(database_url=url))
    engine = create_async_engine(url)
    maker = create_sessionmaker(engine)
    problems = [
        {"query": f"q{i}", "reward": {"product_id": f"{9000000000 + i}"}, "category": "Product"}
        for i in range(PROBLEMS)
    ]
    async with unit_of_work(maker) as session:
        suite_id = (await suite_service.import_suite(session, document=problems, activate=True)).suite.id
    await seed_eligible(url, suite_id, eligible)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        ids = list((await conn.execute(select(AgentVersion.id).limit(WITH_RUNS))).scalars())
        problem_ids = list((await conn.execute(select(Problem.problem_id))).scalars())
        items, runs, results = [], [], []
        for version_id in ids:
            item_id = uuid.uuid4()
            items.append(
                {
                    "id": item_id,
                    "agent_version_id": version_id,
                    "suite_id": suite_id,
                    "status": "CLOSED",
                    "required_successes": 2,
                    "success_count": 2,
                    "queued_at": now - timedelta(hours=3),
                    "closed_at": now - timedelta(hours=1),
                }
            )
            for validator in VALIDATORS:
                run_id = uuid.uuid4()
                runs.append(
                    {
                        "id": run_id,
                        "work_item_id": item_id,
                        "agent_version_id": version_id,
                        "suite_id": suite_id,
                        "validator_hotkey": validator,
                        "status": "SUCCESS",
                        "claimed_at": now - timedelta(hours=2),
                        "lease_expires_at": now - timedelta(hours=1),
                        "completed_at": now - timedelta(hours=1),
                        "validator_score": random.random(),
                        "progress_done": PROBLEMS,
                        "progress_total": PROBLEMS,
                    }
                )
                results += [
                    {"run_id": run_id, "problem_id": p, "status": "SUCCESS", "score": random.random()}
                    for p in problem_ids
                ]
        for table_, rows in ((WorkItem, items), (EvaluationRun, runs), (RunProblemResult, results)):
            for start in range(0, len(rows), 5000):
                await conn.execute(insert(table_), rows[start : start + 5000])
        await conn.execute(insert(ValidatorState), [{"hotkey": v, "last_seen_at": now} for v in VALIDATORS])
        racers = list(
            (
                await conn.execute(
                    select(AgentVersion.id, AgentVersion.miner_hotkey)
                    .order_by(AgentVersion.id)
                    .offset(WITH_RUNS)
                    .limit((RACES + 1) * FIELD)
                )
            ).all()
        )
        all_races, qualifiers, items, runs, eliminated = [], [], [], [], []
        for n in range(RACES + 1):
            field = racers[n * FIELD : (n + 1) * FIELD]
            race, q, i, r = race_rows(suite_id, field, n + 1, now, running=n == RACES)
            all_races.append(race)
            qualifiers += q
            items += i
            runs += r
            if n < RACES:
                eliminated += [
                    {"agent_version_id": v, "race_id": race["id"], "race_number": n + 1, "eliminated_at": now}
                    for v, _ in field[1:]
                ]
        race_tables: tuple[tuple[Any, list[Any]], ...] = (
            (Race, all_races),
            (WorkItem, items),
            (RaceQualifier, qualifiers),
            (EvaluationRun, runs),
            (RaceElimination, eliminated),
        )
        for race_table, race_rows_ in race_tables:
            for start in range(0, len(race_rows_), 5000):
                await conn.execute(insert(race_table), race_rows_[start : start + 5000])
        await conn.exec_driver_sql("ANALYZE")
    if url.startswith("postgresql"):
        # A live database has been through autovacuum: planner statistics and a visibility map
        # (index-only scans skip the heap only for pages it marks all-visible).
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE")
    await engine.dispose()
    return ids, [r["id"] for r in all_races], [v for v, _ in racers]


async def measure(base: str, name: str, paths: list[str]) -> tuple[str, list[float], list[float], int]:
    server_ms, client_ms, errors = [], [], 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for path in paths[:10]:  # warm-up: first-use caches and connections
            await client.get(path)
        for path in paths:
            started = time.perf_counter()
            response = await client.get(path)
            client_ms.append((time.perf_counter() - started) * 1000)
            errors += response.status_code != 200
            timing = response.headers.get("server-timing", "app;dur=nan")
            server_ms.append(float(timing.split("dur=")[1]))
    return name, server_ms, client_ms, errors


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="")
    parser.add_argument("--eligible", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    started = time.perf_counter()
    ids, race_ids, racers = asyncio.run(prepare(url, args.eligible))
    console.print(f"seeded {args.eligible:,} eligible versions in {time.perf_counter() - started:.0f} s")
    n = args.requests
    cases = {
        "leaderboard, first page": ["/"] * n,
        "leaderboard, a new page each time": [f"/?page={1 + (i * 7919) % 3999}" for i in range(n)],
        "leaderboard, 100 rows, new page": [f"/?per_page=100&page={1 + (i * 7919) % 999}" for i in range(n)],
        "leaderboard, a new search each time": [f"/?q=agent+{(i * 7919) % 100_000}" for i in range(n)],
        "agent page (2 runs × 5 problems)": [
            f"/dashboard/agents/{ids[(i * 7919) % len(ids)]}" for i in range(n)
        ],
        "leaderboard, race scores": ["/?score_type=race"] * n,
        "agent page with a race (qualifying + 2 race runs)": [
            f"/dashboard/agents/{racers[(i * 7919) % len(racers)]}" for i in range(n)
        ],
        "current race (8 qualifiers, live runs)": ["/dashboard/races"] * n,
        "race detail, a new race each time": [
            f"/dashboard/races/{race_ids[(i * 7919) % len(race_ids)]}" for i in range(n)
        ],
        "race history, a new page each time": [
            f"/dashboard/races/history?page={1 + i % 10}" for i in range(n)
        ],
        "validators": ["/dashboard/validators"] * n,
        "evaluations": ["/dashboard/evaluations"] * n,
        "rewards": ["/dashboard/rewards"] * n,
    }
    neurons = [{"hotkey": v, "validator_permit": True, "stake": 100.0} for v in VALIDATORS]
    env = {"PROCTOR_DATABASE_URL": url}
    with LocalServer(env, neurons) as server:
        results = [asyncio.run(measure(server.url, name, paths)) for name, paths in cases.items()]
    kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    table = Table(
        title=f"dashboard pages, {args.eligible:,} eligible versions ({kind}; one request at a time)"
    )
    for column in (
        "page",
        "requests",
        "errors",
        "server p50 ms",
        "server p95 ms",
        "server p99 ms",
        "client p95 ms",
    ):
        table.add_column(column, justify="left" if column == "page" else "right")
    for name, server_ms, client_ms, errors in results:
        table.add_row(
            name,
            str(len(server_ms)),
            str(errors),
            f"{statistics.median(server_ms):.1f}",
            f"{pct(server_ms, 95):.1f}",
            f"{pct(server_ms, 99):.1f}",
            f"{pct(client_ms, 95):.1f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
