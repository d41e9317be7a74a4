"""Races as flows: open a race, close its qualifying (the field becomes RACE work items on the one lease
engine, claimed through the same validator claim), complete it at its deadline, pin a race candidate,
and the reads the public and miner surfaces render.

Qualifying: versions that became ELIGIBLE on the suite's public problems qualify when their final
score reaches `PROCTOR_RACE_MIN_QUALIFYING_SCORE` and no race eliminated them. Closing takes the
incumbent (the current top, `INCUMBENT`) plus the best `SCORED` qualifiers, one per hotkey -- the
miner's pinned version when it still qualifies, else its best eligible one (final score, then earlier
eligibility, then smaller id) -- up to `PROCTOR_RACE_FIELD_SIZE` in all. Each qualifier gets one RACE
work item needing `PROCTOR_RACE_REQUIRED_SUCCESSES` runs on the hidden race bank. How items settle and
races complete: `proctor.core.races.settling`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core import leases
from proctor.core.admin import audit
from proctor.core.admin.audit import Actor
from proctor.core.context import Core
from proctor.core.evaluations import statements as est
from proctor.core.races import bank, settling
from proctor.core.races import statements as st
from proctor.errors import BadRequest, Conflict, Forbidden, NotFound
from proctor.models import (
    Agent,
    AgentVersion,
    EvaluationRun,
    HotkeyBan,
    Race,
    RaceElimination,
    RaceQualifier,
    RaceSelection,
    Suite,
    TopHistory,
    WorkItem,
)
from proctor.models.races import OPEN_RACE_STATUSES
from proctor.storage.sql import SessionTx


class RaceNotFound(NotFound):
    code = "RACE_NOT_FOUND"
    default_message = "Race not found"


class RaceLocked(Conflict):
    code = "RACE_LOCKED"
    default_message = "The race has started: race selection is locked until it completes"


class NotVersionOwner(Forbidden):
    code = "NOT_VERSION_OWNER"
    default_message = "This agent version does not belong to the signing hotkey"


class RaceFinished(Conflict):
    code = "RACE_FINISHED"
    default_message = "The race already completed or was cancelled"


class NoSelection(NotFound):
    code = "NO_SELECTION"
    default_message = "No race candidate is pinned"


@dataclass(frozen=True)
class RacePolicy:
    enabled: bool
    field_size: int
    qualifying_seconds: int
    deadline_seconds: int
    required_successes: int
    min_score: float
    margin: float


def race_policy(core: Core) -> RacePolicy:
    s = core.settings
    return RacePolicy(
        enabled=s.race_enabled,
        field_size=s.race_field_size,
        qualifying_seconds=s.race_qualifying_seconds,
        deadline_seconds=s.race_deadline_seconds,
        required_successes=s.race_required_successes,
        min_score=s.race_min_qualifying_score,
        margin=s.top_margin,
    )


# --- the field ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entrant:
    version: AgentVersion
    qualification_type: str  # INCUMBENT | SCORED


def _order(v: AgentVersion) -> tuple[float, float, str]:
    return (-(v.final_score or 0.0), v.eligible_at.timestamp() if v.eligible_at else float("inf"), str(v.id))


async def _active_suite_id(session: AsyncSession, suite_id: int | None) -> int:
    if suite_id is not None:
        return suite_id
    found = await session.scalar(select(Suite.id).where(Suite.is_active.is_(True)))
    if found is None:
        raise NotFound("No active suite", code="SUITE_NOT_FOUND")
    return int(found)


async def _qualified(session: AsyncSession, suite_id: int, min_score: float) -> list[AgentVersion]:
    """Eligible, unbanned, not eliminated versions of the suite at or above the qualifying score."""
    query = select(AgentVersion).where(
        AgentVersion.suite_id == suite_id,
        AgentVersion.state == "ELIGIBLE",
        AgentVersion.final_score >= min_score,
        AgentVersion.miner_hotkey.not_in(select(HotkeyBan.hotkey)),
        AgentVersion.id.not_in(select(RaceElimination.agent_version_id)),
    )
    return sorted(await session.scalars(query), key=_order)


async def _incumbent(session: AsyncSession, suite_id: int) -> AgentVersion | None:
    query = (
        select(AgentVersion)
        .join(TopHistory, TopHistory.agent_version_id == AgentVersion.id)
        .where(
            TopHistory.suite_id == suite_id, TopHistory.ended_at.is_(None), AgentVersion.state == "ELIGIBLE"
        )
        .where(AgentVersion.miner_hotkey.not_in(select(HotkeyBan.hotkey)))
        .order_by(TopHistory.top_at.desc(), TopHistory.id.desc())
        .limit(1)
    )
    return await session.scalar(query)


def pick_per_hotkey(qualified: Sequence[AgentVersion], pins: dict[str, uuid.UUID]) -> dict[str, AgentVersion]:
    """Each hotkey's racing version: its pin when the pin qualifies, else its best qualified version."""
    picks: dict[str, AgentVersion] = {}
    for version in qualified:  # best first
        picks.setdefault(version.miner_hotkey, version)
        if pins.get(version.miner_hotkey) == version.id:
            picks[version.miner_hotkey] = version
    return picks


