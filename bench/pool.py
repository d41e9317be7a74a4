"""BitSOTA Pool on PostgreSQL: lease + submit cycles for 50 miners over HTTP, next to the ORO
evaluation cycle rate measured against the same server in the same run.

    python -m bench.pool --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/proctor_bench \\
        [--redis redis://127.0.0.1:6379/14] [--miners 50] [--validators 16] [--seconds 15]

The database is emptied and migrated; 400 seed algorithms are imported. Every miner then loops:
`POST /api/v1/tasks/lease` (8 to evaluate, 8 seeds) → `POST /api/v1/tasks/{id}/submit_lease` (a score
for each, one evolution, iterations), each request Pool-signed (`auth:{ts}`, sr25519). The window rule
is switched off for the run (PROCTOR_POOL_ENFORCE_WINDOW=false), otherwise a miner leases once per
window. Then ORO validators run full evaluation cycles (bench/evaluation.py's loop) for as long.
Reported: cycles/s for both, p50/p99 per endpoint, leases handed out twice (must be 0) and candidates
handed beyond their evaluations (must be 0, checked in the database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

import asyncpg
from bittensor_wallet import Keypair

from bench._common import LocalServer, RawClient, Result, console, table
from bench.evaluation import Recorder, problem_ids, reset_database, seed_work, validator_loop
from proctor.config import Settings
from proctor.core.context import build_core
from proctor.core.pool import flows
from proctor.storage.base import utcnow

EVAL_REQUIRED = 3


def pool_signed(key: Keypair) -> dict[str, str]:
    ts = str(int(time.time()))
    return {
        "X-Key": key.ss58_address,
        "X-Timestamp": ts,
        "X-Signature": key.sign(f"auth:{ts}").hex(),
        "Content-Type": "application/json",
    }


async def import_seeds(url: str, count: int) -> None:
    core = build_core(Settings(database_url=url), gate_workers=0)
    await core.start()
    try:
        seeds = [
            {"algorithm_dsl": f"# setup:\ns2 = 0.0{i}\n# predict:\ns1 = dot(v0, v1)\n"} for i in range(count)
        ]
        await flows.import_seeds(core, seeds=seeds, now=utcnow())
    finally:
        await core.close()


async def miner_loop(base: str, key: Keypair, rec: Recorder, deadline: float) -> None:
    client = RawClient(base)

    async def call(endpoint: str, path: str, body: object) -> tuple[int, bytes]:
        raw = client.encode("POST", path, pool_signed(key), json.dumps(body).encode())
        started = time.perf_counter()
        status, payload = await client.send(raw)
        rec.note(endpoint, time.perf_counter() - started, status == 200)
        return status, payload

    await call("register", "/api/v1/miners/register", {})
    n = 0
    while time.perf_counter() < deadline:
        status, payload = await call(
            "lease", "/api/v1/tasks/lease", {"eval_batch_size": 8, "seed_batch_size": 8}
        )
        if status != 200:
            await asyncio.sleep(0.05)
            continue
        lease = json.loads(payload)
        if lease["lease_id"] in rec.handed:
            rec.doubles += 1
        rec.handed[lease["lease_id"]] = key.ss58_address
        n += 1
        body = {
            "evaluations": [
                {"algorithm_id": a["id"], "score": random.random()} for a in lease["evaluate_algorithms"]
            ],
            "evolutions": [{"parent_algorithm_ids": [], "algorithm_dsl": f"# {key.ss58_address} {n}\n"}],
            "iterations": 10,
        }
        status, _ = await call("submit_lease", f"/api/v1/tasks/{lease['lease_id']}/submit_lease", body)
        rec.cycles += status == 200
    await client.close()


async def over_handed(url: str) -> int:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pool_algorithms WHERE eval_count + eval_pending > $1", EVAL_REQUIRED
            )
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/proctor_bench"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--miners", type=int, default=50)
    parser.add_argument("--validators", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()

    asyncio.run(reset_database(args.database_url))
    asyncio.run(import_seeds(args.database_url, 400))
    suite_id = asyncio.run(seed_work(args.database_url, 5000))
    miners = [Keypair.create_from_uri(f"//bench-pool-miner-{i}") for i in range(args.miners)]
    validators = [Keypair.create_from_uri(f"//bench-validator-{i}") for i in range(args.validators)]
    neurons = [{"hotkey": k.ss58_address, "validator_permit": True, "stake": 100.0} for k in validators]
    neurons += [{"hotkey": k.ss58_address} for k in miners]
    env = {
        "PROCTOR_DATABASE_URL": args.database_url,
        "PROCTOR_REDIS_URL": args.redis,
        "PROCTOR_SURFACES": "oro,pool",
        "PROCTOR_POOL_ENFORCE_WINDOW": "false",
        "PROCTOR_POOL_EVAL_REQUIRED": str(EVAL_REQUIRED),
        "PROCTOR_DB_POOL_SIZE": "30",
        "PROCTOR_DB_POOL_OVERFLOW": "10",
    }
    with LocalServer(env, neurons) as server:

        async def run(loops: list, rec: Recorder) -> float:  # type: ignore[type-arg]
            started = time.perf_counter()
            await asyncio.gather(*loops)
            return time.perf_counter() - started

        pool, oro = Recorder(), Recorder()
        deadline = time.perf_counter() + args.seconds
        pool_elapsed = asyncio.run(run([miner_loop(server.url, k, pool, deadline) for k in miners], pool))
        ids = asyncio.run(problem_ids(args.database_url, suite_id))
        deadline = time.perf_counter() + args.seconds
        oro_elapsed = asyncio.run(
            run([validator_loop(server.url, k, oro, deadline, ids) for k in validators], oro)
        )
        rss = server.rss_mb()
    rows = [
        Result(f"POOL POST {name}", len(v), pool.errors.get(name, 0), pool_elapsed, v)
        for name, v in pool.latency.items()
    ] + [
        Result(f"ORO POST {name}", len(v), oro.errors.get(name, 0), oro_elapsed, v)
        for name, v in oro.latency.items()
    ]
    console.print(
        table(f"{args.miners} Pool miners, then {args.validators} ORO validators (PostgreSQL + Redis)", rows)
    )
    over = asyncio.run(over_handed(args.database_url))
    console.print(
        f"Pool lease+submit cycles/s: {pool.cycles / pool_elapsed:,.1f} "
        f"({pool.cycles} cycles, {args.miners} miners)   "
        f"ORO evaluation cycles/s: {oro.cycles / oro_elapsed:,.1f} "
        f"({oro.cycles} cycles, {args.validators} validators)\n"
        f"leases handed out twice: {pool.doubles}   candidates handed beyond their evaluations: {over}   "
        f"server RSS: {rss:.0f} MB"
    )


if __name__ == "__main__":
    main()
