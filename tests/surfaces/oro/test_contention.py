"""Contention on PostgreSQL across two `proctor serve` processes: concurrent submissions from one
hotkey, and dozens of validators claiming from one queue."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from bittensor_wallet import Keypair
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from proctor.models import AgentVersion, EvaluationRun, WorkItem
from tests.support import services
from tests.support.agents import valid_agent
from tests.support.server import ServerProcess
from tests.support.signing import oro_headers
from tests.support.suites import write_oro_suite
from tests.surfaces.oro.test_sdk_cycle import cli

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

VALIDATORS = [Keypair.create_from_uri(f"//proctor-validator-{i}") for i in range(40)]
MINERS = [Keypair.create_from_uri(f"//proctor-miner-{i}") for i in range(30)]


@pytest.fixture
def pg_env(
    pg: services.PostgresDatabases, redis_url: str, server_env: dict[str, str], tmp_path: Path
) -> dict[str, str]:
    registry = tmp_path / "contention-registry.yaml"
    neurons = [{"hotkey": k.ss58_address, "validator_permit": True, "stake": 100.0} for k in VALIDATORS]
    neurons += [{"hotkey": k.ss58_address} for k in MINERS]
    registry.write_text(yaml.safe_dump({"netuid": 15, "neurons": neurons}))
    return {
        **server_env,
        "PROCTOR_REGISTRY": str(registry),
        "PROCTOR_DATABASE_URL": pg.url(services.blocking(pg.create())),
        "PROCTOR_REDIS_URL": redis_url,
        "PROCTOR_RATE_LIMIT_SUBMIT": "1000/minute",
        "PROCTOR_DB_POOL_SIZE": "20",
    }


async def submit(client: httpx.AsyncClient, key: Keypair) -> httpx.Response:
    return await client.post(
        "/v1/miner/submit",
        headers=oro_headers(key),
        data={"agent_name": "race"},
        files={"file": ("agent.py", valid_agent(), "text/x-python")},
    )


def test_concurrent_submissions_from_one_hotkey_accept_exactly_one(
    pg_env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    a, b = start_server(pg_env), start_server(pg_env)
    cli(pg_env, "admin", "suite", "import", str(write_oro_suite(tmp_path / "s.json", 3)), "--activate")

    async def race(key: Keypair) -> list[int]:
        async with httpx.AsyncClient(base_url=a.base_url) as ca, httpx.AsyncClient(base_url=b.base_url) as cb:
            results = await asyncio.gather(submit(ca, key), submit(cb, key))
        bodies = [r.json() for r in results]
        assert sorted(r.status_code for r in results) == [200, 429], bodies
        assert [x.get("error_code") for x in bodies if "error_code" in x] == ["COOLDOWN_ACTIVE"]
        return [r.status_code for r in results]

    async def main() -> None:
        for key in MINERS[:6]:
            await race(key)

    asyncio.run(main())


def test_many_validators_never_share_a_run_and_the_queue_drains(
    pg_env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    servers = [start_server(pg_env), start_server(pg_env)]
    cli(pg_env, "admin", "suite", "import", str(write_oro_suite(tmp_path / "s.json", 3)), "--activate")
    handed: dict[str, str] = {}  # run id → validator
    conflicts: list[str] = []

    async def seed() -> None:
        async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=30) as client:
            for key in MINERS:
                assert (await submit(client, key)).status_code == 200

    async def validator(key: Keypair, index: int) -> None:
        base = servers[index % 2].base_url
        idle = 0
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            while idle < 3:
                claim = await client.post("/v1/validator/work/claim", headers=oro_headers(key), json={})
                if claim.status_code == 204:
                    idle += 1
                    await asyncio.sleep(0.2)
                    continue
                assert claim.status_code == 200, claim.text
                run = claim.json()["eval_run_id"]
                if run in handed:
                    conflicts.append(run)
                handed[run] = key.ss58_address
                await asyncio.sleep(random.uniform(0, 0.05))
                done = await client.post(
                    f"/v1/validator/evaluation-runs/{run}/complete",
                    headers=oro_headers(key),
                    json={"terminal_status": "SUCCESS", "validator_score": random.random()},
                )
                assert done.status_code == 200, done.text

    async def main() -> None:
        await seed()
        await asyncio.wait_for(
            asyncio.gather(*(validator(k, i) for i, k in enumerate(VALIDATORS))), timeout=240
        )

    asyncio.run(main())
    assert conflicts == [], "a run was handed to two validators"
    assert len(handed) == 2 * len(MINERS)

    async def check_database() -> None:
        engine = create_async_engine(pg_env["PROCTOR_DATABASE_URL"])
        async with engine.connect() as conn:
            runs = (
                await conn.execute(
                    select(
                        EvaluationRun.work_item_id,
                        EvaluationRun.validator_hotkey,
                        EvaluationRun.status,
                        EvaluationRun.claimed_at,
                        EvaluationRun.completed_at,
                    )
                )
            ).all()
            items = (await conn.execute(select(WorkItem.status, WorkItem.success_count))).all()
            states = (await conn.execute(select(AgentVersion.state))).scalars().all()
        await engine.dispose()
        per_item: dict[object, list[str]] = {}
        for item_id, hotkey, status, _, _ in runs:
            assert status == "SUCCESS"
            per_item.setdefault(item_id, []).append(hotkey)
        assert all(len(v) == len(set(v)) == 2 for v in per_item.values()), "distinct validators per item"
        assert {(status, count) for status, count in items} == {("CLOSED", 2)}
        assert set(states) == {"ELIGIBLE"}
        by_validator: dict[str, list[tuple[object, object]]] = {}
        for _, hotkey, _, claimed, completed in runs:
            by_validator.setdefault(hotkey, []).append((claimed, completed))
        for spans in by_validator.values():
            spans.sort()
            for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
                assert end <= start, "a validator held two runs at once"

    asyncio.run(check_database())
