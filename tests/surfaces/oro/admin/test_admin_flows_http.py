"""Admin actions over ORO's wire, in-process, on SQLite and PostgreSQL: discard during a running
evaluation, validator pause/resume, and one audit event per action written with the change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from proctor.config import Settings
from proctor.core.admin import flows as admin_flows
from proctor.core.suites import service as suite_service
from proctor.models import AgentVersion, AuditEvent, EvaluationRun, WorkItem
from tests.conftest import running_app
from tests.support.agents import valid_agent
from tests.support.signing import ALICE, BOB, DAVE, EVE, oro_headers
from tests.support.suites import oro_problems
from tests.surfaces.oro.conftest import submit

ADMIN = DAVE  # not registered on the subnet: an admin needs only PROCTOR_ADMIN_HOTKEYS


@pytest.fixture
async def admin_app(
    make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = make_settings(
        database_url=database_url,
        rate_limit_submit="1000/minute",
        admin_hotkeys=[ADMIN.ss58_address],
        validator_min_stake=0.0,
    )
    async with running_app(settings) as (app, client):
        async with app.state.proctor.sessionmaker() as session:
            await suite_service.import_suite(session, document=oro_problems(3), activate=True)
            await session.commit()
        yield app, client


async def _post(client: httpx.AsyncClient, path: str, body: Any = None, key: Any = ADMIN) -> httpx.Response:
    return await client.post(path, headers=oro_headers(key), json=body)


async def _events(app: FastAPI, action: str) -> int:
    async with app.state.proctor.sessionmaker() as session:
        found = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        )
        return int(found or 0)


async def _top(client: httpx.AsyncClient) -> str | None:
    top = await client.get("/v1/public/top")
    assert top.status_code == 200
    return top.json()["top_agent_version_id"]  # type: ignore[no-any-return]


async def _eligible(client: httpx.AsyncClient, miner: Any, validators: list[Any], score: float) -> str:
    """Submit an agent and have `validators` complete it with `score`: it becomes eligible."""
    accepted = await submit(client, miner)
    assert accepted.status_code == 200, accepted.text
    version_id = accepted.json()["agent_version_id"]
    for key in validators:
        claim = await client.post("/v1/validator/work/claim", headers=oro_headers(key))
        assert claim.status_code == 200, claim.text
        run_id = claim.json()["eval_run_id"]
        done = await client.post(
            f"/v1/validator/evaluation-runs/{run_id}/complete",
            headers=oro_headers(key),
            json={"terminal_status": "SUCCESS", "validator_score": score},
        )
        assert done.status_code == 200, done.text
    return str(version_id)


async def test_discard_during_a_running_evaluation(admin_app: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = admin_app
    app.state.proctor.settings.eval_required_successes = 1  # one validator closes an item
    app.state.proctor.core.caches.extra.clear()
    top_id = await _eligible(client, BOB, [ALICE], 0.9)
    assert await _top(client) == top_id

    # A second version under evaluation by Eve; the operator discards it mid-run.
    assert (await _post(client, f"/v1/admin/miners/{BOB.ss58_address}/clear-cooldown")).status_code == 200
    running = await submit(client, BOB, content=valid_agent() + b"\n# v2\n", name="second")
    assert running.status_code == 200, running.text
    running_id = running.json()["agent_version_id"]
    claim = await client.post("/v1/validator/work/claim", headers=oro_headers(EVE))
    assert claim.status_code == 200 and claim.json()["agent_version_id"] == running_id
    run_id = claim.json()["eval_run_id"]

    refused = await _post(client, f"/v1/admin/agent-versions/{running_id}/discard", {"reason": "x"}, key=BOB)
    assert refused.status_code == 403
    discarded = await _post(client, f"/v1/admin/agent-versions/{running_id}/discard", {"reason": "cheating"})
    assert discarded.status_code == 200, discarded.text
    assert discarded.json()["is_discarded"] is True

    beat = await client.post(f"/v1/validator/evaluation-runs/{run_id}/heartbeat", headers=oro_headers(EVE))
    assert beat.status_code == 409 and beat.json()["error_code"] == "LEASE_EXPIRED"
    async with app.state.proctor.sessionmaker() as session:
        run = await session.get(EvaluationRun, uuid.UUID(run_id))
        assert run is not None and run.status == "CANCELLED"
        item = await session.scalar(select(WorkItem).where(WorkItem.agent_version_id == run.agent_version_id))
        assert item is not None and item.status == "DISCARDED" and item.active_count == 0
    assert await _events(app, "DISCARD_AGENT_VERSION") == 1

    # Discarding the top agent takes it off the leaderboard and the top at once.
    gone = await _post(client, f"/v1/admin/agent-versions/{top_id}/discard", {"reason": "copied"})
    assert gone.status_code == 200
    assert await _top(client) is None
    board = (await client.get("/v1/public/leaderboard")).json()
    assert all(e["agent_version_id"] != top_id for e in board["entries"])
    assert await _events(app, "DISCARD_AGENT_VERSION") == 2

    back = await _post(client, f"/v1/admin/agent-versions/{top_id}/reinstate", {"reason": "appeal"})
    assert back.status_code == 200 and back.json()["is_discarded"] is False
    assert await _top(client) == top_id
    async with app.state.proctor.sessionmaker() as session:
        version = await session.get(AgentVersion, uuid.UUID(top_id))
        assert version is not None and version.state == "ELIGIBLE"

    page = await client.get("/v1/admin/audit-events", headers=oro_headers(ADMIN), params={"limit": 2})
    assert page.status_code == 200
    assert page.json()["total"] == 4 and len(page.json()["events"]) == 2
    assert page.json()["events"][0]["action"] == "REINSTATE_AGENT_VERSION"
    assert page.json()["events"][0]["actor_hotkey"] == ADMIN.ss58_address


async def test_a_failed_action_leaves_no_audit_event(admin_app: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = admin_app
    missing = "00000000-0000-0000-0000-000000000001"
    answer = await _post(client, f"/v1/admin/agent-versions/{missing}/discard", {"reason": "x"})
    assert answer.status_code == 404 and answer.json()["error_code"] == "AGENT_VERSION_NOT_FOUND"
    again = await _post(client, f"/v1/admin/evaluation-runs/{missing}/invalidate", {"reason": "x"})
    assert again.status_code == 404
    async with app.state.proctor.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 0


async def test_pause_stops_every_claim_and_resume_lifts_it(
    admin_app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = admin_app
    for name in ("a", "b", "c"):
        accepted = await submit(client, BOB, content=valid_agent() + f"\n# {name}\n".encode(), name=name)
        assert accepted.status_code == 200, accepted.text
        await _post(client, f"/v1/admin/miners/{BOB.ss58_address}/clear-cooldown")
    held = await client.post("/v1/validator/work/claim", headers=oro_headers(ALICE))
    assert held.status_code == 200
    paused = await _post(client, "/v1/admin/validator-pause", {"reason": "incident"})
    assert paused.status_code == 200 and paused.json()["active"] is True
    assert paused.json()["paused_by"] == ADMIN.ss58_address

    # Concurrent claims while paused: none gets work; Alice's running lease still renews and finishes.
    answers = await asyncio.gather(
        *(client.post("/v1/validator/work/claim", headers=oro_headers(key)) for key in (EVE, EVE, EVE))
    )
    assert [a.status_code for a in answers] == [204, 204, 204]
    run_id = held.json()["eval_run_id"]
    beat = await client.post(f"/v1/validator/evaluation-runs/{run_id}/heartbeat", headers=oro_headers(ALICE))
    assert beat.status_code == 200
    done = await client.post(
        f"/v1/validator/evaluation-runs/{run_id}/complete",
        headers=oro_headers(ALICE),
        json={"terminal_status": "SUCCESS", "validator_score": 0.5},
    )
    assert done.status_code == 200
    status = await client.get("/v1/admin/validator-pause", headers=oro_headers(ADMIN))
    assert status.json()["active"] is True and status.json()["reason"] == "incident"

    resumed = await _post(client, "/v1/admin/validator-resume", {"reason": "fixed"})
    assert resumed.status_code == 200 and resumed.json()["active"] is False
    claim = await client.post("/v1/validator/work/claim", headers=oro_headers(EVE))
    assert claim.status_code == 200
    assert await _events(app, "PAUSE_VALIDATORS") == 1 and await _events(app, "RESUME_VALIDATORS") == 1
    assert await _events(app, "CLEAR_MINER_COOLDOWN") == 3


async def test_invalidate_reopens_work_and_set_top_needs_force(
    admin_app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = admin_app
    app.state.proctor.settings.eval_required_successes = 1
    app.state.proctor.core.caches.extra.clear()
    first = await _eligible(client, BOB, [ALICE], 0.9)
    assert await _top(client) == first
    runs = await client.get(
        "/v1/admin/evaluation-runs", headers=oro_headers(ADMIN), params={"agent_version_id": first}
    )
    assert runs.status_code == 200 and runs.json()["total"] == 1
    run_id = runs.json()["evaluation_runs"][0]["run_id"]

    # Invalidating its only success takes the version off the top and reopens its work for another validator.
    gone = await _post(client, f"/v1/admin/evaluation-runs/{run_id}/invalidate", {"reason": "bad host"})
    assert gone.status_code == 200 and gone.json()["is_included"] is False
    assert gone.json()["invalidated_by"] == ADMIN.ss58_address
    assert await _top(client) is None
    again = await _post(client, f"/v1/admin/evaluation-runs/{run_id}/invalidate", {"reason": "twice"})
    assert again.status_code == 409 and again.json()["error_code"] == "ALREADY_INVALIDATED"
    claim = await client.post("/v1/validator/work/claim", headers=oro_headers(EVE))
    assert claim.status_code == 200 and claim.json()["agent_version_id"] == first
    done = await client.post(
        f"/v1/validator/evaluation-runs/{claim.json()['eval_run_id']}/complete",
        headers=oro_headers(EVE),
        json={"terminal_status": "SUCCESS", "validator_score": 0.4},
    )
    assert done.status_code == 200
    async with app.state.proctor.sessionmaker() as session:
        version = await session.get(AgentVersion, uuid.UUID(first))
        assert (
            version is not None and version.state == "ELIGIBLE" and version.final_score == pytest.approx(0.4)
        )
    assert await _top(client) == first

    # A weaker version cannot be made top without force.
    assert (await _post(client, f"/v1/admin/miners/{BOB.ss58_address}/clear-cooldown")).status_code == 200
    accepted = await submit(client, BOB, content=valid_agent() + b"\n# weak\n", name="weak")
    weak = accepted.json()["agent_version_id"]
    refused = await _post(client, f"/v1/admin/agent-versions/{weak}/set-top", {})
    assert refused.status_code == 400 and refused.json()["error_code"] == "SCORE_BELOW_THRESHOLD"
    forced = await _post(client, f"/v1/admin/agent-versions/{first}/set-top", {"force": True})
    assert forced.status_code == 200 and forced.json()["previous_top_agent_version_id"] == first
    assert await _events(app, "INVALIDATE_EVALUATION_RUN") == 1 and await _events(app, "SET_TOP_AGENT") == 1


async def test_a_banned_admin_key_gets_403_and_a_pause_releases_itself(
    admin_app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = admin_app
    core = app.state.proctor.core
    paused = await _post(
        client,
        "/v1/admin/validator-pause",
        {"reason": "short", "auto_release_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()},
    )
    assert paused.status_code == 200 and paused.json()["active"] is True
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert (await admin_flows.pause_state(core, now=later)).active is False
    past = await _post(
        client,
        "/v1/admin/validator-pause",
        {"reason": "x", "auto_release_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()},
    )
    assert past.status_code == 400

    banned = await _post(client, f"/v1/admin/miners/{ADMIN.ss58_address}/ban", {"reason": "lost key"})
    assert banned.status_code == 200 and banned.json()["is_banned"] is True
    await core.registry.refresh()  # what the periodic refresher does within PROCTOR_REGISTRY_REFRESH_SECONDS
    refused = await client.get("/v1/admin/validator-pause", headers=oro_headers(ADMIN))
    assert refused.status_code == 403 and "banned" in refused.text.lower()


async def test_the_database_refuses_to_edit_or_delete_audit_events(
    admin_app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = admin_app
    assert (await _post(client, "/v1/admin/validator-pause", {"reason": "drill"})).status_code == 200
    for statement in (update(AuditEvent).values(reason="rewritten"), delete(AuditEvent)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with app.state.proctor.sessionmaker() as session, session.begin():
                await session.execute(statement)
    assert await _events(app, "PAUSE_VALIDATORS") == 1
