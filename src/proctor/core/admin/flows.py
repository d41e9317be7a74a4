"""Operator actions as flows: each one owns its unit of work and writes exactly one audit event in it.

The ORO admin routes (`surfaces/oro/admin.py`) and `proctor admin …` both call these, so an action
taken from a dashboard and one taken from a shell are the same code and leave the same trail.
Reads (lists, analytics) write nothing. Effects outside the database (cache invalidation) happen
after the commit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core import leases
from proctor.core.admin import audit
from proctor.core.admin.audit import Actor
from proctor.core.context import Core
from proctor.core.evaluations import flows as evaluation_flows
from proctor.core.evaluations import statements as st
from proctor.core.evaluations.aggregation import Contender, aggregate, dethrones
from proctor.core.identity import service as identity_service
from proctor.core.suites import service as suite_service
from proctor.errors import BadRequest, Conflict, NotFound, Unavailable, ValidationFailed
from proctor.models import (
    Agent,
    AgentVersion,
    AgentVersionElimination,
    EvaluationRun,
    HotkeyBan,
    MinerCooldown,
    Suite,
    TopHistory,
    ValidatorPause,
    ValidatorSetting,
    ValidatorState,
    WorkItem,
)
from proctor.storage.blobs import validate_key
from proctor.storage.sql import SessionTx

RUNS = st.RUNS
PAUSE_ID = 1


class AgentVersionNotFound(NotFound):
    code = "AGENT_VERSION_NOT_FOUND"
    default_message = "Agent version not found"


class EvalRunNotFound(NotFound):
    code = "EVAL_RUN_NOT_FOUND"
    default_message = "Evaluation run not found"


class AlreadyInvalidated(Conflict):
    code = "ALREADY_INVALIDATED"
    default_message = "Evaluation run already invalidated"


class ValidatorNotFound(NotFound):
    code = "VALIDATOR_NOT_FOUND"
    default_message = "Validator not found"


class ScoreBelowThreshold(BadRequest):
    code = "SCORE_BELOW_THRESHOLD"
    default_message = "Score does not beat the current top agent"


class NoActiveSuite(Unavailable):
    code = "NO_ACTIVE_SUITE"
    default_message = "No active suite"


@asynccontextmanager
async def _unit(core: Core) -> AsyncIterator[AsyncSession]:
    """One unit of work; two operators creating the same row at once get a 409 (retry), not a 500."""
    try:
        async with core.sessionmaker() as session, session.begin():
            yield session
    except IntegrityError as exc:
        raise Conflict("A concurrent operator action changed the same record; retry") from exc


async def _version(session: AsyncSession, version_id: uuid.UUID, *, lock: bool = False) -> AgentVersion:
    query = select(AgentVersion).where(AgentVersion.id == version_id)
    found = await session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise AgentVersionNotFound(f"Agent version {version_id} not found")
    return found


async def _suite_of(session: AsyncSession, version: AgentVersion, suite_id: int | None) -> int:
    if suite_id is not None:
        return suite_id
    if version.suite_id is not None:
        return version.suite_id
    active = await session.scalar(select(Suite.id).where(Suite.is_active.is_(True)))
    if active is None:
        raise NoActiveSuite()
    return int(active)


def _version_summary(version: AgentVersion) -> dict[str, Any]:
    return {"state": version.state, "final_score": version.final_score}


async def _end_top(session: AsyncSession, version_id: uuid.UUID, now: datetime) -> int:
    """End any open top-history row of this version (the top view then falls to the next holder)."""
    ended = await session.execute(
        update(TopHistory)
        .where(TopHistory.agent_version_id == version_id, TopHistory.ended_at.is_(None))
        .values(ended_at=now)
    )
    return int(ended.rowcount or 0)  # type: ignore[attr-defined]


async def _cancel_live_runs(session: AsyncSession, version_id: uuid.UUID, now: datetime) -> int:
    """End the version's live leases (their validators' next heartbeat gets the lease-ended conflict)
    and give their slots back to the work items."""
    tx = SessionTx(session)
    ended = await leases.end(
        tx, RUNS, where=RUNS.c.agent_version_id == version_id, status="CANCELLED", now=now
    )
    for run in ended:
        await tx.one(st.ITEM_RELEASE, {"item_id": run.work_item_id})
    return len(ended)


# --- agent versions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    version: AgentVersion
    agent_name: str
    item: WorkItem | None
    is_current_top: bool
    eliminated_at: datetime | None


@dataclass(frozen=True)
class VersionFilter:
    is_eligible: bool | None = None
    is_discarded: bool | None = None
    miner_hotkey: str | None = None
    suite_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_agent_versions(
    core: Core, *, where: VersionFilter, limit: int, offset: int
) -> tuple[int, list[VersionRow]]:
    """Agent versions, newest first, with their work item, top and elimination status."""
    conditions: list[Any] = []
    if where.is_eligible is not None:
        conditions.append((AgentVersion.state == "ELIGIBLE") == where.is_eligible)
    if where.is_discarded is not None:
        conditions.append((AgentVersion.state == "DISCARDED") == where.is_discarded)
    if where.miner_hotkey is not None:
        conditions.append(AgentVersion.miner_hotkey == where.miner_hotkey)
    if where.suite_id is not None:
        conditions.append(AgentVersion.suite_id == where.suite_id)
    if where.since is not None:
        conditions.append(AgentVersion.submitted_at >= where.since)
    if where.until is not None:
        conditions.append(AgentVersion.submitted_at <= where.until)
    async with core.sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(AgentVersion).where(*conditions))
        rows = (
            await session.execute(
                select(AgentVersion, Agent.name, WorkItem, AgentVersionElimination.eliminated_at)
                .join(Agent, Agent.id == AgentVersion.agent_id)
                .outerjoin(
                    WorkItem,
                    (WorkItem.agent_version_id == AgentVersion.id) & (WorkItem.phase == "QUALIFYING"),
                )
                .outerjoin(
                    AgentVersionElimination, AgentVersionElimination.agent_version_id == AgentVersion.id
                )
                .where(*conditions)
                .order_by(AgentVersion.submitted_at.desc(), AgentVersion.id)
                .limit(limit)
                .offset(offset)
            )
        ).all()
        ids = [r[0].id for r in rows]
        tops = set(
            await session.scalars(
                select(TopHistory.agent_version_id).where(
                    TopHistory.agent_version_id.in_(ids), TopHistory.ended_at.is_(None)
                )
            )
        )
    return int(total or 0), [VersionRow(v, name, item, v.id in tops, gone) for v, name, item, gone in rows]


@dataclass(frozen=True)
class VersionChange:
    agent_version_id: uuid.UUID
    suite_id: int
    state: str
    cancelled_runs: int = 0
    at: datetime | None = None
    previous_top: uuid.UUID | None = None


async def discard_agent_version(
    core: Core, *, actor: Actor, version_id: uuid.UUID, reason: str, suite_id: int | None, now: datetime
) -> VersionChange:
    """Take a version off the leaderboard and the top; cancel its open work and end its leases."""
    async with _unit(core) as session:
        version = await _version(session, version_id, lock=True)
        suite = await _suite_of(session, version, suite_id)
        before = _version_summary(version)
        cancelled = await _cancel_live_runs(session, version_id, now)
        await session.execute(
            update(WorkItem)
            .where(WorkItem.agent_version_id == version_id, WorkItem.status == "OPEN")
            .values(status="DISCARDED", closed_at=now, active_count=0)
        )
        ended_top = await _end_top(session, version_id, now)
        await session.refresh(version)
        version.state, version.discarded_at, version.discard_reason = "DISCARDED", now, reason
        await audit.record(
            session,
            actor=actor,
            action="DISCARD_AGENT_VERSION",
            target_type="agent_version",
            target_id=version_id,
            now=now,
            reason=reason,
            before=before,
            after=_version_summary(version),
            cancelled_runs=cancelled,
            ended_top=ended_top,
        )
    core.caches.scores_changed()
    return VersionChange(version_id, suite, "DISCARDED", cancelled_runs=cancelled)


async def reinstate_agent_version(
    core: Core,
    *,
    actor: Actor,
    version_id: uuid.UUID,
    reason: str | None,
    suite_id: int | None,
    now: datetime,
) -> VersionChange:
    """Undo a discard: an evaluated version is ELIGIBLE again (and may retake the top); an unfinished
    one goes back to the queue with its work item reopened."""
    policy = evaluation_flows.policy(core)
    async with _unit(core) as session:
        version = await _version(session, version_id, lock=True)
        suite = await _suite_of(session, version, suite_id)
        before = _version_summary(version)
        if version.state == "DISCARDED":
            version.discarded_at, version.discard_reason = None, None
            if version.final_score is not None and version.eligible_at is not None:
                version.state = "ELIGIBLE"
                await session.flush()
                await evaluation_flows.consider_top(
                    SessionTx(session),
                    suite_id=suite,
                    version_id=version_id,
                    score=version.final_score,
                    margin=policy.top_margin,
                    now=now,
                )
            else:
                version.state = "QUEUED"
                await session.execute(
                    update(WorkItem)
                    .where(WorkItem.agent_version_id == version_id, WorkItem.status == "DISCARDED")
                    .values(status="OPEN", closed_at=None, failure_count=0)
                )
        await audit.record(
            session,
            actor=actor,
            action="REINSTATE_AGENT_VERSION",
            target_type="agent_version",
            target_id=version_id,
            now=now,
            reason=reason,
            before=before,
            after=_version_summary(version),
        )
        state = version.state
    core.caches.scores_changed()
    return VersionChange(version_id, suite, state)


async def cancel_agent_version(
    core: Core, *, actor: Actor, version_id: uuid.UUID, reason: str, now: datetime
) -> VersionChange:
    """End the version's live runs (their slots go back to the queue; the work item stays open)."""
    async with _unit(core) as session:
        version = await _version(session, version_id, lock=True)
        cancelled = await _cancel_live_runs(session, version_id, now)
        await session.execute(
            update(AgentVersion)
            .where(AgentVersion.id == version_id, AgentVersion.state == "RUNNING")
            .values(state="QUEUED")
        )
        await audit.record(
            session,
            actor=actor,
            action="CANCEL_AGENT_VERSION",
            target_type="agent_version",
            target_id=version_id,
            now=now,
            reason=reason,
            cancelled_runs=cancelled,
        )
        suite = version.suite_id or 0
    return VersionChange(version_id, suite, "CANCELLED", cancelled_runs=cancelled)


