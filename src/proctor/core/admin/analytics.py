"""Read-only operator analytics: SQL aggregates over evaluation runs (nothing here writes)."""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, bindparam, column, func, literal, literal_column, select, true
from sqlalchemy.dialects.postgresql import ARRAY

from proctor.core.context import Core
from proctor.models import Agent, AgentVersion, EvaluationRun, ValidatorState, WorkItem
from proctor.models.evaluations import run_seconds

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


def _terms(dialect: str, status: Any, share: str) -> tuple[Any, ...]:
    """`status` and "included" as the terms of a partial index's predicate: with literals, not bound
    parameters, or neither planner could prove the index applies. On SQLite the status term carries the
    share of runs it holds (likelihood()): without ANALYZE statistics SQLite would otherwise take
    status = … for a selective lookup in `ix_evaluation_runs_status_lease` (then a table read per run
    and a sort) over the covering partial index. The terms still match the index's predicate."""
    if dialect == "postgresql":
        return status, EvaluationRun.is_included == literal_column("true")
    return func.likelihood(status, literal_column(share)), EvaluationRun.is_included == literal_column("1")


def _scored(dialect: str) -> tuple[Any, ...]:
    """An included successful run, as the analytics indexes' predicate writes it (`SCORED_RUN`)."""
    return _terms(dialect, EvaluationRun.status == literal_column("'SUCCESS'"), "0.9")


def _failed(dialect: str) -> tuple[Any, ...]:
    """An included FAILED/TIMED_OUT run, in the terms of `ix_evaluation_runs_validator_failed`."""
    statuses: list[Any] = [literal_column("'FAILED'"), literal_column("'TIMED_OUT'")]
    return _terms(dialect, EvaluationRun.status.in_(statuses), "0.1")


def _seconds() -> Any:
    """A finished run's duration in seconds, as `ix_evaluation_runs_validator_seconds` indexes it (so the
    planners read it from the index instead of computing it per row)."""
    return run_seconds(EvaluationRun.completed_at, EvaluationRun.claimed_at)


def _floats(values: Sequence[Any]) -> tuple[float, float, float, float, float]:
    a, b, c, d, e = (float(v or 0.0) for v in values)
    return a, b, c, d, e


async def validator_scores(core: Core, *, window: Window) -> list[ValidatorScores]:
    """Per validator: outcome counts, score and duration statistics of its successful runs, and its last
    failure.

    One pass over `ix_evaluation_runs_validator_seconds`, a validator's included successes in duration
    order with the duration as the indexed expression (never computed per row; read index-only on
    PostgreSQL), gives the success counts and every mean, spread, min and max; PostgreSQL's
    percentile_cont of the duration sorts input that is already sorted. A median not taken there is a
    validator's one or two middle values (of n: from offset (n − 1) // 2 in index order), read for all
    validators in one statement of short index ranges (`ix_evaluation_runs_validator_scores` for the
    score; on SQLite one statement per 400 validators). The failure counts come from
    `ix_evaluation_runs_validator_failed`, and each validator's last failure is one probe of it. SQLite
    has no stddev aggregate: there it is √(mean of squares − mean²)."""
    found: dict[str, ValidatorScores] = {}
    async with core.sessionmaker() as session:
        dialect = session.get_bind().dialect.name
        postgres = dialect == "postgresql"
        score, seconds = EvaluationRun.validator_score, _seconds()
        timed = score.is_not(None)  # a success's duration counts where its score does

        def stats(value: Any, where: Any = None) -> list[Any]:
            spread = func.stddev_pop(value) if postgres else func.avg(value * value)
            aggregates = [func.avg(value), spread, func.min(value), func.max(value)]
            return aggregates if where is None else [a.filter(where) for a in aggregates]

        median = [func.percentile_cont(literal_column("0.5")).within_group(seconds).filter(timed)]
        query = window.apply(
            select(
                EvaluationRun.validator_hotkey,
                func.count(),
                func.count(score),
                *stats(score),
                *stats(seconds, timed),
                *(median if postgres else []),
            )
            .where(*_scored(dialect))
            .group_by(EvaluationRun.validator_hotkey)
        )
        passed: dict[str, tuple[int, Sequence[Any]]] = {}
        for hotkey, successes, with_score, *row in (await session.execute(query)).all():
            found.setdefault(hotkey, ValidatorScores(hotkey)).counts["SUCCESS"] = int(successes)
            if with_score:
                passed[hotkey] = int(with_score), row
        if passed:
            metrics = ("score",) if postgres else ("score", "seconds")
            middles = await _middles(
                session, window, dialect, {h: n for h, (n, _) in passed.items()}, metrics
            )
            for hotkey, (_, row) in passed.items():
                entry = found[hotkey]
                if postgres:
                    s_mean, s_std, s_low, s_high, d_mean, d_std, d_low, d_high, d_median = row
                    entry.score = _floats((s_mean, _lerp(middles[hotkey, "score"]), s_std, s_low, s_high))
                    entry.seconds = _floats((d_mean, d_median, d_std, d_low, d_high))
                else:
                    for name, (mean, squares, low, high) in (("score", row[:4]), ("seconds", row[4:])):
                        std = max(float(squares) - float(mean) ** 2, 0.0) ** 0.5
                        pair = middles[hotkey, name]
                        value = _floats((mean, sum(pair) / len(pair), std, low, high))
                        setattr(entry, name, value)
        failures = window.apply(
            select(EvaluationRun.validator_hotkey, EvaluationRun.status, func.count())
            .where(*_failed(dialect))
            .group_by(EvaluationRun.validator_hotkey, EvaluationRun.status)
        )
        for hotkey, status, n in (await session.execute(failures)).all():
            found.setdefault(hotkey, ValidatorScores(hotkey)).counts[status] = int(n)
        for hotkey, at, reason in (await session.execute(_last_failures(window, dialect, list(found)))).all():
            if hotkey in found:
                found[hotkey].last_failure_at, found[hotkey].last_failure_reason = at, reason
    return [found[k] for k in sorted(found)]


