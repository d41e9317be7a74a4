"""Signed-request cost against `/health` on the same live server, in the same run.

    python bench/auth.py                      # starts proctor on the embedded defaults
    python bench/auth.py --redis redis://127.0.0.1:6379/14 --database-url postgresql+asyncpg://…
    python bench/auth.py --url http://host:8000   # an already running server (hotkey must be registered)

The signed path is `GET /v1/auth/whoami` with ORO's four headers: signature verification, the replay
nonce store and the registry lookup, and nothing else. Requests are signed before the clock starts,
so the client's signing cost is not counted. Target: signed ≤ 2× unsigned per request.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable

import httpx
from bittensor_wallet import Keypair

from bench._common import (
    LocalServer,
    RawClient,
    Result,
    console,
    cpu_seconds,
    drive_raw,
    server_route_mean_ms,
    table,
)

SIGNER = Keypair.create_from_uri("//Alice")


def signed_headers(n: int) -> list[dict[str, str]]:
    ts = str(int(time.time()))
    out = []
    for _ in range(n):
        nonce = str(uuid.uuid4())
        sig = SIGNER.sign(f"{SIGNER.ss58_address}:{ts}:{nonce}".encode()).hex()
        out.append(
            {"X-Hotkey": SIGNER.ss58_address, "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": "0x" + sig}
        )
    return out


async def timed(pid: int | None, coro: Awaitable[Result]) -> Result:
    before = cpu_seconds(pid) if pid else None
    result = await coro
    if pid and before is not None:
        result.server_cpu = cpu_seconds(pid) - before
    return result


async def run(url: str, requests: int, concurrency: int, rounds: int, pid: int | None) -> list[Result]:
    raw = RawClient(url)
    health_request = raw.encode("GET", "/health")

    def signed_requests(n: int) -> list[bytes]:
        return [raw.encode("GET", "/v1/auth/whoami", h) for h in signed_headers(n)]

    await drive_raw("warmup", raw, concurrency, [health_request] * 500)
    await drive_raw("warmup", raw, concurrency, signed_requests(500))
    health: list[Result] = []
    signed: list[Result] = []
    for _ in range(rounds):  # interleaved rounds, so drift hits both cases alike
        health.append(
            await timed(
                pid, drive_raw("GET /health (unsigned)", raw, concurrency, [health_request] * requests)
            )
        )
        batch = signed_requests(requests)  # fresh timestamps and nonces each round
        signed.append(
            await timed(
                pid,
                drive_raw(
                    "GET /v1/auth/whoami (signed)", raw, concurrency, batch, ok=lambda status: status == 200
                ),
            )
        )
    await raw.close()
    metrics = httpx.get(url + "/metrics").text
    merged = [merge(health), merge(signed)]
    server_ms = [server_route_mean_ms(metrics, "/health"), server_route_mean_ms(metrics, "/v1/auth/whoami")]
    return merged + [server_ms]  # type: ignore[list-item]


def merge(results: list[Result]) -> Result:
    cpu = [r.server_cpu for r in results]
    return Result(
        results[0].name,
        sum(r.count for r in results),
        sum(r.errors for r in results),
        sum(r.seconds for r in results),
        [x for r in results for x in r.latencies],
        None if None in cpu else sum(cpu),
    )  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis", default="")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    env = {
        k: v
        for k, v in {"PROCTOR_REDIS_URL": args.redis, "PROCTOR_DATABASE_URL": args.database_url}.items()
        if v
    }
    if args.database_url:
        import subprocess
        import sys

        subprocess.run(
            [sys.executable, "-m", "proctor", "db", "upgrade"],
            env={**__import__("os").environ, **env},
            check=True,
            capture_output=True,
        )

    def go(url: str, pid: int | None, rss: str) -> None:
        health, signed, server_ms = asyncio.run(run(url, args.requests, args.concurrency, args.rounds, pid))
        cpu = [r.cpu_us_per_request for r in (health, signed)]
        console.print(
            table(
                f"proctor auth bench — {url}  "
                f"(concurrency {args.concurrency}, {args.rounds} interleaved rounds)",
                [health, signed],
                {
                    "server CPU µs/req": [f"{c:.0f}" if c else "-" for c in cpu],
                    "server mean ms": [f"{m:.3f}" if m else "-" for m in server_ms],  # type: ignore[union-attr]
                },
            )
        )
        by_cpu = f"{cpu[1] / cpu[0]:.2f}× by server CPU per request, " if all(cpu) else ""  # type: ignore[operator]
        console.print(
            f"signed/unsigned cost per request: {by_cpu}"
            f"{health.throughput / signed.throughput:.2f}× by throughput, "
            f"{signed.pct(50) / health.pct(50):.2f}× by p50 (target ≤ 2×)   server RSS: {rss} MB"
        )

    if args.url:
        go(args.url, None, "n/a")
        return
    neurons = [{"hotkey": SIGNER.ss58_address, "uid": 0, "validator_permit": True, "stake": 1000.0}]
    with LocalServer(env, neurons) as server:
        go(server.url, server.proc.pid if server.proc else None, f"{server.rss_mb():.0f}")


if __name__ == "__main__":
    main()
