"""The ORO miner surface over HTTP: every documented answer of /submit, the dry run, and the reads."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from proctor.models import Agent, AgentVersion, MinerCooldown, SubmissionEvent, WorkItem
from tests.support import agents
from tests.support.signing import ALICE, BOB, CHARLIE, DAVE, oro_headers
from tests.surfaces.oro.conftest import submit

App = tuple[FastAPI, httpx.AsyncClient]


async def count(app: FastAPI, model: type) -> int:
    async with app.state.proctor.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


class TestSubmit:
    async def test_accepted_then_cooldown(self, oro: App) -> None:
        app, c = oro
        r = await submit(c, BOB)
        assert r.status_code == 200
        body = r.json()
        assert body["admission_status"] == "ACCEPTED" and body["hotkey"] == BOB.ss58_address
        assert body["agent_id"] and body["agent_version_id"] and body["next_allowed_at"]
        again = await submit(c, BOB)
        assert again.status_code == 429
        cooldown = again.json()
        assert cooldown["error_code"] == "COOLDOWN_ACTIVE"
        assert 43_100 < cooldown["remaining_seconds"] <= 43_200
        assert datetime.fromisoformat(cooldown["next_allowed_at"]) == datetime.fromisoformat(
            body["next_allowed_at"]
        )
        assert "retry-after" not in again.headers, "a multi-hour Retry-After would stall the SDK's retries"
        assert await count(app, AgentVersion) == 1 and await count(app, WorkItem) == 1

    async def test_each_submission_is_a_new_version_of_the_named_agent(
        self, make_settings: object, database_url: str
    ) -> None:
        from proctor.core.suites import service as suite_service
        from tests.conftest import running_app
        from tests.support.suites import oro_problems

        settings = make_settings(
            database_url=database_url,
            submission_cooldown_seconds=0,  # type: ignore[operator]
            rate_limit_submit="1000/minute",
        )
        async with running_app(settings) as (app, c):
            async with app.state.proctor.sessionmaker() as s:
                await suite_service.import_suite(s, document=oro_problems(3), activate=True)
                await s.commit()
            first = (await submit(c, BOB, name="same")).json()
            second = (await submit(c, BOB, name="same")).json()
            other = (await submit(c, BOB, name="other")).json()
            assert first["agent_id"] == second["agent_id"] != other["agent_id"]
            versions = (
                await c.get(f"/v1/miner/agents/{first['agent_id']}/versions", headers=oro_headers(BOB))
            ).json()
            assert [v["version_number"] for v in versions] == [2, 1]
            assert [v["state"] for v in versions] == ["QUEUED", "QUEUED"]

    @pytest.mark.parametrize(
        ("content", "name", "status", "code"),
        [
            (None, "bad/name", 400, "INVALID_AGENT_NAME"),
            (None, "", 400, "INVALID_AGENT_NAME"),
            (agents.SYNTAX_ERROR, "ok", 400, "INVALID_FILE"),
            (agents.NO_ENTRYPOINT, "ok", 400, "INVALID_FILE"),
            (agents.NOT_UTF8, "ok", 400, "INVALID_FILE"),
            (agents.NUL_BYTES, "ok", 400, "INVALID_FILE"),
            (b"x" * (1024 * 1024 + 1), "ok", 413, "FILE_TOO_LARGE"),
        ],
    )
    async def test_refusals_that_cost_nothing(
        self, oro: App, content: bytes | None, name: str, status: int, code: str
    ) -> None:
        app, c = oro
        r = await submit(c, BOB, content, name=name)
        assert r.status_code == status and r.json()["error_code"] == code and r.json()["detail"]
        assert await count(app, AgentVersion) == 0
        assert await count(app, MinerCooldown) == 0, "no cooldown is spent on a malformed upload"
        assert (await submit(c, BOB)).status_code == 200

    async def test_security_violation_costs_the_reduced_cooldown(self, oro: App) -> None:
        app, c = oro
        r = await submit(c, BOB, agents.SECURITY_VIOLATION)
        assert r.status_code == 422
        body = r.json()
        assert body["error_code"] == "CODE_ANALYSIS_ERROR" and body["remaining_seconds"] == 900
        assert {"line", "rule", "message"} <= set(body["violations"][0])
        assert (await submit(c, BOB)).status_code == 429
        async with app.state.proctor.sessionmaker() as s:
            events = (await s.scalars(select(SubmissionEvent.outcome).order_by(SubmissionEvent.id))).all()
        assert list(events) == ["CODE_ANALYSIS_ERROR"], "the 422 committed its log line and its cooldown"

    async def test_integrity_violation_costs_the_full_cooldown(self, oro: App) -> None:
        _, c = oro
        r = await submit(c, BOB, agents.INTEGRITY_VIOLATION)
        assert r.status_code == 422 and r.json()["remaining_seconds"] == 43_200

    async def test_exact_duplicate_of_another_miner_is_refused(self, oro: App) -> None:
        _, c = oro
        code = agents.valid_agent("shared")
        assert (await submit(c, BOB, code)).status_code == 200
        dup = await submit(c, CHARLIE, code)
        assert dup.status_code == 400 and "identical" in dup.json()["detail"]

    async def test_no_active_suite_is_503(self, make_settings: object, database_url: str) -> None:
        from tests.conftest import running_app

        async with running_app(make_settings(database_url=database_url)) as (_, c):  # type: ignore[operator]
            r = await submit(c, BOB)
        assert r.status_code == 503 and r.json()["error_code"] == "NO_ACTIVE_SUITE"

    async def test_unregistered_and_banned_are_refused_by_auth(self, oro: App) -> None:
        _, c = oro
        r = await submit(c, DAVE)
        assert r.status_code == 403 and r.json()["detail"]["code"] == "NOT_REGISTERED"

    async def test_validators_may_submit_as_miners(self, oro: App) -> None:
        _, c = oro
        assert (await submit(c, ALICE)).status_code == 200

    async def test_malformed_bodies_are_400(self, oro: App) -> None:
        _, c = oro
        r = await c.post("/v1/miner/submit", headers=oro_headers(BOB), json={"agent_name": "x"})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_FILE"
        r = await c.post("/v1/miner/submit", headers=oro_headers(BOB), data={"agent_name": "x"})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_FILE"

    async def test_per_hotkey_limit_counts_processed_submissions(
        self, make_settings: object, database_url: str
    ) -> None:
        from proctor.core.suites import service as suite_service
        from tests.conftest import running_app
        from tests.support.suites import oro_problems

        settings = make_settings(database_url=database_url, rate_limit_submit="2/minute")  # type: ignore[operator]
        async with running_app(settings) as (app, c):
            async with app.state.proctor.sessionmaker() as s:
                await suite_service.import_suite(s, document=oro_problems(3), activate=True)
                await s.commit()
            codes = [(await submit(c, BOB, agents.SYNTAX_ERROR)).status_code for _ in range(3)]
            assert codes == [400, 400, 429]
            limited = await submit(c, BOB, agents.SYNTAX_ERROR)
            assert limited.json()["error_code"] == "RATE_LIMIT_EXCEEDED" and "retry-after" in limited.headers


class TestCheck:
    async def test_dry_run_writes_nothing_and_reports_every_gate(self, oro: App) -> None:
        app, c = oro
        r = await submit(c, BOB, path="/v1/miner/check")
        assert r.status_code == 200
        body = r.json()
        assert (
            body["admission_status"] == "ACCEPTED"
            and body["dry_run"] is True
            and body["agent_version_id"] is None
        )
        assert {g["gate"] for g in body["checks"]} >= {"name", "size", "code", "cooldown", "duplicate"}
        assert all(g["outcome"] == "passed" for g in body["checks"])
        for model in (Agent, AgentVersion, MinerCooldown, SubmissionEvent):
            assert await count(app, model) == 0
        assert (await submit(c, BOB)).status_code == 200, "the dry run spent no cooldown"

    async def test_dry_run_on_cooldown_still_analyses_the_code(self, oro: App) -> None:
        _, c = oro
        assert (await submit(c, BOB)).status_code == 200
        r = await submit(c, BOB, agents.SECURITY_VIOLATION, path="/v1/miner/check")
        assert r.status_code == 422 and r.json()["dry_run"] is True
        outcomes = {g["gate"]: g["outcome"] for g in r.json()["checks"]}
        assert outcomes["code"] == "rejected" and outcomes["cooldown"] == "rejected"
        clean = await submit(c, BOB, path="/v1/miner/check")
        assert clean.status_code == 429 and clean.json()["error_code"] == "COOLDOWN_ACTIVE"

    async def test_flags_are_reported(self, oro: App) -> None:
        _, c = oro
        code = agents.valid_agent().replace(b"import json", b"import json\nimport time\nT = time.time()")
        r = await submit(c, BOB, code, path="/v1/miner/check")
        assert r.status_code == 200 and [f["rule"] for f in r.json()["flags"]] == ["wall-clock"]


class TestReads:
    async def test_agents_versions_and_status(self, oro: App) -> None:
        _, c = oro
        before = (await c.get("/v1/miner/agents", headers=oro_headers(BOB))).json()
        assert before == {
            "agents": [],
            "can_submit": True,
            "next_allowed_at": None,
            "racing_agent_version_id": None,
            "racing_agent_id": None,
        }
        accepted = (await submit(c, BOB, name="reader")).json()
        listing = (await c.get("/v1/miner/agents", headers=oro_headers(BOB))).json()
        assert listing["can_submit"] is False and listing["next_allowed_at"]
        agent = listing["agents"][0]
        assert agent["agent_name"] == "reader" and agent["latest_version"]["state"] == "QUEUED"
        vid = accepted["agent_version_id"]
        owned = (await c.get(f"/v1/miner/agent-versions/{vid}", headers=oro_headers(BOB))).json()
        assert (
            owned["state"] == "QUEUED"
            and owned["required_successes"] == 2
            and owned["release_state"] == "HIDDEN"
        )
        public = (await c.get(f"/v1/public/agent-versions/{vid}")).json()
        assert public["agent_name"] == "reader" and public["code_available_at"] is None
        status = (await c.get(f"/v1/public/agent-versions/{vid}/status")).json()
        assert status["success_count"] == 0 and "review_flags" in status and status["review_flags"] == []

    async def test_other_miners_cannot_see_private_reads(self, oro: App) -> None:
        _, c = oro
        accepted = (await submit(c, BOB)).json()
        r = await c.get(
            f"/v1/miner/agent-versions/{accepted['agent_version_id']}", headers=oro_headers(CHARLIE)
        )
        assert r.status_code == 404 and r.json()["error_code"] == "AGENT_VERSION_NOT_FOUND"
        r = await c.get(f"/v1/miner/agents/{accepted['agent_id']}/versions", headers=oro_headers(CHARLIE))
        assert r.status_code == 404 and r.json()["error_code"] == "AGENT_NOT_FOUND"
        r = await c.get("/v1/public/agent-versions/00000000-0000-0000-0000-000000000001")
        assert r.status_code == 404 and r.json()["error_code"] == "AGENT_VERSION_NOT_FOUND"
