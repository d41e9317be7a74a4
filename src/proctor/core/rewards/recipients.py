"""Recipient coldkeys: where a miner hotkey's rewards are paid (reference pool-api §2.2, §3.2, §5.3).

The mapping is read when an epoch is published and copied into its leaves, so a change applies to
epochs published after it and never alters a published one. Without a mapping the hotkey itself is
the recipient. Every change is kept in an append-only history.

Replays. Pool's recipient-update signature binds the new recipient and a timestamp but carries no
nonce, so a captured request stays valid for the ±300 s window. Replaying it verbatim can only set the
value its owner already chose; the danger is replaying an *older* update after a newer one. So proctor
remembers the signed timestamp of the update that set the current mapping and refuses an update
signed earlier (409), and one signed in the same second that names a different recipient: a mapping
can only move forward in signed time. A verbatim retry of the latest update is an idempotent success.
This needs no nonce store and holds across replicas and restarts (the timestamp is in the database).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from proctor.auth.verifier import is_valid_ss58
from proctor.core.rewards.errors import InvalidRecipient, StaleRecipientUpdate
from proctor.core.rewards.repository import RecipientRepository
from proctor.models.rewards import RecipientColdkey, RecipientColdkeyChange


@dataclass(frozen=True)
class RecipientUpdate:
    hotkey: str
    recipient_coldkey: str
    previous_recipient_coldkey: str | None
    changed: bool
    updated_at: datetime


@dataclass(frozen=True)
class RecipientView:
    hotkey: str
    recipient_coldkey: str | None  # None: never set
    updated_at: datetime | None
    history: Sequence[RecipientColdkeyChange] = field(default_factory=list)

    @property
    def effective_recipient(self) -> str:
        """Who the next epoch pays: the mapping, or the hotkey itself."""
        return self.recipient_coldkey or self.hotkey


def normalize(value: str | None) -> str:
    """A recipient as given by a client: whitespace stripped, and a valid SS58 address."""
    address = (value or "").strip()
    if not is_valid_ss58(address):
        raise InvalidRecipient()
    return address


async def set_recipient(
    session: AsyncSession, *, hotkey: str, recipient_coldkey: str, signed_at: int | None, now: datetime
) -> RecipientUpdate:
    """Map `hotkey` to `recipient_coldkey` from the next epoch on (rules in the module docstring)."""
    recipient = normalize(recipient_coldkey)
    repository = RecipientRepository(session)
    current = await repository.get(hotkey, for_update=True)
    previous = current.recipient_coldkey if current else None
    if current is not None and signed_at is not None and current.signed_at is not None:
        _check_order(current, recipient, signed_at)
    if current is not None and previous == recipient:
        if signed_at is not None and (current.signed_at or 0) < signed_at:
            current.signed_at = signed_at
            await repository.save(current, None)
        return RecipientUpdate(hotkey, recipient, previous, False, current.updated_at)
    row = current or RecipientColdkey(hotkey=hotkey)
    row.recipient_coldkey, row.signed_at, row.updated_at = recipient, signed_at, now
    change = RecipientColdkeyChange(
        hotkey=hotkey,
        recipient_coldkey=recipient,
        previous_recipient_coldkey=previous,
        signed_at=signed_at,
        changed_at=now,
    )
    await repository.save(row, change)
    return RecipientUpdate(hotkey, recipient, previous, True, now)


def _check_order(current: RecipientColdkey, recipient: str, signed_at: int) -> None:
    assert current.signed_at is not None
    if signed_at < current.signed_at or (
        signed_at == current.signed_at and recipient != current.recipient_coldkey
    ):
        raise StaleRecipientUpdate(
            f"a recipient update signed at {current.signed_at} is already applied; "
            "sign a new update with the current time"
        )


async def get_recipient(session: AsyncSession, *, hotkey: str, history_limit: int = 0) -> RecipientView:
    """The current mapping of `hotkey` (and its latest changes, newest first, when asked)."""
    repository = RecipientRepository(session)
    row = await repository.get(hotkey)
    history = await repository.history(hotkey, limit=history_limit) if history_limit else []
    if row is None:
        return RecipientView(hotkey, None, None, history)
    return RecipientView(hotkey, row.recipient_coldkey, row.updated_at, history)
