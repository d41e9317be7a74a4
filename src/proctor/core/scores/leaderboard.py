"""The leaderboard: eligible versions of a suite ranked by final score (ties: earlier eligibility)."""

from __future__ import annotations

import bisect
import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.cache import caches_of
from proctor.models import Agent, AgentVersion, HotkeyBan, TopHistory


@dataclass(frozen=True)
class Entry:
    rank: int
    version: AgentVersion
    agent_name: str
    is_miner_banned: bool
    is_current_top: bool
    was_top: bool
    top_at: datetime | None


@dataclass(frozen=True)
class Page:
    suite_id: int
    total: int
    unique_miners: int
    submitted_24h: int
    entries: list[Entry]


@dataclass(frozen=True)  # cached_property needs the instance __dict__: no slots
class _Ranking:
    """A suite's eligible versions in rank order, with what a search needs: the leaderboard's index.

    Sorting every eligible version (a window over the whole suite, for global ranks) on each request
    costs tens of milliseconds at 100,000 versions, and a deep offset or a name search hundreds. The
    order changes only when a version becomes eligible, so one process keeps it for a few seconds
    (replicas agree within the TTL; the process that changes it clears its copy at once): a page is
    then a slice and a primary-key fetch of `limit` rows, a search one pass over ~100k short strings.

    The ids are kept packed (16 bytes each, in rank order): as 100,000 `UUID` objects they were a third
    of everything the garbage collector walks on each full collection, a pause of tens of milliseconds
    in whichever request it fell on. Names and hotkeys are plain strings, which it never walks.
    """

    packed_ids: bytes
    names: list[str]
    folded_names: list[str]
    hotkeys: list[str]
    unique_miners: int
    stamp: tuple[int, datetime | None]  # (eligible count, newest eligibility): changes with the board

    def __len__(self) -> int:
        return len(self.packed_ids) // 16

    def id_at(self, position: int) -> uuid.UUID:
        return uuid.UUID(bytes=self.packed_ids[position * 16 : position * 16 + 16])

    def matches(self, q: str) -> list[int]:
        """Positions whose agent name contains `q` or whose hotkey starts with it (case-insensitive).

        Both columns are searched as one newline-joined string each (`str.find` runs at C speed; a
        Python loop over 100,000 entries took ~30 ms), and hits are mapped back to positions.
        """
        needle = q.casefold()
        if not needle or "\n" in needle:
            return []
        found = set(self._hits(self._name_text, self._name_starts, needle, prefix=False))
        found.update(self._hits(self._hotkey_text, self._hotkey_starts, needle, prefix=True))
        return sorted(found)

    @staticmethod
    def _hits(text: str, starts: list[int], needle: str, *, prefix: bool) -> Iterator[int]:
        pattern = "\n" + needle if prefix else needle
        at = text.find(pattern)
        while at != -1:
            row = bisect.bisect_right(starts, at + (1 if prefix else 0)) - 1
            yield row
            # Resume after this row: one hit per row is enough.
            at = text.find(pattern, starts[row + 1] - (1 if prefix else 0)) if row + 1 < len(starts) else -1

    @functools.cached_property
    def _name_text(self) -> str:
        return "\n".join(self.folded_names)

    @functools.cached_property
    def _name_starts(self) -> list[int]:
        return _line_starts(self.folded_names)

    @functools.cached_property
    def _hotkey_text(self) -> str:
        return "\n" + "\n".join(self.hotkeys)

    @functools.cached_property
    def _hotkey_starts(self) -> list[int]:
        return _line_starts(self.hotkeys, lead=1)


def _line_starts(lines: list[str], lead: int = 0) -> list[int]:
    """Where each line begins in `"\n".join(lines)` (shifted by `lead` characters)."""
    starts, at = [], lead
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    return starts


# A ranking is rebuilt only when its stamp changes; the stamp (one aggregate over the eligible index
# range) is read at most every STAMP_CHECK_SECONDS, so replicas see another's change within that time.
STAMP_CHECK_SECONDS = 2.0
TOTALS_TTL_SECONDS = 10.0


async def _stamp(session: AsyncSession, suite_id: int) -> tuple[int, datetime | None]:
    query = select(func.count(), func.max(AgentVersion.eligible_at)).where(
        AgentVersion.suite_id == suite_id, AgentVersion.state == "ELIGIBLE"
    )
    count, newest = (await session.execute(query)).one()
    return int(count), newest


