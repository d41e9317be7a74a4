"""Read-only operator analytics: SQL aggregates over evaluation runs (nothing here writes)."""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, case, column, func, or_, select, values

from proctor.core.context import Core
from proctor.models import Agent, AgentVersion, EvaluationRun, ValidatorState, WorkItem

FINISHED = ("SUCCESS", "FAILED", "TIMED_OUT")
FAILURES = ("FAILED", "TIMED_OUT", "STALE", "CANCELLED")


def _window(
    query: Any, *, suite_id: int | None, phase: str | None, since: datetime | None, until: datetime | None
) -> Any:
    if suite_id is not None:
        query = query.where(EvaluationRun.suite_id == suite_id)
    if phase is not None:
        query = query.where(
            EvaluationRun.work_item_id.in_(select(WorkItem.id).where(WorkItem.phase == phase))
        )
    if since is not None:
        query = query.where(EvaluationRun.completed_at >= since)
    if until is not None:
        query = query.where(EvaluationRun.completed_at <= until)
    return query


@dataclass(frozen=True)
class ScoreEntry:
    validator_hotkey: str
    score: float
    run_id: uuid.UUID


@dataclass(frozen=True)
class VersionVariance:
    agent_version_id: uuid.UUID
    agent_name: str
    miner_hotkey: str
    work_item_id: uuid.UUID
    phase: str
    scores: list[ScoreEntry]

    @property
    def spread(self) -> float:
        values = [s.score for s in self.scores]
        return max(values) - min(values)


async def version_variance(
    core: Core,
    *,
    suite_id: int | None,
    phase: str | None,
    threshold: float,
    limit: int,
    since: datetime | None,
    until: datetime | None,
) -> list[VersionVariance]:
    """Work items whose validators disagree most (max − min of included successful scores), widest first."""
    spread = (func.max(EvaluationRun.validator_score) - func.min(EvaluationRun.validator_score)).label(
        "spread"
    )
    grouped = _window(
        select(EvaluationRun.work_item_id, spread)
        .where(EvaluationRun.status == "SUCCESS", EvaluationRun.is_included.is_(True))
        .group_by(EvaluationRun.work_item_id)
        .having(func.count() >= 2),
        suite_id=suite_id,
        phase=phase,
        since=since,
        until=until,
    )
    async with core.sessionmaker() as session:
        top = (await session.execute(grouped.order_by(spread.desc()).limit(limit))).all()
        ids = [r.work_item_id for r in top]
        rows = (
            await session.execute(
                select(EvaluationRun, AgentVersion.miner_hotkey, Agent.name, WorkItem.phase)
                .join(AgentVersion, AgentVersion.id == EvaluationRun.agent_version_id)
                .join(Agent, Agent.id == AgentVersion.agent_id)
                .join(WorkItem, WorkItem.id == EvaluationRun.work_item_id)
                .where(
                    EvaluationRun.work_item_id.in_(ids),
                    EvaluationRun.status == "SUCCESS",
                    EvaluationRun.is_included.is_(True),
                )
            )
        ).all()
    found: dict[uuid.UUID, VersionVariance] = {}
    for run, miner, name, item_phase in rows:
        entry = found.setdefault(
            run.work_item_id,
            VersionVariance(run.agent_version_id, name, miner, run.work_item_id, item_phase, []),
        )
        entry.scores.append(ScoreEntry(run.validator_hotkey, float(run.validator_score), run.id))
    return sorted(found.values(), key=lambda v: v.spread, reverse=True)


@dataclass
class ValidatorScores:
    validator_hotkey: str
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # (mean, median, population stddev, min, max) of its successful runs' scores and durations.
    score: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    seconds: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    last_failure_reason: str | None = None
    last_failure_at: datetime | None = None


@dataclass(frozen=True)
class Window:
    suite_id: int | None = None
    phase: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: Any) -> Any:
        return _window(query, suite_id=self.suite_id, phase=self.phase, since=self.since, until=self.until)


