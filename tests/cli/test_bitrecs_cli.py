"""`proctor bitrecs check|submit` against a live server and a fake GitHub; `proctor admin submissions`
pausing and resuming it; `proctor admin bitrecs-keys issue`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from proctor.cli.main import app
from tests.conftest import REGISTRY
from tests.support import bitrecs as support
from tests.support.server import ServerProcess
from tests.support.signing import BOB


@pytest.fixture
def github() -> Iterator[support.FakeGitHub]:
    fake = support.FakeGitHub().start()
    yield fake
    fake.stop()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def proctor(env: dict[str, str], *args: str) -> Ran:
    """The `proctor` command in-process (the server it talks to is a real process)."""
    result = CliRunner().invoke(app, list(args), env=env)
    return Ran(result.exit_code, result.stdout, result.stderr)


def test_check_submit_pause_resume_and_keys(
    start_server: Callable[[dict[str, str]], ServerProcess],
    server_env: dict[str, str],
    github: support.FakeGitHub,
    registry_file: Path,
) -> None:
    gist_id, gist = github.add("octo", support.artifact(BOB.ss58_address))
    neurons = [
        {**n, "commitment": support.commitment(gist)} if n["hotkey"] == BOB.ss58_address else n
        for n in REGISTRY["neurons"]
    ]
    registry_file.write_text(yaml.safe_dump({**REGISTRY, "neurons": neurons}))
    env = {
        **server_env,
        "PROCTOR_SURFACES": "bitrecs",
        "PROCTOR_GITHUB_API_URL": github.url,
        "PROCTOR_GIST_RAW_URL": github.url,
        "PROCTOR_BITRECS_MIN_VALIDATORS": "0",
    }
    server = start_server(env)
    miner = ["--gist", gist_id, "--account", "octo", "--uri", "//Bob", "--url", server.base_url]

    paused = proctor(env, "admin", "submissions", "pause", "--reason", "maintenance until noon")
    assert paused.returncode == 0, paused.stderr
    assert '"submissions_enabled": false' in proctor(env, "admin", "submissions", "status").stdout
    refused = proctor(env, "bitrecs", "check", *miner)
    assert refused.returncode == 1 and "503" in refused.stderr and "maintenance until noon" in refused.stderr
    assert proctor(env, "admin", "submissions", "resume").returncode == 0

    checked = proctor(env, "bitrecs", "check", *miner)
    assert checked.returncode == 0, checked.stderr
    assert "status=200" in checked.stdout
    submitted = proctor(env, "bitrecs", "submit", *miner)
    assert submitted.returncode == 0, submitted.stderr
    assert "status=201" in submitted.stdout

    issued = proctor(env, "admin", "bitrecs-keys", "issue", "dashboard")
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip().splitlines()[-1]
    response = httpx.get(server.base_url + "/scoring/screener-info", headers={"X-API-Key": key})
    assert response.status_code == 200
    assert response.json()["agents_by_status"] == {"screening_1": 1}
