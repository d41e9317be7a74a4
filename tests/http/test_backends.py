"""Redis as a shared backend: a bounded pool that queues rather than fails, and a clean 503 when down."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from proctor.config import Settings
from tests.conftest import running_app
from tests.support.signing import BOB, oro_headers


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


async def test_more_concurrent_requests_than_redis_connections_all_succeed(
    make_settings: Callable[..., Settings], redis_url: str
) -> None:
    # redis-py's plain pool raises "Too many connections" beyond its size; proctor's waits for one.
    settings = make_settings(redis_url=redis_url, redis_max_connections=2)
    async with running_app(settings) as (_, client):
        answers = await asyncio.gather(
            *(client.get("/v1/auth/whoami", headers=oro_headers(BOB)) for _ in range(40))
        )
    assert [r.status_code for r in answers] == [200] * 40


async def test_redis_down_fails_signed_requests_closed_with_503_and_keeps_public_reads(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(redis_url=f"redis://127.0.0.1:{closed_port()}/0", redis_pool_timeout_seconds=0.5)
    async with running_app(settings) as (_, client):
        assert (await client.get("/health")).status_code == 200
        # The global per-IP limit cannot be counted: it fails open, and public reads still answer.
        assert (await client.get("/v1/public/suites")).status_code == 200
        signed = await client.get("/v1/auth/whoami", headers=oro_headers(BOB))
        assert signed.status_code == 503, signed.text
        assert signed.headers["retry-after"] == "2"
        assert signed.json()["error_code"] == "SERVICE_UNAVAILABLE"
        assert "Traceback" not in signed.text
        metrics = (await client.get("/metrics")).text
    assert "proctor_rate_limiter_unavailable_total 2.0" in metrics  # the read and the signed call


@pytest.mark.parametrize("value", ["0", "-3"])
def test_pool_size_must_be_positive(make_settings: Callable[..., Settings], value: str) -> None:
    with pytest.raises(ValueError, match="redis_max_connections"):
        make_settings(redis_max_connections=int(value))
