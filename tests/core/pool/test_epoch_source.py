"""An epoch published from Pool's own consensus (PROCTOR_EPOCH_SCORES=pool) verifies like any other:
in proctor's StandardMerkleTree and in the real @openzeppelin/merkle-tree."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from proctor.core.pool import flows
from proctor.core.rewards import service as epoch_service
from proctor.core.rewards import sources
from proctor.core.rewards.cache import NodeCache
from proctor.core.rewards.errors import NothingToPublish
from proctor.core.rewards.merkle import LEAF_ENCODING, StandardMerkleTree
from proctor.storage.db import unit_of_work
from tests.core.rewards.conftest import NodeRunner, oz_node  # noqa: F401  (the Node fixture)
from tests.core.rewards.keys import hotkey
from tests.support.world import World, make_world

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=360 * 12)


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async for w in make_world(database_url, tmp_path):
        yield w


async def load(world: World) -> sources.ScoreSource:
    async with world.sessionmaker() as s:
        return await sources.load_scores(
            s, location="pool", max_bytes=1, timeout_seconds=1, margin=0.0, emission_weight=1.0
        )


async def run_window(world: World, miners: list[str], scores: list[float], now: datetime) -> None:
    for miner, score in zip(miners, scores, strict=True):
        lease = await flows.lease(
            world.core, miner=miner, eval_batch_size=4, seed_batch_size=2, sim_window_number=None, now=now
        )
        evaluations = [flows.Evaluation(int(a["id"]), score) for a in lease.evaluate]
        evolutions = [flows.Evolution(f"# evolved by {miner} at {now}", (int(lease.seeds[0]["id"]),))]
        await flows.submit(
            world.core,
            miner=miner,
            lease_id=lease.lease.id,
            kinds=("lease",),
            evaluations=evaluations,
            evolutions=evolutions,
            iterations=5,
            now=now,
        )


async def test_pool_consensus_pays_an_epoch_that_verifies(world: World, oz_node: NodeRunner) -> None:  # noqa: F811
    await flows.import_seeds(world.core, seeds=[{"algorithm_dsl": f"# seed {i}"} for i in range(4)], now=T0)
    with pytest.raises(NothingToPublish):
        async with unit_of_work(world.sessionmaker) as s:
            await epoch_service.publish_epoch(s, budget_units=10**9, scores=await load(world), now=T0)
    miners = [hotkey(f"pool-e{i}") for i in range(3)]
    await run_window(world, miners, [0.8, 0.81, 0.3], T0)
    assert await flows.close_windows(world.core, T0 + 2 * WINDOW)
    source = await load(world)
    paid = source.competitions[0].scores
    assert set(paid) == set(miners[:2]) and source.label == "pool:consensus", "the outlier earns nothing"
    async with unit_of_work(world.sessionmaker) as s:
        epoch = (
            await epoch_service.publish_epoch(s, budget_units=10**9, scores=source, now=T0 + 2 * WINDOW)
        ).epoch
    async with world.sessionmaker() as s:
        row = await epoch_service.get_epoch(s, number=epoch.number)
        dump = json.loads(
            b"".join([c async for c in epoch_service.tree_dump(s, epoch=row, cache=NodeCache(2**20))])
        )
        packages = [
            await epoch_service.proof_package(s, number=epoch.number, hotkey=m, cache=NodeCache(2**20))
            for m in sorted(paid)
        ]
    assert StandardMerkleTree.load(dump).root == epoch.root
    [js] = oz_node(
        "cases.js",
        [
            {
                "leafEncoding": list(LEAF_ENCODING),
                "values": [p.value for p in packages],
                "sortLeaves": True,
                "multiproofIndices": [0],
                "proctor": {
                    "root": epoch.root,
                    "proofs": [p.proof for p in packages],
                    "multiproof": {"leaves": [], "proof": [], "proofFlags": []},
                    "dump": dump,
                },
            }
        ],
    )
    assert js["root"] == epoch.root and js["staticVerify"] == [True] * len(packages)
    # The next epoch pays only windows closed since this publication.
    assert (await load(world)).competitions[0].scores == {}
    later = T0 + 3 * WINDOW
    await run_window(world, miners[1:], [0.5, 0.5], later)
    assert await flows.close_windows(world.core, later + 2 * WINDOW)
    assert set((await load(world)).competitions[0].scores) == set(miners[1:])
