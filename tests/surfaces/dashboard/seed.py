"""A network worth looking at, made through the core's own flows: eligible agents from many miners,
each scored by //Alice, plus one agent still waiting for its run -- and, when asked, a completed race
(the top agent against the next best, run by //Alice on the hidden race bank) and a second race open
for qualifying."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from bittensor_wallet import Keypair

from proctor.core.evaluations import flows
from proctor.core.evaluations.repository import EvaluationRepository
from proctor.core.races import bank
from proctor.core.races import flows as races
from proctor.core.rewards import service as epoch_service
from proctor.core.rewards.sources import load_scores
from proctor.storage.base import utcnow
from proctor.storage.db import unit_of_work
from tests.support.signing import ALICE
from tests.support.suites import oro_problems
from tests.support.world import World, make_world, miner

VALIDATOR = ALICE.ss58_address
# Two qualifiers a race, one run each: small enough to run live in a test.
RACE_SETTINGS = {"race_field_size": 2, "race_required_successes": 1, "race_min_qualifying_score": 0.0}
RACE_ENV = {f"PROCTOR_{name.upper()}": str(value) for name, value in RACE_SETTINGS.items()}


@dataclass(frozen=True)
class Seeded:
    eligible: list[str]  # version ids, best score first
    waiting: str  # a queued version no validator has claimed yet
    problem_ids: list[str]
    top_miner: str  # the hotkey paid in the published reward epoch
    races: list[str] = field(default_factory=list)  # race 1 (complete), race 2 (qualifying open)
    race_problem_ids: list[str] = field(default_factory=list)  # the hidden bank


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


def race_bank(count: int) -> list[dict[str, object]]:
    """Race-only problems (distinct from the suite's public ones)."""
    problems = oro_problems(count)
    for p in problems:
        p["query"] = f"RACE ONLY {p['query']}"
    return problems


async def run_race(world: World, scores: dict[str, float]) -> str:
    """Close qualifying and run the field to completion, each qualifier (by version id) scoring as
    given. Returns the race id."""
    race_id = await races.close_qualifying(world.core, now=utcnow())
    for _ in scores:
        claim = await flows.claim_work(
            world.core, validator=VALIDATOR, report=None, now=utcnow(), base_url="http://t"
        )
        assert claim is not None and claim.run.race_id == race_id
        score = scores[str(claim.run.agent_version_id)]
        await flows.complete_run(
            world.core,
            run_id=claim.run.id,
            validator=VALIDATOR,
            status="SUCCESS",
            score=score,
            failure_reason=None,
            details={},
            now=utcnow(),
        )
    return str(race_id)


async def seed(
    database_url: str, tmp_path: Path, *, eligible: int, with_races: bool = False, waiting: bool = True
) -> Seeded:
    """Seed the database at `database_url` (blobs under tmp_path/data) and close everything."""
    worlds = make_world(
        database_url,
        tmp_path,
        eval_required_successes=1,
        code_release_delay_seconds=0,
        top_margin=0.0,
        **RACE_SETTINGS,
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
        raced, race_problems = [], []
        if with_races:
            async with unit_of_work(world.sessionmaker) as session:
                await bank.import_bank(session, suite_id=world.suite_id, document=race_bank(3))
                race_problems = [
                    str(p.problem_id) for p in await bank.problems(session, suite_id=world.suite_id)
                ]
            # The incumbent (the best qualifying score) races 0.6, the next best 0.8 and wins race 1.
            raced.append(await run_race(world, {ids[0]: 0.6, ids[1]: 0.8}))
            raced.append(str((await races.open_race(world.core, now=utcnow())).id))
        queued = await world.submit(miner(9999), now=utcnow(), name="waiting-agent") if waiting else None
        async with world.sessionmaker() as session:
            problems = await EvaluationRepository(session).suite_problems(world.suite_id)
        return Seeded(
            ids,
            str(queued.id) if queued else "",
            [str(p.problem_id) for p in problems],
            top_miner,
            raced,
            race_problems,
        )
