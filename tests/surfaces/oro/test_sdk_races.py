"""ORO's two-phase competition driven by ORO's own client (`oro-sdk==1.0.78`) against real `proctor serve`
processes on SQLite and on PostgreSQL + Redis: qualify, pin, close qualifying (operator command), race
runs through the same claim on the hidden bank, race complete, top changes, and the validator's
weight-setter read sequence (reference oro-api §7.4). Hidden race problems never reach a public payload."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from oro_sdk import BittensorAuthClient, Client
from oro_sdk.api.miner import (
    clear_race_selection,
    list_agent_versions,
    list_miner_agents,
    set_race_selection,
    submit_agent,
)
from oro_sdk.api.public import (
    get_agent_version_runs,
    get_agent_version_status,
    get_current_race,
    get_leaderboard,
    get_race_detail,
    get_race_history,
    get_top_agent,
)
from oro_sdk.api.validator import claim_work, complete_run, get_run_problems, heartbeat, update_progress
from oro_sdk.models import (
    BodySubmitAgent,
    CompleteRunRequest,
    HeartbeatRequest,
    LeaseExpiredError,
    MinerRaceSelectionRequest,
    NoSelectionError,
    NotVersionOwnerError,
    ProblemProgressUpdate,
    ProblemStatus,
    ProgressUpdateRequest,
    RaceLockedError,
    RaceNotFoundError,
    RunAlreadyCompleteError,
    TerminalStatus,
)
from oro_sdk.types import File

from tests.support import agents, services
from tests.support.server import ServerProcess
from tests.support.signing import ALICE, BOB, CHARLIE
from tests.support.suites import oro_problems, write_oro_suite

pytestmark = pytest.mark.slow


@pytest.fixture(
    params=["sqlite", pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis])]
)
def env(request: pytest.FixtureRequest, server_env: dict[str, str]) -> dict[str, str]:
    values = {
        **server_env,
        "PROCTOR_RATE_LIMIT_SUBMIT": "1000/minute",
        "PROCTOR_SECRET_KEY": "sdk-races-test-secret-key-0123456789abcdef",
        "PROCTOR_EVAL_REQUIRED_SUCCESSES": "1",
        "PROCTOR_RACE_ENABLED": "true",
        "PROCTOR_RACE_REQUIRED_SUCCESSES": "1",
        "PROCTOR_RACE_QUALIFYING_SECONDS": "86400",
        "PROCTOR_RACE_INTERVAL_SECONDS": "0",
    }
    if request.param != "sqlite":
        dbs: services.PostgresDatabases = request.getfixturevalue("pg")
        values["PROCTOR_DATABASE_URL"] = dbs.url(services.blocking(dbs.create()))
        values["PROCTOR_REDIS_URL"] = request.getfixturevalue("redis_url")
    return values


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "proctor", *args],
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def signed(server: ServerProcess, key: Any) -> BittensorAuthClient:
    return BittensorAuthClient(base_url=server.base_url, wallet=key, timeout=httpx.Timeout(30))


def submit(client: BittensorAuthClient, name: str) -> uuid.UUID:
    body = BodySubmitAgent(
        agent_name=name,
        file=File(payload=io.BytesIO(agents.valid_agent()), file_name="agent.py", mime_type="text/x-python"),
    )
    accepted = submit_agent.sync(client=client, body=body)
    assert accepted is not None and accepted.admission_status.value == "ACCEPTED"
    assert isinstance(accepted.agent_version_id, uuid.UUID)
    return accepted.agent_version_id


def evaluate(validator: BittensorAuthClient, scores: dict[uuid.UUID, float]) -> list[uuid.UUID]:
    """Claim, read problems, report progress and complete one run; returns the run's problem ids."""
    claim = claim_work.sync(client=validator, body=HeartbeatRequest(cpu_pct=5.0))
    assert claim is not None
    problems = get_run_problems.sync(client=validator, eval_run_id=claim.eval_run_id)
    assert problems is not None and problems.problems
    score = scores[claim.agent_version_id]
    updates = [
        ProblemProgressUpdate(problem_id=p.problem_id, status=ProblemStatus.SUCCESS, score=score)
        for p in problems.problems
    ]
    assert update_progress.sync(
        client=validator, eval_run_id=claim.eval_run_id, body=ProgressUpdateRequest(problems=updates)
    )
    done = complete_run.sync(
        client=validator,
        eval_run_id=claim.eval_run_id,
        body=CompleteRunRequest(terminal_status=TerminalStatus.SUCCESS, validator_score=score),
    )
    assert done is not None
    return [p.problem_id for p in problems.problems]


def weights_from_race(public: Client) -> list[tuple[str, float]]:
    """ORO's weight setter's reads (§7.4): history → first RACE_COMPLETE → detail → finishers."""
    history = get_race_history.sync(client=public, limit=5)
    assert history is not None
    complete = next((r for r in history.races if r.status == "RACE_COMPLETE"), None)
    if complete is None:
        return []
    detail = get_race_detail.sync(client=public, race_id=complete.race_id)
    assert detail is not None
    return [
        (q.miner_hotkey, q.race_score)
        for q in detail.qualifiers
        if isinstance(q.race_score, float) and isinstance(q.miner_hotkey, str)
    ]


