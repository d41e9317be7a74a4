"""Shared fixtures: settings, real databases (SQLite and PostgreSQL), Redis, in-process apps and
real server processes."""

from __future__ import annotations

import os
import shutil

# pytest-xdist workers start with COLUMNS=80, which Rich consoles created at import time keep; the CLI
# tests give their width per invocation instead.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from fastapi import FastAPI

from proctor.app import create_app
from proctor.config import Settings
from proctor.storage import migrate
from tests.support import services
from tests.support.server import ServerProcess
from tests.support.signing import ALICE, BOB, CHARLIE, EVE

# The test network: Alice validates, Eve holds a permit with too little stake, Bob and Charlie mine.
# Dave and Ferdie are not registered.
REGISTRY = {
    "netuid": 15,
    "neurons": [
        {"hotkey": ALICE.ss58_address, "uid": 0, "validator_permit": True, "stake": 1000.0},
        {"hotkey": BOB.ss58_address, "uid": 1},
        {"hotkey": CHARLIE.ss58_address, "uid": 2},
        {"hotkey": EVE.ss58_address, "uid": 3, "validator_permit": True, "stake": 1.0},
    ],
}


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(REGISTRY))
    return path


@pytest.fixture(scope="session")
def pg() -> Iterator[services.PostgresDatabases]:
    user = services.blocking(services.find_pg_user())
    if user is None:
        services.unavailable("PostgreSQL at 127.0.0.1:5432", "no user of " + ", ".join(services.PG_USERS))
    dbs = services.PostgresDatabases(user)
    template = services.blocking(dbs.create(migrated=False))
    services.blocking(migrate.upgrade(Settings(database_url=dbs.url(template))))
    dbs.created.remove(template)
    dbs.template = template
    yield dbs
    services.blocking(dbs.drop_all())


@pytest.fixture(scope="session")
def redis_url() -> str:
    problem = services.redis_available()
    if problem:
        services.unavailable("Redis at " + services.REDIS_URL, problem)
    client = redis.Redis.from_url(services.REDIS_URL)
    client.flushdb()  # db 15 belongs to the tests: stale rate-limit windows must not leak between runs
    client.close()
    return services.REDIS_URL


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session; each test gets a copy (as PostgreSQL tests get a clone of
    a migrated template) instead of running every migration again."""
    path = tmp_path_factory.mktemp("sqlite-template") / "proctor.db"
    services.blocking(migrate.upgrade(Settings(database_url=f"sqlite+aiosqlite:///{path}")))
    assert not path.with_name("proctor.db-wal").exists(), "the template must be checkpointed"
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each storage test runs on the embedded SQLite default and on a fresh PostgreSQL database, both
    already migrated to head (upgrading them again is a no-op)."""
    if request.param == "sqlite":
        path = tmp_path / "proctor.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    dbs: services.PostgresDatabases = request.getfixturevalue("pg")
    name = services.blocking(dbs.create())
    yield dbs.url(name)
    dbs.release(name)


@pytest.fixture
def make_settings(tmp_path: Path, registry_file: Path) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "registry": str(registry_file),
            "rate_limit_global": "100000/minute",
            "registry_refresh_seconds": 0.2,
        }
        values.update(overrides)
        return Settings(**values)

    return factory


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(database_url=database_url)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan running, reached in-process over ASGI."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proctor.test") as client:
            yield app, client


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(settings) as pair:
        yield pair


@pytest.fixture
def client(app_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_client[1]


@pytest.fixture
def server_env(tmp_path: Path, registry_file: Path) -> dict[str, str]:
    """Environment for a `proctor serve` child on the embedded defaults."""
    return {
        "PROCTOR_DATA_DIR": str(tmp_path / "data"),
        "PROCTOR_REGISTRY": str(registry_file),
        "PROCTOR_RATE_LIMIT_GLOBAL": "100000/minute",
        "PROCTOR_REGISTRY_REFRESH_SECONDS": "0.2",
        "PROCTOR_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], ServerProcess]]:
    started: list[ServerProcess] = []

    def start(env: dict[str, str]) -> ServerProcess:
        server = ServerProcess(env, tmp_path / f"srv{len(started)}").start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# Tests that open many PostgreSQL connections at once (contention tests, 30-40 connection pools, a
# live server's two pools). On pytest-xdist (`--dist loadgroup`) they share one worker, so two of
# them never run together and exhaust the server's max_connections (100 by default).
MANY_PG_CONNECTIONS = frozenset(
    {
        "tests/surfaces/compute/test_contention.py",
        "tests/surfaces/oro/test_contention.py",
        "tests/surfaces/pool/test_tasks.py",
        "tests/core/test_leases.py",
        "tests/core/evaluations/test_lifecycle.py",
    }
)


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own hook, which names the group the old way
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if module in MANY_PG_CONNECTIONS and (
            "postgres" in item.nodeid or item.get_closest_marker("postgres")
        ):
            item.add_marker(pytest.mark.xdist_group("many-pg-connections"))
    if getattr(config.option, "loadgroup", False):  # an xdist worker of `--dist loadgroup`
        name_xdist_groups(items)


def name_xdist_groups(items: list[pytest.Item]) -> None:
    """Give each grouped test the `…@group` id that `--dist loadgroup` schedules by.

    pytest-xdist (3.8) appends the suffix to `item._nodeid`, which pytest 9 no longer reads (an item's
    id is `item._id`, a NodeId): every group would be silently ignored, the schemathesis surfaces spread
    over both workers (so their aggregate check skips) and the many-connection tests run side by side.
    """
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest 8: xdist's own hook works
        return
    for item in items:
        marks = item.iter_markers("xdist_group")
        groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in marks})
        suffix = "@" + "_".join(groups)
        if groups and not item.nodeid.endswith(suffix) and isinstance(getattr(item, "_id", None), NodeId):
            item._id = NodeId.parse(item.nodeid + suffix)
