"""Fixtures for the inference-credential tests: the provider double and settings pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proctor.config import Settings
from proctor.storage import migrate
from proctor.storage.db import create_engine, create_sessionmaker
from tests.support.provider_double import CHUTES_CLIENT_ID, ProviderDouble
from tests.support.server import free_port

SECRET_KEY = "credential-tests-secret-key-0123456789abcdef"
OTHER_SECRET_KEY = "another-secret-key-fedcba9876543210-rotated"


@pytest.fixture
def provider() -> Iterator[ProviderDouble]:
    double = ProviderDouble().start()
    yield double
    double.stop()


@pytest.fixture
def dead_url() -> str:
    """A loopback URL nothing listens on: the provider is down."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def provider_settings(
    make_settings: Callable[..., Settings], provider: ProviderDouble
) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "secret_key": SECRET_KEY,
            "chutes_api_url": provider.base_url,
            "chutes_inference_url": provider.base_url + "/chutes/v1",
            "chutes_client_id": CHUTES_CLIENT_ID,
            "openrouter_api_url": provider.openrouter_api_url,
            "openrouter_run_credit_limit": 0.5,
            "provider_timeout_seconds": 2.0,
        }
        values.update(overrides)
        return make_settings(**values)

    return factory


@pytest.fixture
def cred_settings(provider_settings: Callable[..., Settings], database_url: str) -> Settings:
    return provider_settings(database_url=database_url)


@pytest.fixture
async def maker(cred_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await migrate.upgrade(cred_settings)
    engine = create_engine(cred_settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()