def _lerp(pair: list[float]) -> float:
    """The median from the middle value(s) exactly as PostgreSQL's percentile_cont(0.5) computes it."""
    low, high = min(pair), max(pair)
    return low if low == high else low + 0.5 * (high - low)


async def _middles(
    session: Any, window: Window, dialect: str, counts: dict[str, int], metrics: Sequence[str]
) -> dict[tuple[str, str], list[float]]:
    """Each validator's middle value, or two middle values, of its n scored successes in the window,
    per metric ("score" or "seconds"): from offset (n − 1) // 2 in the metric's index order, one value
    if n is odd, else two. One short index range per validator and metric."""
    middles: dict[tuple[str, str], list[float]] = defaultdict(list)
    score = EvaluationRun.validator_score
    for name in metrics:
        value = score if name == "score" else _seconds()
        if dialect == "postgresql":
            wanted = _unnest(
                ("hotkey", String, list(counts)),
                ("skip", Integer, [(n - 1) // 2 for n in counts.values()]),
                ("take", Integer, [2 - n % 2 for n in counts.values()]),
            )
            middle = (
                window.apply(
                    select(value.label("v")).where(
                        EvaluationRun.validator_hotkey == wanted.c.hotkey,
                        *_scored(dialect),
                        score.is_not(None),
                    )
                )
                .order_by(value)
                .offset(wanted.c.skip)
                .limit(wanted.c.take)
                .lateral("middle")
            )
            query = select(wanted.c.hotkey, middle.c.v).select_from(wanted).join(middle, true())
            for hotkey, v in (await session.execute(query)).all():
                middles[hotkey, name].append(float(v))
        else:
            for hotkey, v in await _sqlite_middles(session, window, value, counts):
                middles[hotkey, name].append(float(v))
    return middles


async def _sqlite_middles(session: Any, window: Window, value: Any, counts: dict[str, int]) -> list[Any]:
    """SQLite's middles (its LIMIT and OFFSET cannot name an outer column, so no LATERAL): the same
    parameterised range read once per validator, compiled once and repeated in a UNION ALL of at most
    SQLite's 500 compound terms per statement, so a few round trips instead of one per validator."""
    score = EvaluationRun.validator_score
    conn = await session.connection()
    template = (
        window.apply(
            select(value.label("v")).where(
                EvaluationRun.validator_hotkey == bindparam("middle_hotkey"),
                *_scored("sqlite"),
                score.is_not(None),
            )
        )
        .order_by(value)
        .offset(bindparam("middle_skip"))
        .limit(bindparam("middle_take"))
    )
    compiled = template.compile(dialect=conn.dialect)
    processors = {k: b.type.bind_processor(conn.dialect) for k, b in compiled.binds.items()}
    part = f"SELECT ? AS h, v FROM ({compiled.string})"
    rows: list[Any] = []
    items = list(counts.items())
    for start in range(0, len(items), 400):
        chunk, params = items[start : start + 400], []
        for hotkey, n in chunk:
            given = {
                **compiled.params,
                "middle_hotkey": hotkey,
                "middle_skip": (n - 1) // 2,
                "middle_take": 2 - n % 2,
            }
            params.append(hotkey)
            for key in compiled.positiontup or ():
                process = processors[key]
                params.append(process(given[key]) if process else given[key])
        statement = " UNION ALL ".join([part] * len(chunk))
        rows.extend((await conn.exec_driver_sql(statement, tuple(params))).all())
    return rows


def _unnest(*columns: tuple[str, Any, list[Any]]) -> Any:
    """PostgreSQL: rows of values as `unnest(array, …) AS wanted(name, …)`, one array parameter per
    column (unlike VALUES, whose compiled form depends on the row count, the statement stays cached)."""
    arrays = [literal(data, ARRAY(kind)) for _, kind, data in columns]
    names = [column(name, kind) for name, kind, _ in columns]
    return func.unnest(*arrays).table_valued(*names).render_derived(name="wanted")


def _last_failures(window: Window, dialect: str, hotkeys: list[str]) -> Any:
    """Each validator's latest included FAILED/TIMED_OUT run: (hotkey, completed_at, failure_reason)."""
    failed = _failed(dialect)
    if dialect == "postgresql" and hotkeys:
        # One index probe per validator (newest first, LIMIT 1) instead of a pass over every failure.
        wanted = _unnest(("hotkey", String, hotkeys))
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
    return (
        select(EvaluationRun.validator_hotkey, EvaluationRun.completed_at, EvaluationRun.failure_reason)
        .join(
            at,
            (at.c.validator_hotkey == EvaluationRun.validator_hotkey)
            & (at.c.at == EvaluationRun.completed_at),
        )
        .where(*failed)
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