async def select_field(session: AsyncSession, *, suite_id: int, policy: RacePolicy) -> list[Entrant]:
    incumbent = await _incumbent(session, suite_id)
    pins = {s.miner_hotkey: s.agent_version_id for s in await session.scalars(select(RaceSelection))}
    picks = pick_per_hotkey(await _qualified(session, suite_id, policy.min_score), pins)
    field = [Entrant(incumbent, "INCUMBENT")] if incumbent is not None else []
    picks.pop(incumbent.miner_hotkey, None) if incumbent is not None else None
    scored = sorted(picks.values(), key=_order)[: max(policy.field_size - len(field), 0)]
    return field + [Entrant(v, "SCORED") for v in scored]


async def racing_version(
    session: AsyncSession, *, hotkey: str, suite_id: int, min_score: float
) -> AgentVersion | None:
    """The version this miner would race with right now (pin if it qualifies, else its best one)."""
    pin = await session.get(RaceSelection, hotkey)
    qualified = [v for v in await _qualified(session, suite_id, min_score) if v.miner_hotkey == hotkey]
    picks = pick_per_hotkey(qualified, {hotkey: pin.agent_version_id} if pin else {})
    return picks.get(hotkey)


# --- opening and closing ---


async def open_race(core: Core, *, suite_id: int | None = None, now: datetime) -> Race:
    """Open the next race of the suite (the active one by default); an open race is returned as is."""
    rules = race_policy(core)
    async with core.sessionmaker() as session, session.begin():
        suite_id = await _active_suite_id(session, suite_id)
        return await _open(session, suite_id, rules, now)


async def _open(session: AsyncSession, suite_id: int, rules: RacePolicy, now: datetime) -> Race:
    current = await session.scalar(
        select(Race).where(Race.suite_id == suite_id, Race.status.in_(OPEN_RACE_STATUSES))
    )
    if current is not None:
        return current
    number = (
        int(await session.scalar(select(func.max(Race.number)).where(Race.suite_id == suite_id)) or 0) + 1
    )
    race = Race(
        id=uuid.uuid4(),
        suite_id=suite_id,
        number=number,
        status="QUALIFYING_OPEN",
        created_at=now,
        qualifying_closes_at=now + timedelta(seconds=rules.qualifying_seconds),
        qualifying_threshold=rules.min_score,
    )
    session.add(race)
    await session.flush()
    return race


async def close_qualifying(core: Core, *, suite_id: int | None = None, now: datetime) -> uuid.UUID:
    """Close the suite's open qualifying (opening a race first when none is open) and start the race:
    the field's RACE work items join the queue. Returns the race id. (The race job's scheduled close;
    an operator's close is `close_qualifying_now`.)"""
    async with core.sessionmaker() as session, session.begin():
        closed, _ = await _close(session, suite_id, race_policy(core), now)
        return closed.race_id


@dataclass(frozen=True)
class QualifyingClosed:
    race_id: uuid.UUID
    race_number: int
    previous_closes_at: datetime
    new_closes_at: datetime
    status: str


