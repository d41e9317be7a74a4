"""The top agent of a suite: who holds it, with hysteresis, and its history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.cache import caches_of
from proctor.core.evaluations.aggregation import Contender, challenge_threshold, dethrones
from proctor.models import Agent, AgentVersion, HotkeyBan, TopHistory


async def _incumbent_row(session: AsyncSession, suite_id: int) -> TopHistory | None:
    query = (
        select(TopHistory)
        .where(TopHistory.suite_id == suite_id, TopHistory.ended_at.is_(None))
        .order_by(TopHistory.top_at.desc(), TopHistory.id.desc())
        .limit(1)
        .with_for_update()
    )
    return await session.scalar(query)


async def consider(session: AsyncSession, *, version: AgentVersion, margin: float, now: datetime) -> bool:
    """A version just became eligible: does it take the top spot? True when it did."""
    assert version.suite_id is not None and version.final_score is not None
    current = await _incumbent_row(session, version.suite_id)
    incumbent = await _valid_incumbent(session, current)
    challenger = Contender(version.id, version.final_score)
    if not dethrones(challenger, incumbent, margin):
        return False
    if current is not None:
        current.ended_at = now
    session.add(
        TopHistory(
            suite_id=version.suite_id, agent_version_id=version.id, score=version.final_score, top_at=now
        )
    )
    await session.flush()
    return True


async def _valid_incumbent(session: AsyncSession, row: TopHistory | None) -> Contender | None:
    """The incumbent, unless its version was discarded or its miner banned since."""
    if row is None:
        return None
    version = await session.get(AgentVersion, row.agent_version_id)
    if version is None or version.state != "ELIGIBLE":
        return None
    if await session.get(HotkeyBan, version.miner_hotkey) is not None:
        return None
    return Contender(version.id, row.score)


@dataclass(frozen=True)
class TopView:
    suite_id: int
    version: AgentVersion | None
    agent: Agent | None
    top_at: datetime | None
    challenge_threshold: float | None


async def current(session: AsyncSession, *, suite_id: int, margin: float) -> TopView:
    """The suite's top agent as validators should weight it (a banned or discarded holder is skipped)."""
    # The top changes only when a version becomes eligible (or a holder is banned or discarded); a view
    # a couple of seconds old is what every replica serves at worst.
    views = caches_of(session).top_views
    cached = views.get((suite_id, margin))
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    return views.put((suite_id, margin), await _compute(session, suite_id=suite_id, margin=margin))  # type: ignore[no-any-return]


async def _compute(session: AsyncSession, *, suite_id: int, margin: float) -> TopView:
    row = await _incumbent_row_readonly(session, suite_id)
    incumbent = await _valid_incumbent(session, row)
    version_id = incumbent.agent_version_id if incumbent else await _best_eligible(session, suite_id)
    if version_id is None:
        return TopView(suite_id, None, None, None, None)
    version = await session.get(AgentVersion, version_id)
    assert version is not None and version.final_score is not None
    agent = await session.get(Agent, version.agent_id)
    top_at = row.top_at if incumbent and row else version.eligible_at
    return TopView(suite_id, version, agent, top_at, challenge_threshold(version.final_score, margin))


async def _incumbent_row_readonly(session: AsyncSession, suite_id: int) -> TopHistory | None:
    query = (
        select(TopHistory)
        .where(TopHistory.suite_id == suite_id, TopHistory.ended_at.is_(None))
        .order_by(TopHistory.top_at.desc(), TopHistory.id.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def _best_eligible(session: AsyncSession, suite_id: int) -> uuid.UUID | None:
    banned = select(HotkeyBan.hotkey)
    query = (
        select(AgentVersion.id)
        .where(
            AgentVersion.suite_id == suite_id,
            AgentVersion.state == "ELIGIBLE",
            AgentVersion.miner_hotkey.not_in(banned),
        )
        .order_by(AgentVersion.final_score.desc(), AgentVersion.eligible_at)
        .limit(1)
    )
    return await session.scalar(query)


async def history(
    session: AsyncSession, *, suite_id: int | None
) -> Sequence[tuple[TopHistory, AgentVersion, Agent]]:
    """Every version that held the top spot (of one suite, or all), newest first."""
    query = (
        select(TopHistory, AgentVersion, Agent)
        .join(AgentVersion, AgentVersion.id == TopHistory.agent_version_id)
        .join(Agent, Agent.id == AgentVersion.agent_id)
        .order_by(TopHistory.top_at.desc(), TopHistory.id.desc())
    )
    if suite_id is not None:
        query = query.where(TopHistory.suite_id == suite_id)
    return [(r[0], r[1], r[2]) for r in (await session.execute(query)).all()]
