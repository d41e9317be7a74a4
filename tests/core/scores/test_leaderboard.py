"""The leaderboard's ranking index: global ranks, ties, search, paging, totals and freshness."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from proctor.core.cache import TTLCache
from proctor.core.scores import leaderboard
from proctor.models import AgentVersion, HotkeyBan
from tests.support.world import World, make_world, miner

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async for w in make_world(database_url, tmp_path):
        yield w


async def eligible(world: World, hotkey: str, name: str, score: float, minutes: int) -> AgentVersion:
    version = await world.submit(hotkey, now=T0, name=name)
    async with world.transaction() as s:  # type: ignore[attr-defined]
        await s.execute(
            update(AgentVersion)
            .where(AgentVersion.id == version.id)
            .values(state="ELIGIBLE", final_score=score, eligible_at=T0 + timedelta(minutes=minutes))
        )
    world.core.caches.scores_changed()  # what the evaluation flow does when it makes one eligible
    return version


async def board(world: World, *, limit: int = 10, offset: int = 0, q: str | None = None) -> leaderboard.Page:
    async with world.sessionmaker() as s:
        return await leaderboard.page(s, suite_id=world.suite_id, limit=limit, offset=offset, q=q, now=T0)


async def test_ranks_by_score_then_earlier_eligibility_with_global_ranks_under_search(world: World) -> None:
    alice, bob, carol = miner(1), miner(2), miner(3)
    low = await eligible(world, alice, "Ranker Low", 0.2, 1)
    tie_late = await eligible(world, bob, "Tie Late", 0.8, 9)
    tie_early = await eligible(world, carol, "tie early", 0.8, 3)
    best = await eligible(world, alice, "Best Ranker", 0.95, 5)
    await world.submit(miner(4), now=T0, name="never evaluated")  # QUEUED: not on the board

    page = await board(world)
    assert [(e.rank, e.version.id) for e in page.entries] == [
        (1, best.id),
        (2, tie_early.id),
        (3, tie_late.id),
        (4, low.id),
    ]
    assert [e.agent_name for e in page.entries] == ["Best Ranker", "tie early", "Tie Late", "Ranker Low"]
    assert (page.total, page.unique_miners, page.submitted_24h) == (4, 3, 5)

    found = await board(world, q="RANKER")  # names, case-insensitive; ranks stay global
    assert [(e.rank, e.agent_name) for e in found.entries] == [(1, "Best Ranker"), (4, "Ranker Low")]
    assert (found.total, found.unique_miners) == (2, 1)
    by_key = await board(world, q=bob[:10].upper())  # a hotkey prefix ("miner-0002"), any case
    assert [(e.rank, e.version.id) for e in by_key.entries] == [(3, tie_late.id)]
    assert (await board(world, q="nobody")).entries == []

    second = await board(world, limit=2, offset=2)
    assert [e.rank for e in second.entries] == [3, 4] and second.total == 4
    assert (await board(world, limit=2, offset=10)).entries == []


async def test_a_new_eligible_version_reranks_at_once_in_the_process_that_made_it(world: World) -> None:
    first = await eligible(world, miner(1), "first", 0.5, 1)
    assert [e.version.id for e in (await board(world)).entries] == [first.id]
    better = await eligible(world, miner(2), "better", 0.9, 2)
    page = await board(world)
    assert [e.version.id for e in page.entries] == [better.id, first.id] and page.total == 2


async def test_a_version_that_leaves_the_board_is_not_shown_even_from_a_cached_ranking(world: World) -> None:
    gone = await eligible(world, miner(1), "gone", 0.9, 1)
    kept = await eligible(world, miner(2), "kept", 0.5, 2)
    assert len((await board(world)).entries) == 2
    async with world.transaction() as s:  # type: ignore[attr-defined]
        # Another replica discards it: this process's ranking is still the cached one.
        await s.execute(update(AgentVersion).where(AgentVersion.id == gone.id).values(state="DISCARDED"))
    assert [e.version.id for e in (await board(world)).entries] == [kept.id]


async def test_banned_miners_are_marked_not_hidden(world: World) -> None:
    banned = miner(1)
    version = await eligible(world, banned, "banned one", 0.9, 1)
    async with world.transaction() as s:  # type: ignore[attr-defined]
        s.add(HotkeyBan(hotkey=banned, reason="copying", banned_at=T0))
    (entry,) = (await board(world)).entries
    assert entry.version.id == version.id and entry.is_miner_banned


async def test_another_replicas_change_shows_once_the_stamp_is_checked_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await eligible(world, miner(1), "first", 0.5, 1)
    assert [e.version.id for e in (await board(world)).entries] == [first.id]
    other = await world.submit(miner(2), now=T0, name="elsewhere")
    async with world.transaction() as s:  # type: ignore[attr-defined]
        # Made eligible by another process: nothing here is told.
        await s.execute(
            update(AgentVersion)
            .where(AgentVersion.id == other.id)
            .values(state="ELIGIBLE", final_score=0.9, eligible_at=T0 + timedelta(minutes=5))
        )
    caches = world.core.caches
    generation = caches.scores.value
    assert [e.version.id for e in (await board(world)).entries] == [first.id]  # within the check window
    monkeypatch.setattr(caches, "ranking_checked", TTLCache(0.0))  # the window has passed
    page = await board(world)
    assert [e.version.id for e in page.entries] == [other.id, first.id] and page.total == 2
    assert caches.scores.value > generation  # rendered pages of the old board are no longer served


def test_search_finds_exactly_what_a_plain_scan_finds() -> None:
    rng = random.Random(7)
    alphabet = "ab -_.1"
    names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    hotkeys = ["".join(rng.choice("5abAB") for _ in range(rng.randint(1, 8))) for _ in range(3000)]
    ids = [uuid.uuid4() for _ in names]
    ranking = leaderboard._Ranking(
        packed_ids=b"".join(i.bytes for i in ids),
        names=names,
        folded_names=[n.casefold() for n in names],
        hotkeys=[h.casefold() for h in hotkeys],
        unique_miners=len(set(hotkeys)),
        stamp=(len(names), None),
    )
    for needle in ["a", "ab", "B 1", "5a", "5AB", "-_", "zz", "a.b1", "1", "ba", " "]:
        folded = needle.casefold()
        expected = [
            i
            for i in range(len(names))
            if folded in names[i].casefold() or hotkeys[i].casefold().startswith(folded)
        ]
        assert ranking.matches(needle) == expected, needle
    assert ranking.matches("a\nb") == []
    assert len(ranking) == len(ids) and [ranking.id_at(i) for i in range(len(ids))] == ids