async def close_qualifying_now(
    core: Core, *, actor: Actor, suite_id: int | None = None, now: datetime
) -> QualifyingClosed:
    """An operator closes qualifying early (the admin route and `proctor admin race close-qualifying`):
    the same close as the race job's, plus one audit event in its transaction. A refusal (409
    RACE_RUNNING, RACE_BANK_EMPTY, NO_QUALIFIERS) changes nothing and records nothing."""
    async with core.sessionmaker() as session, session.begin():
        closed, qualifiers = await _close(session, suite_id, race_policy(core), now)
        await audit.record(
            session,
            actor=actor,
            action="CLOSE_QUALIFYING",
            target_type="race",
            target_id=closed.race_id,
            now=now,
            before={"status": "QUALIFYING_OPEN", "qualifying_closes_at": closed.previous_closes_at},
            after={"status": closed.status, "qualifying_closes_at": closed.new_closes_at},
            race_number=closed.race_number,
            qualifiers=qualifiers,
        )
    return closed


async def _close(
    session: AsyncSession, suite_id: int | None, rules: RacePolicy, now: datetime
) -> tuple[QualifyingClosed, int]:
    suite_id = await _active_suite_id(session, suite_id)
    opened = await _open(session, suite_id, rules, now)
    race = await session.get(Race, opened.id, with_for_update=True, populate_existing=True)
    assert race is not None
    if race.status != "QUALIFYING_OPEN":
        raise Conflict(f"Race {race.number} is already running", code="RACE_RUNNING")
    if await bank.size(session, suite_id=suite_id) == 0:
        raise Conflict("The suite has no race bank (import race-only problems first)", code="RACE_BANK_EMPTY")
    field = await select_field(session, suite_id=suite_id, policy=rules)
    if not field:
        raise Conflict("Nobody qualifies for the race yet", code="NO_QUALIFIERS")
    for entrant in field:
        item = WorkItem(
            id=uuid.uuid4(),
            agent_version_id=entrant.version.id,
            suite_id=suite_id,
            phase="RACE",
            race_id=race.id,
            status="OPEN",
            required_successes=rules.required_successes,
            queued_at=now,
        )
        session.add(item)
        session.add(
            RaceQualifier(
                race_id=race.id,
                agent_version_id=entrant.version.id,
                miner_hotkey=entrant.version.miner_hotkey,
                qualification_type=entrant.qualification_type,
                qualifying_score=entrant.version.final_score,
                work_item_id=item.id,
            )
        )
    previous = race.qualifying_closes_at or now
    race.status = "RACE_RUNNING"
    race.race_started_at = now
    race.qualifying_closes_at = min(previous, now)
    race.race_deadline_at = now + timedelta(seconds=rules.deadline_seconds)
    await session.flush()
    closed = QualifyingClosed(race.id, race.number, previous, race.qualifying_closes_at, race.status)
    return closed, len(field)


async def complete_overdue(core: Core, now: datetime) -> int:
    """Complete every running race past its deadline (stragglers marked). Returns how many."""
    rules = race_policy(core)
    done = 0
    async with core.sessionmaker() as session, session.begin():
        tx = SessionTx(session)
        for row in await tx.all(st.DEADLINE_PASSED, {"now": now}):
            race = await tx.one(st.LOCK_RACE, {"rid": row.id})
            if race is not None and race.status == "RACE_RUNNING":
                await settling.complete(tx, race, margin=rules.margin, now=now)
                done += 1
    if done:
        core.caches.scores_changed()
    return done


async def tick(core: Core, now: datetime) -> None:
    """The race job: complete overdue races; open a race for the active suite; close due qualifying."""
    rules = race_policy(core)
    await complete_overdue(core, now)
    if not rules.enabled:
        return
    try:
        race = await open_race(core, now=now)
    except NotFound:
        return  # no active suite
    if (
        race.status == "QUALIFYING_OPEN"
        and race.qualifying_closes_at is not None
        and race.qualifying_closes_at <= now
    ):
        try:
            await close_qualifying(core, suite_id=race.suite_id, now=now)
        except Conflict:
            pass  # nobody qualifies yet, or no bank: qualifying stays open and is tried again next tick


# --- cancelling ---


@dataclass(frozen=True)
class Cancelled:
    race_id: uuid.UUID
    number: int
    items: int  # RACE work items that were still open
    runs: int  # live RACE runs whose leases ended