def _seconds(dialect: str) -> Any:
    """A finished run's duration in seconds, computed by the database (no datetimes cross the wire)."""
    if dialect == "postgresql":
        # date_part is double precision; EXTRACT answers numeric, whose avg/stddev/median cost far more.
        return func.date_part("epoch", EvaluationRun.completed_at - EvaluationRun.claimed_at)
    return (func.julianday(EvaluationRun.completed_at) - func.julianday(EvaluationRun.claimed_at)) * 86400.0


def _stats(column: Any) -> list[Any]:
    """PostgreSQL aggregates matching `summary`: mean, median, population stddev, min, max."""
    return [
        func.avg(column),
        func.percentile_cont(0.5).within_group(column),
        func.stddev_pop(column),
        func.min(column),
        func.max(column),
    ]


def _sqlite_stats(window: Window, succeeded: Sequence[Any], column: Any) -> Any:
    """Per validator: mean, mean of squares, min, max and median of `column` (SQLite has no median or
    stddev aggregate: the median is the middle row(s) of a window ranking, all inside SQLite)."""
    ranked = window.apply(
        select(
            EvaluationRun.validator_hotkey.label("hotkey"),
            column.label("v"),
            func.row_number().over(partition_by=EvaluationRun.validator_hotkey, order_by=column).label("rn"),
            func.count().over(partition_by=EvaluationRun.validator_hotkey).label("n"),
        ).where(*succeeded)
    ).subquery()
    middle = or_(ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2)
    return select(
        ranked.c.hotkey,
        func.avg(ranked.c.v),
        func.avg(ranked.c.v * ranked.c.v),
        func.min(ranked.c.v),
        func.max(ranked.c.v),
        func.avg(case((middle, ranked.c.v))),
    ).group_by(ranked.c.hotkey)


def _floats(values: Sequence[Any]) -> tuple[float, float, float, float, float]:
    a, b, c, d, e = (float(v or 0.0) for v in values)
    return a, b, c, d, e


async def validator_scores(core: Core, *, window: Window) -> list[ValidatorScores]:
    """Per validator: outcome counts, score and duration statistics of its successful runs, and its last
    failure.

    On PostgreSQL counts and every statistic come from one pass over the partial covering index
    `ix_evaluation_runs_validator_finished` (read index-only: the statistics aggregate CASE expressions
    that are NULL outside successful runs, and aggregates skip NULLs), and each validator's last failure
    is one probe of `ix_evaluation_runs_validator_failed`. SQLite (no median or stddev aggregate)
    computes the statistics from the successful runs' two float columns.
    """
    included = (EvaluationRun.status.in_(FINISHED), EvaluationRun.is_included.is_(True))
    succeeded = (
        EvaluationRun.status == "SUCCESS",
        EvaluationRun.is_included.is_(True),
        EvaluationRun.validator_score.is_not(None),
    )
    found: dict[str, ValidatorScores] = {}
    async with core.sessionmaker() as session:
        dialect = session.get_bind().dialect.name
        seconds = _seconds(dialect)
        ok = and_(EvaluationRun.status == "SUCCESS", EvaluationRun.validator_score.is_not(None))
        counts = [
            func.sum(case((EvaluationRun.status == status, 1), else_=0)).label(status) for status in FINISHED
        ]
        stats: list[Any] = []
        if dialect == "postgresql":
            stats = [*_stats(case((ok, EvaluationRun.validator_score))), *_stats(case((ok, seconds)))]
        query = window.apply(
            select(EvaluationRun.validator_hotkey, *counts, *stats)
            .where(*included)
            .group_by(EvaluationRun.validator_hotkey)
        )
        for row in (await session.execute(query)).all():
            entry = found[row[0]] = ValidatorScores(row[0])
            for status, n in zip(FINISHED, row[1:4], strict=True):
                if n:
                    entry.counts[status] = int(n)
            if stats and entry.counts["SUCCESS"]:
                entry.score, entry.seconds = _floats(row[4:9]), _floats(row[9:14])
        if dialect != "postgresql":
            for name, column in (("score", EvaluationRun.validator_score), ("seconds", seconds)):
                for hotkey, mean, squares, low, high, median in (
                    await session.execute(_sqlite_stats(window, succeeded, column))
                ).all():
                    std = max(float(squares) - float(mean) ** 2, 0.0) ** 0.5
                    setattr(found[hotkey], name, (float(mean), float(median), std, float(low), float(high)))
        for hotkey, at, reason in (await session.execute(_last_failures(window, dialect, list(found)))).all():
            if hotkey in found:
                found[hotkey].last_failure_at, found[hotkey].last_failure_reason = at, reason
    return [found[k] for k in sorted(found)]


