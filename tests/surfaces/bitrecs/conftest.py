"""The Bitrecs surface in-process (both databases) against a fake GitHub on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from bittensor_wallet import Keypair
from sqlalchemy import func, select

from proctor.config import Settings
from proctor.http.state import AppState
from proctor.models import BitrecsAgent, BitrecsEvaluation, BitrecsEvaluationRun, BitrecsSession
from tests.conftest import REGISTRY, running_app
from tests.support import bitrecs as support
from tests.support.signing import BOB


@pytest.fixture
def github() -> Iterator[support.FakeGitHub]:
    fake = support.FakeGitHub().start()
    yield fake
    fake.stop()


class Bitrecs:
    """An in-process app with the Bitrecs surface, and shortcuts to drive it."""

    def __init__(self, http: httpx.AsyncClient, state: AppState, github: support.FakeGitHub, registry: Path):
        self.http, self.state, self.github, self.registry = http, state, github, registry
        self.commitments: dict[str, str] = {}

    async def commit(self, hotkey: str, value: str) -> None:
        """Reveal `value` as `hotkey`'s chain commitment (the registry file carries it)."""
        self.commitments[hotkey] = value
        document: dict[str, Any] = {
            **REGISTRY,
            "neurons": [
                {**n, "commitment": self.commitments[n["hotkey"]]} if n["hotkey"] in self.commitments else n
                for n in REGISTRY["neurons"]
            ],
        }
        self.registry.write_text(yaml.safe_dump(document))
        await self.state.core.registry.refresh()

    def gist(
        self, signer: Keypair = BOB, account: str = "octo", **artifact: Any
    ) -> tuple[str, support.FakeGist]:
        return self.github.add(account, support.artifact(signer.ss58_address, **artifact))

    async def check(self, values: dict[str, str]) -> httpx.Response:
        return await self.http.post("/check", json=values)

    async def submit(
        self, signer: Keypair, values: dict[str, str], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.http.post(
            "/submit", json=values, headers=headers or support.transport(signer, values)
        )

    async def submit_valid(self, signer: Keypair = BOB, account: str = "octo", **artifact: Any) -> str:
        gist_id, gist = self.gist(signer, account, **artifact)
        await self.commit(signer.ss58_address, support.commitment(gist))
        values = support.body(signer, account, gist_id, gist)
        response = await self.submit(signer, values)
        assert response.status_code == 201, response.text
        return str(response.json()["artifact_id"])

    async def counts(self) -> dict[str, int]:
        async with self.state.sessionmaker() as s:
            return {
                m.__tablename__: int(await s.scalar(select(func.count()).select_from(m)) or 0)
                for m in (BitrecsAgent, BitrecsEvaluation, BitrecsEvaluationRun, BitrecsSession)
            }


@pytest.fixture
def bitrecs_settings(
    make_settings: Callable[..., Settings], database_url: str, github: support.FakeGitHub
) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "surfaces": ["bitrecs"],
            "github_api_url": github.url,
            "gist_raw_url": github.url,
            "bitrecs_min_validators": 0,
            "bitrecs_screener_password": "screen-me",
            "run_jobs": False,
            "submission_workers": 0,
        }
        values.update(overrides)
        return make_settings(**values)

    return factory


@pytest.fixture
async def bitrecs(
    bitrecs_settings: Callable[..., Settings], github: support.FakeGitHub, registry_file: Path
) -> AsyncIterator[Bitrecs]:
    async with running_app(bitrecs_settings()) as (app, client):
        yield Bitrecs(client, app.state.proctor, github, registry_file)