async def cancel(
    core: Core, *, actor: audit.Actor, race_id: uuid.UUID, reason: str | None, now: datetime
) -> Cancelled:
    """Cancel a race that has not completed: its live RACE runs' leases end (CANCELLED, so their
    validators' next heartbeat or completion is refused), its open RACE items close unfinished,
    unfinished qualifiers are marked CANCELLED. Nobody is eliminated and the top stays.

    Locks are taken in the evaluation flows' order (runs, then items, then the race), so a
    completion settling the race's last item at the same moment either wins (the race completes and
    this raises `RaceFinished`) or finds its lease ended.
    """
    async with core.sessionmaker() as session, session.begin():
        race = await session.get(Race, race_id)
        if race is None:
            raise RaceNotFound()
        if race.status not in OPEN_RACE_STATUSES:
            raise RaceFinished(f"Race {race.number} is {race.status}; only an open race can be cancelled")
        tx = SessionTx(session)
        runs = list(await _end_race_runs(tx, race_id, now))
        items = await tx.all(st.CANCEL_ITEMS, {"rid": race_id, "now": now})
        runs += await _end_race_runs(tx, race_id, now)  # runs claimed just before the items closed
        await tx.run(st.CANCEL_QUALIFIERS, {"rid": race_id})
        locked = await tx.one(st.LOCK_RACE, {"rid": race_id})
        if locked is None or locked.status not in OPEN_RACE_STATUSES:
            raise RaceFinished(f"Race {race.number} finished meanwhile")
        await tx.run(st.CANCEL_RACE, {"rid": race_id, "now": now})
        await audit.record(
            session,
            actor=actor,
            action="CANCEL_RACE",
            target_type="race",
            target_id=race_id,
            now=now,
            reason=reason,
            before={"status": locked.status},
            after={"status": "CANCELLED"},
            cancelled_runs=len(runs),
            cancelled_items=len(items),
        )
        done = Cancelled(race_id, race.number, len(items), len(runs))
    core.caches.scores_changed()
    return done


async def _end_race_runs(tx: SessionTx, race_id: uuid.UUID, now: datetime) -> list[Any]:
    """End the race's live runs through the lease engine and give their items' slots back."""
    ended = await leases.end(tx, est.RUNS, where=est.RUNS.c.race_id == race_id, status="CANCELLED", now=now)
    for run in ended:
        await tx.one(est.ITEM_RELEASE, {"item_id": run.work_item_id})
    return list(ended)


# --- race selection (pinning) ---


def _selection_upsert(insert: Any) -> Any:
    statement = insert(RaceSelection.__table__)
    return statement.on_conflict_do_update(
        index_elements=["miner_hotkey"],
        set_={
            "agent_version_id": statement.excluded.agent_version_id,
            "selected_at": statement.excluded.selected_at,
        },
    )


_UPSERT = {"postgresql": _selection_upsert(postgresql.insert), "sqlite": _selection_upsert(sqlite.insert)}


async def _lock_running(session: AsyncSession, suite_id: int | None) -> None:
    """Pinning waits for (and then refuses during) a race of the suite that closed qualifying."""
    if suite_id is None:
        return
    race = await session.scalar(
        select(Race).where(Race.suite_id == suite_id, Race.status.in_(OPEN_RACE_STATUSES)).with_for_update()
    )
    if race is not None and race.status == "RACE_RUNNING":
        raise RaceLocked()


async def pin_disabled_reason(session: AsyncSession, version: AgentVersion, min_score: float) -> str | None:
    """Why this version cannot be pinned (None: it can). ORO's enum values."""
    if version.state == "DISCARDED":
        return "discarded"
    if version.state != "ELIGIBLE":
        return "not_eligible"
    if await session.get(RaceElimination, version.id) is not None:
        return "eliminated"
    if (version.final_score or 0.0) < min_score:
        return "below_threshold"
    return None


async def pin(core: Core, *, hotkey: str, version_id: uuid.UUID, now: datetime) -> None:
    """Pin a version as the miner's race candidate (the last pin wins)."""
    rules = race_policy(core)
    async with core.sessionmaker() as session, session.begin():
        version = await session.get(AgentVersion, version_id)
        if version is None or version.miner_hotkey != hotkey:
            raise NotVersionOwner()
        await _lock_running(session, version.suite_id)
        reason = await pin_disabled_reason(session, version, rules.min_score)
        if reason is not None:
            raise BadRequest(f"This version cannot race ({reason})", code="NOT_PINNABLE")
        dialect = session.bind.dialect.name
        await session.execute(
            _UPSERT[dialect], {"miner_hotkey": hotkey, "agent_version_id": version_id, "selected_at": now}
        )


