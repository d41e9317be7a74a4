"""Fixtures for the claim app: a `proctor claims serve` process and a backend (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import services
from tests.support.server import ServerProcess


class ClaimsServerProcess(ServerProcess):
    """`proctor claims serve` (the standalone claim app) on a free port."""

    command = ("claims", "serve")


@pytest.fixture
def start_claims_server(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], ClaimsServerProcess]]:
    started: list[ClaimsServerProcess] = []

    def start(env: dict[str, str]) -> ClaimsServerProcess:
        server = ClaimsServerProcess(env, tmp_path / f"claims{len(started)}").start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_env(request: pytest.FixtureRequest, server_env: dict[str, str]) -> dict[str, str]:
    """`proctor serve` environment with Pool, the claim app and simulated claims, on either database."""
    env = {
        **server_env,
        # JSON: pydantic-settings decodes list settings as JSON before the comma-splitting validator.
        "PROCTOR_SURFACES": '["oro", "pool"]',
        "PROCTOR_CLAIMS_ENABLED": "true",
        "PROCTOR_CLAIMS_SIMULATION": "true",
    }
    if request.param == "postgres":
        dbs: services.PostgresDatabases = request.getfixturevalue("pg")
        env["PROCTOR_DATABASE_URL"] = dbs.url(services.blocking(dbs.create()))
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `proctor …` with `env`."""
    return subprocess.run(
        [sys.executable, "-m", "proctor", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
