"""`proctor validator run` against a real `proctor serve` process, end to end."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from proctor.cli import miner
from tests.support.server import ServerProcess
from tests.support.signing import BOB, DAVE, EVE
from tests.validator.helpers import (
    DEMO_AGENT,
    DEMO_SCORE,
    DEMO_SUITE,
    download_log,
    events,
    import_suite,
    proctor,
    public,
    validate,
    write_registry,
)

pytestmark = pytest.mark.slow

StartServer = Callable[[dict[str, str]], ServerProcess]


@pytest.fixture
def env(server_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**server_env, "PROCTOR_REGISTRY": str(write_registry(tmp_path / "validators.yaml"))}


def submit(url: str, signer: object, code: bytes, name: str) -> str:
    reply = miner.submit(url, signer, code, name=name, filename="agent.py")  # type: ignore[arg-type]
    assert reply.accepted, reply.body
    return str(reply.body["agent_version_id"])


def test_two_validators_make_an_agent_eligible(env: dict[str, str], start_server: StartServer) -> None:
    server = start_server(env)
    url = server.base_url
    import_suite(env)
    version = submit(url, BOB, DEMO_AGENT.read_bytes(), "demo-agent")

    first = validate(url, "//Alice", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    seen = events(first.stdout)
    kinds = [e["event"] for e in seen]
    assert kinds[0] == "claimed" and kinds[-1] == "stopped"
    assert kinds.count("problem") == 8 and "heartbeat" in kinds and "progress" in kinds
    assert kinds.index("progress") < kinds.index("logs") < kinds.index("completed")
    done = next(e for e in seen if e["event"] == "completed")
    assert done["accepted"] and done["status"] == "SUCCESS" and done["score"] == DEMO_SCORE
    assert done["successes"] == 1 and done["required"] == 2 and not done["became_eligible"]
    hidden = next(e for e in seen if e["event"] == "problems")["hidden"]
    assert {"reward", "voucher", "reward_title_embeddings"} <= set(hidden)
    assert public(url, f"/v1/public/agent-versions/{version}/status")["state"] in ("QUEUED", "RUNNING")

    second = validate(url, "//Charlie")  # the human-readable output this time
    assert second.returncode == 0, second.stdout + second.stderr
    assert "agent ELIGIBLE" in second.stdout and "0.8750" in second.stdout

    status = public(url, f"/v1/public/agent-versions/{version}/status")
    assert status["state"] == "ELIGIBLE" and status["final_score"] == DEMO_SCORE
    board = public(url, "/v1/public/leaderboard")
    assert [e["agent_version_id"] for e in board["entries"]] == [version]
    assert public(url, "/v1/public/top")["top_agent_version_id"] == version

    runs = public(url, f"/v1/public/agent-versions/{version}/runs")
    assert len(runs) == 2 and {r["status"] for r in runs} == {"SUCCESS"}
    for run in runs:
        assert run["validator_score"] == DEMO_SCORE
        assert run["last_heartbeat_at"] is not None, "heartbeats were not recorded"
        assert run["sandbox_metadata"]["heartbeats"] >= 1
        assert run["score_components_summary"]["total_problems"] == 8
    validators = {v["hotkey"]: v for v in public(url, "/v1/public/validators")}
    assert all(
        str(v["service_versions"]["validator"]).startswith("proctor/")
        for v in validators.values()
        if v["service_versions"]
    )

    matrix = public(url, f"/v1/public/agent-versions/{version}/problems")["problems"]
    assert len(matrix) == 8
    for row in matrix:
        results = row["validator_results"]
        assert len(results) == 2 and {r["status"] for r in results} == {"SUCCESS"}
    scores = sorted(r["score"] for row in matrix for r in row["validator_results"])
    assert scores == [0.0, 0.0] + [1.0] * 14

    # Every log went up and comes back through the public artifact API, without the ground truth.
    for run in runs:
        for row in matrix:
            log = download_log(
                url,
                artifact_type="EVAL_PROBLEM_LOGS",
                agent_version_id=version,
                eval_run_id=run["eval_run_id"],
                problem_id=row["problem_id"],
            )
            assert log["problem_id"] == row["problem_id"] and log["status"] == "SUCCESS"
            text = json.dumps(log)
            assert "price_after_voucher" not in text and "reward_title_embeddings" not in text
        bundle = download_log(
            url, artifact_type="EVAL_LOGS_BUNDLE", agent_version_id=version, eval_run_id=run["eval_run_id"]
        )
        assert len(bundle["problems"]) == 8 and all(p["logs_s3_key"] for p in bundle["problems"])


SPY_AGENT = b'''"""Reports exactly what it was given."""
import json


def agent_main(problem_data):
    return [{"product_id": "none", "seen": json.dumps(problem_data, sort_keys=True)}]
'''

UNLOADABLE_AGENT = b'''"""Needs a package the sandbox does not offer."""
import numpy


def agent_main(problem_data):
    return [{"product_id": str(numpy.argmax([1, 2]))}]
'''


def test_the_agent_sees_only_public_fields_and_a_broken_agent_fails_the_run(
    env: dict[str, str], start_server: StartServer
) -> None:
    server = start_server({**env, "PROCTOR_EVAL_REQUIRED_SUCCESSES": "1"})
    url = server.base_url
    import_suite(env, DEMO_SUITE, "--hidden-field", "difficulty")
    spy = submit(url, BOB, SPY_AGENT, "spy")
    broken = submit(url, DAVE, UNLOADABLE_AGENT, "broken")

    spied = validate(url, "//Alice", "--json")
    assert spied.returncode == 0, spied.stdout + spied.stderr
    done = next(e for e in events(spied.stdout) if e["event"] == "completed")
    assert done["status"] == "SUCCESS" and done["score"] == 0.0
    run = public(url, f"/v1/public/agent-versions/{spy}/runs")[0]
    for row in public(url, f"/v1/public/agent-versions/{spy}/problems")["problems"]:
        log = download_log(
            url,
            artifact_type="EVAL_PROBLEM_LOGS",
            agent_version_id=spy,
            eval_run_id=run["eval_run_id"],
            problem_id=row["problem_id"],
        )
        view = json.loads(log["agent_output"][0]["seen"])
        # The suite hides `difficulty` from the public, so the agent does not get it either.
        assert set(view) == {"query", "category", "title", "catalog", "problem_id"}
        assert view["problem_id"] == row["problem_id"]

    failed = validate(url, "//Charlie")
    assert failed.returncode == 0, failed.stdout + failed.stderr
    assert "FAILED" in failed.stdout
    [run] = public(url, f"/v1/public/agent-versions/{broken}/runs")
    assert run["status"] == "FAILED"
    assert run["failure_reason"].startswith("agent failed to load: ModuleNotFoundError")


SLOW_AGENT = b'''"""Takes its time."""
import time


def agent_main(problem_data):
    time.sleep(3)
    return []
'''


def test_a_lost_lease_stops_the_run_and_a_banned_validator_is_refused(
    env: dict[str, str], start_server: StartServer
) -> None:
    server = start_server(
        {**env, "PROCTOR_EVAL_LEASE_SECONDS": "1", "PROCTOR_REAPER_INTERVAL_SECONDS": "0.5"}
    )
    url = server.base_url
    import_suite(env)
    version = submit(url, BOB, SLOW_AGENT, "slow")

    lost = validate(url, "//Alice", "--json", "--heartbeat-interval", "60", "--progress-interval", "0")
    assert lost.returncode == 1, lost.stdout + lost.stderr
    seen = events(lost.stdout)
    gone = next(e for e in seen if e["event"] == "lease_lost")
    assert gone["code"] in ("RUN_ALREADY_COMPLETE", "LEASE_EXPIRED", "NOT_RUN_OWNER")
    assert not any(e["event"] == "completed" for e in seen), "a lost run must not be completed"
    assert sum(e["event"] == "problem" for e in seen) < 8, "the run went on after the lease was lost"
    deadline = time.monotonic() + 10
    while public(url, f"/v1/public/agent-versions/{version}/runs")[0]["status"] != "STALE":
        assert time.monotonic() < deadline, "the lapsed run was never reaped"
        time.sleep(0.2)

    banned = proctor("admin", "hotkey", "ban", EVE.ss58_address, "--reason", "test", env=env)
    assert banned.returncode == 0, banned.stderr
    refused = validate(url, "//Eve", "--json")
    assert refused.returncode == 1
    event = next(e for e in events(refused.stdout) if e["event"] == "refused")
    assert event["status"] == 403 and "banned" in json.dumps(event).lower()
