"""Health, readiness that never hangs, metrics, and errors that are always clean JSON."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from proctor.config import Settings
from proctor.storage.db import create_engine
from tests.conftest import running_app


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a wedged database)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


async def test_health_is_cheap_and_open(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


async def test_every_answer_carries_its_request_id_and_server_time(client: httpx.AsyncClient) -> None:
    for path, expected in (("/health", 200), ("/v1/nope", 404)):
        r = await client.get(path, headers={"X-Request-Id": "trace-me-42"})
        assert r.status_code == expected
        assert r.headers["x-request-id"] == "trace-me-42"
        name, _, duration = r.headers["server-timing"].partition(";dur=")
        assert name == "app" and 0 < float(duration) < 10_000
    assert len((await client.get("/health")).headers["x-request-id"]) == 32  # minted when absent


async def test_deep_health_reports_database_and_registry(client: httpx.AsyncClient) -> None:
    r = await client.get("/health/deep")
    assert r.status_code == 200
    body = r.json()
    assert body["database"] == "ok" and body["registry"]["fresh"] is True and body["registry"]["neurons"] == 4


async def test_deep_health_returns_503_fast_when_the_database_hangs(
    app_client: tuple[FastAPI, httpx.AsyncClient], blackhole_port: int
) -> None:
    app, c = app_client
    core = app.state.proctor.core
    healthy_engine, healthy_settings = core.db.engine, core.settings
    core.db.engine = create_engine(
        Settings(
            database_url=f"postgresql+asyncpg://x@127.0.0.1:{blackhole_port}/x", health_db_timeout_seconds=1.0
        )
    )
    core.settings = core.settings.model_copy(update={"health_db_timeout_seconds": 1.0})
    try:
        started = time.monotonic()
        r = await c.get("/health/deep")
        elapsed = time.monotonic() - started
    finally:
        await core.db.engine.dispose()
        core.db.engine, core.settings = healthy_engine, healthy_settings
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "timeout" or body["database"].startswith("error")
    assert elapsed < 6, f"deep health took {elapsed:.1f}s; it must not hang"


async def test_deep_health_503_when_the_database_is_gone(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, c = app_client
    db = app.state.proctor.core.db
    healthy_engine = db.engine
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    db.engine = create_engine(Settings(database_url=f"postgresql+asyncpg://x@127.0.0.1:{dead_port}/x"))
    try:
        r = await c.get("/health/deep")
    finally:
        await db.engine.dispose()
        db.engine = healthy_engine
    assert r.status_code == 503 and r.json()["database"].startswith("error")


async def test_metrics_expose_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/v1/public/suites/42/problems")
    text = (await client.get("/metrics")).text
    assert (
        'proctor_http_requests_total{method="GET",route="/v1/public/suites/{suite_id}/problems",status="404"}'
        in text
    )
    assert "proctor_http_request_duration_seconds_bucket" in text


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/nope", {}, 404),
        ("DELETE", "/v1/public/suites", {}, 405),
        ("GET", "/v1/public/suites/not-a-number/problems", {}, 422),
        (
            "POST",
            "/v1/auth/challenge",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            422,
        ),
        ("POST", "/v1/auth/challenge", {"json": {"hotkey": "x" * 10_000}}, 422),
        ("POST", "/v1/auth/session", {"json": {"hotkey": 5}}, 422),
    ],
)
async def test_bad_input_is_a_clean_4xx(
    client: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    r = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert r.status_code == status
    assert "detail" in r.json()
    assert "Traceback" not in r.text


async def test_unexpected_errors_become_json_500_without_internals(settings: Settings) -> None:
    from proctor.app import create_app

    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/boom")
    assert r.status_code == 500, r.text
    assert r.headers["content-type"].startswith("application/json"), (r.headers, r.text)
    assert r.json() == {"detail": "Internal server error", "error_code": "INTERNAL_ERROR"}
    assert "secret" not in r.text


async def test_concurrent_requests_share_one_sqlite_writer(settings: Settings) -> None:
    async with running_app(settings) as (_, c):
        results = await asyncio.gather(*(c.get("/v1/public/suites") for _ in range(40)))
    assert {r.status_code for r in results} == {200}
