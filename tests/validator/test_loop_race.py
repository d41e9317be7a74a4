"""`proctor validator run` evaluates RACE runs too: the hidden bank's problems, ground truth removed by
the same rule as the suite's, against a real `proctor serve` process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from proctor.cli import miner
from tests.support.server import ServerProcess
from tests.support.signing import BOB
from tests.validator.helpers import (
    DEMO_AGENT,
    DEMO_SCORE,
    DEMO_SUITE,
    events,
    import_suite,
    proctor,
    public,
    validate,
    write_registry,
)

pytestmark = pytest.mark.slow


def test_a_race_run_is_evaluated_on_the_hidden_bank(
    server_env: dict[str, str], tmp_path: Path, start_server: Callable[[dict[str, str]], ServerProcess]
) -> None:
    env = {
        **server_env,
        "PROCTOR_REGISTRY": str(write_registry(tmp_path / "validators.yaml")),
        "PROCTOR_EVAL_REQUIRED_SUCCESSES": "1",
        "PROCTOR_RACE_ENABLED": "true",
        "PROCTOR_RACE_REQUIRED_SUCCESSES": "1",
        "PROCTOR_RACE_INTERVAL_SECONDS": "0",
    }
    server = start_server(env)
    url = server.base_url
    import_suite(env)
    bank = json.loads(DEMO_SUITE.read_text())
    for problem in bank:
        problem["title"] = "race " + str(problem["title"])  # other content, other problem ids
    (tmp_path / "bank.json").write_text(json.dumps(bank))
    done = proctor("admin", "race", "import-bank", str(tmp_path / "bank.json"), "--suite-id", "1", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    reply = miner.submit(url, BOB, DEMO_AGENT.read_bytes(), name="demo-agent", filename="agent.py")
    assert reply.accepted, reply.body
    version = str(reply.body["agent_version_id"])

    qualifying = validate(url, "//Alice", "--json")
    assert qualifying.returncode == 0, qualifying.stdout + qualifying.stderr
    closed = proctor("admin", "race", "close-qualifying", env=env)
    assert closed.returncode == 0, closed.stdout + closed.stderr

    racing = validate(url, "//Alice", "--json")
    assert racing.returncode == 0, racing.stdout + racing.stderr
    seen = events(racing.stdout)
    hidden = next(e for e in seen if e["event"] == "problems")["hidden"]
    assert {"reward", "reward_title_embeddings"} <= set(hidden) and "query" not in hidden
    completed = next(e for e in seen if e["event"] == "completed")
    assert completed["status"] == "SUCCESS" and completed["score"] == DEMO_SCORE

    history = public(url, "/v1/public/races/history?limit=5")
    race = next(r for r in history["races"] if r["status"] == "RACE_COMPLETE")
    detail = public(url, f"/v1/public/races/{race['race_id']}")
    assert [(q["agent_version_id"], q["race_score"]) for q in detail["qualifiers"]] == [(version, DEMO_SCORE)]
    assert public(url, "/v1/public/top")["top_agent_version_id"] == version
