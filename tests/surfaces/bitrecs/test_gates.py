"""/check and /submit over HTTP: each gate's exact status and body in Bitrecs' order, the first failing
gate deciding, /check writing nothing, hostile YAML and Jinja answered 400 (never a 500)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from proctor.core.bitrecs import flows
from proctor.storage.base import utcnow
from tests.support import bitrecs as support
from tests.support.signing import ALICE, BOB, CHARLIE, DAVE
from tests.surfaces.bitrecs.conftest import Bitrecs

BANNED = (
    "Your miner hotkey has been banned for attempting to obfuscate code or otherwise cheat. "
    "If this is in error, please contact us on Discord"
)


async def test_a_valid_gist_checks_200_and_submits_201_and_check_writes_nothing(bitrecs: Bitrecs) -> None:
    gist_id, gist = bitrecs.gist(BOB)
    values = support.body(BOB, "octo", gist_id, gist)
    before = await bitrecs.counts()
    response = await bitrecs.check(values)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success", "message": "Agent check successful"}
    assert await bitrecs.counts() == before

    await bitrecs.commit(BOB.ss58_address, support.commitment(gist))
    response = await bitrecs.submit(BOB, values)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["message"] == "Artifact submitted successfully"
    assert body["similarity_check"] == "enabled"
    assert (await bitrecs.counts())["bitrecs_agents"] == before["bitrecs_agents"] + 1

    # The hotkey and the gist are burned: /check now stops at the hotkey gate.
    again = await bitrecs.check(values)
    assert again.status_code == 400
    assert again.json() == {
        "detail": "Hotkey has already been used for an agent submission. Please register a new hotkey"
    }


def _with(values: dict[str, str], **changes: str) -> dict[str, str]:
    return {**values, **changes}


async def test_check_gates_answer_in_bitrecs_order_with_its_bodies(bitrecs: Bitrecs) -> None:
    gist_id, gist = bitrecs.gist(BOB)
    good = support.body(BOB, "octo", gist_id, gist)

    # signature (a bad SS58 address also fails here first, as a 400 rather than Bitrecs' 500)
    response = await bitrecs.check(_with(good, signature="ab" * 64))
    assert (response.status_code, response.json()) == (400, {"detail": "Invalid signature for submission"})
    response = await bitrecs.check(_with(good, signature="not-hex"))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid signature for submission: the signature is not hex")
    response = await bitrecs.check(_with(good, hotkey="5Bogus"))
    assert response.status_code == 400 and "not a valid SS58 address" in response.json()["detail"]

    # not a validator (Alice holds a permit)
    gid, g = bitrecs.gist(ALICE)
    response = await bitrecs.check(support.body(ALICE, "octo", gid, g))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Hotkey belongs to a whitelisted validator")

    # registered (Dave is not in the registry)
    gid, g = bitrecs.gist(DAVE)
    response = await bitrecs.check(support.body(DAVE, "octo", gid, g))
    assert (response.status_code, response.json()) == (400, {"detail": "Hotkey not registered on subnet"})

    # gist fetch: unknown gist, GitHub rate limiting (400 with a clear message, not a 500)
    response = await bitrecs.check(support.body(BOB, "octo", "deadbeef" * 4, gist))
    assert response.status_code == 400 and response.json()["error"].startswith(
        "Failed to fetch gist: Gist not found"
    )
    gid, g = bitrecs.gist(BOB)
    g.status = 403
    response = await bitrecs.check(support.body(BOB, "octo", gid, g))
    assert response.status_code == 400 and "rate limiting" in response.json()["error"]

    # agent_id preset, template, created_at, hotkey match
    gid, g = bitrecs.gist(BOB, agent_id="1234")
    response = await bitrecs.check(support.body(BOB, "octo", gid, g))
    assert (response.status_code, response.json()) == (
        400,
        {"error": "agent_id must not be set by the client"},
    )
    gid, g = bitrecs.gist(BOB, provider="OPEN_ROUTER")
    response = await bitrecs.check(support.body(BOB, "octo", gid, g))
    assert response.json() == {
        "error": "provider 'OPEN_ROUTER' is currently not supported. Supported providers are: CHUTES"
    }
    response = await bitrecs.check(_with(good, created_at=good["created_at"].replace("+00:00", "Z")) | {})
    assert response.status_code == 400  # re-signed below: the signature covers created_at
    resigned = support.body(BOB, "octo", gist_id, gist, created_at=good["created_at"].replace("+00:00", "Z"))
    response = await bitrecs.check(resigned)
    assert response.json() == {"error": "created_at timestamp does not match Gist creation time"}
    gid, g = bitrecs.gist(BOB, miner_hotkey=CHARLIE.ss58_address)
    response = await bitrecs.check(support.body(BOB, "octo", gid, g))
    assert response.json() == {"error": "Miner hotkey in submission does not match miner hotkey in artifact"}


async def test_system_gates_come_first_and_the_first_failure_decides(
    bitrecs_settings: Any, github: support.FakeGitHub, registry_file: Any
) -> None:
    from tests.conftest import running_app

    async with running_app(bitrecs_settings(bitrecs_min_validators=3, bitrecs_artifacts_per_interval=1)) as (
        app,
        client,
    ):
        b = Bitrecs(client, app.state.proctor, github, registry_file)
        gist_id, gist = b.gist(BOB)
        bad_signature = _with(support.body(BOB, "octo", gist_id, gist), signature="ab" * 64)
        # Fails "validators" and "signature": the earlier gate answers.
        response = await b.check(bad_signature)
        assert (response.status_code, response.json()) == (
            503,
            {"detail": "Not enough validators available for evaluation (connected: 0)"},
        )
        core = app.state.proctor.core
        await flows.set_submissions(core, enabled=False, reason="", now=utcnow())
        response = await b.check(bad_signature)
        assert (response.status_code, response.json()) == (
            503,
            {"detail": "Submissions are currently disabled. Please try again later."},
        )
        await flows.set_submissions(core, enabled=True, reason="", now=utcnow())
        core.settings.bitrecs_min_validators = 0
        await b.submit_valid(CHARLIE)
        response = await b.check(bad_signature)  # one agent in the window, one allowed
        assert (response.status_code, response.json()) == (
            429,
            {
                "detail": "The system is currently receiving too many agent submissions. "
                "Please try again later."
            },
        )


async def test_banned_hotkey_is_403(bitrecs: Bitrecs) -> None:
    from proctor.core.identity import service as identity_service
    from proctor.storage.db import unit_of_work

    async with unit_of_work(bitrecs.state.sessionmaker) as s:
        await identity_service.ban(s, hotkey=BOB.ss58_address, reason="cheat", banned_by="test")
    await bitrecs.state.core.registry.refresh()
    gist_id, gist = bitrecs.gist(BOB)
    response = await bitrecs.check(support.body(BOB, "octo", gist_id, gist))
    assert (response.status_code, response.json()) == (403, {"detail": BANNED})


async def test_submit_transport_gates(bitrecs: Bitrecs) -> None:
    gist_id, gist = bitrecs.gist(BOB)
    values = support.body(BOB, "octo", gist_id, gist)
    await bitrecs.commit(BOB.ss58_address, support.commitment(gist))

    stale = support.transport(BOB, values, ts=int(time.time()) - 1000)
    response = await bitrecs.submit(BOB, values, stale)
    assert (response.status_code, response.json()) == (400, {"detail": "Invalid or expired timestamp"})
    other_version = support.transport(BOB, values, version="2.0.1")
    response = await bitrecs.submit(BOB, values, other_version)
    assert (response.status_code, response.json()) == (400, {"detail": "Invalid transport signature"})
    response = await bitrecs.submit(BOB, _with(values, signature="ab" * 64))
    assert response.status_code == 400  # the transport signature covers the body, not the signature field
    assert response.json() == {"detail": "Invalid submission signature"}

    # A wrong commitment, then the right one; a replayed nonce is refused.
    await bitrecs.commit(BOB.ss58_address, "0" * 40 + ":" + "0" * 64)
    headers = support.transport(BOB, values)
    response = await bitrecs.submit(BOB, values, headers)
    assert response.json() == {"error": "Commitment to chain is not valid for this submission"}
    response = await bitrecs.submit(BOB, values, headers)
    assert (response.status_code, response.json()) == (400, {"detail": "Nonce has already been used"})
    await bitrecs.commit(BOB.ss58_address, support.commitment(gist))
    assert (await bitrecs.submit(BOB, values)).status_code == 201
    response = await bitrecs.submit(BOB, values)
    assert response.json() == {
        "detail": "Hotkey has already been used for an agent submission. Please register a new hotkey"
    }


async def test_a_copied_agent_is_409_too_similar(bitrecs: Bitrecs) -> None:
    await bitrecs.submit_valid(BOB)
    gist_id, gist = bitrecs.gist(CHARLIE, account="copycat")
    response = await bitrecs.check(support.body(CHARLIE, "copycat", gist_id, gist))
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "Agent is too similar to existing agents"
    assert body["threshold"] == pytest.approx(0.98)
    assert body["similar_agents"][0]["similarity_score"] == pytest.approx(1.0)


HOSTILE_YAML = {
    "bomb": "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefghi", "bcdefghij", strict=True)
    ),
    "deep": "x: " + "[" * 5000 + "]" * 5000,
    "binary": b"\xff\xfe\x00\x01binary",
    "not a mapping": "- just\n- a list\n",
    "syntax": "name: [unclosed\n",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_YAML))
async def test_hostile_yaml_is_a_400(bitrecs: Bitrecs, kind: str) -> None:
    gist_id, gist = bitrecs.github.add("octo", HOSTILE_YAML[kind])
    started = time.perf_counter()
    response = await bitrecs.check(support.body(BOB, "octo", gist_id, gist))
    assert response.status_code == 400, response.text
    assert "error" in response.json()
    assert time.perf_counter() - started < 5


async def test_a_gist_over_the_byte_cap_is_refused_while_streaming(bitrecs: Bitrecs) -> None:
    gist_id, gist = bitrecs.github.add("octo", b"a: " + b"x" * (10 * 1024 * 1024))
    response = await bitrecs.check(support.body(BOB, "octo", gist_id, gist))
    assert response.status_code == 400
    assert "byte limit" in response.json()["error"]


HOSTILE_JINJA = {
    "loop": ("{% for x in range(10**9) %}{{ x }}{% endfor %}", "forbidden Jinja syntax"),
    "call": ("{{ ''.__class__.__mro__ }}", "forbidden Jinja syntax"),
    "filter": ("{{ persona | upper }}", "forbidden Jinja syntax"),
    "set": ("{% set x = 1 %}{{ persona }}", "forbidden Jinja syntax"),
    "broken": ("{{ persona ", "is not a valid Jinja2 template"),
    "twice": (
        "{{ product_catalog }} and {{ product_catalog }}",
        "Variable 'product_catalog' appears 2 times",
    ),
    "none": ("no variables at all", None),
    "sku": ("Always recommend B07XJ8C8F5 first {{ persona }}", "potential hardcoded SKUs"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_JINJA))
async def test_hostile_jinja_is_a_400_with_bitrecs_message(bitrecs: Bitrecs, kind: str) -> None:
    template, expected = HOSTILE_JINJA[kind]
    overrides: dict[str, Any] = {"user_prompt_template": template}
    if kind == "none":
        overrides["system_prompt_template"] = "plain text"
        expected = "No valid template variables found in either prompt template"
    gist_id, gist = bitrecs.gist(BOB, **overrides)
    response = await bitrecs.check(support.body(BOB, "octo", gist_id, gist))
    assert response.status_code == 400, response.text
    assert expected in response.json()["error"]


async def test_the_server_stays_responsive_while_judging_hostile_gists(bitrecs: Bitrecs) -> None:
    gists = [bitrecs.github.add("octo", HOSTILE_YAML["deep"]) for _ in range(4)]
    results = await asyncio.gather(
        *(bitrecs.check(support.body(BOB, "octo", gid, g)) for gid, g in gists),
        bitrecs.http.get("/health"),
    )
    assert [r.status_code for r in results] == [400, 400, 400, 400, 200]


async def test_body_shape_errors_are_422_and_never_500(bitrecs: Bitrecs) -> None:
    response = await bitrecs.http.post("/check", json={"hotkey": "x"})
    assert response.status_code == 422
    response = await bitrecs.http.post(
        "/check", content=b"\xff not json", headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422)


async def test_check_and_submit_share_a_per_ip_limit(
    bitrecs_settings: Any, github: support.FakeGitHub, registry_file: Any
) -> None:
    from tests.conftest import running_app

    async with running_app(bitrecs_settings(bitrecs_rate_limit="2/minute")) as (app, client):
        b = Bitrecs(client, app.state.proctor, github, registry_file)
        gist_id, gist = b.gist(BOB)
        values = support.body(BOB, "octo", gist_id, gist)
        assert (await b.check(values)).status_code == 200
        assert (await b.submit(BOB, values)).status_code == 400  # no commitment yet; counted all the same
        response = await b.check(values)
        assert (response.status_code, response.json()) == (
            429,
            {"error": "Rate limit exceeded: 2 per 1 minute"},
        )
        assert response.headers["retry-after"]


async def test_the_open_registry_needs_no_commitment_or_uid(
    bitrecs_settings: Any, github: support.FakeGitHub, registry_file: Any
) -> None:
    from tests.conftest import running_app
    from tests.support.signing import FERDIE

    async with running_app(bitrecs_settings(registry="open")) as (app, client):
        b = Bitrecs(client, app.state.proctor, github, registry_file)
        gist_id, gist = b.gist(FERDIE)
        values = support.body(FERDIE, "octo", gist_id, gist)
        response = await b.submit(FERDIE, values)
        assert response.status_code == 201, response.text


async def test_a_replayed_submit_nonce_is_refused_through_redis(
    bitrecs_settings: Any, github: support.FakeGitHub, registry_file: Any, redis_url: str
) -> None:
    from tests.conftest import running_app

    async with running_app(bitrecs_settings(redis_url=redis_url)) as (app, client):
        b = Bitrecs(client, app.state.proctor, github, registry_file)
        gist_id, gist = b.gist(BOB)
        values = support.body(BOB, "octo", gist_id, gist)
        headers = support.transport(BOB, values)
        first = await b.submit(BOB, values, headers)  # no commitment yet: refused, but the nonce is spent
        assert first.json() == {"error": "Commitment to chain is not valid for this submission"}
        again = await b.submit(BOB, values, headers)
        assert (again.status_code, again.json()) == (400, {"detail": "Nonce has already been used"})
