"""The lease engine: one pattern for every kind of leased work.

ORO evaluation runs, Pool task leases and GPU compute jobs all follow it:

- **claim** atomically: candidates are locked with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so any
  number of concurrent claimers each get different work; SQLite runs one writer at a time (proctor
  opens every SQLite transaction with `BEGIN IMMEDIATE`), where the same statements are simply serial;
- every lease row has an **owner** and an **expiry**; a heartbeat **renews** it;
- writes are accepted only from the owner, before expiry (`hold`);
- **terminal transitions are idempotent**: repeating the same completion is answered, not refused;
- a **reaper** marks leases whose owner went silent as expired so the work is handed out again.

A `LeaseSpec` names the columns and statuses of one lease table and the error codes its surface
speaks (the evaluation-run spec uses ORO's: EVAL_RUN_NOT_FOUND, NOT_RUN_OWNER, …).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.errors import Conflict, NotFound


@dataclass(frozen=True)
class LeaseSpec:
    # Rows are typed `Any` here: the engine works on any mapped class with the lease columns
    # (id, status, the owner column, lease_expires_at; optionally last_heartbeat_at, completed_at).
    model: Any
    owner_attr: str
    active: frozenset[str]  # statuses that hold a live lease
    terminal: frozenset[str]  # statuses a lease ends in
    expired_status: str  # what the reaper writes
    not_found_code: str = "NOT_FOUND"
    not_owner_code: str = "NOT_OWNER"
    expired_code: str = "LEASE_EXPIRED"
    finished_code: str = "ALREADY_COMPLETE"
    noun: str = "lease"


class LeaseNotFound(NotFound):
    pass


class NotLeaseOwner(Conflict):
    pass


class LeaseExpired(Conflict):
    pass


class LeaseFinished(Conflict):
    pass


def _owner(spec: LeaseSpec, row: Any) -> str:
    return str(getattr(row, spec.owner_attr))


async def lock_next(session: AsyncSession, query: Select[Any]) -> Any:
    """The first row of `query`, locked for this transaction.

    Rows other claimers hold are skipped first, so concurrent claimers spread over the queue. When
    every candidate is held, it waits for them instead of answering "nothing": an item that needs
    several owners (an evaluation needing two validators) must not look empty just because someone
    is claiming it at this instant. PostgreSQL re-checks the query's conditions on the row it waited
    for and moves on to the next one when it no longer qualifies.
    """
    row = await session.scalar(query.limit(1).with_for_update(skip_locked=True))
    if row is None:
        row = await session.scalar(query.limit(1).with_for_update())
    return row


async def _locked(session: AsyncSession, spec: LeaseSpec, lease_id: Any) -> Any:
    return await session.scalar(select(spec.model).where(spec.model.id == lease_id).with_for_update())


async def hold(session: AsyncSession, spec: LeaseSpec, *, lease_id: Any, owner: str, now: datetime) -> Any:
    """Lock a lease row and check that `owner` may still write to it (raises the spec's errors)."""
    return _check(spec, await _locked(session, spec, lease_id), owner=owner, now=now)


def _check(spec: LeaseSpec, row: Any, *, owner: str, now: datetime) -> Any:
    if row is None:
        raise LeaseNotFound(f"{spec.noun.capitalize()} not found", code=spec.not_found_code)
    if _owner(spec, row) != owner:
        raise NotLeaseOwner(f"This {spec.noun} belongs to another owner", code=spec.not_owner_code)
    status = row.status
    if status == spec.expired_status:
        raise LeaseExpired(f"The {spec.noun}'s lease expired", code=spec.expired_code)
    if status in spec.terminal:
        raise LeaseFinished(f"The {spec.noun} is already complete ({status})", code=spec.finished_code)
    if row.lease_expires_at <= now:
        raise LeaseExpired(f"The {spec.noun}'s lease expired", code=spec.expired_code)
    return row


async def renew(
    session: AsyncSession, spec: LeaseSpec, *, lease_id: Any, owner: str, now: datetime, seconds: float
) -> Any:
    """Extend a live lease by `seconds` from now (a heartbeat)."""
    row = await hold(session, spec, lease_id=lease_id, owner=owner, now=now)
    row.lease_expires_at = now + timedelta(seconds=seconds)
    if hasattr(row, "last_heartbeat_at"):
        row.last_heartbeat_at = now
    return row


async def renew_all(
    session: AsyncSession,
    spec: LeaseSpec,
    *,
    owner: str,
    now: datetime,
    seconds: float,
    cap_attr: str | None = None,
) -> int:
    """Extend every live lease `owner` holds, in one statement; returns how many were renewed.

    For owners that hold several leases and renew them together (a GPU miner's heartbeat). Leases that
    already lapsed are left to the reaper, as `renew` refuses them one by one. A lease being finished
    concurrently is locked by its finisher; this statement waits for it and then, re-reading the row,
    no longer matches it. `cap_attr` names a column the new expiry may not pass (a job's deadline).
    """
    model = spec.model
    expiry: Any = literal(now + timedelta(seconds=seconds), type_=model.lease_expires_at.type)
    if cap_attr is not None:
        cap = getattr(model, cap_attr)
        expiry = case((cap < expiry, cap), else_=expiry)
    values: dict[str, Any] = {"lease_expires_at": expiry}
    if hasattr(model, "last_heartbeat_at"):
        values["last_heartbeat_at"] = now
    statement = (
        update(model)
        .where(
            getattr(model, spec.owner_attr) == owner,
            model.status.in_(spec.active),
            model.lease_expires_at > now,
        )
        .values(values)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Finish:
    row: Any
    changed: bool  # False when this repeated a completion that had already happened


async def finish(
    session: AsyncSession, spec: LeaseSpec, *, lease_id: Any, owner: str, now: datetime, status: str
) -> Finish:
    """Move a lease to a terminal `status`. Repeating the same completion is a no-op, not an error."""
    row = await _locked(session, spec, lease_id)
    if row is not None and _owner(spec, row) == owner and row.status == status:
        return Finish(row, changed=False)
    row = _check(spec, row, owner=owner, now=now)
    row.status = status
    if hasattr(row, "completed_at"):
        row.completed_at = now
    return Finish(row, changed=True)


async def reap(session: AsyncSession, spec: LeaseSpec, *, now: datetime, limit: int = 500) -> Sequence[Any]:
    """Expire live leases past their expiry; returns them so the caller can hand the work out again.

    Rows another transaction is finishing right now are skipped (SKIP LOCKED) and left for the next
    pass, so a completion racing the reaper is never overwritten.
    """
    query = (
        select(spec.model)
        .where(spec.model.status.in_(spec.active), spec.model.lease_expires_at < now)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.scalars(query)).all()
    for row in rows:
        row.status = spec.expired_status
        if hasattr(row, "completed_at"):
            row.completed_at = now
    return rows
