"""Every admin operation of `oro-sdk==1.0.78` (except the race routes, served by the races surface)
through ORO's own client against a live `proctor serve`: each answer parses into the SDK's model, and
a signed request from a key outside PROCTOR_ADMIN_HOTKEYS gets 403."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from oro_sdk import BittensorAuthClient
from oro_sdk.api.admin import (
    activate_suite,
    ban_miner,
    ban_validator,
    cancel_agent_version,
    clear_miner_cooldown,
    create_suite,
    discard_agent_version,
    eliminate_agent_version,
    get_agent_version_code,
    get_agent_version_variance,
    get_audit_events,
    get_reaper_stats,
    get_validator_failures,
    get_validator_pause,
    get_validator_resource_samples,
    get_validator_scores,
    invalidate_evaluation_run,
    list_agent_versions,
    list_evaluation_runs,
    list_miners,
    list_validators,
    post_validator_pause,
    post_validator_resume,
    reevaluate_agent_version,
    reinstate_agent_version,
    reinstate_elimination,
    set_top_agent,
    unban_miner,
    unban_validator,
    update_validator,
)
from oro_sdk.api.miner import submit_agent
from oro_sdk.api.validator import claim_work, complete_run
from oro_sdk.models import (
    BanRequest,
    CancelRequest,
    CompleteRunRequest,
    CreateSuiteRequest,
    DiscardRequest,
    EliminateRequest,
    HeartbeatRequest,
    InvalidateRunRequest,
    ReevaluateRequest,
    ReinstateEliminationRequest,
    ReinstateRequest,
    SetTopRequest,
    TerminalStatus,
    UpdateValidatorRequest,
    ValidatorPauseRequest,
    ValidatorResumeRequest,
)

from tests.support import agents, services
from tests.support.server import ServerProcess
from tests.support.signing import ALICE, BOB, CHARLIE, DAVE, EVE
from tests.support.suites import oro_problems, write_oro_suite
from tests.surfaces.oro.test_sdk_cycle import body, cli

pytestmark = pytest.mark.slow


@pytest.fixture(
    params=["sqlite", pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis])]
)
def env(request: pytest.FixtureRequest, server_env: dict[str, str]) -> dict[str, str]:
    values = {
        **server_env,
        "PROCTOR_RATE_LIMIT_SUBMIT": "1000/minute",
        "PROCTOR_ADMIN_HOTKEYS": DAVE.ss58_address,
        "PROCTOR_EVAL_REQUIRED_SUCCESSES": "1",
        "PROCTOR_SECRET_KEY": "admin-sdk-test-secret-key-0123456789abcdef",
    }
    if request.param != "sqlite":
        dbs: services.PostgresDatabases = request.getfixturevalue("pg")
        values["PROCTOR_DATABASE_URL"] = dbs.url(services.blocking(dbs.create()))
        values["PROCTOR_REDIS_URL"] = request.getfixturevalue("redis_url")
    return values


def signed(server: ServerProcess, key: Any) -> BittensorAuthClient:
    return BittensorAuthClient(base_url=server.base_url, wallet=key, timeout=httpx.Timeout(30))


def operations(version: uuid.UUID, other: uuid.UUID, run: uuid.UUID, new_suite: int) -> list[tuple[str, Any]]:
    """(the SDK model the answer must parse into, a call taking the client) for each admin operation."""
    now = datetime.now(UTC)
    return [
        ("AdminAgentVersionsResponse", lambda c: list_agent_versions.sync_detailed(client=c, limit=10)),
        ("AdminAgentCodeResponse", lambda c: get_agent_version_code.sync_detailed(version, client=c)),
        (
            "CancelResponse",
            lambda c: cancel_agent_version.sync_detailed(other, client=c, body=CancelRequest("x")),
        ),
        (
            "DiscardResponse",
            lambda c: discard_agent_version.sync_detailed(other, client=c, body=DiscardRequest("x")),
        ),
        (
            "DiscardResponse",
            lambda c: reinstate_agent_version.sync_detailed(
                other, client=c, body=ReinstateRequest(reason="ok")
            ),
        ),
        (
            "EliminateResponse",
            lambda c: eliminate_agent_version.sync_detailed(other, client=c, body=EliminateRequest("x")),
        ),
        (
            "ReinstateEliminationResponse",
            lambda c: reinstate_elimination.sync_detailed(
                other, client=c, body=ReinstateEliminationRequest()
            ),
        ),
        (
            "ReevaluateResponse",
            lambda c: reevaluate_agent_version.sync_detailed(
                other, client=c, body=ReevaluateRequest("again", required_successes=1)
            ),
        ),
        ("SetTopResponse", lambda c: set_top_agent.sync_detailed(version, client=c, body=SetTopRequest())),
        ("AdminEvaluationRunsResponse", lambda c: list_evaluation_runs.sync_detailed(client=c)),
        (
            "EvaluationRunStatusPublic",
            lambda c: invalidate_evaluation_run.sync_detailed(
                run, client=c, body=InvalidateRunRequest("bad")
            ),
        ),
        ("AdminMinersResponse", lambda c: list_miners.sync_detailed(client=c)),
        ("ClearCooldownResponse", lambda c: clear_miner_cooldown.sync_detailed(BOB.ss58_address, client=c)),
        (
            "BanResponse",
            lambda c: ban_miner.sync_detailed(CHARLIE.ss58_address, client=c, body=BanRequest("x")),
        ),
        ("BanResponse", lambda c: unban_miner.sync_detailed(CHARLIE.ss58_address, client=c)),
        ("AdminValidatorsResponse", lambda c: list_validators.sync_detailed(client=c)),
        (
            "AdminValidatorEntry",
            lambda c: update_validator.sync_detailed(
                ALICE.ss58_address, client=c, body=UpdateValidatorRequest(max_concurrent_runs=2)
            ),
        ),
        (
            "BanResponse",
            lambda c: ban_validator.sync_detailed(EVE.ss58_address, client=c, body=BanRequest("x")),
        ),
        ("BanResponse", lambda c: unban_validator.sync_detailed(EVE.ss58_address, client=c)),
        ("ValidatorPauseStatus", lambda c: get_validator_pause.sync_detailed(client=c)),
        (
            "ValidatorPauseStatus",
            lambda c: post_validator_pause.sync_detailed(
                client=c, body=ValidatorPauseRequest("incident", auto_release_at=now + timedelta(hours=1))
            ),
        ),
        (
            "ValidatorPauseStatus",
            lambda c: post_validator_resume.sync_detailed(client=c, body=ValidatorResumeRequest(reason="ok")),
        ),
        (
            "CreateSuiteResponse",
            lambda c: create_suite.sync_detailed(
                client=c, body=CreateSuiteRequest(problem_suite_uri="s3://bucket/suites/next.json")
            ),
        ),
        ("ActivateSuiteResponse", lambda c: activate_suite.sync_detailed(new_suite, client=c)),
        ("ReaperStatsResponse", lambda c: get_reaper_stats.sync_detailed(client=c)),
        ("AuditEventsResponse", lambda c: get_audit_events.sync_detailed(client=c, limit=5)),
        ("AgentVersionVarianceResponse", lambda c: get_agent_version_variance.sync_detailed(client=c)),
        (
            "ValidatorFailuresResponse",
            lambda c: get_validator_failures.sync_detailed(ALICE.ss58_address, client=c),
        ),
        (
            "ValidatorResourceSamplesResponse",
            lambda c: get_validator_resource_samples.sync_detailed(
                client=c, start=now - timedelta(hours=1), end=now + timedelta(hours=1)
            ),
        ),
        ("ValidatorScoresResponse", lambda c: get_validator_scores.sync_detailed(client=c)),
    ]


def test_every_admin_operation_parses_and_non_admins_get_403(
    env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    server = start_server(env)
    cli(env, "admin", "suite", "import", str(write_oro_suite(tmp_path / "s.json", 3)), "--activate")
    blobs = Path(env["PROCTOR_DATA_DIR"]) / "blobs" / "suites"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / "next.json").write_text(json.dumps(oro_problems(4)))

    bob, charlie, alice = signed(server, BOB), signed(server, CHARLIE), signed(server, ALICE)
    top = submit_agent.sync(client=bob, body=body("top", agents.valid_agent()))
    assert top is not None
    claim = claim_work.sync(client=alice, body=HeartbeatRequest())
    assert claim is not None and claim.agent_version_id == top.agent_version_id
    done = complete_run.sync(
        client=alice,
        eval_run_id=claim.eval_run_id,
        body=CompleteRunRequest(terminal_status=TerminalStatus.SUCCESS, validator_score=0.7),
    )
    assert done is not None
    other = submit_agent.sync(client=charlie, body=body("other", agents.valid_agent() + b"\n# other\n"))
    assert other is not None

    ops = operations(top.agent_version_id, other.agent_version_id, claim.eval_run_id, new_suite=2)
    assert len(ops) == 30  # 33 in oro-sdk 1.0.78, less the three race routes
    for client in (bob, alice):  # a miner and a validator: signed and registered, but not admins
        for _, call in ops:
            assert call(client).status_code == 403

    admin = signed(server, DAVE)
    for expected, call in ops:
        answer = call(admin)
        assert answer.status_code in (200, 201), (expected, answer.status_code, answer.content)
        assert type(answer.parsed).__name__ == expected, (expected, answer.content)

    again = invalidate_evaluation_run.sync_detailed(
        claim.eval_run_id, client=admin, body=InvalidateRunRequest("x")
    )
    assert again.status_code == 409 and type(again.parsed).__name__ == "AlreadyInvalidatedError"
    missing = discard_agent_version.sync_detailed(uuid.uuid4(), client=admin, body=DiscardRequest("x"))
    assert missing.status_code == 404 and type(missing.parsed).__name__ == "AgentVersionNotFoundError"

    trail = get_audit_events.sync(client=admin, limit=100)
    assert trail is not None
    # Each operation above that changes something left exactly one event, and so did the CLI's import.
    ours = [e for e in trail.events if e.actor_hotkey == DAVE.ss58_address]
    assert len(ours) == 18, [e.action for e in ours]
    assert trail.total == 19
    cli_import = [e for e in trail.events if e.actor_hotkey != DAVE.ss58_address]
    assert [e.action for e in cli_import] == ["CREATE_SUITE"] and cli_import[0].actor_hotkey.startswith(
        "cli:"
    )
    bans = get_audit_events.sync(client=admin, action="BAN_MINER")
    assert bans is not None and bans.total == 1 and bans.events[0].target_id == CHARLIE.ss58_address
