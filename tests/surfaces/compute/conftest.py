"""The compute surface in-process (both databases) and helpers shared by its HTTP tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from proctor.config import Settings
from proctor.core.compute import service as compute_service
from proctor.http.state import AppState
from proctor.storage.base import utcnow
from proctor.storage.db import unit_of_work
from tests.conftest import running_app

OFFER_A100 = {
    "name": "rig-a",
    "gpu_type": "a100",
    "gpu_count": 1,
    "location": "us-east",
    "price_per_hour": 1,
    "max_concurrent": 2,
}
HASH = "sha256:" + "ab" * 32


def completion(result_hash: str = HASH, seconds: float = 60.0, gpu_seconds: float = 60.0) -> dict[str, Any]:
    return {
        "result_hash": result_hash,
        "metrics": {"execution_time_seconds": seconds, "gpu_time_seconds": gpu_seconds},
    }


def job_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "gpt2",
        "gpu_type": "a100",
        "gpu_count": 1,
        "estimated_time": 60,
        "price": 0.05,
        "payload": {"prompt": "hello"},
    }
    body.update(overrides)
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Compute:
    """An in-process app with the compute surface, and shortcuts to drive it."""

    def __init__(self, client: httpx.AsyncClient, state: AppState) -> None:
        self.http = client
        self.state = state

    async def miner(self, **overrides: Any) -> tuple[str, dict[str, str]]:
        response = await self.http.post("/v1/miners", json={**OFFER_A100, **overrides})
        assert response.status_code == 201, response.text
        body = response.json()
        return body["miner_id"], bearer(body["api_key"])

    async def client(self, name: str = "acme") -> dict[str, str]:
        async with unit_of_work(self.state.sessionmaker) as session:
            issued = await compute_service.issue_client(session, name=name, now=utcnow())
        return {"X-Api-Key": issued.api_key}

    async def job(self, headers: dict[str, str], **overrides: Any) -> str:
        response = await self.http.post("/v1/jobs", json=job_body(**overrides), headers=headers)
        assert response.status_code == 201, response.text
        job_id: str = response.json()["job_id"]
        return job_id


@pytest.fixture
def compute_settings(make_settings: Callable[..., Settings], database_url: str) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "surfaces": ["compute"],
            "compute_auto_approve": True,
            "compute_rate_limit_requests": "100000/minute",
            "compute_rate_limit_job_ops": "100000/minute",
            "compute_rate_limit_register": "100000/minute",
            "run_jobs": False,
        }
        values.update(overrides)
        return make_settings(**values)

    return factory


@pytest.fixture
async def compute(compute_settings: Callable[..., Settings]) -> AsyncIterator[Compute]:
    async with running_app(compute_settings()) as (app, client):
        yield Compute(client, app.state.proctor)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`proctor …` in a child process with the server's environment."""
    return subprocess.run(
        [sys.executable, "-m", "proctor", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def issue_client_key(env: dict[str, str], name: str = "acme") -> str:
    done = cli(env, "compute", "clients", "issue", name, "--json")
    assert done.returncode == 0, done.stderr
    key: str = json.loads(done.stdout)["api_key"]
    return key
