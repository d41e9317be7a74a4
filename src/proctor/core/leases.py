"""The lease engine: one mechanism for every kind of leased work.

ORO evaluation runs, compute jobs, and the Pool, Bitrecs and race work built on them all follow it:

- every lease row has an **owner**, a **status** and an **expiry** (`lease_expires_at`);
- **claim** picks the next piece of work and writes the lease in one atomic step: on PostgreSQL one
  statement (`FOR UPDATE SKIP LOCKED` inside a CTE, the work row's update, the lease's insert), on
  SQLite the same steps inside the single writer's `BEGIN IMMEDIATE` transaction;
- **renew** (one lease, or all of an owner's), **finish**, **release** and **reap** are each one
  guarded statement: `UPDATE … WHERE id = … AND owner = … AND status IN (live) AND lease_expires_at >
  now RETURNING …`. Only the owner writes, and only before expiry; no read-then-write window exists;
- a finish repeated identically is answered as before (`Finished.changed` is False); a different one
  is refused with `AlreadyFinished` and changes nothing;
- the **reaper** moves lapsed leases to the kind's expired status, skipping rows another transaction
  is finishing right now, and returns them so the domain hands the work out again.

When a guarded statement matches nothing, one read of the row says why, and the engine raises one of
four neutral errors: `LeaseNotFound`, `NotOwner`, `LeaseLost` (lapsed or reaped) or
`AlreadyFinished`. The engine knows nothing of any peer; each surface maps these to its own codes in
one table (see `proctor.http.errors.ErrorTranslation`).

Statements are built once per kind (and per set of extra columns) and executed through SQLAlchemy
Core on the session's connection: on the hot paths the ORM's unit of work costs more than it gives.
Returned rows are SQLAlchemy `Row`s with attribute access to every column of the lease table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    case,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.sql.expression import ColumnClause

from proctor.errors import Conflict, NotFound
from proctor.storage.sql import Record as SqlRecord
from proctor.storage.sql import Tx


class LeaseNotFound(NotFound):
    code = "LEASE_NOT_FOUND"
    default_message = "Lease not found"


class NotOwner(Conflict):
    code = "NOT_LEASE_OWNER"
    default_message = "This lease belongs to another owner"


class LeaseLost(Conflict):
    """The lease lapsed (or was reaped, or ended by an operator) before this write."""

    code = "LEASE_LOST"
    default_message = "The lease expired"


class AlreadyFinished(Conflict):
    """The lease already ended, differently from what this call asks."""

    code = "LEASE_ALREADY_FINISHED"
    default_message = "The lease already ended"


LEASE_ERRORS: tuple[type[Exception], ...] = (LeaseNotFound, NotOwner, LeaseLost, AlreadyFinished)


class LeaseRow(Protocol):
    """What every lease row carries (the returned `Row`s have these and every other column)."""

    id: Any
    status: str
    lease_expires_at: datetime


@dataclass(frozen=True, eq=False)
class LeaseKind:
    """One lease table: its columns and statuses. Build one per kind at import time."""

    name: str  # for messages and metrics: "evaluation run", "compute job", …
    table: Table
    owner: str  # the owner column's name
    live: frozenset[str]  # statuses holding a live lease
    finished: frozenset[str]  # terminal statuses `finish` may write
    expired: str  # what the reaper (and `LeaseLost`) means
    released: str | None = None  # what `release` writes (the owner gives the work back unfinished)
    cancelled: frozenset[str] = frozenset()  # statuses an operator ends a lease with (`end`)
    heartbeat_at: str | None = "last_heartbeat_at"
    finished_at: str | None = "completed_at"
    work_ref: str | None = None  # the lease's column that names its piece of work (for `claim`)

    # --- prebuilt statements --------------------------------------------------------------------

    @property
    def c(self) -> Any:
        return self.table.c

    def _guard(self) -> list[ColumnElement[bool]]:
        c = self.c
        return [
            c.id == bindparam("lease_id", type_=c.id.type),
            c[self.owner] == bindparam("owner", type_=c[self.owner].type),
            c.status.in_(sorted(self.live)),
            c.lease_expires_at > bindparam("now", type_=c.lease_expires_at.type),
        ]

    def _now(self) -> Any:
        return bindparam("now", type_=self.c.lease_expires_at.type)

    @cached_property
    def row_stmt(self) -> Select[Any]:
        return select(self.table).where(self.c.id == bindparam("lease_id", type_=self.c.id.type))

    @cached_property
    def hold_stmt(self) -> Select[Any]:
        return select(self.table).where(*self._guard()).with_for_update()

    def write_stmt(self, values: Mapping[str, Any]) -> Update:
        """An UPDATE of the owner's live lease (the hold's guard) setting `values`, RETURNING its id: a
        hold that writes, for a domain statement built on it (build it once)."""
        return update(self.table).where(*self._guard()).values(values).returning(self.c.id)

    def renew_stmt(self, extra: frozenset[str]) -> Update:
        return _renew_stmt(self, extra)

    def finish_stmt(self, extra: frozenset[str]) -> Update:
        return _finish_stmt(self, extra)

    @cached_property
    def reap_stmt(self) -> Update:
        c = self.c
        lapsed = (
            select(c.id)
            .where(c.status.in_(sorted(self.live)), c.lease_expires_at < self._now())
            .order_by(c.lease_expires_at)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        values: dict[str, Any] = {"status": self.expired}
        if self.finished_at:
            values[self.finished_at] = self._now()
        return update(self.table).where(c.id.in_(lapsed)).values(values).returning(*c)

    def renew_all_stmt(self, cap: str | None) -> Update:
        return _renew_all_stmt(self, cap)


@lru_cache(maxsize=256)
def _renew_stmt(kind: LeaseKind, extra: frozenset[str]) -> Update:
    values: dict[str, Any] = {"lease_expires_at": bindparam("expires", type_=kind.c.lease_expires_at.type)}
    if kind.heartbeat_at:
        values[kind.heartbeat_at] = kind._now()
    values.update({name: bindparam(f"v_{name}", type_=kind.c[name].type) for name in sorted(extra)})
    return update(kind.table).where(*kind._guard()).values(values).returning(*kind.c)


@lru_cache(maxsize=256)
def _finish_stmt(kind: LeaseKind, extra: frozenset[str]) -> Update:
    values: dict[str, Any] = {"status": bindparam("status", type_=kind.c.status.type)}
    if kind.finished_at:
        values[kind.finished_at] = kind._now()
    values.update({name: bindparam(f"v_{name}", type_=kind.c[name].type) for name in sorted(extra)})
    return update(kind.table).where(*kind._guard()).values(values).returning(*kind.c)


@lru_cache(maxsize=64)
def _renew_all_stmt(kind: LeaseKind, cap: str | None) -> Update:
    c = kind.c
    expiry: Any = bindparam("expires", type_=c.lease_expires_at.type)
    if cap is not None:
        expiry = case((c[cap] < expiry, c[cap]), else_=expiry)
    values: dict[str, Any] = {"lease_expires_at": expiry}
    if kind.heartbeat_at:
        values[kind.heartbeat_at] = kind._now()
    return (
        update(kind.table)
        .where(
            c[kind.owner] == bindparam("owner", type_=c[kind.owner].type),
            c.status.in_(sorted(kind.live)),
            c.lease_expires_at > kind._now(),
        )
        .values(values)
    )


def _params(kind: LeaseKind, values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(kind.c.keys())
    if unknown:
        raise ValueError(f"{kind.name}: no such lease column(s) {sorted(unknown)}")
    return {f"v_{name}": value for name, value in values.items()}


# --- explaining a guarded statement that matched nothing -----------------------------------------


async def _explain(tx: Tx, kind: LeaseKind, *, lease_id: Any, owner: str, now: datetime) -> SqlRecord:
    """Read the row and raise why a guarded write missed it; returns it when nothing is wrong."""
    row = await tx.one(kind.row_stmt, {"lease_id": lease_id})
    if row is None:
        raise LeaseNotFound(f"{kind.name.capitalize()} not found")
    _check(kind, row, owner=owner, now=now)
    return row


def _check(kind: LeaseKind, row: SqlRecord, *, owner: str, now: datetime) -> None:
    if str(getattr(row, kind.owner)) != str(owner):
        raise NotOwner(f"This {kind.name} belongs to another owner")
    status = row.status
    if status in kind.finished or (kind.released and status == kind.released):
        raise AlreadyFinished(f"The {kind.name} already ended ({status})", status=status)
    if status == kind.expired or status in kind.cancelled or row.lease_expires_at <= now:
        raise LeaseLost(f"The {kind.name}'s lease ended ({status})", status=status)


# --- transitions on one lease ----------------------------------------------------------------------


async def hold(tx: Tx, kind: LeaseKind, *, lease_id: Any, owner: str, now: datetime) -> SqlRecord:
    """Lock a live lease of `owner` for this transaction (for writes that touch other tables)."""
    row = await tx.one(kind.hold_stmt, {"lease_id": lease_id, "owner": owner, "now": now})
    if row is None:
        await _explain(tx, kind, lease_id=lease_id, owner=owner, now=now)
        raise LeaseLost(f"The {kind.name}'s lease ended")  # a row that passes the check was just reaped
    return row


async def renew(
    tx: Tx,
    kind: LeaseKind,
    *,
    lease_id: Any,
    owner: str,
    now: datetime,
    seconds: float,
    values: Mapping[str, Any] | None = None,
) -> SqlRecord:
    """Extend a live lease to `now + seconds` (a heartbeat), writing `values` with it."""
    values = values or {}
    params = {
        "lease_id": lease_id,
        "owner": owner,
        "now": now,
        "expires": now + timedelta(seconds=seconds),
        **_params(kind, values),
    }
    row = await tx.one(kind.renew_stmt(frozenset(values)), params)
    if row is None:
        await _explain(tx, kind, lease_id=lease_id, owner=owner, now=now)
        raise LeaseLost(f"The {kind.name}'s lease ended")
    return row


async def renew_all(
    tx: Tx, kind: LeaseKind, *, owner: str, now: datetime, seconds: float, cap: str | None = None
) -> int:
    """Extend every live lease `owner` holds, in one statement; returns how many were renewed.

    Lapsed leases are left to the reaper. `cap` names a column the new expiry may not pass (a job's
    deadline). A lease being finished concurrently is locked by its finisher: this statement waits,
    re-reads the row and no longer matches it.
    """
    return await tx.run(
        kind.renew_all_stmt(cap), {"owner": owner, "now": now, "expires": now + timedelta(seconds=seconds)}
    )


@dataclass(frozen=True)
class Finished:
    row: SqlRecord
    changed: bool  # False when this repeated a finish that had already happened identically
    then: Any = None  # the row `finish(then=…)` wrote, when this finish changed the lease


@dataclass(frozen=True, eq=False)
class Then:
    """What goes with a finish that changed its lease (an evaluation's work item counts its run).

    - `update`: given the finished lease's columns, an UPDATE … RETURNING of another table.
    - `also`: given that row's columns as just written, an UPDATE of a third table that goes with it
      (the run's version becomes QUEUED again when nobody else is on its item).
    - `reads`: PostgreSQL only: named scalar expressions over the written row, returned beside it (the
      item's scores, when its counts decide it). They read the statement's snapshot, taken before it
      waited for any row lock, so a caller must check them against the written row. On SQLite they
      are absent and the caller reads what it needs itself.

    On PostgreSQL all of it is one statement with the finish (CTEs), so a finish stays one round trip
    that can commit by itself; on SQLite `update` and `also` run right after it in the transaction,
    the columns bound as parameters. Define one at module level: statements are cached by it.
    """

    update: Callable[[Any], Update]
    also: Callable[[Any], Update] | None = None
    reads: Callable[[Any], Mapping[str, ColumnElement[Any]]] | None = None


@lru_cache(maxsize=64)
def _finish_then_stmt(kind: LeaseKind, extra: frozenset[str], then: Then) -> Select[Any]:
    """PostgreSQL: the guarded finish and `then` in one statement, one row with both (`lease_*`,
    `then_*`); no row when the guard missed, and then `then` wrote nothing either."""
    finished = _finish_stmt(kind, extra).cte("finished")
    followed = then.update(finished.c).cte("followed")
    reads = {} if then.reads is None else then.reads(followed.c)
    statement = select(
        *[finished.c[name].label(f"lease_{name}") for name in kind.c.keys()],
        *[column.label(f"then_{column.name}") for column in followed.c],
        *[value.label(f"then_{name}") for name, value in reads.items()],
    ).select_from(finished.outerjoin(followed, true()))
    if then.also is not None:
        # Runs although nothing reads it (PostgreSQL executes every data-modifying CTE exactly once).
        statement = statement.add_cte(then.also(followed.c).cte("also"))
    return statement


@lru_cache(maxsize=64)
def _then_sqlite(kind: LeaseKind, then: Then) -> tuple[Update, Update | None]:
    update_stmt = then.update(_Bound(kind.table.c, "lease"))
    also = None if then.also is None else then.also(_Bound(update_stmt.table.c, "then"))  # type: ignore[attr-defined]
    return update_stmt, also


async def finish(
    tx: Tx,
    kind: LeaseKind,
    *,
    lease_id: Any,
    owner: str,
    now: datetime,
    status: str,
    values: Mapping[str, Any] | None = None,
    compare: Sequence[str] | None = None,
    then: Then | None = None,
) -> Finished:
    """End a live lease with a terminal `status` and its outcome `values`, in one guarded statement.

    Repeating the same finish (same status, and the same `values` — or just those named in `compare`)
    answers the stored row with `changed=False`; a different finish of an ended lease raises
    `AlreadyFinished`. `then` (see `Then`) is written only by a finish that changed the lease: on
    PostgreSQL in the same statement, on SQLite right after it in the transaction.
    """
    if status not in kind.finished and status != kind.released:
        raise ValueError(f"{status!r} is not a terminal status of {kind.name}")
    values = values or {}
    params = {"lease_id": lease_id, "owner": owner, "now": now, "status": status, **_params(kind, values)}
    if then is not None and tx.dialect == "postgresql":
        both = await tx.one(_finish_then_stmt(kind, frozenset(values), then), params)
        if both is not None:
            mapping = both._mapping
            lease = Record({name: mapping[f"lease_{name}"] for name in kind.c.keys()})
            written = Record({k[5:]: v for k, v in mapping.items() if k.startswith("then_")})
            return Finished(lease, changed=True, then=written)
        row = None
    else:
        row = await tx.one(kind.finish_stmt(frozenset(values)), params)
    if row is not None:
        followed: Any = None
        if then is not None:
            update_stmt, also = _then_sqlite(kind, then)
            followed = await tx.one(update_stmt, {f"lease_{k}": v for k, v in row._mapping.items()})
            if also is not None and followed is not None:
                await tx.run(also, {f"then_{k}": v for k, v in followed._mapping.items()})
        return Finished(row, changed=True, then=followed)
    stored = await tx.one(kind.row_stmt, {"lease_id": lease_id})
    if (
        stored is not None
        and str(getattr(stored, kind.owner)) == str(owner)
        and stored.status == status
        and all(
            _same(getattr(stored, name), values.get(name))
            for name in (values if compare is None else compare)
        )
    ):
        return Finished(stored, changed=False)
    await _explain(tx, kind, lease_id=lease_id, owner=owner, now=now)
    raise LeaseLost(f"The {kind.name}'s lease ended")


def _same(stored: Any, given: Any) -> bool:
    if isinstance(stored, float) and isinstance(given, int | float):
        return stored == float(given)
    return bool(stored == given)


async def release(
    tx: Tx,
    kind: LeaseKind,
    *,
    lease_id: Any,
    owner: str,
    now: datetime,
    values: Mapping[str, Any] | None = None,
) -> Finished:
    """The owner gives the work back unfinished (the kind's `released` status)."""
    if kind.released is None:
        raise ValueError(f"{kind.name} leases cannot be released")
    return await finish(
        tx, kind, lease_id=lease_id, owner=owner, now=now, status=kind.released, values=values
    )


async def end(
    tx: Tx,
    kind: LeaseKind,
    *,
    where: ColumnElement[bool],
    status: str,
    now: datetime,
    values: Mapping[str, Any] | None = None,
) -> Sequence[SqlRecord]:
    """An operator ends every live lease matching `where` (any owner), e.g. when work is withdrawn."""
    if status not in kind.cancelled and status != kind.expired:
        raise ValueError(f"{status!r} is not an operator's end status of {kind.name}")
    values = {**(values or {}), "status": status}
    if kind.finished_at:
        values[kind.finished_at] = now
    statement = (
        update(kind.table)
        .where(where, kind.c.status.in_(sorted(kind.live)))
        .values(values)
        .returning(*kind.c)
    )
    return await tx.all(statement)


async def reap(tx: Tx, kind: LeaseKind, *, now: datetime, limit: int = 500) -> Sequence[SqlRecord]:
    """Move up to `limit` lapsed live leases to the expired status; returns them (oldest first).

    Rows another transaction has locked (a finish racing the reaper) are skipped and left for the
    next pass, so a completion is never overwritten by the reaper.
    """
    return await tx.all(kind.reap_stmt, {"now": now, "limit": limit})


# --- claiming ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ClaimPlan:
    """How one kind of work is claimed: which rows qualify, what the claim writes on them and the lease.

    - `candidates`: a SELECT over the work table (it may join others) whose first column is the work
      row's primary key labelled `id`, filtered and ordered (oldest first); bind parameters are
      filled from `claim(params=…)`. The engine adds `LIMIT 1 FOR UPDATE SKIP LOCKED OF work`.
    - `work_values`: what the claim sets on the picked work row (e.g. `active_count + 1`).
    - `lease_values`: given the picked row's columns, the lease row's column values (SQL expressions
      or bind parameters); it must set the owner, the status and `lease_expires_at`.
    - `also`: given the picked row's columns, an UPDATE of another table that goes with every claim
      (an evaluation's version becomes RUNNING). On PostgreSQL it is one more CTE of the claim's single
      statement, so a claim stays one round trip that commits by itself; on SQLite it runs in the
      claim's transaction, the picked columns bound as parameters.
    """

    kind: LeaseKind
    work: Table
    candidates: Select[Any]
    work_values: Mapping[str, Any]
    lease_values: Callable[[Any], Mapping[str, Any]]
    extra: Sequence[str] = field(default_factory=tuple)  # picked columns returned beside the lease
    also: Callable[[Any], Update] | None = None

    @cached_property
    def _pg(self) -> tuple[Select[Any], Select[Any]]:
        return self._pg_statement(skip_locked=True), self._pg_statement(skip_locked=False)

    def _pg_statement(self, *, skip_locked: bool) -> Select[Any]:
        kind, work = self.kind, self.work
        picked = self.candidates.limit(1).with_for_update(skip_locked=skip_locked, of=work).cte("picked")
        bumped = (
            update(work)
            .where(work.c.id == picked.c.id)
            .values(self.work_values)
            .returning(work.c.id)
            .cte("bumped")
        )
        lease_values = dict(self.lease_values(picked.c))
        assert kind.work_ref is not None, f"{kind.name}: claiming needs the lease kind's work_ref"
        lease_values.setdefault(kind.work_ref, picked.c.id)
        inserted = (
            insert(kind.table)
            .from_select(
                list(lease_values),
                select(*_as_columns(kind.table, lease_values)).select_from(
                    picked.join(bumped, bumped.c.id == picked.c.id)
                ),
            )
            .returning(*kind.c)
            .cte("inserted")
        )
        extra = [picked.c[name].label(f"work_{name}") for name in self.extra]
        statement = select(inserted, *extra).select_from(
            inserted.join(picked, picked.c.id == inserted.c[kind.work_ref])
        )
        if self.also is not None:
            # Runs to completion although nothing reads it (PostgreSQL executes every data-modifying
            # CTE exactly once); it joins `bumped`, so it writes only when the claim does.
            also = self.also(picked.c).where(picked.c.id.in_(select(bumped.c.id)))
            statement = statement.add_cte(also.cte("also"))
        return statement

    @cached_property
    def _sqlite(self) -> tuple[Select[Any], Insert, Update, Update | None]:
        kind, work = self.kind, self.work
        assert kind.work_ref is not None, f"{kind.name}: claiming needs the lease kind's work_ref"
        pick = self.candidates.limit(1)
        one = self.candidates.where(work.c.id == bindparam("picked_id", type_=work.c.id.type)).subquery()
        lease_values = dict(self.lease_values(one.c))
        lease_values.setdefault(kind.work_ref, one.c.id)
        inserted = (
            insert(kind.table)
            .from_select(list(lease_values), select(*_as_columns(kind.table, lease_values)).select_from(one))
            .returning(*kind.c)
        )
        bump = (
            update(work)
            .where(work.c.id == bindparam("picked_id", type_=work.c.id.type))
            .values(self.work_values)
        )
        also = None if self.also is None else self.also(_Bound(self.candidates.selected_columns, "picked"))
        return pick, inserted, bump, also


class _Bound:
    """A row's columns as bind parameters `<prefix>_<name>`: what `ClaimPlan.also` and `finish(then=…)`
    are given on SQLite, where they run as statements of their own after the claim or finish."""

    def __init__(self, columns: Any, prefix: str) -> None:
        self._columns, self._prefix = columns, prefix

    def __getattr__(self, name: str) -> Any:
        return bindparam(f"{self._prefix}_{name}", type_=self._columns[name].type)


def _as_columns(table: Table, values: Mapping[str, Any]) -> list[Any]:
    """SQL expressions stay; plain Python values become literals of their column's type."""
    return [
        value if isinstance(value, ColumnElement | ColumnClause) else literal(value, type_=table.c[name].type)
        for name, value in values.items()
    ]


@dataclass(frozen=True)
class Claimed:
    lease: Record  # the lease row as written
    work: Mapping[str, Any]  # the plan's `extra` columns of the picked work row


async def claim(tx: Tx, plan: ClaimPlan, *, params: Mapping[str, Any]) -> Claimed | None:
    """Lease the first candidate to its claimer; None when no work qualifies.

    Candidates other claimers hold are skipped first, so concurrent claimers spread over the queue.
    When every candidate is held it waits for them instead of answering "nothing": work that needs
    several owners (an evaluation needing two validators) must not look empty just because somebody
    is claiming it at this instant. PostgreSQL re-checks the conditions on the row it waited for.
    """
    if tx.dialect == "postgresql":
        for statement in plan._pg:
            row = await tx.one(statement, params)
            if row is not None:
                return _split(plan, row)
        return None
    pick, inserted, bump, also = plan._sqlite
    picked = await tx.one(pick, params)
    if picked is None:
        return None
    lease = await tx.one(inserted, {**params, "picked_id": picked.id})
    assert lease is not None, "a candidate picked in this transaction still qualifies"
    await tx.run(bump, {**params, "picked_id": picked.id})
    if also is not None:
        await tx.run(also, {f"picked_{name}": value for name, value in picked._mapping.items()})
    return Claimed(lease=Record(lease._mapping), work={name: getattr(picked, name) for name in plan.extra})


def _split(plan: ClaimPlan, row: SqlRecord) -> Claimed:
    mapping = row._mapping
    lease = Record({name: mapping[name] for name in plan.kind.c.keys()})
    return Claimed(lease=lease, work={name: mapping[f"work_{name}"] for name in plan.extra})


class Record(dict[str, Any]):
    """A row as a dict with attribute access (what `claim` returns for the lease it wrote)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None
