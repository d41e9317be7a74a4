"""The foundation slice against real `proctor serve` processes, driven by ORO's own client
(`oro-sdk==1.0.78`) where the SDK has the call, on SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from oro_sdk import BittensorAuthClient, Client
from oro_sdk.api.public import (
    deep_health_check,
    get_current_suite,
    get_suite_problems,
    health_check,
    list_suites,
)
from oro_sdk.models import SuiteNotFoundError

from tests.support import services
from tests.support.server import ServerProcess
from tests.support.signing import ALICE, BOB, CHARLIE, DAVE, oro_headers
from tests.support.suites import write_oro_suite

pytestmark = pytest.mark.slow


@pytest.fixture(
    params=["sqlite", pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis])]
)
def backend_env(request: pytest.FixtureRequest, server_env: dict[str, str]) -> dict[str, str]:
    if request.param == "sqlite":
        return server_env
    dbs: services.PostgresDatabases = request.getfixturevalue("pg")
    url = dbs.url(services.blocking(dbs.create()))
    return {
        **server_env,
        "PROCTOR_DATABASE_URL": url,
        "PROCTOR_REDIS_URL": request.getfixturevalue("redis_url"),
    }


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "proctor", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_suite_import_is_served_to_the_sdk(
    backend_env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    server = start_server(backend_env)
    client = Client(base_url=server.base_url)
    missing = get_current_suite.sync_detailed(client=client)
    assert missing.status_code == 404 and isinstance(missing.parsed, SuiteNotFoundError)

    imported = cli(
        backend_env, "admin", "suite", "import", str(write_oro_suite(tmp_path / "s.json", 9)), "--activate"
    )
    assert imported.returncode == 0, imported.stderr

    suite = get_current_suite.sync(client=client)
    assert suite is not None and suite.is_active and suite.suite_version == 1
    assert [s.suite_id for s in list_suites.sync(client=client) or []] == [suite.suite_id]
    problems = get_suite_problems.sync(client=client, suite_id=suite.suite_id)
    assert problems is not None and len(problems.problems) == 9
    meta = problems.problems[0].metadata.additional_properties  # type: ignore[union-attr]
    assert "query" in meta and "reward" not in meta and "reward_title_embeddings" not in meta
    with_embeddings = get_suite_problems.sync(client=client, suite_id=suite.suite_id, include_embeddings=True)
    assert with_embeddings is not None
    assert "reward" not in with_embeddings.problems[0].metadata.additional_properties  # type: ignore[union-attr]
    absent = get_suite_problems.sync_detailed(client=client, suite_id=999)
    assert absent.status_code == 404 and isinstance(absent.parsed, SuiteNotFoundError)

    assert health_check.sync(client=client) is not None
    signed = BittensorAuthClient(base_url=server.base_url, wallet=ALICE)
    assert deep_health_check.sync_detailed(client=signed).status_code == 200  # 1.0.78 signs /health/deep


def test_authentication_refusals_over_http(
    backend_env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess]
) -> None:
    server = start_server(backend_env)
    url = server.base_url + "/v1/auth/whoami"

    def code(headers: dict[str, str]) -> tuple[int, str]:
        r = httpx.get(url, headers=headers)
        return r.status_code, r.json().get("error_code", "")

    ok = httpx.get(url, headers=oro_headers(BOB))
    assert ok.status_code == 200 and ok.json()["role"] == "miner"
    assert httpx.get(url, headers=oro_headers(ALICE)).json()["role"] == "validator"
    assert code({}) == (401, "MISSING_HEADERS")
    assert code(oro_headers(BOB, hotkey="5Nope")) == (400, "INVALID_HOTKEY_FORMAT")
    assert code(oro_headers(BOB, timestamp=int(time.time()) - 300)) == (401, "TIMESTAMP_SKEW")
    assert code(oro_headers(DAVE, hotkey=BOB.ss58_address)) == (401, "INVALID_SIGNATURE")
    replay = oro_headers(BOB)
    assert code(replay)[0] == 200
    assert code(replay) == (401, "NONCE_REUSED")
    unregistered = httpx.get(url, headers=oro_headers(DAVE)).json()
    assert unregistered["registered"] is False

    # Roles on the real miner and validator routes.
    agents, claim = server.base_url + "/v1/miner/agents", server.base_url + "/v1/validator/work/claim"
    assert httpx.get(agents, headers=oro_headers(BOB)).status_code == 200
    unregistered = httpx.get(agents, headers=oro_headers(DAVE))
    assert unregistered.status_code == 403 and unregistered.json()["detail"]["code"] == "NOT_REGISTERED"
    no_permit = httpx.post(claim, headers=oro_headers(BOB))
    assert (
        no_permit.status_code == 403 and no_permit.json()["detail"]["code"] == "NOT_REGISTERED_AS_VALIDATOR"
    )
    assert httpx.post(claim, headers=oro_headers(ALICE)).status_code == 204

    banned = cli(backend_env, "admin", "hotkey", "ban", CHARLIE.ss58_address, "--reason", "test")
    assert banned.returncode == 0, banned.stderr
    deadline = time.monotonic() + 10
    while not httpx.get(url, headers=oro_headers(CHARLIE)).json()["banned"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    refused = httpx.get(agents, headers=oro_headers(CHARLIE))
    assert refused.status_code == 403 and "banned" in refused.text


@pytest.mark.postgres
@pytest.mark.redis
def test_replay_is_refused_across_two_servers_sharing_redis(
    pg: services.PostgresDatabases,
    redis_url: str,
    server_env: dict[str, str],
    start_server: Callable[[dict[str, str]], ServerProcess],
) -> None:
    env = {
        **server_env,
        "PROCTOR_DATABASE_URL": pg.url(services.blocking(pg.create())),
        "PROCTOR_REDIS_URL": redis_url,
    }
    first, second = start_server(env), start_server(env)
    headers = oro_headers(BOB)
    assert httpx.get(first.base_url + "/v1/auth/whoami", headers=headers).status_code == 200
    replayed = httpx.get(second.base_url + "/v1/auth/whoami", headers=headers)
    assert replayed.status_code == 401 and replayed.json()["detail"]["code"] == "NONCE_REUSED"
