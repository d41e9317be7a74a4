"""Pool flows on an empty pool: a lease still answers (the client bootstraps from an empty seed set),
unless nothing could be done at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proctor.core.pool import flows
from proctor.core.pool.errors import NothingAvailable
from tests.support.world import World, make_world

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async for w in make_world(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", tmp_path):
        yield w


async def test_an_empty_pool_still_leases_an_evolve_budget(world: World) -> None:
    lease = await flows.lease(
        world.core, miner="m1", eval_batch_size=8, seed_batch_size=8, sim_window_number=None, now=T0
    )
    assert (lease.evaluate, lease.seeds, lease.evolve_budget) == ([], [], 1)
    with pytest.raises(NothingAvailable):
        await flows.request_task(world.core, miner="m2", task_type="evaluate", now=T0)
    with pytest.raises(NothingAvailable):
        await flows.request_task(world.core, miner="m2", task_type="evolve", now=T0)


async def test_without_an_evolve_budget_an_empty_pool_has_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"
    async for w in make_world(url, tmp_path, pool_evolve_budget=0):
        with pytest.raises(NothingAvailable):
            await flows.lease(
                w.core, miner="m1", eval_batch_size=8, seed_batch_size=8, sim_window_number=None, now=T0
            )
