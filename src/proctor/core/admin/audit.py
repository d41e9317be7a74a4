"""The audit trail: one append-only event per operator action, written in the action's own transaction.

`record` only adds a row to the caller's unit of work, so the event commits with the change or not at
all. Nothing here (or anywhere in proctor) updates or deletes an event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts: an admin hotkey over HTTP, or the operator's name at the CLI."""

    hotkey: str
    via: str  # "http" | "cli"


def _plain(value: Any) -> Any:
    """JSON-safe copy of a before/after summary (UUIDs and datetimes as strings)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, uuid.UUID | datetime):
        return value.isoformat() if isinstance(value, datetime) else str(value)
    return value


async def record(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object,
    now: datetime,
    reason: str | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    **extra: Any,
) -> AuditEvent:
    """Add one event to the caller's transaction (it commits, or rolls back, with the change)."""
    details: dict[str, Any] = {}
    if before is not None:
        details["before"] = _plain(before)
    if after is not None:
        details["after"] = _plain(after)
    details.update(_plain(extra))
    event = AuditEvent(
        id=uuid.uuid4(),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        actor_hotkey=actor.hotkey,
        via=actor.via,
        reason=reason,
        details=details or None,
        created_at=now,
    )
    session.add(event)
    await session.flush()
    return event


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    actor_hotkey: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def page(
    session: AsyncSession, *, where: AuditFilter, limit: int, offset: int
) -> tuple[int, Sequence[AuditEvent]]:
    """Events matching `where`, newest first, with the total count for paging."""
    conditions = [
        column == value
        for column, value in (
            (AuditEvent.action, where.action),
            (AuditEvent.target_type, where.target_type),
            (AuditEvent.target_id, where.target_id),
            (AuditEvent.actor_hotkey, where.actor_hotkey),
        )
        if value is not None
    ]
    if where.since is not None:
        conditions.append(AuditEvent.created_at >= where.since)
    if where.until is not None:
        conditions.append(AuditEvent.created_at <= where.until)
    total = await session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions))
    rows = await session.scalars(
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id)
        .limit(limit)
        .offset(offset)
    )
    return int(total or 0), list(rows)
