"""Every row of the hostile-input corpus against a live `proctor serve`: a 4xx in the surface's own error
shape, no stack trace, nothing stored (every table's row count and the blob store's files unchanged),
nothing logged as an unhandled error, and the server still answering. SQLite runs every row; the rows
that reach storage (or carry values PostgreSQL treats differently, such as NUL) run on PostgreSQL too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REGISTRY
from tests.hostile import harness
from tests.hostile.corpus import CASES, Case, ids
from tests.hostile.harness import Answer, Live, Snapshot
from tests.support import services
from tests.support.bitrecs import FakeGitHub
from tests.support.server import ServerProcess
from tests.support.signing import ALICE, BOB, FERDIE, oro_headers
from tests.surfaces.pool.signing import pool_headers


@pytest.fixture(scope="module")
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
        live.url, "POST", "/v1/miners", [(b"Content-Type", b"application/json")],
        b'{"name": "rig", "gpu_type": "a100", "gpu_count": 1, "price_per_hour": 1, "max_concurrent": 1}',
    )
    assert answer.status == 201, answer.text
    registered = __import__("json").loads(answer.body)
    live.compute_miner = {"id": registered["miner_id"], "key": registered["api_key"]}
    return live


@pytest.fixture(scope="module")
def live_sqlite(tmp_path_factory: pytest.TempPathFactory, fake_github: FakeGitHub) -> Iterator[Live]:
    live = start_live(tmp_path_factory.mktemp("hostile-sqlite"), fake_github, "")
    yield live
    live.server.stop()


@pytest.fixture(scope="module")
def live_postgres(
    tmp_path_factory: pytest.TempPathFactory, fake_github: FakeGitHub, pg: services.PostgresDatabases
) -> Iterator[Live]:
    url = pg.url(services.blocking(pg.create()))
    live = start_live(tmp_path_factory.mktemp("hostile-pg"), fake_github, url)
    yield live
    live.server.stop()


def auth_headers(live: Live, auth: str | None) -> dict[str, str]:
    if auth == "miner":
        return oro_headers(BOB)
    if auth == "validator":
        return oro_headers(ALICE)
    if auth == "admin":
        return oro_headers(FERDIE)
    if auth == "pool":
        return pool_headers(BOB)
    if auth == "client":
        return {"X-Api-Key": live.compute_client_key}
    if auth == "compute-miner":
        return {"Authorization": f"Bearer {live.compute_miner['key']}"}
    return {}


def send(live: Live, case: Case) -> Answer:
    values = auth_headers(live, case.auth)
    if case.content_type:
        values["Content-Type"] = case.content_type
    values.update(case.headers)
    headers = [(k.encode(), v.encode("utf-8", "surrogateescape")) for k, v in values.items()]
    path = case.path.replace("{miner}", live.compute_miner.get("id", "none"))
    return harness.raw_request(live.url, case.method, path, headers, case.body, chunked=case.chunked)


def unhandled_errors(live: Live) -> int:
    return live.server.log().count("request.unhandled_error")


def check_refused(live: Live, case: Case) -> Answer:
    before, errors_before = Snapshot.take(live), unhandled_errors(live)
    answer = send(live, case)
    assert 400 <= answer.status < 500, f"{case.id}: HTTP {answer.status} {answer.text[:600]}"
    if case.expect is not None:
        assert answer.status in case.expect, f"{case.id}: HTTP {answer.status} {answer.text[:300]}"
    problem = harness.envelope_problem(case.surface, answer.status, answer.text)
    assert problem is None, f"{case.id}: {problem}"
    changes = before.changes(Snapshot.take(live))
    for table in case.audit:  # one audit row of the refusal, nothing else
        if changes.get("rows", {}).get(table, (0, 0))[1] == before.rows.get(table, 0) + 1:
            changes["rows"].pop(table)
    changes = {k: v for k, v in changes.items() if v}
    assert not changes, f"{case.id} stored something: {changes}"
    assert unhandled_errors(live) == errors_before, live.server.log()[-3000:]
    harness.still_answers(live.url)
    return answer


@pytest.mark.parametrize("case", CASES, ids=ids())
def test_refused_on_sqlite(live_sqlite: Live, case: Case) -> None:
    check_refused(live_sqlite, case)


STORAGE_CASES = [c for c in CASES if c.storage]


@pytest.mark.postgres
@pytest.mark.parametrize("case", STORAGE_CASES, ids=[c.id for c in STORAGE_CASES])
def test_refused_on_postgres(live_postgres: Live, case: Case) -> None:
    check_refused(live_postgres, case)