def _last_failures(window: Window, dialect: str, hotkeys: list[str]) -> Any:
    """Each validator's latest included FAILED/TIMED_OUT run: (hotkey, completed_at, failure_reason)."""
    failed = (EvaluationRun.status.in_(("FAILED", "TIMED_OUT")), EvaluationRun.is_included.is_(True))
    if dialect == "postgresql" and hotkeys:
        # One index probe per validator (newest first, LIMIT 1) instead of a pass over every failure.
        wanted = values(column("hotkey", String(64)), name="wanted").data([(h,) for h in hotkeys])
        latest = (
            window.apply(
                select(EvaluationRun.id).where(EvaluationRun.validator_hotkey == wanted.c.hotkey, *failed)
            )
            .order_by(EvaluationRun.completed_at.desc(), EvaluationRun.id)
            .limit(1)
            .scalar_subquery()
        )
        return select(
            EvaluationRun.validator_hotkey, EvaluationRun.completed_at, EvaluationRun.failure_reason
        ).where(EvaluationRun.id.in_(select(latest).select_from(wanted)))
    at = window.apply(
        select(EvaluationRun.validator_hotkey, func.max(EvaluationRun.completed_at).label("at"))
        .where(*failed)
        .group_by(EvaluationRun.validator_hotkey)
    ).subquery()
    return select(
        EvaluationRun.validator_hotkey, EvaluationRun.completed_at, EvaluationRun.failure_reason
    ).join(
        at,
        (at.c.validator_hotkey == EvaluationRun.validator_hotkey) & (at.c.at == EvaluationRun.completed_at),
    )


def summary(values: list[float]) -> tuple[float, float, float, float, float]:
    """mean, median, population stddev, min, max (zeros for no values)."""
    if not values:
        return 0.0, 0.0, 0.0, 0.0, 0.0
    return (
        statistics.fmean(values),
        statistics.median(values),
        statistics.pstdev(values),
        min(values),
        max(values),
    )


async def validator_failures(core: Core, *, hotkey: str, limit: int) -> tuple[int, list[EvaluationRun]]:
    """A validator's runs that ended without a result, newest first, and how many there are."""
    where = (EvaluationRun.validator_hotkey == hotkey, EvaluationRun.status.in_(FAILURES))
    async with core.sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(EvaluationRun).where(*where))
        runs = await session.scalars(
            select(EvaluationRun)
            .where(*where)
            .order_by(EvaluationRun.completed_at.desc().nulls_last(), EvaluationRun.id)
            .limit(limit)
        )
        return int(total or 0), list(runs)


async def validator_resources(
    core: Core, *, start: datetime, end: datetime, hotkey: str | None, limit: int
) -> list[ValidatorState]:
    """The host metrics validators reported in [start, end]: proctor keeps each validator's latest report
    (not a time series), so this is at most one sample per validator."""
    query = select(ValidatorState).where(
        ValidatorState.metrics_reported_at >= start, ValidatorState.metrics_reported_at <= end
    )
    if hotkey is not None:
        query = query.where(ValidatorState.hotkey == hotkey)
    async with core.sessionmaker() as session:
        return list(await session.scalars(query.order_by(ValidatorState.hotkey).limit(limit)))


@dataclass(frozen=True)
class ReaperStats:
    enabled: bool
    interval_seconds: int
    runs_reaped_total: int
    last_reaped_at: datetime | None


async def reaper_stats(core: Core) -> ReaperStats:
    """The lease reaper's setting and what it has done (from the STALE runs it left behind)."""
    async with core.sessionmaker() as session:
        total, last = (
            await session.execute(
                select(func.count(), func.max(EvaluationRun.completed_at)).where(
                    EvaluationRun.status == "STALE"
                )
            )
        ).one()
    interval = core.settings.reaper_interval_seconds
    return ReaperStats(interval > 0, int(interval), int(total or 0), last)
