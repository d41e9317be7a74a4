"""A slow inference provider holds up only the claim that mints through it.

The claim commits before it calls the provider (no row lock, no transaction, no connection waits on
the network), so other validators' heartbeats and progress go on meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from proctor.core.credentials import service as credential_service
from proctor.core.evaluations import flows
from proctor.core.evaluations.service import ProblemUpdate
from proctor.storage.db import unit_of_work
from tests.core.credentials.conftest import SECRET_KEY
from tests.support.provider_double import CHUTES_CLIENT_ID, ProviderDouble
from tests.support.world import World, make_world, miner

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DELAY = 0.5  # seconds the provider takes to mint


@pytest.fixture
async def world(database_url: str, tmp_path: Path, provider: ProviderDouble) -> AsyncIterator[World]:
    async for w in make_world(
        database_url,
        tmp_path,
        eval_required_successes=1,
        secret_key=SECRET_KEY,
        chutes_api_url=provider.base_url,
        chutes_inference_url=provider.base_url + "/chutes/v1",
        chutes_client_id=CHUTES_CLIENT_ID,
        provider_timeout_seconds=5.0,
        db_pool_size=4,
    ):
        yield w


async def test_a_slow_provider_does_not_hold_up_other_validators(
    world: World, provider: ProviderDouble
) -> None:
    without, with_credential = miner(1), miner(2)
    await world.submit(without, now=T0 - timedelta(minutes=1))  # oldest: claimed first, nothing to mint
    await world.submit(with_credential, now=T0)
    async with unit_of_work(world.sessionmaker) as s:
        await credential_service.store(
            s,
            hotkey=with_credential,
            provider="chutes",
            credential=provider.new_refresh_token(),
            settings=world.settings,
        )
    busy = await flows.claim_work(world.core, validator="val-busy", report=None, now=T0, base_url="http://t")
    assert busy is not None and busy.grant is None
    problem = next(iter(await _problems(world, busy.run.suite_id)))

    provider.state.delay_seconds = DELAY
    provider.requested.clear()
    slow = asyncio.create_task(
        flows.claim_work(world.core, validator="val-slow", report=None, now=T0, base_url="http://t")
    )
    # Wait until the slow claim is at the provider: its database work is done and committed.
    assert await asyncio.to_thread(provider.requested.wait, 10), "the claim reached the provider"

    started = asyncio.get_running_loop().time()
    for _ in range(3):
        await flows.heartbeat(world.core, run_id=busy.run.id, validator="val-busy", report=None, now=T0)
        await flows.record_progress(
            world.core,
            run_id=busy.run.id,
            validator="val-busy",
            updates=[ProblemUpdate(problem_id=problem, status="SUCCESS", fields={"score": 0.5})],
            now=T0,
        )
    took = asyncio.get_running_loop().time() - started
    assert not slow.done(), f"the other validator's work ({took:.3f} s) finished while the provider was busy"

    answer = await slow
    assert answer is not None and answer.grant is not None, "the slow claim still gets its token"
    assert answer.grant.access_token == provider.state.issued_access_tokens[-1]


async def _problems(world: World, suite_id: int) -> frozenset[object]:
    async with world.core.db.transaction() as tx:
        return await flows.suite_problem_ids(world.core, tx, suite_id)
