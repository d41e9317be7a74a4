"""The evaluation lifecycle's flows, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from proctor.core import leases
from proctor.core.evaluations import flows
from proctor.core.evaluations import service as ev
from proctor.core.evaluations import top as top_service
from proctor.errors import BadRequest, ValidationFailed
from proctor.models import EvaluationRun, RunProblemResult, WorkItem
from tests.support.world import World, make_world, miner

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
POLICY = {
    "eval_required_successes": 2,
    "eval_max_failures": 2,
    "eval_lease_seconds": 60,
    "code_release_delay_seconds": 3600,
    "top_margin": 0.05,
}


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async for w in make_world(database_url, tmp_path, **POLICY):
        yield w


async def claim(world: World, validator: str, now: datetime = T0) -> flows.ClaimAnswer | None:
    return await flows.claim_work(world.core, validator=validator, report=None, now=now, base_url="http://t")


async def complete(
    world: World,
    run_id: uuid.UUID,
    validator: str,
    score: float | None = 0.5,
    status: str = "SUCCESS",
    now: datetime = T0,
) -> flows.Completion:
    return await flows.complete_run(
        world.core,
        run_id=run_id,
        validator=validator,
        status=status,
        score=score,
        failure_reason=None if status == "SUCCESS" else "sandbox crashed",
        details={},
        now=now,
    )


async def version_state(world: World, version_id: uuid.UUID) -> str:
    from proctor.models import AgentVersion

    async with world.sessionmaker() as s:
        version = await s.get(AgentVersion, version_id)
        assert version is not None
        return version.state


class TestClaim:
    async def test_fifo_distinct_validators_and_capacity(self, world: World) -> None:
        first = await world.submit(miner(1), now=T0)
        second = await world.submit(miner(2), now=T0 + timedelta(seconds=1))
        a = await claim(world, "val-a")
        assert a is not None and a.run.agent_version_id == first.id
        assert await version_state(world, first.id) == "RUNNING"
        again = await claim(world, "val-a")
        assert again is not None and again.repeated and again.run.id == a.run.id, "its held run, again"
        b = await claim(world, "val-b")
        assert b is not None and b.run.agent_version_id == first.id, (
            "the oldest item still needs a second validator"
        )
        c = await claim(world, "val-c")
        assert c is not None and c.run.agent_version_id == second.id, (
            "first is fully staffed, so next comes second"
        )
        assert await claim(world, "val-d") is not None
        assert await claim(world, "val-e") is None

    async def test_a_validator_never_runs_an_item_twice(self, world: World) -> None:
        await world.submit(miner(1), now=T0)
        a = await claim(world, "val-a")
        assert a is not None
        await complete(world, a.run.id, "val-a", status="FAILED", score=None)
        assert await claim(world, "val-a") is None, "val-a already ran the only item"


class TestLease:
    async def test_heartbeat_extends_and_marks_running(self, world: World) -> None:
        await world.submit(miner(1), now=T0)
        a = await claim(world, "val-a")
        assert a is not None and a.run.lease_expires_at == T0 + timedelta(seconds=60)
        expires = await flows.heartbeat(
            world.core,
            run_id=a.run.id,
            validator="val-a",
            now=T0 + timedelta(seconds=30),
            report=ev.HostReport(service_versions={"validator": "sha256:1"}, cpu_pct=12.5),
        )
        assert expires == T0 + timedelta(seconds=90)
        async with world.sessionmaker() as s:
            run = await s.get(EvaluationRun, a.run.id)
        assert (
            run is not None and run.status == "RUNNING" and run.service_versions == {"validator": "sha256:1"}
        )

    @pytest.mark.parametrize(
        ("who", "offset", "error"), [("val-x", 10, leases.NotOwner), ("val-a", 61, leases.LeaseLost)]
    )
    async def test_heartbeat_refusals(
        self, world: World, who: str, offset: int, error: type[Exception]
    ) -> None:
        await world.submit(miner(1), now=T0)
        a = await claim(world, "val-a")
        assert a is not None
        with pytest.raises(error):
            await flows.heartbeat(
                world.core, run_id=a.run.id, validator=who, report=None, now=T0 + timedelta(seconds=offset)
            )

    async def test_unknown_run(self, world: World) -> None:
        with pytest.raises(leases.LeaseNotFound):
            await flows.heartbeat(world.core, run_id=uuid.uuid4(), validator="v", report=None, now=T0)

    async def test_strict_mode_refuses_a_second_claim(self, database_url: str, tmp_path: Path) -> None:
        async for strict in make_world(database_url, tmp_path, eval_claim_returns_held_run=False, **POLICY):
            await strict.submit(miner(1), now=T0)
            assert await claim(strict, "val-a") is not None
            with pytest.raises(ev.AtCapacity):
                await claim(strict, "val-a")

    async def test_silent_validator_loses_the_run_and_the_slot_returns(self, world: World) -> None:
        version = await world.submit(miner(1), now=T0)
        a = await claim(world, "val-a")
        assert a is not None
        later = T0 + timedelta(seconds=120)
        assert await flows.reap(world.core, later) == 1
        assert await flows.reap(world.core, later) == 0, "reaped exactly once"
        b = await claim(world, "val-b", now=later)
        assert b is not None and b.run.agent_version_id == version.id
        with pytest.raises(leases.LeaseLost):
            await complete(world, a.run.id, "val-a", now=later)
        async with world.sessionmaker() as s:
            stale = await s.get(EvaluationRun, a.run.id)
            assert stale is not None and stale.status == "STALE"
            item = await s.scalar(select(WorkItem).where(WorkItem.agent_version_id == version.id))
            assert item is not None and item.active_count == 1

    async def test_a_validator_may_retake_an_item_after_letting_its_lease_lapse(self, world: World) -> None:
        version = await world.submit(miner(1), now=T0)
        a = await claim(world, "val-a")
        assert a is not None
        again = await claim(world, "val-a", now=T0 + timedelta(seconds=61))
        assert again is not None and again.run.agent_version_id == version.id and again.run.id != a.run.id
        assert not again.repeated

    async def test_claim_reaps_inline(self, world: World) -> None:
        await world.submit(miner(1), now=T0)
        assert await claim(world, "val-a") is not None
        assert await claim(world, "val-b") is not None
        assert await claim(world, "val-c") is None, "both slots are taken"
        assert await claim(world, "val-c", now=T0 + timedelta(seconds=61)) is not None, (
            "expired slots come back"
        )


class TestProgress:
    async def test_fields_merge_and_resends_are_idempotent(self, world: World) -> None:
        await world.submit(miner(1), now=T0)
        a = await claim(world, "val-a")
        assert a is not None
        _, problems = await flows.run_problems(world.core, run_id=a.run.id, validator="val-a")
        pid = problems[0].problem_id

        async def send(*updates: ev.ProblemUpdate) -> EvaluationRun:
            await flows.record_progress(
                world.core, run_id=a.run.id, validator="val-a", updates=updates, now=T0
            )
            async with world.sessionmaker() as s:
                run = await s.get(EvaluationRun, a.run.id)
            assert run is not None
            return run

        first = ev.ProblemUpdate(
            pid, "SUCCESS", {"score": 0.9, "reasoning_score": 0.7, "execution_time": 3.0}
        )
        await send(first)
        await send(first)  # cumulative resend
        run = await send(
            ev.ProblemUpdate(pid, "SUCCESS", {"logs_s3_key": f"runs/{a.run.id}/x", "score": None})
        )
        async with world.sessionmaker() as s:
            row = await s.get(RunProblemResult, (a.run.id, pid))
        assert row is not None
        assert (row.score, row.reasoning_score, row.logs_s3_key) == (0.9, 0.7, f"runs/{a.run.id}/x")
        assert (run.progress_done, run.progress_total) == (1, 5)

    async def test_every_field_merges_and_a_missed_guard_says_why(self, world: World) -> None:
        """The one-statement merge (PostgreSQL, a run this process claimed) stores what the
        transactional path stores, and refuses the same writes with the same errors."""
        await world.submit(miner(1), now=T0)
        a = await claim(world, "val-a")
        assert a is not None
        _, problems = await flows.run_problems(world.core, run_id=a.run.id, validator="val-a")
        p0, p1 = problems[0].problem_id, problems[1].problem_id
        fields = {
            "score": 0.5,
            "score_components_summary": {"parts": [1, 2.5], "note": "ok"},
            "logs_s3_key": "runs/x/log",
            "reasoning_score": 0.25,
            "inference_failure_count": 2,
            "inference_total": 7,
            "execution_time": 1.5,
        }
        updates = [
            ev.ProblemUpdate(p0, "RUNNING", {"score": 0.1, "execution_time": 9.0}),
            ev.ProblemUpdate(p1, "RUNNING", {}),
            ev.ProblemUpdate(p0, "SUCCESS", {**fields, "execution_time": None}),  # same problem again
        ]
        for _ in range(2):  # the first also reads the suite's problem ids; a resend changes nothing
            before = world.core.db.statements
            await flows.record_progress(
                world.core, run_id=a.run.id, validator="val-a", updates=updates, now=T0
            )
        if world.core.db.dialect == "postgresql":  # the merge and the count, one statement
            assert world.core.db.statements - before == 1
        async with world.sessionmaker() as s:
            row = await s.get(RunProblemResult, (a.run.id, p0))
            other = await s.get(RunProblemResult, (a.run.id, p1))
            run = await s.get(EvaluationRun, a.run.id)
        assert row is not None and other is not None and run is not None
        assert row.status == "SUCCESS" and other.status == "RUNNING"
        assert {name: getattr(row, name) for name in fields} == {**fields, "execution_time": 9.0}
        assert (run.progress_done, run.progress_total) == (1, 5)
        # A later report of another problem counts it beside the stored ones it does not touch.
        await flows.record_progress(
            world.core,
            run_id=a.run.id,
            validator="val-a",
            updates=[ev.ProblemUpdate(p1, "FAILED", {})],
            now=T0,
        )
        async with world.sessionmaker() as s:
            run = await s.get(EvaluationRun, a.run.id)
        assert run is not None and (run.progress_done, run.progress_total) == (2, 5)
        for who, when, error in (
            ("val-x", T0, leases.NotOwner),
            ("val-a", T0 + timedelta(seconds=61), leases.LeaseLost),
        ):
            with pytest.raises(error):
                await flows.record_progress(
                    world.core, run_id=a.run.id, validator=who, updates=[updates[1]], now=when
                )
        with pytest.raises(leases.LeaseNotFound):
            await flows.record_progress(
                world.core, run_id=uuid.uuid4(), validator="val-a", updates=[updates[1]], now=T0
            )

    async def test_unknown_problem_is_refused_whole(self, world: World) -> None:
        await world.submit(miner(1), now=T0)
        a = await claim(world, "val-a")
        assert a is not None
        with pytest.raises(BadRequest) as info:
            await flows.record_progress(
                world.core,
                run_id=a.run.id,
                validator="val-a",
                now=T0,
                updates=[ev.ProblemUpdate(uuid.uuid4(), "SUCCESS", {})],
            )
        assert info.value.error_code == "INVALID_PROBLEM_ID"


class TestCompletion:
    async def test_two_successes_make_it_eligible_with_the_median(self, world: World) -> None:
        version = await world.submit(miner(1), now=T0)
        a, b = await claim(world, "val-a"), await claim(world, "val-b")
        assert a is not None and b is not None
        one = await complete(world, a.run.id, "val-a", score=0.6)
        assert not one.became_eligible and one.item.status == "OPEN"
        two = await complete(world, b.run.id, "val-b", score=0.8)
        assert two.became_eligible and two.final_score == pytest.approx(0.7)
        again = await complete(world, b.run.id, "val-b", score=0.8)
        assert again.item.success_count == 2, "a repeated completion changes nothing"
        async with world.sessionmaker() as s:
            top = await top_service.current(s, suite_id=world.suite_id, margin=0.05)
        assert top.version is not None and top.version.id == version.id
        assert top.version.code_available_at == T0 + timedelta(seconds=3600)

    async def test_an_item_left_decided_by_a_dead_completion_is_settled_by_the_job(
        self, world: World
    ) -> None:
        """The run's count commits before its item is closed; a process dying in between leaves a decided
        open item, which the periodic settle job closes, once."""
        version = await world.submit(miner(1), now=T0)
        a, b = await claim(world, "val-a"), await claim(world, "val-b")
        assert a is not None and b is not None
        await complete(world, a.run.id, "val-a", score=0.2)
        run, item, counted = await flows._finish(  # the completion's first unit only, as if it died next
            world.core, b.run.id, "val-b", "SUCCESS", {"validator_score": 0.4, "failure_reason": None}, T0
        )
        assert counted and item.status == "OPEN" and item.success_count == 2 and run.status == "SUCCESS"
        assert await version_state(world, version.id) != "ELIGIBLE"
        assert await flows.settle_unsettled(world.core, T0) == 1
        assert await flows.settle_unsettled(world.core, T0) == 0, "settled once"
        assert await version_state(world, version.id) == "ELIGIBLE"
        again = await complete(world, b.run.id, "val-b", score=0.4)
        assert again.item.status == "CLOSED" and again.final_score == pytest.approx(0.3)
        assert not again.became_eligible, "a repeated completion closes nothing twice"

    async def test_a_stale_read_closes_nothing(self, world: World) -> None:
        """A close is guarded by the counts it was decided on: an item that changed since is read again."""
        await world.submit(miner(1), now=T0)
        a, b = await claim(world, "val-a"), await claim(world, "val-b")
        assert a is not None and b is not None
        await complete(world, a.run.id, "val-a", score=0.2)
        _, decided_item, _ = await flows._finish(
            world.core, b.run.id, "val-b", "SUCCESS", {"validator_score": 0.4, "failure_reason": None}, T0
        )
        rules = flows.policy(world.core)
        closed, eligible = await flows.settle(world.core, decided_item, policy=rules, now=T0)
        assert eligible and closed.status == "CLOSED" and closed.final_score == pytest.approx(0.3)
        # The same decision again (a second closer that read the item before the first closed it).
        assert await flows._close(world.core, decided_item, [0.2, 0.4], policy=rules, now=T0) is None
        after, eligible = await flows.settle(world.core, decided_item, policy=rules, now=T0)
        assert not eligible and after.status == "CLOSED"

    async def test_a_different_terminal_status_after_completion_is_refused(self, world: World) -> None:
        await world.submit(miner(1), now=T0)
        a = await claim(world, "val-a")
        assert a is not None
        await complete(world, a.run.id, "val-a", score=0.6)
        with pytest.raises(leases.AlreadyFinished):
            await complete(world, a.run.id, "val-a", status="FAILED", score=None)
        with pytest.raises(leases.AlreadyFinished):
            await complete(world, a.run.id, "val-a", score=0.9)
        async with world.sessionmaker() as s:
            run = await s.get(EvaluationRun, a.run.id)
        assert run is not None and (run.status, run.validator_score) == ("SUCCESS", 0.6), "nothing changed"
        same = await complete(world, a.run.id, "val-a", score=0.6)
        assert same.run.validator_score == 0.6 and same.item.success_count == 1

    @pytest.mark.parametrize(
        ("status", "score", "reason", "code"),
        [
            ("SUCCESS", None, None, "MISSING_SCORE"),
            ("SUCCESS", 1.5, None, "VALIDATION_ERROR"),
            ("FAILED", 0.3, "x", "VALIDATION_ERROR"),
            ("TIMED_OUT", None, "", "VALIDATION_ERROR"),
        ],
    )
    async def test_completion_validation(
        self, world: World, status: str, score: float | None, reason: str | None, code: str
    ) -> None:
        await world.submit(miner(1), now=T0)
        a = await claim(world, "val-a")
        assert a is not None
        with pytest.raises((BadRequest, ValidationFailed)) as info:
            await flows.complete_run(
                world.core,
                run_id=a.run.id,
                validator="val-a",
                status=status,
                score=score,
                failure_reason=reason,
                details={},
                now=T0,
            )
        assert info.value.error_code == code

    async def test_failures_from_distinct_validators_discard(self, world: World) -> None:
        version = await world.submit(miner(1), now=T0)
        for v in ("val-a", "val-b"):
            c = await claim(world, v)
            assert c is not None
            await complete(world, c.run.id, v, status="FAILED", score=None)
        async with world.sessionmaker() as s:
            item = await s.scalar(select(WorkItem).where(WorkItem.agent_version_id == version.id))
            assert item is not None and item.status == "DISCARDED"
            assert (await s.get(type(version), version.id)).state == "DISCARDED"  # type: ignore[union-attr]

    async def test_top_needs_a_margin_to_change_hands(self, world: World) -> None:
        async def eligible(score: float, n: int) -> uuid.UUID:
            version = await world.submit(miner(n), now=T0)
            for v in (f"v{n}a", f"v{n}b"):
                c = await claim(world, v)
                assert c is not None and c.run.agent_version_id == version.id
                await complete(world, c.run.id, v, score=score)
            return version.id

        first = await eligible(0.80, 1)
        await eligible(0.83, 2)  # within the 5 % margin
        async with world.sessionmaker() as s:
            assert (await top_service.current(s, suite_id=world.suite_id, margin=0.05)).version.id == first  # type: ignore[union-attr]
        third = await eligible(0.90, 3)
        async with world.sessionmaker() as s:
            assert (await top_service.current(s, suite_id=world.suite_id, margin=0.05)).version.id == third  # type: ignore[union-attr]
            history = await top_service.history(s, suite_id=world.suite_id)
        assert [row.agent_version_id for row, _, _ in history] == [third, first]


@pytest.mark.postgres
async def test_concurrent_claimers_never_share_a_run(pg: object, tmp_path: Path) -> None:
    from tests.support import services

    dbs: services.PostgresDatabases = pg  # type: ignore[assignment]
    async for world in make_world(dbs.url(await dbs.create()), tmp_path, db_pool_size=40):
        for n in range(10):
            await world.submit(miner(n), now=T0 + timedelta(seconds=n))
        validators = [f"val-{i:02d}" for i in range(40)]
        results = await asyncio.gather(*(claim(world, v) for v in validators), return_exceptions=True)
        claims = [r for r in results if isinstance(r, flows.ClaimAnswer)]
        assert not [r for r in results if isinstance(r, BaseException)]
        assert len(claims) == 20, "10 items × 2 required successes"
        pairs = [(c.run.work_item_id, c.run.validator_hotkey) for c in claims]
        assert len(set(pairs)) == 20
        per_item: dict[uuid.UUID, int] = {}
        for item_id, _ in pairs:
            per_item[item_id] = per_item.get(item_id, 0) + 1
        assert set(per_item.values()) == {2}


@pytest.mark.postgres
async def test_two_validators_completing_the_last_two_runs_close_it_once(pg: object, tmp_path: Path) -> None:
    from tests.support import services

    dbs: services.PostgresDatabases = pg  # type: ignore[assignment]
    async for world in make_world(dbs.url(await dbs.create()), tmp_path, **POLICY):
        for n in range(8):
            version = await world.submit(miner(n), now=T0 + timedelta(seconds=n))
            a, b = await claim(world, f"a{n}"), await claim(world, f"b{n}")
            assert a is not None and b is not None and a.run.work_item_id == b.run.work_item_id
            done = await asyncio.gather(
                complete(world, a.run.id, f"a{n}", score=0.4), complete(world, b.run.id, f"b{n}", score=0.6)
            )
            assert sum(d.became_eligible for d in done) == 1, "exactly one completion closes the item"
            assert await version_state(world, version.id) == "ELIGIBLE"
            async with world.sessionmaker() as s:
                item = await s.scalar(select(WorkItem).where(WorkItem.agent_version_id == version.id))
            assert item is not None and (item.success_count, item.active_count, item.status) == (
                2,
                0,
                "CLOSED",
            )
            assert item.final_score == pytest.approx(0.5)