async def unpin(core: Core, *, hotkey: str) -> None:
    async with core.sessionmaker() as session, session.begin():
        selection = await session.get(RaceSelection, hotkey, with_for_update=True)
        if selection is None:
            raise NoSelection()
        version = await session.get(AgentVersion, selection.agent_version_id)
        await _lock_running(session, version.suite_id if version else None)
        await session.delete(selection)


# --- reads ---


@dataclass(frozen=True)
class QualifierView:
    row: RaceQualifier
    version: AgentVersion
    agent: Agent
    eliminated_at: datetime | None


@dataclass(frozen=True)
class RaceView:
    race: Race
    winner_name: str | None
    qualifier_count: int
    qualifiers: list[QualifierView]


async def _view(session: AsyncSession, race: Race, *, with_qualifiers: bool) -> RaceView:
    rows = (
        await session.execute(
            select(RaceQualifier, AgentVersion, Agent, RaceElimination.eliminated_at)
            .join(AgentVersion, AgentVersion.id == RaceQualifier.agent_version_id)
            .join(Agent, Agent.id == AgentVersion.agent_id)
            .outerjoin(RaceElimination, RaceElimination.agent_version_id == RaceQualifier.agent_version_id)
            .where(RaceQualifier.race_id == race.id)
        )
    ).all()
    qualifiers = [QualifierView(r[0], r[1], r[2], r[3]) for r in rows]
    qualifiers.sort(
        key=lambda q: (
            q.row.race_rank is None,
            q.row.race_rank or 0,
            q.row.qualification_type != "INCUMBENT",
            -(q.row.qualifying_score or 0.0),
            str(q.row.agent_version_id),
        )
    )
    winner_name = next(
        (q.agent.name for q in qualifiers if q.version.id == race.winner_agent_version_id), None
    )
    return RaceView(race, winner_name, len(qualifiers), qualifiers if with_qualifiers else [])


async def current(core: Core, *, suite_id: int | None = None) -> RaceView | None:
    """The active suite's race in progress, else its latest race; None when it never raced."""
    async with core.sessionmaker() as session:
        return await current_in(session, suite_id=suite_id)


async def current_in(session: AsyncSession, *, suite_id: int | None = None) -> RaceView | None:
    try:
        suite_id = await _active_suite_id(session, suite_id)
    except NotFound:
        return None
    race = await session.scalar(
        select(Race)
        .where(Race.suite_id == suite_id)
        .order_by(Race.status.in_(OPEN_RACE_STATUSES).desc(), Race.number.desc())
        .limit(1)
    )
    return await _view(session, race, with_qualifiers=True) if race is not None else None


async def detail(core: Core, *, race_id: uuid.UUID) -> RaceView:
    async with core.sessionmaker() as session:
        return await detail_in(session, race_id=race_id)


async def detail_in(session: AsyncSession, *, race_id: uuid.UUID) -> RaceView:
    race = await session.get(Race, race_id)
    if race is None:
        raise RaceNotFound()
    return await _view(session, race, with_qualifiers=True)


async def history(core: Core, *, suite_id: int | None, limit: int, offset: int) -> tuple[int, list[RaceView]]:
    """Completed and cancelled races, most recent first."""
    async with core.sessionmaker() as session:
        where: list[ColumnElement[bool]] = [Race.status.in_(("RACE_COMPLETE", "CANCELLED"))]
        if suite_id is not None:
            where.append(Race.suite_id == suite_id)
        total = int(await session.scalar(select(func.count()).select_from(Race).where(*where)) or 0)
        races = await session.scalars(
            select(Race)
            .where(*where)
            .order_by(func.coalesce(Race.race_completed_at, Race.cancelled_at).desc(), Race.number.desc())
            .limit(limit)
            .offset(offset)
        )
        return total, await _summaries(session, list(races))


