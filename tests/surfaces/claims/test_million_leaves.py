"""A 1,000,000-leaf epoch: published by the CLI and served by the claim app, bounded in time and memory.

Prints the measured numbers (run with `-s` to see them): publication wall time and peak RSS of the
`proctor admin epoch publish` process, proof latency and peak RSS of the serving process.

The million runs once, on PostgreSQL: scale is this test's point, and PostgreSQL is the database a
deployment that size would run (replicas share one), with its own bulk path (COPY) and a 64 MiB `bytea` of
nodes to load. SQLite runs the same publish-and-serve path on 20,000 leaves, where the whole tree dump
is also loaded and checked against the root; its bulk insert (`executemany`) is the same code at any
size. `bench/merkle.py` times the tree itself at a million leaves.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from proctor.auth.verifier import public_key
from proctor.core.rewards.merkle import LEAF_ENCODING, StandardMerkleTree, verify
from tests.core.rewards.keys import random_hotkeys
from tests.surfaces.claims.conftest import ClaimsServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

MILLION = 1_000_000
SMALL = 20_000
BUDGET = 10**18  # a billion alpha in RAO
PROOFS = 300
MAX_PUBLISH_SECONDS = 300
MAX_PUBLISH_RSS = 4 * 2**30
MAX_SERVER_RSS = 2 * 2**30


def write_snapshot(path: Path, hotkeys: list[str], seed: int) -> None:
    rng = random.Random(seed)
    half = len(hotkeys) // 2
    competitions = [
        {"weight": 0.8, "miners": [{"hotkey": h, "score": rng.randint(1, 10**6) / 1000} for h in hotkeys]},
        {"weight": 0.2, "miners": [{"hotkey": h, "score": rng.randint(1, 100)} for h in hotkeys[:half]]},
    ]
    path.write_text(json.dumps({"competitions": competitions}))


def run_measured(env: dict[str, str], *args: str) -> tuple[int, float, int, str]:
    """Run `proctor …`; (exit code, wall seconds, peak RSS bytes, stderr+stdout) of that one process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "proctor", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - started, usage.ru_maxrss * 1024, output


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.parametrize(
    ("backend_env", "leaves"),
    [("sqlite", SMALL), pytest.param("postgres", MILLION, marks=pytest.mark.postgres)],
    indirect=["backend_env"],
)
def test_million_leaf_epoch_publishes_and_serves(
    backend_env: dict[str, str],
    leaves: int,
    start_claims_server: Callable[[dict[str, str]], ClaimsServerProcess],
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in backend_env.items() if k not in ("PROCTOR_SURFACES", "PROCTOR_CLAIMS_ENABLED")}
    hotkeys = random_hotkeys(leaves, seed=7)
    scores = tmp_path / "scores.json"
    write_snapshot(scores, hotkeys, seed=7)

    code, publish_seconds, publish_rss, output = run_measured(
        env, "admin", "epoch", "publish", "--budget", str(BUDGET), "--scores", str(scores)
    )
    assert code == 0, output
    assert f"leaves={leaves}" in output

    server = start_claims_server(env)
    base = server.base_url
    meta = httpx.get(f"{base}/epoch/1", timeout=30).json()
    assert meta["num_of_leaves"] == leaves and meta["total_units"] == BUDGET

    sample = random.Random(1).sample(hotkeys, PROOFS)
    latencies = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for hk in sample:
            started = time.perf_counter()
            package = client.get(f"/epoch/1/claim/{hk}").json()
            latencies.append(time.perf_counter() - started)
            value = (
                1,
                package["index"],
                public_key(hk),
                public_key(package["recipient_coldkey"]),
                package["amount"],
            )
            assert len(package["proof"]) in (leaves.bit_length() - 1, leaves.bit_length())  # 19 or 20
            assert verify(meta["root"], LEAF_ENCODING, value, package["proof"])
        started = time.perf_counter()
        size = 0
        kept = bytearray()  # the whole dump when it is small enough to load and check
        with client.stream("GET", "/epoch/1/tree") as response:
            assert response.status_code == 200
            tail = b""
            for chunk in response.iter_bytes():
                size += len(chunk)
                tail = (tail + chunk)[-2:]
                if leaves <= SMALL:
                    kept += chunk
        dump_seconds = time.perf_counter() - started
    assert tail == b"]}"
    if leaves <= SMALL:
        tree = StandardMerkleTree.load(json.loads(kept))
        assert tree.root == meta["root"] and len(tree) == leaves
    server_rss = peak_rss(server.process.pid)  # type: ignore[union-attr]

    warm = sorted(latencies[1:])
    report = {
        "database": "postgres" if "PROCTOR_DATABASE_URL" in env else "sqlite",
        "publish_seconds": round(publish_seconds, 1),
        "publish_peak_rss_mib": round(publish_rss / 2**20),
        "first_proof_ms (loads the tree: 64 MiB at a million)": round(latencies[0] * 1000, 1),
        "proof_p50_ms": round(statistics.median(warm) * 1000, 2),
        "proof_p99_ms": round(warm[int(len(warm) * 0.99)] * 1000, 2),
        "tree_dump_mib": round(size / 2**20),
        "tree_dump_seconds": round(dump_seconds, 1),
        "server_peak_rss_mib": round(server_rss / 2**20),
    }
    print(f"\n{leaves:,}-leaf epoch:", json.dumps(report, indent=1))
    assert publish_seconds < MAX_PUBLISH_SECONDS
    assert publish_rss < MAX_PUBLISH_RSS
    assert server_rss < MAX_SERVER_RSS
    assert statistics.median(warm) < 0.05
