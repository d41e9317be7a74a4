"""Bitrecs' validator protocol over HTTP: sessions, one evaluation at a time, the run state machine,
finishing, session expiry, and an agent going through both screeners and three validators to a winner."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from bittensor_wallet import Keypair

from proctor.core.bitrecs import flows
from proctor.core.identity import service as identity_service
from proctor.storage.base import utcnow
from proctor.storage.db import unit_of_work
from tests.support.signing import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE
from tests.surfaces.bitrecs.conftest import Bitrecs

STEPS = ("initializing_agent", "running_agent", "initializing_eval", "running_eval", "finished")


def fields_for(status: str, score: float = 0.8) -> dict[str, Any]:
    return {
        "initializing_eval": {"patch": "diff", "agent_logs": "agent ok"},
        "finished": {"test_results": {"score": score}, "eval_logs": "eval ok"},
        "error": {"error_code": 1, "error_message": "boom"},
    }.get(status, {})


def bearer(session_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_id}"}


async def screener(b: Bitrecs, name: str) -> dict[str, str]:
    response = await b.http.post(
        "/validator/register-as-screener", json={"name": name, "password": "screen-me"}
    )
    assert response.status_code == 200, response.text
    return bearer(response.json()["session_id"])


async def validator(b: Bitrecs, key: Keypair) -> dict[str, str]:
    ts = int(time.time())
    body = {"hotkey": key.ss58_address, "timestamp": ts, "signed_timestamp": key.sign(str(ts).encode()).hex()}
    response = await b.http.post("/validator/register-as-validator", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["running_eval_timeout_seconds"] == 600
    return bearer(response.json()["session_id"])


async def evaluate(b: Bitrecs, headers: dict[str, str], score: float) -> dict[str, Any]:
    """Request an evaluation and drive every run to finished with `score`, then finish it."""
    response = await b.http.post("/validator/request-evaluation", json={}, headers=headers)
    assert response.status_code == 200, response.text
    assigned = response.json()
    assert assigned is not None and assigned["agent_code"] == "ignored"
    for run in assigned["evaluation_runs"]:
        for step in STEPS:
            body = {
                "evaluation_run_id": run["evaluation_run_id"],
                "updated_status": step,
                **fields_for(step, score),
            }
            response = await b.http.post("/validator/update-evaluation-run", json=body, headers=headers)
            assert response.status_code == 200, response.text
    response = await b.http.post("/validator/finish-evaluation", json={}, headers=headers)
    assert response.status_code == 200, response.text
    return assigned  # type: ignore[no-any-return]


async def agent_status(b: Bitrecs, agent_id: str) -> str:
    row = await flows.agent_gist(b.state.core, agent_id=agent_id, hotkey=None, gist_id=None)
    return str(row.status)


async def permit(b: Bitrecs, *keys: Keypair) -> None:
    async with unit_of_work(b.state.sessionmaker) as s:
        for key in keys:
            await identity_service.grant(s, hotkey=key.ss58_address, validator_permit=True, stake=100, uid=9)
    await b.state.core.registry.refresh()


async def test_an_agent_goes_through_both_screeners_and_three_validators_to_a_winner(
    bitrecs: Bitrecs,
) -> None:
    b = bitrecs
    await permit(b, FERDIE)
    first = await b.submit_valid(BOB)
    second = await b.submit_valid(
        CHARLIE,
        system_prompt_template="Today is {{current_date}}; be concise.",
        user_prompt_template="Suggest {{num_recs}} items from {{product_catalog}} "
        "for {{persona}} given {{cart_json}}.",
    )
    s1, s2 = await screener(b, "screener-1-1"), await screener(b, "screener-2-1")
    for agent_id in (first, second):
        await evaluate(b, s1, 0.9)
        assert await agent_status(b, agent_id) == "screening_2"
    assert await agent_status(b, first) == "screening_2"
    await evaluate(b, s2, 0.95)  # FIFO: the first agent
    await evaluate(b, s2, 0.7)
    assert await agent_status(b, first) == "evaluating"
    assert await agent_status(b, second) == "evaluating"

    validators = [await validator(b, key) for key in (ALICE, EVE, FERDIE)]
    scores = {first: 0.9, second: 0.6}
    for headers in validators:
        for _ in range(2):
            assigned = await evaluate(b, headers, 0.5)  # the same score for both agents
            assert assigned["agent_id"] in scores
        nothing = await b.http.post("/validator/request-evaluation", json={}, headers=headers)
        assert nothing.status_code == 200 and nothing.json() is None  # evaluated both already
    assert await agent_status(b, first) == "finished"
    assert await agent_status(b, second) == "finished"

    key = await flows.issue_api_key(b.state.core, name="dash", now=utcnow())
    response = await b.http.get("/scoring/latest")
    assert (response.status_code, response.json()) == (401, {"error": "Invalid or missing API Key"})
    response = await b.http.get("/scoring/latest", headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    latest = response.json()
    assert set(latest["tasks"]) == {"predict", "prompt", "reason", "sku"}
    assert latest["wta_hotkey"] == BOB.ss58_address  # equal scores: the earlier first-commit block wins
    info = (await b.http.get("/scoring/screener-info", headers={"X-API-Key": key})).json()
    assert info["agents_by_status"] == {"finished": 2}
    gist = (
        await b.http.get("/agent/get-gist-info", params={"agent_id": first}, headers={"X-API-Key": key})
    ).json()
    assert gist["miner_hotkey"] == BOB.ss58_address


async def test_validator_scores_decide_the_winner(bitrecs: Bitrecs) -> None:
    b = bitrecs
    await permit(b, FERDIE)
    low = await b.submit_valid(BOB)
    high = await b.submit_valid(
        CHARLIE,
        system_prompt_template="Today is {{current_date}}; be concise.",
        user_prompt_template="Suggest {{num_recs}} items from {{product_catalog}} "
        "for {{persona}} given {{cart_json}}.",
    )
    s1, s2 = await screener(b, "screener-1-1"), await screener(b, "screener-2-1")
    for _ in range(2):
        await evaluate(b, s1, 0.9)
    for _ in range(2):
        await evaluate(b, s2, 0.9)
    wanted = {low: 0.5, high: 0.9}
    for key in (ALICE, EVE, FERDIE):
        headers = await validator(b, key)
        for _ in range(2):
            response = await b.http.post("/validator/request-evaluation", json={}, headers=headers)
            assigned = response.json()
            for run in assigned["evaluation_runs"]:
                for step in STEPS:
                    body = {
                        "evaluation_run_id": run["evaluation_run_id"],
                        "updated_status": step,
                        **fields_for(step, wanted[assigned["agent_id"]]),
                    }
                    assert (
                        await b.http.post("/validator/update-evaluation-run", json=body, headers=headers)
                    ).status_code == 200
            assert (
                await b.http.post("/validator/finish-evaluation", json={}, headers=headers)
            ).status_code == 200
    outcome = await flows.latest_scores(b.state.core)
    assert outcome.winner == CHARLIE.ss58_address
    assert outcome.frontier == (CHARLIE.ss58_address,)


async def test_screening_thresholds_fail_weak_agents(bitrecs: Bitrecs) -> None:
    b = bitrecs
    agent = await b.submit_valid(BOB)
    s1 = await screener(b, "screener-1-2")
    await evaluate(b, s1, 0.1)
    assert await agent_status(b, agent) == "failed_screening_1"


async def test_one_evaluation_at_a_time_and_the_run_state_machine(bitrecs: Bitrecs) -> None:
    b = bitrecs
    await b.submit_valid(BOB)
    await b.submit_valid(
        CHARLIE,
        system_prompt_template="Be brief on {{current_date}}.",
        user_prompt_template="Pick {{num_recs}} of {{product_catalog}}.",
    )
    headers = await screener(b, "screener-1-1")
    assigned = (await b.http.post("/validator/request-evaluation", json={}, headers=headers)).json()
    response = await b.http.post("/validator/request-evaluation", json={}, headers=headers)
    assert response.status_code == 409
    assert response.json()["detail"].startswith("This validator is already running an evaluation")
    run = assigned["evaluation_runs"][0]["evaluation_run_id"]

    async def move(status: str, **fields: Any) -> Any:
        body = {"evaluation_run_id": run, "updated_status": status, **fields}
        return await b.http.post("/validator/update-evaluation-run", json=body, headers=headers)

    # Wrong transitions are 400; a transition missing its fields is 422.
    for wrong in ("pending", "running_agent", "initializing_eval", "running_eval", "finished"):
        response = await move(wrong, **fields_for(wrong))
        assert response.status_code == 400, (wrong, response.text)
    assert (await move("initializing_agent")).status_code == 200
    assert (await move("running_agent")).status_code == 200
    response = await move("initializing_eval")
    assert (response.status_code, response.json()) == (
        422,
        {"detail": "The patch is required when updating an evaluation run to initializing_eval."},
    )
    assert (await move("initializing_eval", patch="p")).status_code == 422  # agent_logs missing
    assert (await move("initializing_eval", **fields_for("initializing_eval"))).status_code == 200
    response = await b.http.post("/validator/finish-evaluation", json={}, headers=headers)
    assert response.status_code == 409
    assert (await move("error")).status_code == 422
    assert (await move("error", **fields_for("error"))).status_code == 200
    assert (await move("running_eval")).status_code == 400  # error is terminal
    response = await b.http.post(
        "/validator/update-evaluation-run",
        json={"evaluation_run_id": "00000000-0000-0000-0000-000000000000", "updated_status": "running_agent"},
        headers=headers,
    )
    assert response.status_code == 404


async def test_sessions_expire_and_their_runs_error_out(bitrecs: Bitrecs) -> None:
    b = bitrecs
    agent = await b.submit_valid(BOB)
    headers = await screener(b, "screener-1-1")
    assigned = (await b.http.post("/validator/request-evaluation", json={}, headers=headers)).json()
    assert (
        await b.http.post("/validator/heartbeat", json={"system_metrics": {"cpu": 1}}, headers=headers)
    ).status_code == 200
    core = b.state.core
    later = utcnow() + timedelta(seconds=core.settings.bitrecs_heartbeat_timeout_seconds + 1)
    assert await flows.reap(core, later) == 1
    response = await b.http.post("/validator/heartbeat", json={}, headers=headers)
    assert (response.status_code, response.json()) == (401, {"detail": "Session ID not found or expired."})
    # The agent is back in the queue; another screener takes it, with fresh runs.
    again = await screener(b, "screener-1-2")
    retaken = (await b.http.post("/validator/request-evaluation", json={}, headers=again)).json()
    assert retaken["agent_id"] == agent and retaken["evaluation_id"] != assigned["evaluation_id"]


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"name": "screener-3-1", "password": "screen-me"}, 400),
        ({"name": "validator-1", "password": "screen-me"}, 400),
        ({"name": "screener-1-1", "password": "wrong"}, 403),
    ],
)
async def test_screener_registration_rules(bitrecs: Bitrecs, payload: dict[str, str], status: int) -> None:
    response = await bitrecs.http.post("/validator/register-as-screener", json=payload)
    assert response.status_code == status


async def test_validator_registration_rules(bitrecs: Bitrecs) -> None:
    ts = int(time.time())
    body = {
        "hotkey": DAVE.ss58_address,
        "timestamp": ts,
        "signed_timestamp": DAVE.sign(str(ts).encode()).hex(),
    }
    assert (await bitrecs.http.post("/validator/register-as-validator", json=body)).status_code == 403
    body = {
        "hotkey": ALICE.ss58_address,
        "timestamp": ts,
        "signed_timestamp": BOB.sign(str(ts).encode()).hex(),
    }
    assert (await bitrecs.http.post("/validator/register-as-validator", json=body)).status_code == 401
    await validator(bitrecs, ALICE)
    body = {
        "hotkey": ALICE.ss58_address,
        "timestamp": ts,
        "signed_timestamp": ALICE.sign(str(ts).encode()).hex(),
    }
    response = await bitrecs.http.post("/validator/register-as-validator", json=body)
    assert response.status_code == 409
    response = await bitrecs.http.post(
        "/validator/heartbeat", json={}, headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 422


async def test_racing_requests_of_one_validator_get_one_evaluation(bitrecs: Bitrecs) -> None:
    import asyncio

    b = bitrecs
    await b.submit_valid(BOB)
    await b.submit_valid(
        CHARLIE,
        system_prompt_template="Short on {{current_date}}.",
        user_prompt_template="Pick {{num_recs}}.",
    )
    headers = await screener(b, "screener-1-1")
    answers = await asyncio.gather(
        *(b.http.post("/validator/request-evaluation", json={}, headers=headers) for _ in range(4))
    )
    granted = [a for a in answers if a.status_code == 200 and a.json() is not None]
    assert len(granted) == 1
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409]


async def test_read_routes(bitrecs: Bitrecs) -> None:
    b = bitrecs
    key = {"X-API-Key": await flows.issue_api_key(b.state.core, name="reader", now=utcnow())}
    await validator(b, ALICE)
    connected = (await b.http.get("/validator/connected-validators-info")).json()
    assert [c["hotkey"] for c in connected] == [ALICE.ss58_address]
    constants = (await b.http.get("/scoring/constants", headers=key)).json()
    assert constants["NUM_EVALS_PER_AGENT"] == 3 and constants["SCREENER_1_THRESHOLD"] == 0.3
    sets = (await b.http.get("/scoring/latest-set-info", headers=key)).json()
    assert sets["screener_1"] == ["bitrecs_basic_daily"]
    info = (await b.http.get("/scoring/screener-info", headers=key)).json()
    assert info["submissions_enabled"] is True and info["connected_validators"] == [ALICE.ss58_address]
    for params in ({"agent_id": "not-a-uuid"}, {"hotkey": DAVE.ss58_address}):
        response = await b.http.get("/agent/get-gist-info", params=params, headers=key)
        assert (response.status_code, response.json()) == (404, {"detail": "Agent not found"})
    assert (await b.http.get("/scoring/latest", headers={"X-API-Key": "nope"})).status_code == 401
    await flows.revoke_api_key(b.state.core, name="reader", now=utcnow())
    assert (await b.http.get("/scoring/constants", headers=key)).status_code == 401