async def eliminate_agent_version(
    core: Core, *, actor: Actor, version_id: uuid.UUID, reason: str, suite_id: int | None, now: datetime
) -> VersionChange:
    """Retire a version from future qualifying (re-running stamps a fresh time); it loses the top."""
    async with _unit(core) as session:
        version = await _version(session, version_id, lock=True)
        suite = await _suite_of(session, version, suite_id)
        row = await session.get(AgentVersionElimination, version_id)
        before = {"eliminated_at": row.eliminated_at if row else None}
        if row is None:
            row = AgentVersionElimination(agent_version_id=version_id, suite_id=suite)
            session.add(row)
        row.suite_id, row.eliminated_at, row.reason = suite, now, reason
        ended_top = await _end_top(session, version_id, now)
        await audit.record(
            session,
            actor=actor,
            action="ELIMINATE_AGENT_VERSION",
            target_type="agent_version",
            target_id=version_id,
            now=now,
            reason=reason,
            before=before,
            after={"eliminated_at": now},
            ended_top=ended_top,
        )
    core.caches.scores_changed()
    return VersionChange(version_id, suite, "ELIMINATED", at=now)


async def reinstate_elimination(
    core: Core,
    *,
    actor: Actor,
    version_id: uuid.UUID,
    reason: str | None,
    suite_id: int | None,
    now: datetime,
) -> VersionChange:
    """Clear an elimination (idempotent: fine when the version was not eliminated)."""
    async with _unit(core) as session:
        version = await _version(session, version_id)
        suite = await _suite_of(session, version, suite_id)
        row = await session.get(AgentVersionElimination, version_id)
        before = {"eliminated_at": row.eliminated_at if row else None}
        if row is not None:
            await session.delete(row)
        await audit.record(
            session,
            actor=actor,
            action="REINSTATE_ELIMINATION",
            target_type="agent_version",
            target_id=version_id,
            now=now,
            reason=reason,
            before=before,
            after={"eliminated_at": None},
        )
    core.caches.scores_changed()
    return VersionChange(version_id, suite, version.state)


