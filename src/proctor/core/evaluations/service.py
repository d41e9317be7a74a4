"""The evaluation lifecycle: work items, leased runs, progress, completion, aggregation, the top agent.

An accepted agent version becomes a work item needing `required_successes` successful runs from
distinct validators. A validator claims the oldest open item it has not run yet and gets a run with a
lease; it heartbeats, reports per-problem progress, uploads logs, and completes. When enough distinct
validators succeed the item closes and the version becomes ELIGIBLE with the aggregate of their
scores; enough distinct failures discard it. Runs whose lease lapses are reaped as STALE and their
slot goes back to the queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core import leases
from proctor.core.cache import TTLCache, scope_of
from proctor.core.evaluations import top as top_service
from proctor.core.evaluations.aggregation import aggregate, valid_score
from proctor.core.evaluations.repository import EvaluationRepository
from proctor.core.scores import leaderboard
from proctor.errors import BadRequest, Conflict, NotFound, ValidationFailed
from proctor.models import AgentVersion, EvaluationRun, Problem, RunProblemResult, WorkItem
from proctor.models.evaluations import ACTIVE_RUN_STATUSES

TERMINAL_RUN = frozenset({"SUCCESS", "FAILED", "TIMED_OUT", "STALE", "CANCELLED"})
DONE_PROBLEM = ("SUCCESS", "FAILED", "TIMED_OUT", "SKIPPED")

RUN_LEASES = leases.LeaseSpec(
    model=EvaluationRun,
    owner_attr="validator_hotkey",
    active=frozenset(ACTIVE_RUN_STATUSES),
    terminal=TERMINAL_RUN,
    expired_status="STALE",
    not_found_code="EVAL_RUN_NOT_FOUND",
    not_owner_code="NOT_RUN_OWNER",
    expired_code="LEASE_EXPIRED",
    finished_code="RUN_ALREADY_COMPLETE",
    noun="evaluation run",
)


@dataclass(frozen=True)
class Policy:
    required_successes: int = 2
    max_failures: int = 3
    lease_seconds: int = 180
    aggregation: str = "median"
    release_delay_seconds: int = 24 * 3600
    top_margin: float = 0.05
    upload_max_bytes: int = 50 * 1024 * 1024


def policy_from(settings: Any) -> Policy:
    return Policy(
        required_successes=settings.eval_required_successes,
        max_failures=settings.eval_max_failures,
        lease_seconds=settings.eval_lease_seconds,
        aggregation=settings.eval_aggregation,
        release_delay_seconds=settings.code_release_delay_seconds,
        top_margin=settings.top_margin,
        upload_max_bytes=settings.blob_max_upload_bytes,
    )


@dataclass(frozen=True)
class HostReport:
    """What a validator says about itself on claim and heartbeat."""

    service_versions: Mapping[str, Any] | None = None
    cpu_pct: float | None = None
    ram_pct: float | None = None
    disk_pct: float | None = None
    docker_container_count: int | None = None


class AtCapacity(Conflict):
    code = "AT_CAPACITY"
    default_message = "Validator already holds an active evaluation run"


# --- queueing -----------------------------------------------------------------------------------


async def enqueue(session: AsyncSession, *, version: AgentVersion, policy: Policy, now: datetime) -> WorkItem:
    """Make an accepted version wait for validators (called in the submission's transaction)."""
    assert version.suite_id is not None, "an accepted version always has a suite"
    item = WorkItem(
        id=uuid.uuid4(),
        agent_version_id=version.id,
        suite_id=version.suite_id,
        phase="QUALIFYING",
        status="OPEN",
        required_successes=policy.required_successes,
        queued_at=now,
    )
    session.add(item)
    await session.flush()
    return item


# --- claiming and the lease -----------------------------------------------------------------------


async def reap_expired(session: AsyncSession, *, now: datetime) -> int:
    """STALE every run whose lease lapsed and give its slot back to the queue."""
    repo = EvaluationRepository(session)
    stale = await leases.reap(session, RUN_LEASES, now=now)
    for run in stale:
        item = await repo.item(run.work_item_id, lock=True)
        if item is not None:
            item.active_count = max(0, item.active_count - 1)
            await _reset_version_state(repo, item)
    await session.flush()
    return len(stale)


@dataclass(frozen=True)
class Claim:
    run: EvaluationRun
    item: WorkItem
    version: AgentVersion


async def claim(
    session: AsyncSession, *, validator: str, policy: Policy, now: datetime, report: HostReport | None = None
) -> Claim | None:
    """FIFO claim of the oldest open item this validator has not run; None when there is none."""
    repo = EvaluationRepository(session)
    await _record_validator(session, validator=validator, now=now, report=report, claimed=True)
    active = await repo.active_run_of(validator)
    if active is not None:
        if active.lease_expires_at > now:
            raise AtCapacity()
        await reap_expired(session, now=now)  # its own lapsed run: free it now, not at the next reaper tick
    item: WorkItem | None = await leases.lock_next(session, repo.next_item_query(validator))
    if item is None and await reap_expired(session, now=now):
        item = await leases.lock_next(session, repo.next_item_query(validator))  # a lapsed slot came back
    if item is None:
        return None
    version = await repo.version(item.agent_version_id, lock=True)
    assert version is not None
    run = EvaluationRun(
        id=uuid.uuid4(),
        work_item_id=item.id,
        agent_version_id=item.agent_version_id,
        suite_id=item.suite_id,
        validator_hotkey=validator,
        status="CLAIMED",
        claimed_at=now,
        lease_expires_at=now + timedelta(seconds=policy.lease_seconds),
        service_versions=dict(report.service_versions) if report and report.service_versions else None,
    )
    session.add(run)
    item.active_count += 1
    if version.state in ("QUEUED", "RECEIVED"):
        version.state = "RUNNING"
    try:
        await session.flush()
    except IntegrityError:
        # A concurrent claim by the same validator won: the database's one-active-run rule decides.
        raise AtCapacity() from None
    return Claim(run=run, item=item, version=version)


async def heartbeat(
    session: AsyncSession,
    *,
    run_id: uuid.UUID,
    validator: str,
    policy: Policy,
    now: datetime,
    report: HostReport | None = None,
) -> EvaluationRun:
    """Extend the lease and mark the run RUNNING."""
    run = await leases.renew(
        session, RUN_LEASES, lease_id=run_id, owner=validator, now=now, seconds=policy.lease_seconds
    )
    run.status = "RUNNING"
    if report and report.service_versions:
        run.service_versions = dict(report.service_versions)
    await _record_validator(session, validator=validator, now=now, report=report, claimed=False)
    await session.flush()
    return run


async def _record_validator(
    session: AsyncSession, *, validator: str, now: datetime, report: HostReport | None, claimed: bool
) -> None:
    metrics = None
    if report is not None and any(
        v is not None
        for v in (report.cpu_pct, report.ram_pct, report.disk_pct, report.docker_container_count)
    ):
        metrics = {
            "cpu_pct": report.cpu_pct,
            "ram_pct": report.ram_pct,
            "disk_pct": report.disk_pct,
            "docker_container_count": report.docker_container_count,
        }
    await EvaluationRepository(session).touch_validator(
        validator,
        now=now,
        claimed=claimed,
        service_versions=dict(report.service_versions) if report and report.service_versions else None,
        metrics=metrics,
    )


# --- progress -------------------------------------------------------------------------------------

MERGED_FIELDS = (
    "score",
    "score_components_summary",
    "logs_s3_key",
    "reasoning_score",
    "inference_failure_count",
    "inference_total",
    "execution_time",
)


@dataclass(frozen=True)
class ProblemUpdate:
    problem_id: uuid.UUID
    status: str
    fields: Mapping[str, Any] = field(default_factory=dict)  # only the fields the validator sent


async def progress(
    session: AsyncSession,
    *,
    run_id: uuid.UUID,
    validator: str,
    updates: Sequence[ProblemUpdate],
    now: datetime,
) -> EvaluationRun:
    """Merge per-problem results: a field a later update omits (or sends as null) is never wiped."""
    run = await leases.hold(session, RUN_LEASES, lease_id=run_id, owner=validator, now=now)
    repo = EvaluationRepository(session)
    known = await suite_problem_ids(session, run.suite_id)
    unknown = [str(u.problem_id) for u in updates if u.problem_id not in known]
    if unknown:
        raise BadRequest(
            f"Unknown problem id(s) for this run's suite: {', '.join(unknown[:5])}", code="INVALID_PROBLEM_ID"
        )
    # One read of the run's rows, then one batched flush: validators resend everything every 10 s.
    rows = {row.problem_id: row for row in await repo.problem_results([run.id])}
    for update in updates:
        row = rows.get(update.problem_id)
        if row is None:
            row = rows[update.problem_id] = RunProblemResult(run_id=run.id, problem_id=update.problem_id)
            session.add(row)
        row.status = update.status
        for name in MERGED_FIELDS:
            value = update.fields.get(name)
            if value is not None:
                setattr(row, name, value)
        row.updated_at = now
    run.progress_total = len(known)
    run.progress_done = sum(1 for row in rows.values() if row.status in DONE_PROBLEM)
    await session.flush()
    return run


# A suite's problems never change once imported, so their ids are cached per database and suite.
_PROBLEM_IDS: TTLCache[frozenset[uuid.UUID]] = TTLCache(3600, maxsize=64)


async def suite_problem_ids(session: AsyncSession, suite_id: int) -> frozenset[uuid.UUID]:
    """The problem ids of a suite."""
    key = (scope_of(session), suite_id)
    cached = _PROBLEM_IDS.get(key)
    if cached is None:
        cached = _PROBLEM_IDS.put(
            key, frozenset(await EvaluationRepository(session).suite_problem_ids(suite_id))
        )
    return cached


async def check_upload(
    session: AsyncSession,
    *,
    run_id: uuid.UUID,
    problem_id: uuid.UUID,
    validator: str,
    content_length: int,
    content_type: str,
    policy: Policy,
    now: datetime,
) -> EvaluationRun:
    """May `validator` upload a log of this size for this run and problem?"""
    repo = EvaluationRepository(session)
    run = await repo.run(run_id)
    if run is None:
        raise NotFound("Evaluation run not found", code="EVAL_RUN_NOT_FOUND")
    if problem_id not in await suite_problem_ids(session, run.suite_id):
        raise NotFound("Problem not found in this run's suite", code="PROBLEM_NOT_FOUND")
    run = await leases.hold(session, RUN_LEASES, lease_id=run_id, owner=validator, now=now)
    if content_length <= 0:
        raise ValidationFailed("content_length must be positive")
    if content_length > policy.upload_max_bytes:
        raise BadRequest(f"Uploads are limited to {policy.upload_max_bytes} bytes", code="FILE_TOO_LARGE")
    if (
        not content_type
        or len(content_type) > 100
        or "/" not in content_type
        or any(c in content_type for c in "\r\n")
    ):
        raise ValidationFailed("content_type must be a MIME type such as application/gzip")
    return run


# --- completion and aggregation -------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    run: EvaluationRun
    item: WorkItem
    became_eligible: bool
    final_score: float | None


async def complete(
    session: AsyncSession,
    *,
    run_id: uuid.UUID,
    validator: str,
    status: str,
    score: float | None,
    failure_reason: str | None,
    details: Mapping[str, Any],
    policy: Policy,
    now: datetime,
) -> Completion:
    """Finish a run (idempotently) and close or discard its work item when the counts say so."""
    _validate_completion(status, score, failure_reason)
    finished = await leases.finish(
        session, RUN_LEASES, lease_id=run_id, owner=validator, now=now, status=status
    )
    run = finished.row
    repo = EvaluationRepository(session)
    item = await repo.item(run.work_item_id, lock=True)
    assert item is not None
    if finished.changed:
        run.validator_score = score if status == "SUCCESS" else None
        run.failure_reason = failure_reason if status != "SUCCESS" else None
        for name in ("score_components", "results_s3_key", "sandbox_metadata"):
            if details.get(name) is not None:
                setattr(run, name, details[name])
        item.active_count = max(0, item.active_count - 1)
        if status == "SUCCESS":
            item.success_count += 1
        else:
            item.failure_count += 1
        await session.flush()  # the aggregation below reads this run's score back from the database
        await _settle(session, repo, item, policy=policy, now=now)
    await session.flush()
    became = item.status == "CLOSED" and item.closed_at == run.completed_at and status == "SUCCESS"
    return Completion(run=run, item=item, became_eligible=became, final_score=item.final_score)


def _validate_completion(status: str, score: float | None, failure_reason: str | None) -> None:
    if status == "SUCCESS":
        if score is None:
            raise BadRequest(
                "validator_score is required when terminal_status is SUCCESS", code="MISSING_SCORE"
            )
        if not valid_score(score):
            raise ValidationFailed("validator_score must be a finite number between 0 and 1")
        return
    if score is not None:
        raise ValidationFailed("validator_score must be omitted unless terminal_status is SUCCESS")
    if not (failure_reason and failure_reason.strip()):
        raise ValidationFailed(f"failure_reason is required when terminal_status is {status}")


async def _settle(
    session: AsyncSession, repo: EvaluationRepository, item: WorkItem, *, policy: Policy, now: datetime
) -> None:
    """Close the item (version ELIGIBLE) or discard it (version DISCARDED) once the counts decide."""
    if item.status != "OPEN":
        return
    version = await repo.version(item.agent_version_id, lock=True)
    assert version is not None
    if item.success_count >= item.required_successes:
        scores = await repo.included_success_scores(item.id)
        item.final_score = aggregate(scores, policy.aggregation)
        item.status, item.closed_at = "CLOSED", now
        version.state, version.final_score = "ELIGIBLE", item.final_score
        version.eligible_at = now
        version.code_available_at = now + timedelta(seconds=policy.release_delay_seconds)
        await session.flush()
        await top_service.consider(session, version=version, margin=policy.top_margin, now=now)
        leaderboard.invalidate_totals()
        top_service.invalidate()
    elif item.failure_count >= policy.max_failures:
        item.status, item.closed_at = "DISCARDED", now
        version.state, version.discarded_at = "DISCARDED", now
        version.discard_reason = f"{item.failure_count} validators could not evaluate it"
        top_service.invalidate()
    else:
        await _reset_version_state(repo, item)


async def _reset_version_state(repo: EvaluationRepository, item: WorkItem) -> None:
    """An open item with nobody on it is QUEUED again; with somebody on it, RUNNING."""
    if item.status != "OPEN":
        return
    version = await repo.version(item.agent_version_id)
    if version is not None and version.state in ("QUEUED", "RUNNING"):
        version.state = "RUNNING" if item.active_count > 0 else "QUEUED"


# --- reads ------------------------------------------------------------------------------------------


async def run_for_validator(session: AsyncSession, *, run_id: uuid.UUID, validator: str) -> EvaluationRun:
    """A run its validator may read; another validator's run is not found (ORO declares only 404)."""
    run = await EvaluationRepository(session).run(run_id)
    if run is None or run.validator_hotkey != validator:
        raise NotFound("Evaluation run not found", code="EVAL_RUN_NOT_FOUND")
    return run


async def run_problems(session: AsyncSession, *, run: EvaluationRun) -> Sequence[Problem]:
    """The problems a run evaluates: its suite's, in suite order (ground truth included)."""
    return await EvaluationRepository(session).suite_problems(run.suite_id)
