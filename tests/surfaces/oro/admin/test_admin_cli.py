"""`proctor admin …` runs the same core flows as the ORO admin API: against a live server the CLI's
pause stops claims, its discard ends the running lease, and each command leaves one audit event."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.agents import valid_agent
from tests.support.server import ServerProcess
from tests.support.signing import ALICE, BOB, DAVE, oro_headers
from tests.support.suites import write_oro_suite
from tests.surfaces.oro.test_server_foundation import cli

pytestmark = pytest.mark.slow


def test_cli_actions_are_the_api_flows_and_are_audited(
    server_env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    env = {**server_env, "PROCTOR_ADMIN_HOTKEYS": DAVE.ss58_address}
    server = start_server(env)
    url = server.base_url

    def ok(*args: str) -> str:
        done = cli(env, "admin", *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    ok("suite", "import", str(write_oro_suite(tmp_path / "s.json", 3)), "--activate")
    submitted = httpx.post(
        url + "/v1/miner/submit",
        headers=oro_headers(BOB),
        data={"agent_name": "cli"},
        files={"file": ("agent.py", valid_agent(), "text/x-python")},
    )
    assert submitted.status_code == 200, submitted.text
    version_id = submitted.json()["agent_version_id"]

    ok("validators", "pause", "--reason", "incident")
    assert httpx.post(url + "/v1/validator/work/claim", headers=oro_headers(ALICE)).status_code == 204
    ok("validators", "resume")
    claim = httpx.post(url + "/v1/validator/work/claim", headers=oro_headers(ALICE))
    assert claim.status_code == 200, claim.text
    run_id = claim.json()["eval_run_id"]

    assert "cancelled_runs=1" in ok("version", "discard", version_id, "--reason", "cheating")
    beat = httpx.post(f"{url}/v1/validator/evaluation-runs/{run_id}/heartbeat", headers=oro_headers(ALICE))
    assert beat.status_code == 409 and beat.json()["error_code"] == "LEASE_EXPIRED"
    assert "4 events in all" in ok("audit")

    trail = httpx.get(url + "/v1/admin/audit-events", headers=oro_headers(DAVE)).json()
    actions = [e["action"] for e in trail["events"]]
    assert actions == ["DISCARD_AGENT_VERSION", "RESUME_VALIDATORS", "PAUSE_VALIDATORS", "CREATE_SUITE"]
    assert all(e["actor_hotkey"].startswith("cli:") and e["details"]["via"] == "cli" for e in trail["events"])
