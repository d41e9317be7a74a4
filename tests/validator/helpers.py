"""Driving real `proctor` processes for the validator and CLI tests."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.signing import ALICE, BOB, CHARLIE, DAVE, EVE

DEMO_DATA = Path(__file__).resolve().parents[2] / "src" / "proctor" / "data" / "demo"
DEMO_SUITE = DEMO_DATA / "suite.json"
DEMO_AGENT = DEMO_DATA / "agent.py"
DEMO_SCORE = 0.875  # the sample agent misses one of the eight demo problems (a synonym it cannot see)

# Bob and Dave mine; Alice, Charlie and Eve hold validator permits.
VALIDATOR_REGISTRY = {
    "netuid": 15,
    "neurons": [
        {"hotkey": ALICE.ss58_address, "uid": 0, "validator_permit": True, "stake": 1000.0},
        {"hotkey": BOB.ss58_address, "uid": 1},
        {"hotkey": CHARLIE.ss58_address, "uid": 2, "validator_permit": True, "stake": 1000.0},
        {"hotkey": DAVE.ss58_address, "uid": 3},
        {"hotkey": EVE.ss58_address, "uid": 4, "validator_permit": True, "stake": 1000.0},
    ],
}


def write_registry(path: Path) -> Path:
    path.write_text(yaml.safe_dump(VALIDATOR_REGISTRY))
    return path


def proctor(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the `proctor` CLI in a child process (the real entry point)."""
    return subprocess.run(
        [sys.executable, "-m", "proctor", *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def import_suite(env: dict[str, str], suite: Path = DEMO_SUITE, *extra: str) -> None:
    done = proctor("admin", "suite", "import", str(suite), "--activate", *extra, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def validate(url: str, uri: str, *extra: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`proctor validator run --once` with short intervals."""
    return proctor(
        "validator",
        "run",
        "--once",
        "--url",
        url,
        "--uri",
        uri,
        "--poll-interval",
        "0.5",
        "--heartbeat-interval",
        "0.5",
        "--problem-timeout",
        "30",
        "--cpu-seconds",
        "30",
        "--memory-mb",
        "512",
        *extra,
        timeout=timeout,
    )


def events(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def public(url: str, path: str) -> Any:
    response = httpx.get(url + path, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def download_log(url: str, **request: str) -> Any:
    """Fetch an uploaded log through the public artifact API and decode it."""
    located = httpx.post(url + "/v1/public/artifacts/download-url", json=request, timeout=10)
    assert located.status_code == 200, located.text
    blob = httpx.get(located.json()["download_url"], timeout=10)
    assert blob.status_code == 200, blob.text
    return json.loads(gzip.decompress(blob.content))