async def _ranking(session: AsyncSession, suite_id: int) -> _Ranking:
    caches = caches_of(session)
    cached = caches.rankings.get(suite_id)
    if cached is not None and caches.ranking_checked.get(suite_id):
        return cached  # type: ignore[no-any-return]
    stamp = await _stamp(session, suite_id)
    caches.ranking_checked.put(suite_id, True)
    if cached is not None and cached.stamp == stamp:
        return cached  # type: ignore[no-any-return]
    if cached is not None:
        caches.scores.bump()  # another replica changed the board: rendered pages of the old one are stale
    query = (
        select(AgentVersion.id, Agent.name, AgentVersion.miner_hotkey)
        .join(Agent, Agent.id == AgentVersion.agent_id)
        .where(AgentVersion.suite_id == suite_id, AgentVersion.state == "ELIGIBLE")
        .order_by(AgentVersion.final_score.desc(), AgentVersion.eligible_at, AgentVersion.id)
    )
    rows = (await session.execute(query)).all()
    names = [r[1] for r in rows]
    hotkeys = [r[2] for r in rows]
    ranking = _Ranking(
        packed_ids=b"".join(r[0].bytes for r in rows),
        names=names,
        folded_names=[n.casefold() for n in names],
        hotkeys=[h.casefold() for h in hotkeys],
        unique_miners=len(set(hotkeys)),
        stamp=stamp,
    )
    if len(caches.rankings) >= 16:
        caches.rankings.clear()  # bounded by hand: a handful of suites per database
    caches.rankings[suite_id] = ranking
    caches.searches.clear()
    return ranking


async def page(
    session: AsyncSession, *, suite_id: int, limit: int, offset: int, q: str | None, now: datetime
) -> Page:
    """One page of the leaderboard, with the suite's totals. Ranks stay global under a search."""
    ranking = await _ranking(session, suite_id)
    search = (q or "").strip()
    if search:
        searches = caches_of(session).searches
        key = (suite_id, id(ranking), search.casefold())
        found = searches.get(key)
        if found is None:
            positions = ranking.matches(search)
            found = searches.put(key, (positions, len({ranking.hotkeys[i] for i in positions})))
        positions, miners = found
        shown = positions[offset : offset + limit]
        total = len(positions)
    else:
        shown = list(range(offset, min(offset + limit, len(ranking))))
        total, miners = len(ranking), ranking.unique_miners
    ids = {i: ranking.id_at(i) for i in shown}
    loaded = await _versions(session, list(ids.values()))
    # A version that left the board since the ranking was taken (within the TTL) is left out.
    items = [(loaded[ids[i]], ranking.names[i], i + 1) for i in shown if ids[i] in loaded]
    entries = await _decorate(session, suite_id, items)
    return Page(suite_id, total, miners, await submitted_since(session, now - timedelta(hours=24)), entries)


async def _versions(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, AgentVersion]:
    if not ids:
        return {}
    query = select(AgentVersion).where(AgentVersion.id.in_(ids), AgentVersion.state == "ELIGIBLE")
    return {v.id: v for v in (await session.scalars(query)).all()}


async def submitted_since(session: AsyncSession, since: datetime) -> int:
    """Agent versions submitted (across all suites) since `since` (cached like the totals)."""
    recent = caches_of(session).recent
    key = int(since.timestamp() // TOTALS_TTL_SECONDS)
    cached = recent.get(key)
    if cached is not None:
        return cached
    query = select(func.count()).select_from(AgentVersion).where(AgentVersion.submitted_at >= since)
    return recent.put(key, int(await session.scalar(query) or 0))


async def _decorate(
    session: AsyncSession, suite_id: int, items: list[tuple[AgentVersion, str, int]]
) -> list[Entry]:
    if not items:
        return []
    ids = [v.id for v, _, _ in items]
    hotkeys = {v.miner_hotkey for v, _, _ in items}
    banned = set((await session.scalars(select(HotkeyBan.hotkey).where(HotkeyBan.hotkey.in_(hotkeys)))).all())
    tops = (
        await session.execute(
            select(TopHistory.agent_version_id, TopHistory.top_at, TopHistory.ended_at).where(
                TopHistory.suite_id == suite_id, TopHistory.agent_version_id.in_(ids)
            )
        )
    ).all()
    first_top: dict[object, datetime] = {}
    current: set[object] = set()
    for version_id, top_at, ended_at in tops:
        first_top[version_id] = min(top_at, first_top.get(version_id, top_at))
        if ended_at is None:
            current.add(version_id)
    return [
        Entry(
            rank, v, name, v.miner_hotkey in banned, v.id in current, v.id in first_top, first_top.get(v.id)
        )
        for v, name, rank in items
    ]