async def reevaluate_agent_version(
    core: Core,
    *,
    actor: Actor,
    version_id: uuid.UUID,
    reason: str,
    suite_id: int | None,
    required_successes: int | None,
    now: datetime,
) -> VersionChange:
    """Reopen the version's work item for N more successful runs (from validators that have not run it)."""
    policy = evaluation_flows.policy(core)
    more = required_successes if required_successes is not None else policy.required_successes
    if more < 1 or more > 100:
        raise ValidationFailed("required_successes must be between 1 and 100")
    async with _unit(core) as session:
        version = await _version(session, version_id, lock=True)
        suite = await _suite_of(session, version, suite_id)
        before = _version_summary(version)
        item = await session.scalar(
            select(WorkItem)
            .where(WorkItem.agent_version_id == version_id, WorkItem.phase == "QUALIFYING")
            .with_for_update()
        )
        if item is None:
            item = WorkItem(
                id=uuid.uuid4(),
                agent_version_id=version_id,
                suite_id=suite,
                phase="QUALIFYING",
                status="OPEN",
                required_successes=more,
                queued_at=now,
            )
            session.add(item)
        else:
            item.status, item.closed_at, item.failure_count = "OPEN", None, 0
            item.required_successes = item.success_count + more
            item.queued_at = now
        if version.state not in ("ELIGIBLE", "RUNNING"):
            version.state, version.discarded_at, version.discard_reason = "QUEUED", None, None
        await audit.record(
            session,
            actor=actor,
            action="REEVALUATE_AGENT_VERSION",
            target_type="agent_version",
            target_id=version_id,
            now=now,
            reason=reason,
            before=before,
            after={**_version_summary(version), "required_successes": item.required_successes},
        )
    core.caches.scores_changed()
    return VersionChange(version_id, suite, "QUEUED")


