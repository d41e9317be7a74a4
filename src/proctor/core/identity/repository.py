"""Queries for bans and grants."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.models import HotkeyBan, HotkeyGrant


class IdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all_bans(self) -> Sequence[HotkeyBan]:
        return (await self.session.scalars(select(HotkeyBan))).all()

    async def all_grants(self) -> Sequence[HotkeyGrant]:
        return (await self.session.scalars(select(HotkeyGrant))).all()

    async def get_ban(self, hotkey: str) -> HotkeyBan | None:
        return await self.session.get(HotkeyBan, hotkey)

    async def get_grant(self, hotkey: str) -> HotkeyGrant | None:
        return await self.session.get(HotkeyGrant, hotkey)

    async def delete_ban(self, hotkey: str) -> bool:
        result = await self.session.execute(delete(HotkeyBan).where(HotkeyBan.hotkey == hotkey))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def delete_grant(self, hotkey: str) -> bool:
        result = await self.session.execute(delete(HotkeyGrant).where(HotkeyGrant.hotkey == hotkey))
        return bool(result.rowcount)  # type: ignore[attr-defined]
