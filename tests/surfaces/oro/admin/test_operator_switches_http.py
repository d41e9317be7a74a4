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
from proctor.models import AgentVersion, AuditEvent, MinerCooldown
from proctor.storage.base import utcnow
from tests.support.agents import valid_agent
from tests.support.signing import BOB
from tests.surfaces.oro.admin.test_admin_flows_http import admin_app as admin_app  # noqa: F401
from tests.surfaces.oro.conftest import submit

OPERATOR = Actor("cli:operator", "cli")


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
