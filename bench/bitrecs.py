"""Bitrecs /check latency for a 64-example artifact, a live `proctor serve`, a fake GitHub on loopback.

    python -m bench.bitrecs                      # SQLite, 400 checks per case
    python -m bench.bitrecs --requests 1000 --database-url postgresql+asyncpg://user@host/db

Every check passes every gate (nothing is written), so each request runs the whole /check pipeline:
the one-round-trip facts read, signature verification, the gist (GitHub, or the short cache), YAML
parsing with limits, the template rules (o200k_base token counts, Jinja parse) and the similarity
search. Cases: the gist cached (a miner's repeated /check), the gist fetched from the fake GitHub on
every request (`PROCTOR_GITHUB_CACHE_SECONDS=0`), each at 1 and 4 concurrent clients. Server time is
proctor's own Server-Timing; the target is p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from typing import Any

import httpx
from bittensor_wallet import Keypair
from rich.table import Table
from tests.support.bitrecs import FakeGitHub, artifact

from bench._common import LocalServer, console, cpu_seconds, server_seconds
from proctor.surfaces.bitrecs.client import created_at_text, submission_body

MINER = Keypair.create_from_uri("//Bob")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000 if ordered else float("nan")


async def run_case(url: str, body: dict[str, str], requests: int, concurrency: int) -> dict[str, Any]:
    client_times: list[float] = []
    server_times: list[float] = []
    errors = 0
    remaining = requests

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            started = asyncio.get_running_loop().time()
            response = await http.post("/check", json=body)
            client_times.append(asyncio.get_running_loop().time() - started)
            errors += response.status_code != 200
            seconds = server_seconds(response)
            if seconds is not None:
                server_times.append(seconds)

    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        await http.post("/check", json=body)  # warm: encoder tables, statement caches
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return {"client": client_times, "server": server_times, "errors": errors}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    github = FakeGitHub().start()
    gist_id, gist = github.add("octo", artifact(MINER.ss58_address, examples=64))
    body = submission_body(
        MINER, created_at=created_at_text(gist.created_at), account="octo", gist_id=gist_id
    )
    neurons = [{"hotkey": MINER.ss58_address, "uid": 1}]
    table = Table(title=f"Bitrecs /check, 64-example artifact ({len(gist.raw):,} bytes of YAML)")
    for column in (
        "case",
        "clients",
        "requests",
        "errors",
        "client p50",
        "client p95",
        "server p50",
        "server p95",
    ):
        table.add_column(column, justify="left" if column == "case" else "right")
    try:
        for label, cache in (("gist cached", "30"), ("gist fetched each time", "0")):
            env = {
                "PROCTOR_SURFACES": "bitrecs",
                "PROCTOR_GITHUB_API_URL": github.url,
                "PROCTOR_GIST_RAW_URL": github.url,
                "PROCTOR_GITHUB_CACHE_SECONDS": cache,
                "PROCTOR_BITRECS_MIN_VALIDATORS": "0",
                "PROCTOR_RATE_LIMIT_ENABLED": "false",
                "PROCTOR_RUN_JOBS": "false",
            }
            if args.database_url:
                env["PROCTOR_DATABASE_URL"] = args.database_url
            with LocalServer(env=env, neurons=neurons) as server:
                for clients in (1, 4):
                    assert server.proc is not None
                    cpu_before = cpu_seconds(server.proc.pid)
                    r = await run_case(server.url, body, args.requests, clients)
                    cpu = (cpu_seconds(server.proc.pid) - cpu_before) / (len(r["client"]) + 1) * 1000
                    table.add_row(
                        label,
                        str(clients),
                        str(len(r["client"])),
                        str(r["errors"]),
                        *(f"{pct(r[k], p):.1f} ms" for k in ("client", "server") for p in (50, 95)),
                        f"{cpu:.1f} ms",
                    )
                    if r["server"]:
                        console.print(
                            f"[dim]{label}, {clients} client(s): server mean "
                            f"{statistics.fmean(r['server']) * 1000:.1f} ms[/dim]"
                        )
    finally:
        github.stop()
    console.print(table)


if __name__ == "__main__":
    asyncio.run(main())
