"""Races on the one lease engine, on SQLite and PostgreSQL: qualify, close qualifying, race runs through
the evaluation claim, race scores, completion, the winner as top, eliminations, pinning."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from proctor.core import leases
from proctor.core.admin.audit import Actor
from proctor.core.evaluations import flows as ev
from proctor.core.races import bank
from proctor.core.races import flows as races
from proctor.errors import BadRequest, Conflict
from proctor.models import AgentVersion, AuditEvent, EvaluationRun, RaceElimination, TopHistory, WorkItem
from proctor.storage.db import unit_of_work
from tests.support.suites import oro_problems
from tests.support.world import World, make_world, miner

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SETTINGS = {
    "eval_required_successes": 1,
    "eval_max_failures": 2,
    "eval_lease_seconds": 60,
    "top_margin": 0.05,
    "race_enabled": True,
    "race_field_size": 3,
    "race_required_successes": 2,
    "race_deadline_seconds": 3600,
}


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async for w in make_world(database_url, tmp_path, **SETTINGS):
        yield w


def race_bank(count: int = 3) -> list[dict[str, object]]:
    problems = oro_problems(count)
    for p in problems:
        p["query"] = f"RACE ONLY {p['query']}"
    return problems


async def with_bank(world: World) -> None:
    async with unit_of_work(world.sessionmaker) as session:
        await bank.import_bank(session, suite_id=world.suite_id, document=race_bank())


async def run_once(world: World, validator: str, score: float, now: datetime) -> ev.Completion:
    answer = await ev.claim_work(world.core, validator=validator, report=None, now=now, base_url="http://t")
    assert answer is not None
    return await ev.complete_run(
        world.core,
        run_id=answer.run.id,
        validator=validator,
        status="SUCCESS",
        score=score,
        failure_reason=None,
        details={},
        now=now,
    )


async def qualify(world: World, hotkey: str, score: float, now: datetime) -> AgentVersion:
    version = await world.submit(hotkey, now=now, name=f"agent-{uuid.uuid4().hex[:6]}")
    done = await run_once(world, f"val-q-{uuid.uuid4().hex[:6]}", score, now)
    assert done.run.agent_version_id == version.id and done.became_eligible
    return version


async def top_version(world: World) -> uuid.UUID | None:
    async with world.sessionmaker() as s:
        row = await s.scalar(
            select(TopHistory).where(TopHistory.ended_at.is_(None)).order_by(TopHistory.id.desc())
        )
        return row.agent_version_id if row else None


class TestTwoPhases:
    async def test_full_race(self, world: World) -> None:
        await with_bank(world)
        a, b, c = miner(1), miner(2), miner(3)
        # With races on, qualifying does not crown anyone: the first race does.
        va = await qualify(world, a, 0.6, T0)
        assert await top_version(world) is None
        vb1 = await qualify(world, b, 0.7, T0 + timedelta(seconds=1))
        vb2 = await qualify(world, b, 0.9, T0 + timedelta(seconds=2))
        vc = await qualify(world, c, 0.5, T0 + timedelta(seconds=3))
        await races.pin(world.core, hotkey=b, version_id=vb1.id, now=T0)
        race_id = await races.close_qualifying(world.core, now=T0 + timedelta(minutes=1))
        view = await races.detail(world.core, race_id=race_id)
        assert view.race.status == "RACE_RUNNING" and view.race.number == 1
        field = {q.version.id: q.row.qualification_type for q in view.qualifiers}
        assert field == {va.id: "SCORED", vb1.id: "SCORED", vc.id: "SCORED"}, "b's pin wins over its best"
        assert vb2.id not in field
        with pytest.raises(races.RaceLocked):
            await races.pin(world.core, hotkey=b, version_id=vb2.id, now=T0)
        with pytest.raises(races.RaceLocked):
            await races.unpin(world.core, hotkey=b)
        # Race runs: the same claim, work items with phase RACE; problems are the hidden bank's.
        scores = {va.id: 0.8, vb1.id: 0.4, vc.id: 0.3}
        now = T0 + timedelta(minutes=2)
        for validator in ("val-r1", "val-r2"):
            for _ in range(3):
                answer = await ev.claim_work(
                    world.core, validator=validator, report=None, now=now, base_url="http://t"
                )
                assert answer is not None and answer.run.race_id == race_id
                async with world.sessionmaker() as s:
                    from proctor.core.evaluations import service as evs

                    run = await evs.run_for_validator(s, run_id=answer.run.id, validator=validator)
                    problems = await evs.run_problems(s, run=run)
                    assert problems and all(
                        str(p.problem_metadata["query"]).startswith("RACE ONLY") for p in problems
                    )
                await ev.record_progress(
                    world.core,
                    run_id=answer.run.id,
                    validator=validator,
                    updates=[evs.ProblemUpdate(problems[0].problem_id, "SUCCESS", {"score": 1.0})],
                    now=now,
                )
                with pytest.raises(BadRequest):  # a public problem is not a race problem
                    await ev.record_progress(
                        world.core,
                        run_id=answer.run.id,
                        validator=validator,
                        updates=[evs.ProblemUpdate(uuid.uuid4(), "SUCCESS", {})],
                        now=now,
                    )
                done = await ev.complete_run(
                    world.core,
                    run_id=answer.run.id,
                    validator=validator,
                    status="SUCCESS",
                    score=scores[answer.run.agent_version_id],
                    failure_reason=None,
                    details={},
                    now=now,
                )
                assert not done.became_eligible
        view = await races.detail(world.core, race_id=race_id)
        assert view.race.status == "RACE_COMPLETE"
        assert view.race.winner_agent_version_id == va.id and view.race.winner_score == pytest.approx(0.8)
        assert [(q.version.id, q.row.race_rank) for q in view.qualifiers] == [
            (va.id, 1),
            (vb1.id, 2),
            (vc.id, 3),
        ]
        assert await top_version(world) == va.id
        async with world.sessionmaker() as s:
            eliminated = set(await s.scalars(select(RaceElimination.agent_version_id)))
        assert eliminated == {vb1.id, vc.id}
        total, past = await races.history(world.core, suite_id=None, limit=5, offset=0)
        assert total == 1 and past[0].race.id == race_id
        # Race 2: the winner defends as INCUMBENT; eliminated versions never race again, b's other does.
        race2 = await races.close_qualifying(world.core, now=now + timedelta(minutes=1))
        view2 = await races.detail(world.core, race_id=race2)
        assert view2.race.number == 2
        assert {q.version.id: q.row.qualification_type for q in view2.qualifiers} == {
            va.id: "INCUMBENT",
            vb2.id: "SCORED",
        }
        # Incumbent 0.80 vs challenger 0.82: inside the 5 % margin, the incumbent keeps it.
        later = now + timedelta(minutes=2)
        for validator in ("val-r1", "val-r2"):
            for _ in range(2):
                answer = await ev.claim_work(
                    world.core, validator=validator, report=None, now=later, base_url="http://t"
                )
                assert answer is not None
                score = 0.8 if answer.run.agent_version_id == va.id else 0.82
                await ev.complete_run(
                    world.core,
                    run_id=answer.run.id,
                    validator=validator,
                    status="SUCCESS",
                    score=score,
                    failure_reason=None,
                    details={},
                    now=later,
                )
        view2 = await races.detail(world.core, race_id=race2)
        assert view2.race.status == "RACE_COMPLETE" and view2.race.winner_agent_version_id == va.id
        assert view2.qualifiers[0].version.id == vb2.id, "ranked by race score, the winner by the margin rule"
        assert await top_version(world) == va.id

    async def test_deadline_marks_stragglers(self, world: World) -> None:
        await with_bank(world)
        va = await qualify(world, miner(1), 0.6, T0)
        vb = await qualify(world, miner(2), 0.5, T0)
        race_id = await races.close_qualifying(world.core, now=T0)
        finished = 0
        for n in range(4):  # va's runs finish; whoever claims vb's item never completes it
            validator = f"v{n}"
            answer = await ev.claim_work(
                world.core, validator=validator, report=None, now=T0, base_url="http://t"
            )
            assert answer is not None
            if answer.run.agent_version_id != va.id or finished == 2:
                continue
            finished += 1
            await ev.complete_run(
                world.core,
                run_id=answer.run.id,
                validator=validator,
                status="SUCCESS",
                score=0.3,
                failure_reason=None,
                details={},
                now=T0,
            )
        assert finished == 2
        assert await races.complete_overdue(world.core, T0 + timedelta(minutes=59)) == 0
        assert await races.complete_overdue(world.core, T0 + timedelta(hours=1)) == 1
        view = await races.detail(world.core, race_id=race_id)
        assert view.race.status == "RACE_COMPLETE" and view.race.winner_agent_version_id == va.id
        outcomes = {q.version.id: (q.row.outcome, q.row.race_score) for q in view.qualifiers}
        assert outcomes == {va.id: ("FINISHED", pytest.approx(0.3)), vb.id: ("STRAGGLER", None)}
        async with world.sessionmaker() as s:
            items = list(await s.scalars(select(WorkItem).where(WorkItem.race_id == race_id)))
        assert {i.status for i in items} == {"CLOSED", "DISCARDED"}
        assert (
            await ev.claim_work(world.core, validator="v9", report=None, now=T0, base_url="http://t") is None
        )

    async def test_close_needs_bank_and_qualifiers(self, world: World) -> None:
        await qualify(world, miner(1), 0.6, T0)
        with pytest.raises(Conflict) as bank_missing:
            await races.close_qualifying(world.core, now=T0)
        assert bank_missing.value.error_code == "RACE_BANK_EMPTY"
        await with_bank(world)
        with pytest.raises(Conflict):  # a bank is imported once
            async with unit_of_work(world.sessionmaker) as session:
                await bank.import_bank(session, suite_id=world.suite_id, document=race_bank(4))

    async def test_pins(self, world: World) -> None:
        hotkey = miner(1)
        low = await qualify(world, hotkey, 0.4, T0)
        high = await qualify(world, hotkey, 0.6, T0)
        other = await qualify(world, miner(2), 0.5, T0)
        with pytest.raises(races.NotVersionOwner):
            await races.pin(world.core, hotkey=hotkey, version_id=other.id, now=T0)
        with pytest.raises(races.NoSelection):
            await races.unpin(world.core, hotkey=hotkey)
        # Two pins at once: both answer, one of them is the pin.
        await asyncio.gather(
            races.pin(world.core, hotkey=hotkey, version_id=low.id, now=T0),
            races.pin(world.core, hotkey=hotkey, version_id=high.id, now=T0),
        )
        async with world.sessionmaker() as s:
            picked = await races.racing_version(s, hotkey=hotkey, suite_id=world.suite_id, min_score=0.0)
        assert picked is not None and picked.id in (low.id, high.id)
        await races.pin(world.core, hotkey=hotkey, version_id=low.id, now=T0)
        async with world.sessionmaker() as s:
            picked = await races.racing_version(s, hotkey=hotkey, suite_id=world.suite_id, min_score=0.0)
        assert picked is not None and picked.id == low.id
        await races.unpin(world.core, hotkey=hotkey)
        async with world.sessionmaker() as s:
            picked = await races.racing_version(s, hotkey=hotkey, suite_id=world.suite_id, min_score=0.0)
        assert picked is not None and picked.id == high.id, "without a pin, the best version races"


class TestJob:
    async def test_tick_opens_closes_and_completes(self, world: World) -> None:
        await races.tick(world.core, T0)
        opened = await races.current(world.core)
        assert opened is not None and opened.race.status == "QUALIFYING_OPEN" and opened.race.number == 1
        closes = opened.race.qualifying_closes_at
        assert closes is not None
        await races.tick(world.core, closes)  # nobody qualifies and no bank: qualifying stays open
        still = await races.current(world.core)
        assert still is not None and still.race.status == "QUALIFYING_OPEN"
        await with_bank(world)
        await qualify(world, miner(1), 0.6, closes)
        await races.tick(world.core, closes + timedelta(seconds=1))
        running = await races.current(world.core)
        assert running is not None and running.race.status == "RACE_RUNNING"
        assert running.race.race_deadline_at is not None
        await races.tick(world.core, running.race.race_deadline_at)
        done = await races.detail(world.core, race_id=running.race.id)
        assert done.race.status == "RACE_COMPLETE" and done.race.winner_agent_version_id is None
        assert [q.row.outcome for q in done.qualifiers] == ["STRAGGLER"]
        await races.tick(world.core, running.race.race_deadline_at + timedelta(seconds=1))
        nxt = await races.current(world.core)
        assert nxt is not None and nxt.race.number == 2 and nxt.race.status == "QUALIFYING_OPEN"


class TestConcurrency:
    async def test_last_two_items_completing_at_once_complete_the_race_once(self, world: World) -> None:
        await with_bank(world)
        va = await qualify(world, miner(1), 0.6, T0)
        vb = await qualify(world, miner(2), 0.5, T0)
        race_id = await races.close_qualifying(world.core, now=T0)
        # Each item needs 2 successes: give each one success, then finish both at the same moment.
        held = []
        for validator in ("v1", "v2", "v3", "v4"):
            answer = await ev.claim_work(
                world.core, validator=validator, report=None, now=T0, base_url="http://t"
            )
            assert answer is not None
            held.append((validator, answer.run))
        assert {run.agent_version_id for _, run in held} == {va.id, vb.id}

        async def finish(validator: str, run: object) -> None:
            await ev.complete_run(
                world.core,
                run_id=run.id,  # type: ignore[attr-defined]
                validator=validator,
                status="SUCCESS",
                score=0.7 if run.agent_version_id == va.id else 0.2,  # type: ignore[attr-defined]
                failure_reason=None,
                details={},
                now=T0,
            )

        firsts = {run.agent_version_id: (v, run) for v, run in held}
        lasts = [(v, run) for v, run in held if firsts[run.agent_version_id] != (v, run)]
        for v, run in firsts.values():
            await finish(v, run)
        await asyncio.gather(*(finish(v, run) for v, run in lasts))
        view = await races.detail(world.core, race_id=race_id)
        assert view.race.status == "RACE_COMPLETE" and view.race.winner_agent_version_id == va.id
        assert await top_version(world) == va.id
        async with world.sessionmaker() as s:
            tops = list(await s.scalars(select(TopHistory)))
        assert len(tops) == 1, "completed exactly once"


CLI = Actor("cli:test", "cli")


async def claim(world: World, validator: str, now: datetime) -> Any:
    answer = await ev.claim_work(world.core, validator=validator, report=None, now=now, base_url="http://t")
    assert answer is not None
    return answer.run


async def finish(world: World, validator: str, run: Any, score: float, now: datetime) -> ev.Completion:
    return await ev.complete_run(
        world.core,
        run_id=run.id,
        validator=validator,
        status="SUCCESS",
        score=score,
        failure_reason=None,
        details={},
        now=now,
    )


class TestCancel:
    async def test_cancel_ends_race_work_and_keeps_field_and_top(self, world: World) -> None:
        await with_bank(world)
        va = await qualify(world, miner(1), 0.6, T0)
        race1 = await races.close_qualifying(world.core, now=T0)
        for validator in ("w1", "w2"):
            await finish(world, validator, await claim(world, validator, T0), 0.7, T0)
        assert (await races.detail(world.core, race_id=race1)).race.status == "RACE_COMPLETE"
        assert await top_version(world) == va.id
        hotkey_b = miner(2)
        vb = await qualify(world, hotkey_b, 0.9, T0)
        race2 = await races.close_qualifying(world.core, now=T0 + timedelta(minutes=1))
        now = T0 + timedelta(minutes=2)
        # va's item: one run done, one live; vb's item: one live run.
        held = {}
        for validator in ("r1", "r2", "r3"):
            run = await claim(world, validator, now)
            held.setdefault(run.agent_version_id, []).append((validator, run))
        assert {len(v) for v in held.values()} == {1, 2}
        twice = next(v for v in held.values() if len(v) == 2)
        done_validator, done_run = twice[0]
        await finish(world, done_validator, done_run, 0.5, now)
        live = [pair for runs in held.values() for pair in runs if pair != (done_validator, done_run)]

        cancelled = await races.cancel(world.core, actor=CLI, race_id=race2, reason="bad bank", now=now)
        assert (cancelled.number, cancelled.items, cancelled.runs) == (2, 2, 2)
        view = await races.detail(world.core, race_id=race2)
        assert view.race.status == "CANCELLED" and view.race.cancelled_at is not None
        assert view.race.winner_agent_version_id is None
        assert {q.row.outcome for q in view.qualifiers} == {"CANCELLED"}
        for validator, run in live:  # the validator's next call on such a run is refused
            with pytest.raises(leases.LeaseLost):
                await ev.heartbeat(world.core, run_id=run.id, validator=validator, report=None, now=now)
            with pytest.raises(leases.LeaseLost):
                await finish(world, validator, run, 0.9, now)
        async with world.sessionmaker() as s:
            items = list(await s.scalars(select(WorkItem).where(WorkItem.race_id == race2)))
            eliminated = set(await s.scalars(select(RaceElimination.agent_version_id)))
            runs = list(await s.scalars(select(EvaluationRun).where(EvaluationRun.race_id == race2)))
            events = list(await s.scalars(select(AuditEvent).where(AuditEvent.action == "CANCEL_RACE")))
        assert {(i.status, i.active_count) for i in items} == {("DISCARDED", 0)}
        assert sorted(r.status for r in runs) == ["CANCELLED", "CANCELLED", "SUCCESS"]
        assert eliminated == set(), "a cancelled race eliminates nobody"
        assert await top_version(world) == va.id, "the top agent is unchanged"
        assert len(events) == 1 and events[0].reason == "bad bank"
        assert await claim_none(world, now)
        async with world.sessionmaker() as s:
            status = await races.version_race(s, version_id=vb.id)
        assert status.race_score is None and status.eliminated_at is None
        total, past = await races.history(world.core, suite_id=None, limit=5, offset=0)
        assert total == 2 and [p.race.status for p in past] == ["CANCELLED", "RACE_COMPLETE"]
        await races.pin(world.core, hotkey=hotkey_b, version_id=vb.id, now=now)  # no longer locked
        with pytest.raises(races.RaceFinished):
            await races.cancel(world.core, actor=CLI, race_id=race2, reason=None, now=now)
        with pytest.raises(races.RaceFinished):
            await races.cancel(world.core, actor=CLI, race_id=race1, reason=None, now=now)
        with pytest.raises(races.RaceNotFound):
            await races.cancel(world.core, actor=CLI, race_id=uuid.uuid4(), reason=None, now=now)
        race3 = await races.close_qualifying(world.core, now=now + timedelta(minutes=1))
        field = {
            q.version.id: q.row.qualification_type
            for q in (await races.detail(world.core, race_id=race3)).qualifiers
        }
        assert field == {va.id: "INCUMBENT", vb.id: "SCORED"}, "the cancelled field races again"

    async def test_cancel_a_qualifying_race(self, world: World) -> None:
        race = await races.open_race(world.core, now=T0)
        done = await races.cancel(world.core, actor=CLI, race_id=race.id, reason=None, now=T0)
        assert (done.items, done.runs) == (0, 0)
        again = await races.open_race(world.core, now=T0)
        assert again.number == 2 and again.status == "QUALIFYING_OPEN"

    async def test_cancel_racing_the_last_completion(self, world: World) -> None:
        await with_bank(world)
        va = await qualify(world, miner(1), 0.6, T0)
        race_id = await races.close_qualifying(world.core, now=T0)
        first = await claim(world, "c1", T0)
        second = await claim(world, "c2", T0)
        await finish(world, "c1", first, 0.5, T0)
        results = await asyncio.gather(
            finish(world, "c2", second, 0.5, T0),
            races.cancel(world.core, actor=CLI, race_id=race_id, reason=None, now=T0),
            return_exceptions=True,
        )
        view = await races.detail(world.core, race_id=race_id)
        if view.race.status == "RACE_COMPLETE":
            assert isinstance(results[1], races.RaceFinished) and not isinstance(results[0], Exception)
            assert view.race.winner_agent_version_id == va.id
        else:
            # The cancel came first (the run's lease ended with the race), or between the run's
            # finish and its item's settling, which then finds the item cancelled: the run counts,
            # the race does not complete.
            assert view.race.status == "CANCELLED"
            assert isinstance(results[1], races.Cancelled)
            assert isinstance(results[0], leases.LeaseLost) or results[0].item.status != "OPEN"
            assert await top_version(world) is None


async def claim_none(world: World, now: datetime) -> bool:
    answer = await ev.claim_work(world.core, validator="late", report=None, now=now, base_url="http://t")
    return answer is None
