"""A network worth looking at, made through the core's own flows: eligible agents from many miners,
each scored by //Alice, plus one agent still waiting for its run."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from bittensor_wallet import Keypair

from proctor.core.evaluations import flows
from proctor.core.evaluations.repository import EvaluationRepository
from proctor.core.rewards import service as epoch_service
from proctor.core.rewards.sources import load_scores
from proctor.storage.base import utcnow
from tests.support.signing import ALICE
from tests.support.world import World, make_world, miner

VALIDATOR = ALICE.ss58_address


@dataclass(frozen=True)
class Seeded:
    eligible: list[str]  # version ids, best score first
    waiting: str  # a queued version no validator has claimed yet
    problem_ids: list[str]
    top_miner: str  # the hotkey paid in the published reward epoch


def miner_key(i: int) -> str:
    """A real SS58 hotkey (reward epochs encode the hotkey's public key)."""
    return Keypair.create_from_uri(f"//dashboard-miner-{i}").ss58_address


async def make_eligible(world: World, count: int) -> list[str]:
    ids = []
    for i in range(count):
        now = utcnow()
        version = await world.submit(miner_key(i), now=now, name=f"agent-{i:03d}")
        claim = await flows.claim_work(
            world.core, validator=VALIDATOR, report=None, now=now, base_url="http://t"
        )
        assert claim is not None and claim.run.agent_version_id == version.id
        await flows.complete_run(
            world.core,
            run_id=claim.run.id,
            validator=VALIDATOR,
            status="SUCCESS",
            score=round(0.30 + 0.01 * i, 4),
            failure_reason=None,
            details={},
            now=now,
        )
        ids.append(str(version.id))
    return list(reversed(ids))


async def seed(database_url: str, tmp_path: Path, *, eligible: int) -> Seeded:
    """Seed the database at `database_url` (blobs under tmp_path/data) and close everything."""
    worlds = make_world(
        database_url, tmp_path, eval_required_successes=1, code_release_delay_seconds=0, top_margin=0.0
    )
    async with contextlib.aclosing(worlds):
        world = await anext(worlds)
        ids = await make_eligible(world, eligible)
        async with world.transaction() as session:  # type: ignore[attr-defined]
            scores = await load_scores(
                session, location="", max_bytes=1, timeout_seconds=1, margin=0.0, emission_weight=1.0
            )
            await epoch_service.publish_epoch(session, budget_units=1000, scores=scores, now=utcnow())
        top_miner = miner_key(eligible - 1)  # the best score: the top agent's miner takes the epoch
        waiting = await world.submit(miner(9999), now=utcnow(), name="waiting-agent")
        async with world.sessionmaker() as session:
            problems = await EvaluationRepository(session).suite_problems(world.suite_id)
        return Seeded(ids, str(waiting.id), [str(p.problem_id) for p in problems], top_miner)
