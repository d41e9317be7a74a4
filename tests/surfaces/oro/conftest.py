"""Fixtures for ORO surface tests: an app with an active suite, and helpers to submit and claim."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from proctor.config import Settings
from proctor.core.suites import service as suite_service
from tests.conftest import running_app
from tests.support.agents import valid_agent
from tests.support.signing import oro_headers
from tests.support.suites import oro_problems


@pytest.fixture
def oro_settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(
        database_url=database_url, rate_limit_submit="1000/minute", rate_limit_check="1000/minute"
    )


@pytest.fixture
async def oro(oro_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A running app with one active ORO-shaped suite of 5 problems."""
    async with running_app(oro_settings) as (app, client):
        async with app.state.proctor.sessionmaker() as session:
            await suite_service.import_suite(session, document=oro_problems(5), activate=True)
            await session.commit()
        yield app, client


async def submit(
    client: httpx.AsyncClient,
    signer: Any,
    content: bytes | None = None,
    name: str = "my agent",
    path: str = "/v1/miner/submit",
) -> httpx.Response:
    return await client.post(
        path,
        headers=oro_headers(signer),
        data={"agent_name": name},
        files={"file": ("agent.py", valid_agent() if content is None else content, "text/x-python")},
    )
