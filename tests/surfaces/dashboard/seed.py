"""A network worth looking at, made through the core's own flows: eligible agents from many miners,
each scored by //Alice, plus one agent still waiting for its run."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from proctor.core.evaluations import flows
from proctor.storage.base import utcnow
from tests.support.signing import ALICE
from tests.support.world import World, make_world, miner

VALIDATOR = ALICE.ss58_address


@dataclass(frozen=True)
class Seeded:
    eligible: list[str]  # version ids, best score first
    waiting: str  # a queued version no validator has claimed yet
    problem_ids: list[str]


async def make_eligible(world: World, count: int) -> list[str]:
    ids = []
    for i in range(count):
        now = utcnow()
        version = await world.submit(miner(i), now=now, name=f"agent-{i:03d}")
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
        waiting = await world.submit(miner(9999), now=utcnow(), name="waiting-agent")
        async with world.sessionmaker() as session:
            from proctor.core.evaluations.repository import EvaluationRepository

            problems = await EvaluationRepository(session).suite_problems(world.suite_id)
        return Seeded(ids, str(waiting.id), [str(p.problem_id) for p in problems])