async def _summaries(session: AsyncSession, races: Sequence[Race]) -> list[RaceView]:
    """Races without their fields (qualifier count and winner name only): two queries for a page."""
    ids = [r.id for r in races]
    if not ids:
        return []
    counted = await session.execute(
        select(RaceQualifier.race_id, func.count())
        .where(RaceQualifier.race_id.in_(ids))
        .group_by(RaceQualifier.race_id)
    )
    counts = {race_id: int(n) for race_id, n in counted.all()}
    winners = [r.winner_agent_version_id for r in races if r.winner_agent_version_id is not None]
    names: dict[uuid.UUID, str] = {}
    if winners:
        named = await session.execute(
            select(AgentVersion.id, Agent.name)
            .join(Agent, Agent.id == AgentVersion.agent_id)
            .where(AgentVersion.id.in_(winners))
        )
        names = {version_id: name for version_id, name in named.all()}
    return [
        RaceView(
            r,
            names.get(r.winner_agent_version_id) if r.winner_agent_version_id else None,
            counts.get(r.id, 0),
            [],
        )
        for r in races
    ]


def finishers(view: RaceView | None, *, q: str | None = None) -> list[QualifierView]:
    """A race's qualifiers with a race score, in race order; `q` matches agent names (substring) or
    hotkeys (prefix), case-insensitive (the leaderboard's `score_type=race`)."""
    found = [r for r in (view.qualifiers if view else []) if r.row.race_score is not None]
    needle = (q or "").strip().lower()
    if needle:
        found = [
            r
            for r in found
            if needle in r.agent.name.lower() or r.row.miner_hotkey.lower().startswith(needle)
        ]
    return found


async def race_runs(session: AsyncSession, *, view: RaceView) -> dict[uuid.UUID, list[EvaluationRun]]:
    """The race's runs per qualifying version, oldest claim first (through the version index: a race's
    field is a handful of versions)."""
    ids = [q.version.id for q in view.qualifiers]
    if not ids:
        return {}
    runs = await session.scalars(
        select(EvaluationRun)
        .where(EvaluationRun.agent_version_id.in_(ids), EvaluationRun.race_id == view.race.id)
        .order_by(EvaluationRun.claimed_at, EvaluationRun.id)
    )
    grouped: dict[uuid.UUID, list[EvaluationRun]] = {}
    for run in runs:
        grouped.setdefault(run.agent_version_id, []).append(run)
    return grouped


@dataclass(frozen=True)
class VersionEntry:
    """One race a version was in: the race and its qualifier row."""

    race: Race
    row: RaceQualifier


async def entries_of(session: AsyncSession, *, version_id: uuid.UUID) -> list[VersionEntry]:
    """Every race a version was in, newest first."""
    rows = await session.execute(
        select(Race, RaceQualifier)
        .join(RaceQualifier, RaceQualifier.race_id == Race.id)
        .where(RaceQualifier.agent_version_id == version_id)
        .order_by(Race.number.desc())
    )
    return [VersionEntry(race, row) for race, row in rows.all()]


async def has_completed(session: AsyncSession, *, suite_id: int) -> bool:
    """Whether the suite has a completed race (the leaderboard's race scores exist)."""
    found = await session.scalar(
        select(Race.id).where(Race.suite_id == suite_id, Race.status == "RACE_COMPLETE").limit(1)
    )
    return found is not None


# --- operator reads (the admin routes) ---


@dataclass(frozen=True)
class RaceSummary:
    race: Race
    qualifier_count: int
    work_item_count: int


async def active_races(core: Core) -> list[RaceSummary]:
    """Every suite's open race (qualifying or running), newest first, with its counts."""
    qualifiers = (
        select(RaceQualifier.race_id, func.count().label("n")).group_by(RaceQualifier.race_id).subquery()
    )
    items = (
        select(WorkItem.race_id, func.count().label("n"))
        .where(WorkItem.race_id.is_not(None))
        .group_by(WorkItem.race_id)
        .subquery()
    )
    async with core.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Race, func.coalesce(qualifiers.c.n, 0), func.coalesce(items.c.n, 0))
                .outerjoin(qualifiers, qualifiers.c.race_id == Race.id)
                .outerjoin(items, items.c.race_id == Race.id)
                .where(Race.status.in_(OPEN_RACE_STATUSES))
                .order_by(Race.created_at.desc(), Race.id)
            )
        ).all()
    return [RaceSummary(race, int(q), int(w)) for race, q, w in rows]


@dataclass(frozen=True)
class RaceWorkItem:
    item: WorkItem
    agent_name: str | None


