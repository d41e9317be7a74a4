"""Queries for suites and problems."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.models import Problem, Suite


class SuiteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, suite_id: int) -> Suite | None:
        return await self.session.get(Suite, suite_id)

    async def active(self) -> Suite | None:
        return await self.session.scalar(select(Suite).where(Suite.is_active.is_(True)))

    async def by_content(self, content_sha256: str) -> Suite | None:
        return await self.session.scalar(select(Suite).where(Suite.content_sha256 == content_sha256))

    async def newest_first(self) -> Sequence[Suite]:
        return (await self.session.scalars(select(Suite).order_by(Suite.version.desc()))).all()

    async def max_version(self) -> int:
        return int(await self.session.scalar(select(func.coalesce(func.max(Suite.version), 0))) or 0)

    async def deactivate_all(self) -> None:
        await self.session.execute(update(Suite).where(Suite.is_active.is_(True)).values(is_active=False))

    async def problems(self, suite_id: int) -> Sequence[Problem]:
        query = select(Problem).where(Problem.suite_id == suite_id).order_by(Problem.position)
        return (await self.session.scalars(query)).all()
