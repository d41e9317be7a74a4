"""Submission path: gate-pipeline latency for a valid 1 MB agent, and memory while a 50 MB body streams.

    python -m bench.submit                     # starts proctor on the embedded defaults
    python -m bench.submit --database-url postgresql+asyncpg://…   # or against PostgreSQL

1. Latency: N distinct miners (open registry) each submit a different, valid ~1 MB agent, one at a
   time, through the whole pipeline (stream → name/size/encoding/ast.parse/entry point/static
   analysis/registration/ban/suite/cooldown/duplicate → blob → database). Also the dry run
   (`/v1/miner/check`, every gate, nothing written). Reported: p50/p95/max.
2. Memory: one client streams a 50 MB body (chunked, no Content-Length) at /v1/miner/submit while the
   server's RSS is sampled; the request must be refused with 413 and RSS must not grow by more than
   10 MB. A second client declares Content-Length: 50 MB and must be refused before sending it.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from bittensor_wallet import Keypair

from bench._common import LocalServer, Result, console, rss_mb, server_seconds, table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.signing import oro_headers  # noqa: E402
from tests.support.suites import write_oro_suite  # noqa: E402

TARGET_BYTES = 1024 * 1024 - 2048


def one_megabyte_agent(salt: str) -> bytes:
    """A valid, realistic-looking agent of ~1 MB: many small helpers and a data table."""
    head = f'''"""Generated benchmark agent {salt}."""
import json
import math
import re
from collections import Counter
from typing import Any, Dict, List

WEIGHTS = {{"title": 2.0, "brand": 1.5, "price": 1.0}}


def agent_main(problem_data: Dict[str, Any]) -> List[Dict[str, Any]]:
    words = re.findall(r"[a-z0-9]+", problem_data.get("query", "").lower())
    counts = Counter(words)
    return [{{"terms": dict(counts), "score": math.log1p(len(words)), "salt": "{salt}"}}]
'''
    parts = [head]
    size, i = len(head), 0
    while size < TARGET_BYTES - 400:
        block = f'''

def rank_{i}(items: List[Dict[str, Any]], threshold: float = {i % 97}.5) -> Dict[str, Any]:
    """Rank candidate items by a weighted keyword score."""
    best, best_score = None, -1.0
    for item in items:
        score = sum(WEIGHTS.get(k, 0.1) for k in item if isinstance(item[k], str) and "k{i}" in item[k])
        if score > best_score and item.get("price", 0) >= threshold:
            best, best_score = item, score
    return {{"rank": {i}, "best": json.dumps(best), "score": best_score}}
'''
        parts.append(block)
        size += len(block)
        i += 1
    return "".join(parts).encode()


def data_heavy_agent(salt: str) -> bytes:
    """~1 MB the way larger agents usually get there: ~40 KB of code, the rest prompts and a lookup table.

    The data is in string literals (a prompt library and a JSON table decoded at import), which the
    parser takes in one token each; the dense profile above is the worst case for the analyser.
    """
    code = one_megabyte_agent(salt)[:40_000].decode()
    code = code[: code.rindex("\n\ndef ")]  # whole functions only
    rng = random.Random(salt)
    words = [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 10))) for _ in range(2000)
    ]
    prompts = []
    for n in range(40):
        body = " ".join(rng.choice(words) for _ in range(1600))
        prompts.append(f'PROMPT_{n} = """{body}"""\n')
    table_rows = {
        f"sku-{n}": {"w": round(rng.random(), 4), "tags": rng.sample(words, 3)} for n in range(4000)
    }
    table_json = json.dumps(table_rows, separators=(",", ":"))
    parts = [code, "\n\n", *prompts, f"\nTABLE = json.loads({table_json!r})\n"]
    text = "".join(parts)
    while len(text) < TARGET_BYTES:
        text += f"# {rng.choice(words)} {rng.choice(words)} {rng.choice(words)}\n"
    return text[:TARGET_BYTES].rsplit("\n", 1)[0].encode() + b"\n"


PROFILES = {"dense code": one_megabyte_agent, "code + data": data_heavy_agent}


def submit_request(base: str, key: Keypair, content: bytes, path: str) -> tuple[int, float, float | None]:
    """(status, client-observed seconds, server seconds from Server-Timing)."""
    started = time.perf_counter()
    r = httpx.post(
        base + path,
        headers=oro_headers(key),
        data={"agent_name": "bench agent"},
        files={"file": ("agent.py", content, "text/x-python")},
        timeout=60,
    )
    return r.status_code, time.perf_counter() - started, server_seconds(r)


def latency(base: str, count: int) -> tuple[list[Result], list[Result]]:
    """Per case: client-observed latencies, and the server's own (its Server-Timing header)."""
    client, server = [], []
    for profile, make in PROFILES.items():
        for path in ("/v1/miner/check", "/v1/miner/submit"):
            latencies, own, errors = [], [], 0
            started = time.perf_counter()
            for _ in range(count):
                status, seconds, server_time = submit_request(
                    base, Keypair.create_from_uri(f"//bench-{uuid.uuid4().hex}"), make(uuid.uuid4().hex), path
                )
                latencies.append(seconds)
                own += [server_time] if server_time is not None else []
                errors += status != 200
            label = f"{path.rsplit('/', 1)[1]}, {profile}"
            elapsed = time.perf_counter() - started
            client.append(Result(label, count, errors, elapsed, latencies))
            server.append(Result(label, count, errors, elapsed, own))
    return client, server