async def set_top(
    core: Core, *, actor: Actor, version_id: uuid.UUID, suite_id: int | None, force: bool, now: datetime
) -> VersionChange:
    """Make a version the suite's top agent. Without `force` it must be eligible and beat the incumbent
    by the configured margin (400 SCORE_BELOW_THRESHOLD otherwise)."""
    policy = evaluation_flows.policy(core)
    async with _unit(core) as session:
        version = await _version(session, version_id)
        suite = await _suite_of(session, version, suite_id)
        await session.scalar(select(Suite.id).where(Suite.id == suite).with_for_update())
        current = await session.scalar(
            select(TopHistory)
            .where(TopHistory.suite_id == suite, TopHistory.ended_at.is_(None))
            .order_by(TopHistory.top_at.desc(), TopHistory.id.desc())
            .limit(1)
        )
        if not force:
            if version.state != "ELIGIBLE" or version.final_score is None:
                raise ScoreBelowThreshold("Only an eligible version can be the top agent (use force)")
            incumbent = None if current is None else Contender(current.agent_version_id, current.score)
            if (
                current is not None
                and current.agent_version_id != version_id
                and not dethrones(Contender(version_id, version.final_score), incumbent, policy.top_margin)
            ):
                raise ScoreBelowThreshold()
        previous = current.agent_version_id if current is not None else None
        await session.execute(
            update(TopHistory)
            .where(TopHistory.suite_id == suite, TopHistory.ended_at.is_(None))
            .values(ended_at=now)
        )
        session.add(
            TopHistory(
                suite_id=suite, agent_version_id=version_id, score=version.final_score or 0.0, top_at=now
            )
        )
        await audit.record(
            session,
            actor=actor,
            action="SET_TOP_AGENT",
            target_type="agent_version",
            target_id=version_id,
            now=now,
            before={"top_agent_version_id": previous},
            after={"top_agent_version_id": version_id},
            suite_id=suite,
            force=force,
        )
    core.caches.scores_changed()
    return VersionChange(version_id, suite, version.state, at=now, previous_top=previous)


@dataclass(frozen=True)
class AgentCode:
    agent_version_id: uuid.UUID
    agent_name: str
    download_url: str


async def agent_version_code(
    core: Core, *, version_id: uuid.UUID, base_url: str, ttl_seconds: int = 3600
) -> AgentCode:
    """A download URL for any version's code (operators read code before its public release)."""
    async with core.sessionmaker() as session:
        version = await _version(session, version_id)
        name = await session.scalar(select(Agent.name).where(Agent.id == version.agent_id))
    url = await core.blobs.presign_get(
        version.blob_key, expires_in=ttl_seconds, base_url=base_url, filename="agent.py"
    )
    return AgentCode(version_id, name or "", url)


# --- evaluation runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    agent_version_id: uuid.UUID | None = None
    validator_hotkey: str | None = None
    work_item_id: uuid.UUID | None = None
    phase: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class RunRow:
    run: EvaluationRun
    phase: str
    invalidation: dict[str, Any] | None = None


