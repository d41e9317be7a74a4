"""Operator actions on identities: ban, unban, grant registration or a validator permit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from proctor.auth.verifier import is_valid_ss58
from proctor.core.identity.registry import Neuron, Overrides
from proctor.core.identity.repository import IdentityRepository
from proctor.errors import ValidationFailed
from proctor.models import HotkeyBan, HotkeyGrant
from proctor.storage.base import utcnow


def _check_hotkey(hotkey: str) -> str:
    hotkey = hotkey.strip()
    if not is_valid_ss58(hotkey):
        raise ValidationFailed(f"{hotkey!r} is not a valid SS58 address", code="INVALID_HOTKEY_FORMAT")
    return hotkey


async def ban(session: AsyncSession, *, hotkey: str, reason: str, banned_by: str = "operator") -> HotkeyBan:
    """Ban a hotkey (idempotent: banning again updates the reason)."""
    hotkey = _check_hotkey(hotkey)
    repo = IdentityRepository(session)
    row = await repo.get_ban(hotkey)
    if row is None:
        row = HotkeyBan(hotkey=hotkey, reason=reason, banned_by=banned_by, banned_at=utcnow())
        session.add(row)
    else:
        row.reason, row.banned_by = reason, banned_by
    await session.flush()
    return row


async def unban(session: AsyncSession, *, hotkey: str) -> bool:
    """Lift a ban; False when the hotkey was not banned."""
    return await IdentityRepository(session).delete_ban(_check_hotkey(hotkey))


async def grant(
    session: AsyncSession,
    *,
    hotkey: str,
    validator_permit: bool = False,
    stake: float = 0.0,
    uid: int | None = None,
    note: str = "",
) -> HotkeyGrant:
    """Register a hotkey (optionally with a validator permit) on top of the registry source."""
    hotkey = _check_hotkey(hotkey)
    if stake < 0:
        raise ValidationFailed("stake must not be negative")
    repo = IdentityRepository(session)
    row = await repo.get_grant(hotkey)
    if row is None:
        row = HotkeyGrant(hotkey=hotkey)
        session.add(row)
    row.validator_permit, row.stake, row.uid, row.note = validator_permit, stake, uid, note
    row.updated_at = utcnow()
    await session.flush()
    return row


async def revoke(session: AsyncSession, *, hotkey: str) -> bool:
    """Remove an operator grant; False when there was none."""
    return await IdentityRepository(session).delete_grant(_check_hotkey(hotkey))


async def list_bans(session: AsyncSession) -> Sequence[HotkeyBan]:
    return await IdentityRepository(session).all_bans()


async def list_grants(session: AsyncSession) -> Sequence[HotkeyGrant]:
    return await IdentityRepository(session).all_grants()


async def load_overrides(session: AsyncSession) -> Overrides:
    """Bans and grants as the registry merges them."""
    repo = IdentityRepository(session)
    bans = {row.hotkey: row.reason or "banned" for row in await repo.all_bans()}
    grants = {
        row.hotkey: Neuron(row.hotkey, uid=row.uid, validator_permit=row.validator_permit, stake=row.stake)
        for row in await repo.all_grants()
    }
    return Overrides(grants=grants, bans=bans)