@dataclass(frozen=True)
class RaceDiagnostics:
    view: RaceView
    incumbent: uuid.UUID | None
    problem_count: int
    work_items: list[RaceWorkItem]


async def diagnostics(core: Core, *, race_id: uuid.UUID) -> RaceDiagnostics:
    """One race as an operator debugs it: qualifiers, each RACE work item's counters, the bank's size
    (404 RACE_NOT_FOUND)."""
    async with core.sessionmaker() as session:
        race = await session.get(Race, race_id)
        if race is None:
            raise RaceNotFound()
        view = await _view(session, race, with_qualifiers=True)
        rows = (
            await session.execute(
                select(WorkItem, Agent.name)
                .join(AgentVersion, AgentVersion.id == WorkItem.agent_version_id)
                .join(Agent, Agent.id == AgentVersion.agent_id)
                .where(WorkItem.race_id == race_id)
                .order_by(WorkItem.queued_at, WorkItem.id)
            )
        ).all()
        problems = await bank.size(session, suite_id=race.suite_id)
    incumbent = next((q.version.id for q in view.qualifiers if q.row.qualification_type == "INCUMBENT"), None)
    return RaceDiagnostics(view, incumbent, problems, [RaceWorkItem(i, name) for i, name in rows])


@dataclass(frozen=True)
class MinerRaces:
    """A miner's race facts for its reads: pin, racing version, eliminations, why a version can't pin."""

    pinned: uuid.UUID | None
    racing: AgentVersion | None
    eliminated: dict[uuid.UUID, tuple[datetime, int]]
    pin_disabled: dict[uuid.UUID, str | None]


async def miner_races(
    session: AsyncSession, *, hotkey: str, versions: Sequence[AgentVersion], min_score: float
) -> MinerRaces:
    pin = await session.get(RaceSelection, hotkey)
    ids = [v.id for v in versions]
    eliminated = {
        e.agent_version_id: (e.eliminated_at, e.race_number)
        for e in await session.scalars(
            select(RaceElimination).where(RaceElimination.agent_version_id.in_(ids))
        )
    }
    disabled: dict[uuid.UUID, str | None] = {}
    for v in versions:
        if v.state == "DISCARDED":
            disabled[v.id] = "discarded"
        elif v.state != "ELIGIBLE":
            disabled[v.id] = "not_eligible"
        elif v.id in eliminated:
            disabled[v.id] = "eliminated"
        elif (v.final_score or 0.0) < min_score:
            disabled[v.id] = "below_threshold"
        else:
            disabled[v.id] = None
    suite_id = next((v.suite_id for v in versions if v.suite_id is not None), None)
    racing = (
        await racing_version(session, hotkey=hotkey, suite_id=suite_id, min_score=min_score)
        if suite_id is not None
        else None
    )
    return MinerRaces(pin.agent_version_id if pin else None, racing, eliminated, disabled)


@dataclass(frozen=True)
class VersionRace:
    """A version's latest race score and its elimination, for the status reads."""

    race_score: float | None = None
    eliminated_at: datetime | None = None
    eliminated_in_race_number: int | None = None


async def version_race(session: AsyncSession, *, version_id: uuid.UUID) -> VersionRace:
    score = await session.scalar(
        select(RaceQualifier.race_score)
        .join(Race, Race.id == RaceQualifier.race_id)
        .where(
            RaceQualifier.agent_version_id == version_id,
            RaceQualifier.race_score.is_not(None),
            Race.status != "CANCELLED",  # a cancelled race's partial scores count for nothing
        )
        .order_by(Race.number.desc())
        .limit(1)
    )
    eliminated = await session.get(RaceElimination, version_id)
    return VersionRace(
        score,
        eliminated.eliminated_at if eliminated else None,
        eliminated.race_number if eliminated else None,
    )


async def latest_complete(session: AsyncSession, *, suite_id: int) -> RaceView | None:
    """The suite's most recently completed race with its qualifiers (None before the first)."""
    race = await session.scalar(
        select(Race)
        .where(Race.suite_id == suite_id, Race.status == "RACE_COMPLETE")
        .order_by(Race.race_completed_at.desc(), Race.number.desc())
        .limit(1)
    )
    return await _view(session, race, with_qualifiers=True) if race is not None else None
