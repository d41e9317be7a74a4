"""Operator switches over ORO's wire, in-process, on SQLite and PostgreSQL: the shared submissions pause
(`proctor submissions pause|resume`) refuses ORO's submit with 503 SUBMISSIONS_PAUSED, and suite
activation re-queues the previous suite's top versions (`requeue_top_n`)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from proctor.core.admin.audit import Actor
from proctor.core.bitrecs import flows as bitrecs_flows
from proctor.core.suites import service as suite_service
from proctor.models import AgentVersion, AuditEvent, MinerCooldown, WorkItem
from proctor.storage.base import utcnow
from tests.support.agents import valid_agent
from tests.support.signing import ALICE, BOB, CHARLIE, EVE, oro_headers
from tests.support.suites import oro_problems
from tests.surfaces.oro.admin.test_admin_flows_http import ADMIN, _post
from tests.surfaces.oro.admin.test_admin_flows_http import admin_app as admin_app  # noqa: F401
from tests.surfaces.oro.conftest import submit

OPERATOR = Actor("cli:operator", "cli")


async def _eligible(
    client: httpx.AsyncClient, miner: Any, validators: list[Any], score: float, content: bytes | None = None
) -> str:
    """Submit an agent and have `validators` complete it with `score`: it becomes eligible."""
    accepted = await submit(client, miner, content=content)
    assert accepted.status_code == 200, accepted.text
    version_id = str(accepted.json()["agent_version_id"])
    for key in validators:
        claim = await client.post("/v1/validator/work/claim", headers=oro_headers(key))
        assert claim.status_code == 200 and claim.json()["agent_version_id"] == version_id, claim.text
        done = await client.post(
            f"/v1/validator/evaluation-runs/{claim.json()['eval_run_id']}/complete",
            headers=oro_headers(key),
            json={"terminal_status": "SUCCESS", "validator_score": score},
        )
        assert done.status_code == 200, done.text
    return version_id


async def _count(app: FastAPI, model: Any, *where: Any) -> int:
    async with app.state.proctor.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_submissions_pause_refuses_oro_submit_and_resume_lifts_it(
    admin_app: tuple[FastAPI, httpx.AsyncClient],  # noqa: F811
) -> None:
    app, client = admin_app
    core = app.state.proctor.core
    await bitrecs_flows.set_submissions(
        core, enabled=False, reason="suite rotation", now=utcnow(), actor=OPERATOR
    )
    refused = await submit(client, BOB)
    assert refused.status_code == 503, refused.text
    assert refused.json() == {"detail": "suite rotation", "error_code": "SUBMISSIONS_PAUSED"}
    # Nothing stored and no cooldown spent: the miner may submit as soon as submissions resume.
    assert await _count(app, AgentVersion) == 0
    assert await _count(app, MinerCooldown) == 0

    await bitrecs_flows.set_submissions(core, enabled=False, reason="", now=utcnow(), actor=OPERATOR)
    default = await submit(client, BOB)
    assert default.status_code == 503 and default.json()["error_code"] == "SUBMISSIONS_PAUSED"
    assert "paused" in default.json()["detail"]

    await bitrecs_flows.set_submissions(core, enabled=True, reason="", now=utcnow(), actor=OPERATOR)
    accepted = await submit(client, BOB, content=valid_agent())
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["admission_status"] == "ACCEPTED"
    assert await _count(app, AgentVersion) == 1
    # Each switch is an operator action: one audit event each, with before/after.
    assert await _count(app, AuditEvent, AuditEvent.action == "PAUSE_SUBMISSIONS") == 2
    assert await _count(app, AuditEvent, AuditEvent.action == "RESUME_SUBMISSIONS") == 1


async def test_check_predicts_the_pause_as_submit_answers_it(
    admin_app: tuple[FastAPI, httpx.AsyncClient],  # noqa: F811
) -> None:
    """/v1/miner/check exists to predict /submit's answer: while submissions are paused it answers the
    submit's 503 SUBMISSIONS_PAUSED (with the operator's message), still judging the file for the
    miner under `checks`, and spends nothing; once resumed it answers 200 again."""
    app, client = admin_app
    core = app.state.proctor.core
    open_check = await submit(client, BOB, path="/v1/miner/check")
    assert open_check.status_code == 200, open_check.text
    assert {g["gate"]: g["outcome"] for g in open_check.json()["checks"]}["open"] == "passed"

    await bitrecs_flows.set_submissions(
        core, enabled=False, reason="suite rotation", now=utcnow(), actor=OPERATOR
    )
    submitted, checked = await submit(client, BOB), await submit(client, BOB, path="/v1/miner/check")
    assert submitted.status_code == checked.status_code == 503, checked.text
    body = checked.json()
    assert {k: body[k] for k in ("detail", "error_code")} == submitted.json()
    assert body["error_code"] == "SUBMISSIONS_PAUSED" and body["dry_run"] is True
    outcomes = {g["gate"]: g["outcome"] for g in body["checks"]}
    assert outcomes["open"] == "rejected" and outcomes["code"] == outcomes["cooldown"] == "passed"
    # A file that would fail anyway still hears the pause first, as /submit would answer it.
    broken = await submit(client, BOB, content=b"def agent_main(:\n", path="/v1/miner/check")
    assert broken.status_code == 503 and broken.json()["error_code"] == "SUBMISSIONS_PAUSED"
    assert {g["gate"]: g["outcome"] for g in broken.json()["checks"]}["syntax"] == "rejected"
    assert await _count(app, AgentVersion) == 0 and await _count(app, MinerCooldown) == 0

    await bitrecs_flows.set_submissions(core, enabled=False, reason="", now=utcnow(), actor=OPERATOR)
    default = await submit(client, BOB, path="/v1/miner/check")
    assert (
        default.status_code == 503
        and default.json()["detail"] == (await submit(client, BOB)).json()["detail"]
    )

    await bitrecs_flows.set_submissions(core, enabled=True, reason="", now=utcnow(), actor=OPERATOR)
    resumed = await submit(client, BOB, path="/v1/miner/check")
    assert resumed.status_code == 200 and resumed.json()["admission_status"] == "ACCEPTED", resumed.text


async def test_activation_requeues_the_previous_suites_top_versions(
    admin_app: tuple[FastAPI, httpx.AsyncClient],  # noqa: F811
) -> None:
    app, client = admin_app
    app.state.proctor.settings.eval_required_successes = 1  # one validator closes an item
    app.state.proctor.core.caches.extra.clear()
    best = await _eligible(client, BOB, [ALICE], 0.9)
    third = await _eligible(client, CHARLIE, [ALICE], 0.7)
    assert (await _post(client, f"/v1/admin/miners/{BOB.ss58_address}/clear-cooldown")).status_code == 200
    second = await _eligible(client, BOB, [EVE], 0.8, content=valid_agent() + b"\n# v2\n")
    async with app.state.proctor.sessionmaker() as session:
        new_suite = (await suite_service.import_suite(session, document=oro_problems(4))).suite.id
        await session.commit()

    path = f"/v1/admin/suites/{new_suite}/activate"
    refused = await client.post(path, headers=oro_headers(BOB), params={"requeue_top_n": 2})
    assert refused.status_code == 403
    done = await client.post(path, headers=oro_headers(ADMIN), params={"requeue_top_n": 2})
    assert done.status_code == 200, done.text
    assert done.json()["suite_id"] == new_suite and done.json()["is_active"] is True
    assert done.json()["requeued_versions"] == 2

    async with app.state.proctor.sessionmaker() as session:
        moved = {
            str(v.id): (v.suite_id, v.state)
            for v in await session.scalars(select(AgentVersion).where(AgentVersion.suite_id == new_suite))
        }
        assert moved == {best: (new_suite, "QUEUED"), second: (new_suite, "QUEUED")}
        items = {
            (str(i.agent_version_id), i.suite_id): i.status for i in await session.scalars(select(WorkItem))
        }
        # The old suite's items (and their scores) stay; the top two have a fresh item on the new suite.
        assert items[(best, 1)] == items[(second, 1)] == items[(third, 1)] == "CLOSED"
        assert items[(best, new_suite)] == items[(second, new_suite)] == "OPEN"
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "ACTIVATE_SUITE"))
        assert event is not None and sorted(event.details["requeued_versions"]) == sorted([best, second])

    # Validators get the re-queued work at once (even one that ran it on the old suite), and the new
    # suite's leaderboard fills as it settles.
    for key in (ALICE, EVE):
        claim = await client.post("/v1/validator/work/claim", headers=oro_headers(key))
        assert claim.status_code == 200, claim.text
        assert claim.json()["agent_version_id"] in (best, second)
        finished = await client.post(
            f"/v1/validator/evaluation-runs/{claim.json()['eval_run_id']}/complete",
            headers=oro_headers(key),
            json={"terminal_status": "SUCCESS", "validator_score": 0.5},
        )
        assert finished.status_code == 200, finished.text
    board = (await client.get("/v1/public/leaderboard")).json()
    assert {e["agent_version_id"] for e in board["entries"]} == {best, second}

    back = await client.post(
        "/v1/admin/suites/1/activate", headers=oro_headers(ADMIN), params={"requeue_top_n": 0}
    )
    assert back.status_code == 200 and back.json()["requeued_versions"] == 0
