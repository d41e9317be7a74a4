"""The leaderboard: eligible versions of a suite ranked by final score (ties: earlier eligibility)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.cache import TTLCache, scope_of
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


def _ranked(suite_id: int) -> Select[tuple[AgentVersion, str, int]]:
    rank = func.row_number().over(
        order_by=(AgentVersion.final_score.desc(), AgentVersion.eligible_at, AgentVersion.id)
    )
    return (
        select(AgentVersion, Agent.name, rank.label("rank"))
        .join(Agent, Agent.id == AgentVersion.agent_id)
        .where(AgentVersion.suite_id == suite_id, AgentVersion.state == "ELIGIBLE")
    )


def _search(query: Select[tuple[AgentVersion, str, int]], q: str) -> Select[tuple[AgentVersion, str, int]]:
    pattern = q.strip().lower()
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return query.where(
        or_(
            func.lower(Agent.name).like(f"%{escaped}%", escape="\\"),
            func.lower(AgentVersion.miner_hotkey).like(f"{escaped}%", escape="\\"),
        )
    )


# Totals over a whole suite change only when a version becomes eligible; a short cache keeps the
# leaderboard an index range scan plus a page, whatever the number of eligible versions. Replicas agree
# within the TTL; the process that makes a version eligible clears its own copy at once.
TOTALS_TTL_SECONDS = 10.0
_TOTALS: TTLCache[tuple[int, int]] = TTLCache(TOTALS_TTL_SECONDS)
_RECENT: TTLCache[int] = TTLCache(TOTALS_TTL_SECONDS, maxsize=4)


async def page(
    session: AsyncSession, *, suite_id: int, limit: int, offset: int, q: str | None, now: datetime
) -> Page:
    """One page of the leaderboard, with the suite's totals."""
    search = (q or "").strip()
    if search:
        # Ranks stay global: the window is computed over the whole suite, then filtered.
        ranked = _search(_ranked(suite_id), search).subquery()
        base = select(ranked).order_by(ranked.c.rank)
        total, miners = await _totals(session, suite_id, search)
        rows = (await session.execute(base.limit(limit).offset(offset))).all()
        versions = {r.id: r for r in rows}
        loaded = await _versions(session, list(versions))
        items = [(loaded[r.id], r.name, int(r.rank)) for r in rows]
    else:
        query = (
            select(AgentVersion, Agent.name)
            .join(Agent, Agent.id == AgentVersion.agent_id)
            .where(AgentVersion.suite_id == suite_id, AgentVersion.state == "ELIGIBLE")
            .order_by(AgentVersion.final_score.desc(), AgentVersion.eligible_at, AgentVersion.id)
            .limit(limit)
            .offset(offset)
        )
        rows = (await session.execute(query)).all()
        items = [(r[0], r[1], offset + i + 1) for i, r in enumerate(rows)]
        total, miners = await _totals(session, suite_id, "")
    entries = await _decorate(session, suite_id, items)
    return Page(suite_id, total, miners, await submitted_since(session, now - timedelta(hours=24)), entries)


async def _versions(session: AsyncSession, ids: list[object]) -> dict[object, AgentVersion]:
    if not ids:
        return {}
    rows = (await session.scalars(select(AgentVersion).where(AgentVersion.id.in_(ids)))).all()
    return {v.id: v for v in rows}


async def _totals(session: AsyncSession, suite_id: int, search: str) -> tuple[int, int]:
    key = (scope_of(session), suite_id, search.lower())
    cached = _TOTALS.get(key)
    if cached is not None:
        return cached
    query: Any = (
        select(func.count(), func.count(distinct(AgentVersion.miner_hotkey)))
        .select_from(AgentVersion)
        .join(Agent, Agent.id == AgentVersion.agent_id)
        .where(AgentVersion.suite_id == suite_id, AgentVersion.state == "ELIGIBLE")
    )
    if search:
        query = _search(query, search)
    row = (await session.execute(query)).one()
    return _TOTALS.put(key, (int(row[0]), int(row[1])))


def invalidate_totals() -> None:
    """Drop cached totals (a version became eligible, or was discarded, in this process)."""
    _TOTALS.clear()
    _RECENT.clear()


async def submitted_since(session: AsyncSession, since: datetime) -> int:
    """Agent versions submitted (across all suites) since `since` (cached like the totals)."""
    key = (scope_of(session), int(since.timestamp() // TOTALS_TTL_SECONDS))
    cached = _RECENT.get(key)
    if cached is not None:
        return cached
    query = select(func.count()).select_from(AgentVersion).where(AgentVersion.submitted_at >= since)
    return _RECENT.put(key, int(await session.scalar(query) or 0))


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
