"""`max_concurrent_runs` is enforced by the claim, on SQLite and PostgreSQL: a validator with limit k
holds up to k live runs (each in its own slot), gets a new run while it holds fewer, 409 AT_CAPACITY at
k, and concurrent claims never take it past k. The default k = 1 keeps "a repeated claim answers the
held run"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from proctor.core.admin import flows as admin_flows
from proctor.core.admin.audit import Actor
from proctor.core.evaluations import flows
from proctor.core.evaluations.service import AtCapacity
from proctor.models import EvaluationRun
from proctor.models.evaluations import ACTIVE_RUN_STATUSES
from tests.support.world import World, make_world, miner

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
OPERATOR = Actor("cli:operator", "cli")


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async for w in make_world(database_url, tmp_path, eval_required_successes=1, eval_lease_seconds=60):
        yield w


async def claim(world: World, validator: str, now: datetime = T0) -> flows.ClaimAnswer | None:
    return await flows.claim_work(world.core, validator=validator, report=None, now=now, base_url="http://t")


async def live_runs(world: World, validator: str) -> list[EvaluationRun]:
    async with world.sessionmaker() as s:
        return list(
            await s.scalars(
                select(EvaluationRun).where(
                    EvaluationRun.validator_hotkey == validator,
                    EvaluationRun.status.in_(ACTIVE_RUN_STATUSES),
                )
            )
        )


async def set_limit(world: World, validator: str, k: int) -> None:
    row = await admin_flows.update_validator(
        world.core, actor=OPERATOR, hotkey=validator, max_concurrent_runs=k, now=T0
    )
    assert row.max_concurrent_runs == k


async def test_a_validator_holds_up_to_its_limit(world: World) -> None:
    for n in range(5):
        await world.submit(miner(n), now=T0 + timedelta(seconds=n))
    first = await claim(world, "val-a")
    assert first is not None
    again = await claim(world, "val-a")
    assert again is not None and again.repeated and again.run.id == first.run.id, "k = 1: its held run"

    await set_limit(world, "val-a", 3)
    second = await claim(world, "val-a")
    third = await claim(world, "val-a")
    assert second is not None and third is not None
    assert not second.repeated and not third.repeated
    assert len({first.run.id, second.run.id, third.run.id}) == 3
    assert len({first.run.work_item_id, second.run.work_item_id, third.run.work_item_id}) == 3
    with pytest.raises(AtCapacity):
        await claim(world, "val-a")
    assert sorted(r.slot for r in await live_runs(world, "val-a")) == [0, 1, 2]

    # Finishing one frees its slot for the next claim.
    await flows.complete_run(
        world.core,
        run_id=second.run.id,
        validator="val-a",
        status="SUCCESS",
        score=0.5,
        failure_reason=None,
        details={},
        now=T0,
    )
    fourth = await claim(world, "val-a")
    assert fourth is not None and not fourth.repeated and fourth.run.slot == second.run.slot

    # A lapsed run of its own is freed by its next claim, which then takes that slot.
    later = T0 + timedelta(seconds=30)
    for run in (first, third):
        await flows.heartbeat(world.core, run_id=run.run.id, validator="val-a", report=None, now=later)
    fifth = await claim(world, "val-a", now=T0 + timedelta(seconds=61))
    assert fifth is not None and fifth.run.slot == fourth.run.slot
    assert len(await live_runs(world, "val-a")) == 3

    # Lowering the limit ends nothing: the held runs finish; claims answer the oldest held run again.
    await set_limit(world, "val-a", 1)
    held = await claim(world, "val-a", now=T0 + timedelta(seconds=62))
    assert held is not None and held.repeated
    assert len(await live_runs(world, "val-a")) == 3


async def test_concurrent_claims_never_exceed_the_limit(world: World) -> None:
    for n in range(12):
        await world.submit(miner(n), now=T0 + timedelta(seconds=n))
    assert await claim(world, "val-b") is not None  # seen, so an operator can configure it
    await set_limit(world, "val-b", 3)
    results = await asyncio.gather(*(claim(world, "val-b") for _ in range(8)), return_exceptions=True)
    answers = [r for r in results if isinstance(r, flows.ClaimAnswer)]
    refused = [r for r in results if isinstance(r, AtCapacity)]
    assert len(answers) + len(refused) == 8, [r for r in results if isinstance(r, BaseException)]
    assert len(answers) == 2, "one run was held already: two more fit under the limit of three"
    live = await live_runs(world, "val-b")
    assert len(live) == 3 and sorted(r.slot for r in live) == [0, 1, 2]
    async with world.sessionmaker() as s:
        total = await s.scalar(select(func.count()).select_from(EvaluationRun))
    assert total == 3

    # Default validators claiming concurrently hold one run each.
    many = await asyncio.gather(*(claim(world, f"val-{i}") for i in range(4) for _ in range(3)))
    assert all(a is not None for a in many)
    for i in range(4):
        assert len(await live_runs(world, f"val-{i}")) == 1
