"""Queries for agents, versions, cooldowns and the submission log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.models import Agent, AgentVersion, MinerCooldown, SubmissionEvent


class SubmissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def agent_by_name(self, hotkey: str, name: str) -> Agent | None:
        query = select(Agent).where(Agent.miner_hotkey == hotkey, Agent.name == name)
        return await self.session.scalar(query)

    async def agent(self, agent_id: uuid.UUID) -> Agent | None:
        return await self.session.get(Agent, agent_id)

    async def next_version_number(self, agent_id: uuid.UUID) -> int:
        query = select(func.coalesce(func.max(AgentVersion.version_number), 0)).where(
            AgentVersion.agent_id == agent_id
        )
        return int(await self.session.scalar(query) or 0) + 1

    async def version_with_sha(self, sha256: str) -> AgentVersion | None:
        return await self.session.scalar(select(AgentVersion).where(AgentVersion.code_sha256 == sha256))

    async def version(self, version_id: uuid.UUID) -> tuple[AgentVersion, Agent] | None:
        query = (
            select(AgentVersion, Agent)
            .join(Agent, Agent.id == AgentVersion.agent_id)
            .where(AgentVersion.id == version_id)
        )
        row = (await self.session.execute(query)).first()
        return (row[0], row[1]) if row else None

    async def versions_of(self, agent_id: uuid.UUID) -> Sequence[AgentVersion]:
        query = (
            select(AgentVersion)
            .where(AgentVersion.agent_id == agent_id)
            .order_by(AgentVersion.version_number.desc())
        )
        return (await self.session.scalars(query)).all()

    async def agents_with_latest(self, hotkey: str) -> list[tuple[Agent, AgentVersion | None]]:
        """A miner's agents, newest first, each with its highest-numbered version."""
        latest = (
            select(AgentVersion.agent_id, func.max(AgentVersion.version_number).label("n"))
            .where(AgentVersion.miner_hotkey == hotkey)
            .group_by(AgentVersion.agent_id)
            .subquery()
        )
        query = (
            select(Agent, AgentVersion)
            .outerjoin(latest, latest.c.agent_id == Agent.id)
            .outerjoin(
                AgentVersion,
                (AgentVersion.agent_id == Agent.id) & (AgentVersion.version_number == latest.c.n),
            )
            .where(Agent.miner_hotkey == hotkey)
            .order_by(Agent.created_at.desc())
        )
        return [(row[0], row[1]) for row in (await self.session.execute(query)).all()]

    async def next_allowed_at(self, hotkey: str) -> datetime | None:
        query = select(MinerCooldown.next_allowed_at).where(MinerCooldown.hotkey == hotkey)
        return await self.session.scalar(query)

    async def claim_cooldown(self, *, hotkey: str, until: datetime, now: datetime, outcome: str) -> bool:
        """Start a cooldown unless one is running; True when this call started it.

        One statement, so that concurrent submissions from a hotkey -- on any number of replicas --
        cannot both pass: PostgreSQL re-checks the WHERE against the row a concurrent transaction
        committed, and SQLite runs one writer at a time.
        """
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        values = {
            "hotkey": hotkey,
            "next_allowed_at": until,
            "last_submitted_at": now,
            "last_outcome": outcome,
        }
        upsert = insert(MinerCooldown).values(**values)
        statement = upsert.on_conflict_do_update(
            index_elements=[MinerCooldown.hotkey],
            set_={k: upsert.excluded[k] for k in ("next_allowed_at", "last_submitted_at", "last_outcome")},
            where=MinerCooldown.next_allowed_at <= now,
        ).returning(MinerCooldown.hotkey)
        return (await self.session.execute(statement)).first() is not None

    def log(self, event: SubmissionEvent) -> None:
        self.session.add(event)