def test_two_phase_race_over_the_sdk(
    env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    server = start_server(env)
    cli(env, "admin", "suite", "import", str(write_oro_suite(tmp_path / "s.json", 4)), "--activate")
    hidden = oro_problems(3)
    for p in hidden:
        p["query"] = "RACE ONLY " + str(p["query"])
    (tmp_path / "bank.json").write_text(json.dumps(hidden))
    cli(env, "admin", "race", "import-bank", str(tmp_path / "bank.json"), "--suite-id", "1")
    public = Client(base_url=server.base_url)
    assert weights_from_race(public) == [], "no completed race: the weight setter skips the tick"
    current = get_current_race.sync(client=public)
    assert current is not None and not current.race

    bob, charlie, alice = signed(server, BOB), signed(server, CHARLIE), signed(server, ALICE)
    vb, vc = submit(bob, "bob agent"), submit(charlie, "charlie agent")
    qualifying = {vb: 0.5, vc: 0.6}
    suite_ids = set(evaluate(alice, qualifying)) | set(evaluate(alice, qualifying))
    assert len(suite_ids) == 4

    pinned = set_race_selection.sync_detailed(client=bob, body=MinerRaceSelectionRequest(agent_version_id=vb))
    assert pinned.status_code == 204
    theft = set_race_selection.sync_detailed(
        client=charlie, body=MinerRaceSelectionRequest(agent_version_id=vb)
    )
    assert theft.status_code == 403 and isinstance(theft.parsed, NotVersionOwnerError)
    nothing = clear_race_selection.sync_detailed(client=charlie)
    assert nothing.status_code == 404 and isinstance(nothing.parsed, NoSelectionError)
    mine = list_miner_agents.sync(client=bob)
    assert mine is not None and mine.racing_agent_version_id == vb
    latest = mine.agents[0].latest_version
    assert latest and latest.is_selected_for_race and latest.is_pinnable

    out = cli(env, "admin", "race", "close-qualifying")
    assert "race 1 running" in out
    locked = set_race_selection.sync_detailed(client=bob, body=MinerRaceSelectionRequest(agent_version_id=vb))
    assert locked.status_code == 409 and isinstance(locked.parsed, RaceLockedError)
    unlock = clear_race_selection.sync_detailed(client=bob)
    assert unlock.status_code == 409 and isinstance(unlock.parsed, RaceLockedError)
    running = get_current_race.sync(client=public)
    assert running is not None and running.race and running.race.status == "RACE_RUNNING"
    assert {q.agent_version_id for q in running.qualifiers or []} == {vb, vc}

    race_scores = {vb: 0.9, vc: 0.4}
    race_ids = set(evaluate(alice, race_scores)) | set(evaluate(alice, race_scores))
    assert len(race_ids) == 3 and not race_ids & suite_ids, "RACE runs get the hidden bank"

    finishers = weights_from_race(public)
    assert sorted(finishers) == sorted([(BOB.ss58_address, 0.9), (CHARLIE.ss58_address, 0.4)])
    top = get_top_agent.sync(client=public)
    assert top is not None and top.top_miner_hotkey == BOB.ss58_address
    assert "RACE_COMPLETE" in cli(env, "admin", "race", "show")
    raw = get_leaderboard.sync_detailed(client=public, score_type="race")
    board = raw.parsed
    assert raw.status_code == 200, raw.content
    assert board is not None and [(e.rank, e.miner_hotkey) for e in board.entries] == [
        (1, BOB.ss58_address),
        (2, CHARLIE.ss58_address),
    ]
    assert board.entries[0].is_current_top and board.entries[0].final_score == 0.9
    weights = json.loads(cli(env, "validator", "weights", "--url", server.base_url, "--json"))
    assert weights["race_number"] == 1 and weights["burn"] == 0.0  # /top's emission_weight is 1.0
    assert [(w["rank"], w["miner_hotkey"], w["weight"]) for w in weights["weights"]] == [
        (1, BOB.ss58_address, 1.0),
        (2, CHARLIE.ss58_address, 0.0),  # the top half is paid: 1 of 2
    ]
    lost = list_miner_agents.sync(client=charlie)
    assert lost is not None and lost.racing_agent_version_id is None
    history = list_agent_versions.sync(client=charlie, agent_id=lost.agents[0].agent_id)
    assert history and history[0].eliminated_in_race_number == 1 and history[0].pin_disabled_reason
    status = get_agent_version_status.sync(client=public, agent_version_id=vc)
    assert status is not None and status.race_score == 0.4 and status.eliminated_in_race_number == 1
    phases = {r.phase for r in get_agent_version_runs.sync(client=public, agent_version_id=vb) or []}
    assert phases == {"QUALIFYING", "RACE"}
    missing = get_race_detail.sync_detailed(client=public, race_id=uuid.uuid4())
    assert missing.status_code == 404 and isinstance(missing.parsed, RaceNotFoundError)

    # Hidden race problems never appear in a public payload.
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        runs = [
            r["eval_run_id"] for v in (vb, vc) for r in http.get(f"/v1/public/agent-versions/{v}/runs").json()
        ]
        paths = [
            "/v1/public/suites",
            "/v1/public/suites/current",
            "/v1/public/suites/1/problems",
            "/v1/public/suites/1/problems?include_embeddings=true",
            "/v1/public/leaderboard",
            "/v1/public/top",
            "/v1/public/top/history",
            "/v1/public/races/current",
            "/v1/public/races/history",
            "/v1/public/evaluations/running",
            "/v1/public/evaluations/pending",
            "/v1/public/validators",
            *[f"/v1/public/agent-versions/{v}{tail}" for v in (vb, vc) for tail in ("", "/status", "/runs")],
            *[f"/v1/public/agent-versions/{v}/problems{q}" for v in (vb, vc) for q in ("", "?phase=RACE")],
            *[f"/v1/public/evaluation-runs/{r}" for r in runs],
        ]
        for path in paths:
            answer = http.get(path)
            assert answer.status_code == 200, (path, answer.text)
            assert "RACE ONLY" not in answer.text, path
            assert not any(str(i) in answer.text for i in race_ids), path


def test_an_operator_cancels_a_running_race(
    env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    server = start_server(env)
    cli(env, "admin", "suite", "import", str(write_oro_suite(tmp_path / "s.json", 2)), "--activate")
    hidden = oro_problems(2)
    for p in hidden:
        p["query"] = "RACE ONLY " + str(p["query"])
    (tmp_path / "bank.json").write_text(json.dumps(hidden))
    cli(env, "admin", "race", "import-bank", str(tmp_path / "bank.json"), "--suite-id", "1")
    public = Client(base_url=server.base_url)
    bob, alice = signed(server, BOB), signed(server, ALICE)
    vb = submit(bob, "bob agent")
    evaluate(alice, {vb: 0.5})
    cli(env, "admin", "race", "close-qualifying")
    claim = claim_work.sync(client=alice, body=None)
    assert claim is not None and claim.agent_version_id == vb
    problems = get_run_problems.sync(client=alice, eval_run_id=claim.eval_run_id)
    assert problems is not None
    race = get_current_race.sync(client=public)
    assert race is not None and race.race and race.race.status == "RACE_RUNNING"

    out = cli(env, "admin", "race", "cancel", str(race.race.race_id), "--reason", "wrong bank")
    assert "race 1 cancelled" in out and "ended_runs=1" in out
    # The validator holding the race run hears ORO's documented conflicts.
    beat = heartbeat.sync_detailed(client=alice, eval_run_id=claim.eval_run_id, body=None)
    assert beat.status_code == 409 and isinstance(beat.parsed, LeaseExpiredError)
    progress = update_progress.sync_detailed(
        client=alice,
        eval_run_id=claim.eval_run_id,
        body=ProgressUpdateRequest(
            problems=[
                ProblemProgressUpdate(
                    problem_id=problems.problems[0].problem_id, status=ProblemStatus.SUCCESS
                )
            ]
        ),
    )
    assert progress.status_code == 409 and isinstance(progress.parsed, RunAlreadyCompleteError)
    late = complete_run.sync_detailed(
        client=alice,
        eval_run_id=claim.eval_run_id,
        body=CompleteRunRequest(terminal_status=TerminalStatus.SUCCESS, validator_score=0.9),
    )
    assert late.status_code == 409 and isinstance(late.parsed, RunAlreadyCompleteError)
    assert claim_work.sync_detailed(client=alice, body=None).status_code == 204, "no race work is left"

    history = get_race_history.sync(client=public, limit=5)
    assert history is not None and [(r.race_number, r.status) for r in history.races] == [(1, "CANCELLED")]
    assert weights_from_race(public) == [], "a cancelled race pays nobody"
    assert "no completed race yet" in cli(env, "validator", "weights", "--url", server.base_url)
    status = get_agent_version_status.sync(client=public, agent_version_id=vb)
    assert status is not None and status.eliminated_in_race_number is None and status.race_score is None
    runs = get_agent_version_runs.sync(client=public, agent_version_id=vb) or []
    assert sorted((r.phase, r.status.value) for r in runs) == [
        ("QUALIFYING", "SUCCESS"),
        ("RACE", "CANCELLED"),
    ]
    assert "CANCELLED" in cli(env, "admin", "race", "show")
    pinned = set_race_selection.sync_detailed(client=bob, body=MinerRaceSelectionRequest(agent_version_id=vb))
    assert pinned.status_code == 204, "pins unlock once the race is cancelled"
    assert "race 2 running" in cli(env, "admin", "race", "close-qualifying")
