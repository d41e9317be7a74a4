"""The live change feed: writes made through the core's flows become events, and a slow viewer only
loses its own backlog (replaced by one resync)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proctor.core.dashboard.live import Feed, Hub
from proctor.core.evaluations import flows
from proctor.core.evaluations.repository import EvaluationRepository
from proctor.core.evaluations.service import ProblemUpdate
from proctor.storage.base import utcnow
from tests.support.world import World, make_world, miner
from tests.surfaces.dashboard.seed import VALIDATOR


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    worlds = make_world(database_url, tmp_path, eval_required_successes=1)
    async with contextlib.aclosing(worlds):
        yield await anext(worlds)


def kinds(events: list[tuple[str, tuple[str, ...], dict[str, object]]]) -> list[str]:
    return [kind for kind, _, _ in events]


async def test_feed_reports_claim_progress_and_completion(world: World) -> None:
    core, now = world.core, utcnow()
    feed = Feed()
    assert await feed.poll(core) == []  # the baseline
    version = await world.submit(miner(1), now=now)
    assert kinds(await feed.poll(core)) == ["queue.changed"]
    claim = await flows.claim_work(core, validator=VALIDATOR, report=None, now=now, base_url="http://t")
    assert claim is not None
    claimed = await feed.poll(core)
    assert kinds(claimed) == ["run.claimed"]
    assert f"version:{version.id}" in claimed[0][1] and claimed[0][2]["validator"] == VALIDATOR
    async with world.sessionmaker() as session:
        problem = (await EvaluationRepository(session).suite_problems(world.suite_id))[0].problem_id
    update = ProblemUpdate(problem, "SUCCESS", {"score": 0.5})
    await flows.record_progress(core, run_id=claim.run.id, validator=VALIDATOR, updates=[update], now=now)
    progressed = await feed.poll(core)
    assert kinds(progressed) == ["run.progress"] and progressed[0][2]["progress_done"] == 1
    assert await feed.poll(core) == []  # nothing new, nothing sent
    again = ProblemUpdate(problem, "SUCCESS", {"score": 0.9})  # same count, new score: still an event
    await flows.record_progress(core, run_id=claim.run.id, validator=VALIDATOR, updates=[again], now=utcnow())
    assert kinds(await feed.poll(core)) == ["run.progress"]
    await flows.complete_run(
        core,
        run_id=claim.run.id,
        validator=VALIDATOR,
        status="SUCCESS",
        score=0.9,
        failure_reason=None,
        details={},
        now=utcnow(),
    )
    finished = await feed.poll(core)
    assert kinds(finished) == ["run.finished", "version.eligible", "queue.changed"]
    assert "leaderboard" in finished[1][1]


async def test_a_slow_viewer_gets_one_resync_and_holds_nobody_up(world: World) -> None:
    hub = Hub(world.core, interval=60.0, queue_size=4)
    slow, fast = hub.subscribe(), hub.subscribe()
    await hub.ready()
    seen = []
    for _ in range(10):
        hub.publish("run.progress", (f"version:{uuid.uuid4()}",))
        event = await fast.next(1.0)
        assert event is not None
        seen.append(event.id)
    assert seen == sorted(seen) and len(seen) == 10
    first = await slow.next(1.0)
    assert first is not None and first.kind == "resync"
    assert slow.queue.qsize() <= 3
    slow.close()
    fast.close()
    assert not hub.subscribers


async def test_feed_reports_race_steps(database_url: str, tmp_path: Path) -> None:
    """Qualifying closed, a RACE run claimed and finished (with the race's topic), the race complete,
    the next race opened: each becomes an event on the next poll."""
    from proctor.core.races import bank
    from proctor.core.races import flows as races
    from proctor.storage.db import unit_of_work
    from tests.surfaces.dashboard.seed import RACE_SETTINGS, make_eligible, race_bank

    worlds = make_world(database_url, tmp_path, eval_required_successes=1, top_margin=0.0, **RACE_SETTINGS)
    async with contextlib.aclosing(worlds):
        world = await anext(worlds)
        core = world.core
        await make_eligible(world, 2)
        async with unit_of_work(world.sessionmaker) as session:
            await bank.import_bank(session, suite_id=world.suite_id, document=race_bank(2))
        feed = Feed()
        assert await feed.poll(core) == []
        race = await races.open_race(core, now=utcnow())
        opened = await feed.poll(core)
        assert kinds(opened) == ["race.opened"] and opened[0][1] == ("races", f"race:{race.id}")
        await races.close_qualifying(core, now=utcnow())
        assert kinds(await feed.poll(core)) == ["race.started", "queue.changed"]
        for i in range(2):
            claim = await flows.claim_work(core, validator=VALIDATOR, report=None, now=utcnow(), base_url="t")
            assert claim is not None and claim.run.race_id == race.id
            claimed = await feed.poll(core)
            assert kinds(claimed) == ["run.claimed"] and f"race:{race.id}" in claimed[0][1]
            await flows.complete_run(
                core,
                run_id=claim.run.id,
                validator=VALIDATOR,
                status="SUCCESS",
                score=0.5 + i / 10,
                failure_reason=None,
                details={},
                now=utcnow(),
            )
            finished = await feed.poll(core)
            assert kinds(finished)[0] == "run.finished" and f"race:{race.id}" in finished[0][1]
        # The second run closed the last item: the race completed in the same poll.
        assert kinds(finished) == ["run.finished", "race.completed", "queue.changed"]
        assert "leaderboard" in finished[1][1] and finished[1][2]["race_number"] == 1
        assert await feed.poll(core) == []
