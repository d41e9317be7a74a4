"""The submission service's transactions: no connection held while judging, races settled on write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from proctor.core.evaluations import service as evaluation_service
from proctor.core.identity.registry import Identity
from proctor.core.submissions import service
from proctor.core.submissions.gates import Candidate, Facts, Verdict
from proctor.core.submissions.repository import SubmissionRepository
from proctor.core.submissions.runner import GateRunner
from proctor.models import AgentVersion, SubmissionEvent
from proctor.storage.db import unit_of_work
from tests.support.agents import valid_agent
from tests.support.world import World, make_world, miner

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async for w in make_world(database_url, tmp_path, submission_cooldown_seconds=3600):
        yield w


async def facts_for(world: World, candidate: Candidate) -> Facts:
    async with world.sessionmaker() as session:
        return await service.load_facts(
            session,
            candidate=candidate,
            identity=Identity(candidate.hotkey, registered=True),
            policy=service.policy_from(world.settings),
            now=T0,
        )


async def submit(world: World, candidate: Candidate, facts: Facts, runner: object = None) -> service.Outcome:
    async with unit_of_work(world.sessionmaker) as session:
        return await service.submit(
            session,
            candidate=candidate,
            facts=facts,
            code_store=world.blobs,  # type: ignore[arg-type]
            evaluation=evaluation_service.policy_from(world.settings),
            runner=runner or GateRunner(workers=0),  # type: ignore[arg-type]
        )


class HeldJudge:
    """The real pipeline, run only once the test lets it go."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def judge(self, candidate: Candidate, facts: Facts, *, exhaustive: bool = False) -> Verdict:
        self.started.set()
        await self.release.wait()
        return await GateRunner(workers=0).judge(candidate, facts, exhaustive=exhaustive)


async def test_no_database_connection_is_held_while_a_file_is_judged(world: World) -> None:
    # On SQLite the pool has one connection and every write transaction takes the database lock; a
    # submission holding either through a long judgement would stall every other request.
    candidate = Candidate(miner(1), "slow", "agent.py", valid_agent("slow"))
    judge = HeldJudge()
    pending = asyncio.create_task(submit(world, candidate, await facts_for(world, candidate), judge))
    await asyncio.wait_for(judge.started.wait(), 10)
    other = Candidate(miner(2), "quick", "agent.py", valid_agent("quick"))
    quick = await asyncio.wait_for(submit(world, other, await facts_for(world, other)), 10)
    assert quick.accepted
    judge.release.set()
    slow = await asyncio.wait_for(pending, 10)
    assert slow.accepted
    async with world.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(AgentVersion))
    assert count == 2


async def test_identical_file_accepted_meanwhile_is_answered_as_a_duplicate(world: World) -> None:
    code = valid_agent("same bytes")
    first, second = (Candidate(miner(n), "twin", "agent.py", code) for n in (1, 2))
    facts_first, facts_second = await facts_for(world, first), await facts_for(world, second)
    assert facts_first.duplicate_of is None and facts_second.duplicate_of is None
    assert (await submit(world, second, facts_second)).accepted
    outcome = await submit(world, first, facts_first)
    assert outcome.rejection is not None
    assert outcome.rejection.code == "INVALID_FILE" and "identical" in outcome.rejection.message
    async with world.sessionmaker() as session:
        repo = SubmissionRepository(session)
        assert await repo.next_allowed_at(first.hotkey) is None  # a duplicate costs no cooldown
        versions = await session.scalar(select(func.count()).select_from(AgentVersion))
        logged = await session.scalars(
            select(SubmissionEvent.outcome).where(SubmissionEvent.hotkey == first.hotkey)
        )
    assert versions == 1
    assert list(logged) == ["INVALID_FILE"]


async def test_unique_index_race_rolls_back_the_losers_cooldown(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL's window: the re-read saw nothing, then the other insert committed first. Simulated by
    # hiding the winner from the re-read once, so the insert itself meets the unique index.
    code = valid_agent("raced bytes")
    winner, loser = (Candidate(miner(n), "race", "agent.py", code) for n in (1, 2))
    facts_loser = await facts_for(world, loser)
    assert (await submit(world, winner, await facts_for(world, winner))).accepted
    real = SubmissionRepository.version_with_sha
    calls = 0

    async def blind_once(self: SubmissionRepository, sha256: str) -> AgentVersion | None:
        nonlocal calls
        calls += 1
        return None if calls == 1 else await real(self, sha256)

    monkeypatch.setattr(SubmissionRepository, "version_with_sha", blind_once)
    outcome = await submit(world, loser, facts_loser)
    assert calls == 2
    assert outcome.rejection is not None and outcome.rejection.code == "INVALID_FILE"
    async with world.sessionmaker() as session:
        assert await SubmissionRepository(session).next_allowed_at(loser.hotkey) is None
        owners = await session.scalars(select(AgentVersion.miner_hotkey))
    assert list(owners) == [winner.hotkey]
