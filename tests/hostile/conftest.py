"""A live `proctor serve` per database backend, shared by the hostile-input modules, and how a
corpus request is signed and sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REGISTRY
from tests.hostile import harness
from tests.hostile.harness import Live
from tests.support import services
from tests.support.bitrecs import FakeGitHub
from tests.support.server import ServerProcess
from tests.support.signing import FERDIE


@pytest.fixture(scope="package")
def fake_github() -> Iterator[FakeGitHub]:
    github = FakeGitHub().start()
    yield github
    github.stop()


def start_live(root: Path, github: FakeGitHub, database_url: str) -> Live:
    root.mkdir(parents=True, exist_ok=True)
    registry = root / "registry.yaml"
    registry.write_text(yaml.safe_dump(REGISTRY))
    env = harness.server_env(root / "data", registry, github.url, database_url)
    env["PROCTOR_ADMIN_HOTKEYS"] = FERDIE.ss58_address
    server = ServerProcess(env, root).start()
    settings = harness.settings_of(env)
    live = Live(server, settings, settings.data_dir.resolve() / "blobs")
    live.compute_client_key = services.blocking(harness.issue_compute_client(settings))
    answer = harness.raw_request(
        live.url,
        "POST",
        "/v1/miners",
        [(b"Content-Type", b"application/json")],
        b'{"name": "rig", "gpu_type": "a100", "gpu_count": 1, "price_per_hour": 1, "max_concurrent": 1}',
    )
    assert answer.status == 201, answer.text
    registered = json.loads(answer.body)
    live.compute_miner = {"id": registered["miner_id"], "key": registered["api_key"]}
    return live


@pytest.fixture(scope="package")
def live_sqlite(tmp_path_factory: pytest.TempPathFactory, fake_github: FakeGitHub) -> Iterator[Live]:
    live = start_live(tmp_path_factory.mktemp("hostile-sqlite"), fake_github, "")
    yield live
    live.server.stop()


@pytest.fixture(scope="package")
def live_postgres(
    tmp_path_factory: pytest.TempPathFactory, fake_github: FakeGitHub, pg: services.PostgresDatabases
) -> Iterator[Live]:
    url = pg.url(services.blocking(pg.create()))
    live = start_live(tmp_path_factory.mktemp("hostile-pg"), fake_github, url)
    yield live
    live.server.stop()