async def list_evaluation_runs(
    core: Core, *, where: RunFilter, limit: int, offset: int
) -> tuple[int, list[RunRow]]:
    """Evaluation runs, newest claim first."""
    conditions: list[Any] = []
    for column, value in (
        (EvaluationRun.status, where.status),
        (EvaluationRun.agent_version_id, where.agent_version_id),
        (EvaluationRun.validator_hotkey, where.validator_hotkey),
        (EvaluationRun.work_item_id, where.work_item_id),
        (WorkItem.phase, where.phase),
    ):
        if value is not None:
            conditions.append(column == value)
    if where.since is not None:
        conditions.append(EvaluationRun.claimed_at >= where.since)
    if where.until is not None:
        conditions.append(EvaluationRun.claimed_at <= where.until)
    base = select(EvaluationRun, WorkItem.phase).join(WorkItem, WorkItem.id == EvaluationRun.work_item_id)
    async with core.sessionmaker() as session:
        counted = (
            select(func.count()).select_from(base.where(*conditions).subquery())
            if where.phase is not None
            else select(func.count()).select_from(EvaluationRun).where(*conditions)
        )
        total = await session.scalar(counted)
        rows = (
            await session.execute(
                base.where(*conditions)
                .order_by(EvaluationRun.claimed_at.desc(), EvaluationRun.id)
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return int(total or 0), [RunRow(run, phase) for run, phase in rows]


async def invalidate_evaluation_run(
    core: Core, *, actor: Actor, run_id: uuid.UUID, reason: str, now: datetime
) -> RunRow:
    """Exclude a run's score from aggregation (irreversible). A live run is ended; a closed item that
    no longer has enough successes reopens (its version leaves the leaderboard until it settles)."""
    policy = evaluation_flows.policy(core)
    async with _unit(core) as session:
        tx = SessionTx(session)
        run = await session.scalar(select(EvaluationRun).where(EvaluationRun.id == run_id).with_for_update())
        if run is None:
            raise EvalRunNotFound(f"Evaluation run {run_id} not found")
        if not run.is_included:
            raise AlreadyInvalidated()
        before = {"status": run.status, "is_included": True, "validator_score": run.validator_score}
        item = await session.scalar(select(WorkItem).where(WorkItem.id == run.work_item_id).with_for_update())
        assert item is not None, "a run's work item outlives it (foreign key)"
        if run.status in RUNS.live:
            await leases.end(tx, RUNS, where=RUNS.c.id == run_id, status="CANCELLED", now=now)
            item.active_count = max(item.active_count - 1, 0)
        elif run.status == "SUCCESS":
            item.success_count = max(item.success_count - 1, 0)
        await session.execute(
            update(EvaluationRun).where(EvaluationRun.id == run_id).values(is_included=False)
        )
        version = await _version(session, run.agent_version_id, lock=True)
        if run.status == "SUCCESS" and item.status == "CLOSED":
            if item.success_count < item.required_successes:
                item.status, item.closed_at, item.final_score = "OPEN", None, None
                if version.state == "ELIGIBLE":
                    version.state = "QUEUED"
                    await _end_top(session, version.id, now)
            else:
                await session.flush()
                scores = [
                    float(r.validator_score) for r in await tx.all(st.INCLUDED_SCORES, {"item_id": item.id})
                ]
                item.final_score = version.final_score = aggregate(scores, policy.aggregation)
        invalidation = {"invalidated_at": now, "invalidated_by": actor.hotkey, "invalidation_reason": reason}
        await audit.record(
            session,
            actor=actor,
            action="INVALIDATE_EVALUATION_RUN",
            target_type="evaluation_run",
            target_id=run_id,
            now=now,
            reason=reason,
            before=before,
            after={"is_included": False, "work_item_status": item.status, "version_state": version.state},
        )
        await session.flush()
        await session.refresh(run)
        phase = item.phase
    core.caches.scores_changed()
    return RunRow(run, phase, invalidation)


async def run_invalidation(core: Core, *, run_id: uuid.UUID) -> dict[str, Any] | None:
    """Who invalidated a run, when and why (from its audit event)."""
    async with core.sessionmaker() as session:
        _, events = await audit.page(
            session,
            where=audit.AuditFilter(action="INVALIDATE_EVALUATION_RUN", target_id=str(run_id)),
            limit=1,
            offset=0,
        )
    if not events:
        return None
    e = events[0]
    return {"invalidated_at": e.created_at, "invalidated_by": e.actor_hotkey, "invalidation_reason": e.reason}


# --- miners and validators ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BanState:
    hotkey: str
    is_banned: bool


async def ban_hotkey(
    core: Core, *, actor: Actor, hotkey: str, reason: str, role: str, now: datetime
) -> BanState:
    """Ban a hotkey: every signed request from it is refused (idempotent: banning again updates the
    reason). `role` (miner, validator, hotkey) only names the audit action."""
    async with _unit(core) as session:
        existing = await session.get(HotkeyBan, hotkey.strip())
        before = {"is_banned": existing is not None, "reason": existing.reason if existing else None}
        row = await identity_service.ban(session, hotkey=hotkey, reason=reason, banned_by=actor.hotkey[:100])
        await audit.record(
            session,
            actor=actor,
            action=f"BAN_{role.upper()}",
            target_type=role,
            target_id=row.hotkey,
            now=now,
            reason=reason,
            before=before,
            after={"is_banned": True, "reason": reason},
        )
    core.caches.scores_changed()  # a banned miner's version loses the top
    return BanState(row.hotkey, True)


async def unban_hotkey(core: Core, *, actor: Actor, hotkey: str, role: str, now: datetime) -> BanState:
    """Lift a ban (fine when there was none)."""
    async with _unit(core) as session:
        was = await identity_service.unban(session, hotkey=hotkey)
        await audit.record(
            session,
            actor=actor,
            action=f"UNBAN_{role.upper()}",
            target_type=role,
            target_id=hotkey.strip(),
            now=now,
            before={"is_banned": was},
            after={"is_banned": False},
        )
    core.caches.scores_changed()
    return BanState(hotkey.strip(), False)


@dataclass(frozen=True)
class MinerRow:
    hotkey: str
    agent_count: int
    ban: HotkeyBan | None
    registered_at: datetime | None
    last_submitted_at: datetime | None
    cooldown_until: datetime | None


async def list_miners(
    core: Core,
    *,
    is_banned: bool | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[int, list[MinerRow]]:
    """Hotkeys that submitted an agent or were banned, by hotkey; `since`/`until` bound the first agent."""
    async with core.sessionmaker() as session:
        agents = {
            r.hotkey: r
            for r in (
                await session.execute(
                    select(
                        Agent.miner_hotkey.label("hotkey"),
                        func.count().label("agents"),
                        func.min(Agent.created_at).label("first"),
                    ).group_by(Agent.miner_hotkey)
                )
            ).all()
        }
        bans = {b.hotkey: b for b in await session.scalars(select(HotkeyBan))}
        cooldowns = {c.hotkey: c for c in await session.scalars(select(MinerCooldown))}
    rows = []
    for hotkey in sorted(set(agents) | set(bans)):
        a, ban, cool = agents.get(hotkey), bans.get(hotkey), cooldowns.get(hotkey)
        if is_banned is not None and (ban is not None) != is_banned:
            continue
        first = a.first if a else None
        if (since and (first is None or first < since)) or (until and (first is None or first > until)):
            continue
        rows.append(
            MinerRow(
                hotkey,
                int(a.agents) if a else 0,
                ban,
                first,
                cool.last_submitted_at if cool else None,
                cool.next_allowed_at if cool else None,
            )
        )
    return len(rows), rows[offset : offset + limit]


@dataclass(frozen=True)
class CooldownCleared:
    hotkey: str
    cleared: bool
    seconds_remaining_was: int | None


async def clear_miner_cooldown(core: Core, *, actor: Actor, hotkey: str, now: datetime) -> CooldownCleared:
    """Let a miner submit again at once."""
    async with _unit(core) as session:
        row = await session.get(MinerCooldown, hotkey)
        remaining = None
        if row is not None:
            remaining = max(int((row.next_allowed_at - now).total_seconds()), 0)
            await session.execute(delete(MinerCooldown).where(MinerCooldown.hotkey == hotkey))
        await audit.record(
            session,
            actor=actor,
            action="CLEAR_MINER_COOLDOWN",
            target_type="miner",
            target_id=hotkey,
            now=now,
            before={"next_allowed_at": row.next_allowed_at if row else None},
            after={"next_allowed_at": None},
        )
    return CooldownCleared(hotkey, row is not None, remaining)


@dataclass(frozen=True)
class ValidatorRow:
    hotkey: str
    state: ValidatorState | None
    ban: HotkeyBan | None
    max_concurrent_runs: int
    run: EvaluationRun | None = None
    version: AgentVersion | None = None
    agent_name: str | None = None
    first_seen: datetime | None = None


async def _validator_rows(
    session: AsyncSession, core: Core, hotkeys: set[str] | None = None
) -> list[ValidatorRow]:
    states = {s.hotkey: s for s in await session.scalars(select(ValidatorState))}
    settings = {s.hotkey: s for s in await session.scalars(select(ValidatorSetting))}
    bans = {b.hotkey: b for b in await session.scalars(select(HotkeyBan))}
    known = set(states) | set(settings) | {i.hotkey for i in core.registry.validators()}
    if hotkeys is not None:
        known &= hotkeys
    active = {
        run.validator_hotkey: (run, version, name)
        for run, version, name in (
            await session.execute(
                select(EvaluationRun, AgentVersion, Agent.name)
                .join(AgentVersion, AgentVersion.id == EvaluationRun.agent_version_id)
                .join(Agent, Agent.id == AgentVersion.agent_id)
                .where(EvaluationRun.status.in_(sorted(RUNS.live)))
            )
        ).all()
    }
    rows = []
    for hotkey in sorted(known):
        run, version, name = active.get(hotkey, (None, None, None))
        setting = settings.get(hotkey)
        rows.append(
            ValidatorRow(
                hotkey,
                states.get(hotkey),
                bans.get(hotkey),
                setting.max_concurrent_runs if setting else 1,
                run,
                version,
                name,
            )
        )
    return rows


async def list_validators(
    core: Core, *, is_banned: bool | None, limit: int, offset: int
) -> tuple[int, list[ValidatorRow]]:
    """Validators proctor has seen, configured or found in the registry, by hotkey."""
    async with core.sessionmaker() as session:
        rows = await _validator_rows(session, core)
    if is_banned is not None:
        rows = [r for r in rows if (r.ban is not None) == is_banned]
    return len(rows), rows[offset : offset + limit]


async def update_validator(
    core: Core, *, actor: Actor, hotkey: str, max_concurrent_runs: int, now: datetime
) -> ValidatorRow:
    """Configure a validator. proctor leases at most one run per validator at a time (a database
    constraint), so `max_concurrent_runs` is recorded and reported, not yet a second slot."""
    if not 1 <= max_concurrent_runs <= 64:
        raise ValidationFailed("max_concurrent_runs must be between 1 and 64")
    async with _unit(core) as session:
        if not await _validator_rows(session, core, {hotkey}):
            raise ValidatorNotFound(f"Validator {hotkey} not found")
        row = await session.get(ValidatorSetting, hotkey)
        before = {"max_concurrent_runs": row.max_concurrent_runs if row else 1}
        if row is None:
            row = ValidatorSetting(hotkey=hotkey)
            session.add(row)
        row.max_concurrent_runs, row.updated_at = max_concurrent_runs, now
        await audit.record(
            session,
            actor=actor,
            action="UPDATE_VALIDATOR",
            target_type="validator",
            target_id=hotkey,
            now=now,
            before=before,
            after={"max_concurrent_runs": max_concurrent_runs},
        )
        await session.flush()
        return (await _validator_rows(session, core, {hotkey}))[0]


# --- the validator pause (andon cord) -----------------------------------------------------------------


@dataclass(frozen=True)
class PauseState:
    active: bool
    reason: str | None = None
    paused_by: str | None = None
    paused_at: datetime | None = None
    auto_release_at: datetime | None = None


def _pause_state(row: ValidatorPause | None, now: datetime) -> PauseState:
    if row is None or not row.active or (row.auto_release_at is not None and row.auto_release_at <= now):
        return PauseState(False)
    return PauseState(True, row.reason, row.paused_by, row.paused_at, row.auto_release_at)


async def pause_state(core: Core, *, now: datetime) -> PauseState:
    async with core.sessionmaker() as session:
        return _pause_state(await session.get(ValidatorPause, PAUSE_ID), now)


async def pause_validators(
    core: Core, *, actor: Actor, reason: str, auto_release_at: datetime | None, now: datetime
) -> PauseState:
    """Stop every new claim (claims answer 204, no work) while running leases finish; idempotent."""
    if auto_release_at is not None and auto_release_at <= now:
        raise ValidationFailed("auto_release_at must be in the future")
    return await _set_pause(core, actor=actor, active=True, reason=reason, until=auto_release_at, now=now)


async def resume_validators(core: Core, *, actor: Actor, reason: str | None, now: datetime) -> PauseState:
    """Let validators claim again."""
    return await _set_pause(core, actor=actor, active=False, reason=reason, until=None, now=now)


async def _set_pause(
    core: Core, *, actor: Actor, active: bool, reason: str | None, until: datetime | None, now: datetime
) -> PauseState:
    async with _unit(core) as session:
        row = await session.get(ValidatorPause, PAUSE_ID, with_for_update=True)
        before = _pause_state(row, now)
        if row is None:
            row = ValidatorPause(id=PAUSE_ID)
            session.add(row)
        row.active, row.reason, row.auto_release_at = active, reason, until
        row.paused_by, row.paused_at = (actor.hotkey, now) if active else (None, None)
        after = _pause_state(row, now)
        await audit.record(
            session,
            actor=actor,
            action="PAUSE_VALIDATORS" if active else "RESUME_VALIDATORS",
            target_type="validator_pause",
            target_id="validators",
            now=now,
            reason=reason,
            before={"active": before.active, "reason": before.reason},
            after={"active": after.active, "auto_release_at": until},
        )
    return after


# --- suites -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteState:
    suite_id: int
    version: int
    is_active: bool
    requeued_versions: int = 0


def _blob_key(uri: str) -> str:
    """A suite document in proctor's blob store: `s3://bucket/key`, `blob://key` or a bare key."""
    for scheme in ("s3://", "blob://"):
        if uri.startswith(scheme):
            rest = uri[len(scheme) :]
            uri = rest.split("/", 1)[1] if scheme == "s3://" and "/" in rest else rest
            break
    if "://" in uri or uri.startswith("/") or ".." in uri.split("/"):
        raise ValidationFailed("problem_suite_uri must name a key in proctor's blob store (s3://bucket/key)")
    try:
        return validate_key(uri)
    except ValueError as exc:  # characters or segments no blob store key may have
        raise ValidationFailed(f"problem_suite_uri: {exc}") from None


async def create_suite(core: Core, *, actor: Actor, problem_suite_uri: str, now: datetime) -> SuiteState:
    """Import a suite document from the blob store as a new (inactive) suite version."""
    data = await core.blobs.get(_blob_key(problem_suite_uri.strip()))
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed(f"the suite document is not UTF-8 JSON: {exc}") from None
    async with _unit(core) as session:
        result = await suite_service.import_suite(session, document=document)
        suite = result.suite
        await audit.record(
            session,
            actor=actor,
            action="CREATE_SUITE",
            target_type="suite",
            target_id=suite.id,
            now=now,
            after={"version": suite.version, "problems": suite.problem_count, "created": result.created},
            problem_suite_uri=problem_suite_uri,
        )
        return SuiteState(suite.id, suite.version, suite.is_active)


async def import_suite(
    core: Core,
    *,
    actor: Actor,
    document: Any,
    name: str | None,
    version: int | None,
    hidden_fields: list[str],
    activate: bool,
    now: datetime,
) -> suite_service.ImportResult:
    """The CLI's import of a local suite file (same audit as `create_suite`)."""
    async with _unit(core) as session:
        result = await suite_service.import_suite(
            session,
            document=document,
            name=name,
            version=version,
            hidden_fields=hidden_fields,
            activate=activate,
        )
        suite = result.suite
        await audit.record(
            session,
            actor=actor,
            action="CREATE_SUITE",
            target_type="suite",
            target_id=suite.id,
            now=now,
            after={"version": suite.version, "problems": suite.problem_count, "created": result.created},
            activated=activate,
        )
    if activate:
        core.caches.scores_changed()
    return result


async def activate_suite(core: Core, *, actor: Actor, suite_id: int, now: datetime) -> SuiteState:
    """Make a suite the active one. Requeueing earlier top versions onto it is not done (a version has
    one qualifying work item, on the suite it was submitted to): `requeued_versions` is 0."""
    async with _unit(core) as session:
        previous = await session.scalar(select(Suite.id).where(Suite.is_active.is_(True)))
        suite = await suite_service.activate_suite(session, suite_id=suite_id)
        await audit.record(
            session,
            actor=actor,
            action="ACTIVATE_SUITE",
            target_type="suite",
            target_id=suite_id,
            now=now,
            before={"active_suite_id": previous},
            after={"active_suite_id": suite_id},
        )
        state = SuiteState(suite.id, suite.version, suite.is_active)
    core.caches.scores_changed()
    return state


async def deactivate_suites(core: Core, *, actor: Actor, now: datetime) -> None:
    async with _unit(core) as session:
        previous = await session.scalar(select(Suite.id).where(Suite.is_active.is_(True)))
        await suite_service.deactivate_all(session)
        await audit.record(
            session,
            actor=actor,
            action="DEACTIVATE_SUITES",
            target_type="suite",
            target_id=previous or "",
            now=now,
            before={"active_suite_id": previous},
            after={"active_suite_id": None},
        )
    core.caches.scores_changed()


# --- hotkey grants (CLI) ------------------------------------------------------------------------------


async def grant_hotkey(
    core: Core,
    *,
    actor: Actor,
    hotkey: str,
    validator_permit: bool,
    stake: float,
    uid: int | None,
    note: str,
    now: datetime,
) -> None:
    async with _unit(core) as session:
        await identity_service.grant(
            session, hotkey=hotkey, validator_permit=validator_permit, stake=stake, uid=uid, note=note
        )
        await audit.record(
            session,
            actor=actor,
            action="GRANT_HOTKEY",
            target_type="hotkey",
            target_id=hotkey,
            now=now,
            reason=note or None,
            after={"validator_permit": validator_permit, "stake": stake, "uid": uid},
        )


async def revoke_hotkey(core: Core, *, actor: Actor, hotkey: str, now: datetime) -> bool:
    async with _unit(core) as session:
        removed = await identity_service.revoke(session, hotkey=hotkey)
        await audit.record(
            session,
            actor=actor,
            action="REVOKE_HOTKEY",
            target_type="hotkey",
            target_id=hotkey,
            now=now,
            before={"granted": removed},
            after={"granted": False},
        )
    return removed


# --- audit trail --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditPage:
    total: int
    limit: int
    offset: int
    events: Sequence[Any] = field(default_factory=list)


async def audit_events(core: Core, *, where: audit.AuditFilter, limit: int, offset: int) -> AuditPage:
    async with core.sessionmaker() as session:
        total, events = await audit.page(session, where=where, limit=limit, offset=offset)
    return AuditPage(total, limit, offset, events)
