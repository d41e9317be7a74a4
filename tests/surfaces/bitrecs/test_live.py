"""Bitrecs over the wire: a real `proctor serve` (SQLite and PostgreSQL) and a fake GitHub on loopback;
two servers on one PostgreSQL racing two submits of one hotkey."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from proctor.models import BitrecsAgent
from tests.conftest import REGISTRY
from tests.support import bitrecs as support
from tests.support.server import ServerProcess
from tests.support.signing import BOB, CHARLIE


def _env(server_env: dict[str, str], database_url: str, github: support.FakeGitHub) -> dict[str, str]:
    return {
        **server_env,
        "PROCTOR_DATABASE_URL": database_url,
        "PROCTOR_SURFACES": "bitrecs",
        "PROCTOR_GITHUB_API_URL": github.url,
        "PROCTOR_GIST_RAW_URL": github.url,
        "PROCTOR_BITRECS_MIN_VALIDATORS": "0",
    }


def _commit(registry_file: Path, hotkey: str, value: str) -> None:
    neurons = [{**n, "commitment": value} if n["hotkey"] == hotkey else n for n in REGISTRY["neurons"]]
    registry_file.write_text(yaml.safe_dump({**REGISTRY, "neurons": neurons}))


async def _agents(database_url: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(BitrecsAgent))).scalar() or 0)
    finally:
        await engine.dispose()


async def test_check_and_submit_against_a_live_server(
    start_server: Callable[[dict[str, str]], ServerProcess],
    server_env: dict[str, str],
    database_url: str,
    github: support.FakeGitHub,
    registry_file: Path,
) -> None:
    gist_id, gist = github.add("octo", support.artifact(BOB.ss58_address))
    _commit(registry_file, BOB.ss58_address, support.commitment(gist))  # revealed before the server reads it
    server = start_server(_env(server_env, database_url, github))
    values = support.body(BOB, "octo", gist_id, gist)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(server.base_url + "/check", json=values)
        assert (response.status_code, response.json()) == (
            200,
            {"status": "success", "message": "Agent check successful"},
        )
        assert await _agents(database_url) == 0, "/check writes nothing"
        bad = {**values, "signature": "zz"}
        response = await client.post(server.base_url + "/check", json=bad)
        assert response.status_code == 400
        response = await client.post(
            server.base_url + "/submit", json=values, headers=support.transport(BOB, values)
        )
        assert response.status_code == 201, response.text
    assert await _agents(database_url) == 1


@pytest.mark.postgres
async def test_two_servers_racing_one_hotkey_accept_exactly_one(
    start_server: Callable[[dict[str, str]], ServerProcess],
    server_env: dict[str, str],
    pg: Any,
    github: support.FakeGitHub,
    registry_file: Path,
) -> None:
    from tests.support import services

    dbs: services.PostgresDatabases = pg
    url = dbs.url(await dbs.create())
    # One gist, committed on chain; the same hotkey submits it to two servers at once.
    gist_id, gist = github.add("octo", support.artifact(BOB.ss58_address))
    _commit(registry_file, BOB.ss58_address, support.commitment(gist))
    env = _env(server_env, url, github)
    first, second = start_server(env), start_server(env)
    values = support.body(BOB, "octo", gist_id, gist)
    async with httpx.AsyncClient(timeout=30) as client:
        answers = await asyncio.gather(
            *(
                client.post(s.base_url + "/submit", json=values, headers=support.transport(BOB, values))
                for s in (first, second, first, second)
            )
        )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201, 400, 400, 400], [r.text for r in answers]
    refused = {r.json()["detail"] for r in answers if r.status_code == 400}
    assert refused <= {
        "Hotkey has already been used for an agent submission. Please register a new hotkey",
        "Gist has already been used for an agent submission. Please create a new gist",
    }
    assert await _agents(url) == 1
    # A different hotkey copying the winner's gist is refused too (its artifact names Bob).
    values = support.body(CHARLIE, "octo", gist_id, gist)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(first.base_url + "/check", json=values)
    assert response.status_code == 400


async def test_each_gate_answers_bitrecs_status_and_body_over_the_wire(
    start_server: Callable[[dict[str, str]], ServerProcess],
    server_env: dict[str, str],
    database_url: str,
    github: support.FakeGitHub,
    registry_file: Path,
) -> None:
    from tests.support.signing import ALICE, DAVE

    good_id, good = github.add("octo", support.artifact(BOB.ss58_address))
    _commit(registry_file, BOB.ss58_address, "0" * 40 + ":" + "0" * 64)  # not this gist's commitment
    server = start_server(_env(server_env, database_url, github))
    values = support.body(BOB, "octo", good_id, good)

    def gist(signer: Any = BOB, **overrides: Any) -> dict[str, str]:
        gist_id, g = github.add("octo", support.artifact(signer.ss58_address, **overrides))
        return support.body(signer, "octo", gist_id, g)

    check_cases: list[tuple[dict[str, str], int, dict[str, Any]]] = [
        ({**values, "signature": "ab" * 64}, 400, {"detail": "Invalid signature for submission"}),
        (
            gist(ALICE),
            400,
            {
                "detail": "Hotkey belongs to a whitelisted validator and cannot be used for agent "
                "submission. Please register a new hotkey"
            },
        ),
        (gist(DAVE), 400, {"detail": "Hotkey not registered on subnet"}),
        (
            support.body(BOB, "octo", "f" * 32, good),
            400,
            {
                "error": "Failed to fetch gist: Gist not found on GitHub "
                "(check the gist id and GitHub account)"
            },
        ),
        (gist(agent_id="x"), 400, {"error": "agent_id must not be set by the client"}),
        (gist(version_num="2"), 400, {"error": "version_num must be 1"}),
        (gist(model="m:free"), 400, {"error": "Free models are not supported"}),
        (
            support.body(BOB, "octo", good_id, good, created_at="2020-01-01T00:00:00+00:00"),
            400,
            {"error": "created_at timestamp does not match Gist creation time"},
        ),
        (
            gist(miner_hotkey=CHARLIE.ss58_address),
            400,
            {"error": "Miner hotkey in submission does not match miner hotkey in artifact"},
        ),
    ]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        for body, status, expected in check_cases:
            response = await client.post("/check", json=body)
            assert (response.status_code, response.json()) == (status, expected)
        submit_cases = [
            (support.transport(BOB, values, ts=1), {"detail": "Invalid or expired timestamp"}),
            (support.transport(BOB, values, version="9.9.9"), {"detail": "Invalid transport signature"}),
            (
                support.transport(BOB, values),
                {"error": "Commitment to chain is not valid for this submission"},
            ),
        ]
        for headers, expected in submit_cases:
            response = await client.post("/submit", json=values, headers=headers)
            assert (response.status_code, response.json()) == (400, expected)
        assert (await client.post("/check", json=values)).status_code == 200
    assert await _agents(database_url) == 0