async def chunked_body(total: int, boundary: str) -> AsyncIterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="agent_name"\r\n\r\nbig\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.py"\r\n\r\n'
    ).encode()
    chunk = b"#" * 65536
    for _ in range(total // len(chunk)):
        yield chunk
        await asyncio.sleep(0)


def stream_memory(base: str, pid: int) -> list[tuple[str, str, str, str, str]]:
    rows = []
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            value = rss_mb(pid)
            if value is not None:
                samples.append(value)
            time.sleep(0.005)

    for label, declared in (("chunked, no Content-Length", False), ("Content-Length: 50 MB", True)):
        before = rss_mb(pid) or 0.0
        samples.clear()
        stop.clear()
        sampler = threading.Thread(target=sample)
        sampler.start()
        boundary = "benchboundary"
        key = Keypair.create_from_uri(f"//stream-{uuid.uuid4().hex}")
        headers = {**oro_headers(key), "Content-Type": f"multipart/form-data; boundary={boundary}"}
        size = 50 * 1024 * 1024
        status = "?"
        started = time.perf_counter()
        try:
            if declared:
                headers["Content-Length"] = str(size + 200)
                body: object = b"#" * (size + 200)
            else:
                body = chunked_body(size, boundary)
            r = asyncio.run(_send(base, headers, body))
            status = str(r)
        except httpx.HTTPError as exc:  # the server may close the connection as it answers 413
            status = f"closed ({type(exc).__name__})"
        elapsed = time.perf_counter() - started
        stop.set()
        sampler.join()
        peak = max(samples or [before])
        rows.append(
            (label, status, f"{before:.1f}", f"{peak:.1f}", f"{peak - before:+.1f}  ({elapsed:.2f} s)")
        )
    return rows


async def _send(base: str, headers: dict[str, str], body: object) -> int:
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(base + "/v1/miner/submit", headers=headers, content=body)  # type: ignore[arg-type]
        return response.status_code


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=30, help="submissions per path")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    env = {
        "PROCTOR_REGISTRY": "open",
        "PROCTOR_RATE_LIMIT_SUBMIT": "100000/minute",
        "PROCTOR_RATE_LIMIT_CHECK": "100000/minute",
    }
    if args.database_url:
        env["PROCTOR_DATABASE_URL"] = args.database_url
        subprocess.run(
            [sys.executable, "-m", "proctor", "db", "upgrade"],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
    with LocalServer(env) as server:
        server.env["PROCTOR_REGISTRY"] = "open"
        suite = write_oro_suite(Path(tempfile.mkdtemp()) / "suite.json", 30)
        subprocess.run(
            [sys.executable, "-m", "proctor", "admin", "suite", "import", str(suite), "--activate"],
            env=server.env,
            check=True,
            capture_output=True,
        )
        assert server.proc is not None
        for profile, make in PROFILES.items():
            sample = make("sample")
            nodes = sum(1 for _ in ast.walk(ast.parse(sample)))
            console.print(
                f"{profile}: {len(sample):,} bytes, {sample.count(b'def '):,} functions, {nodes:,} AST nodes"
            )
        submit_request(
            server.url, Keypair.create_from_uri("//warmup"), one_megabyte_agent("warm"), "/v1/miner/check"
        )
        client, own = latency(server.url, args.count)
        for title, results in (
            ("gate pipeline, server side (Server-Timing: body read → answer); target p95 < 150 ms", own),
            (
                "the same requests, client-observed on loopback (multipart encoding and transfer included)",
                client,
            ),
        ):
            console.print(table(title, results, {"p95 ms": [f"{r.pct(95):.1f}" for r in results]}))
        rows = stream_memory(server.url, server.proc.pid)
    from rich.table import Table

    t = Table(title="server RSS while a 50 MB body is sent (target: growth < 10 MB, answered 413)")
    for column in ("case", "answer", "RSS before MB", "RSS peak MB", "growth MB (time)"):
        t.add_column(column)
    for row in rows:
        t.add_row(*row)
    console.print(t)


if __name__ == "__main__":
    main()
