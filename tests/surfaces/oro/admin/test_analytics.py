"""The admin analytics' SQL aggregates agree with plain Python statistics, on SQLite and PostgreSQL."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bench.admin import seed
from sqlalchemy import event, select, update

from proctor.config import Settings
from proctor.core.admin import analytics
from proctor.core.context import build_core
from proctor.models import EvaluationRun
from proctor.storage import migrate


async def test_validator_scores_and_variance_match_python(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    settings = make_settings(database_url=database_url)
    if settings.is_sqlite:
        await migrate.upgrade(settings)
    core = build_core(settings, gate_workers=0)
    try:
        await seed(core, 1000, 7)
        async with core.sessionmaker() as session:
            runs = list(await session.scalars(select(EvaluationRun)))
        scores: dict[str, list[float]] = defaultdict(list)
        durations: dict[str, list[float]] = defaultdict(list)
        failures: dict[str, int] = defaultdict(int)
        for r in runs:
            if r.status == "SUCCESS":
                scores[r.validator_hotkey].append(r.validator_score)
                assert r.completed_at is not None
                durations[r.validator_hotkey].append((r.completed_at - r.claimed_at).total_seconds())
            else:
                failures[r.validator_hotkey] += 1

        found = await analytics.validator_scores(core, window=analytics.Window())
        assert {v.validator_hotkey for v in found} == set(scores) | set(failures)
        for v in found:
            mine = scores[v.validator_hotkey]
            expected = analytics.summary(mine)
            assert v.score == pytest.approx(expected, abs=1e-9)
            assert v.seconds == pytest.approx(analytics.summary(durations[v.validator_hotkey]), abs=1e-3)
            assert v.counts["SUCCESS"] == len(mine) and v.counts["FAILED"] == failures[v.validator_hotkey]
            assert statistics.median(mine) == pytest.approx(v.score[1])

        widest = await analytics.version_variance(
            core, suite_id=None, phase=None, threshold=0.1, limit=5, since=None, until=None
        )
        by_item: dict[object, list[float]] = defaultdict(list)
        for r in runs:
            if r.status == "SUCCESS":
                by_item[r.work_item_id].append(r.validator_score)
        spreads = sorted((max(s) - min(s) for s in by_item.values() if len(s) >= 2), reverse=True)[:5]
        assert [v.spread for v in widest] == pytest.approx(spreads)
    finally:
        await core.close()


def _reference(runs: list[EvaluationRun], window: analytics.Window) -> dict[str, dict[str, Any]]:
    """validator-scores computed the plain way: filter the runs in Python, then summarise."""
    chosen = [
        r
        for r in runs
        if r.is_included
        and r.status in analytics.FINISHED
        and r.completed_at is not None
        and (window.since is None or r.completed_at >= window.since)
        and (window.until is None or r.completed_at <= window.until)
    ]
    found: dict[str, dict[str, Any]] = {}
    for r in chosen:
        entry = found.setdefault(
            r.validator_hotkey, {"counts": Counter(), "scores": [], "seconds": [], "failures": []}
        )
        entry["counts"][r.status] += 1
        if r.status == "SUCCESS" and r.validator_score is not None:
            assert r.completed_at is not None
            entry["scores"].append(r.validator_score)
            entry["seconds"].append((r.completed_at - r.claimed_at).total_seconds())
        elif r.status != "SUCCESS":
            entry["failures"].append(r)
    for entry in found.values():
        last = max(entry["failures"], key=lambda r: r.completed_at, default=None)
        entry["last"] = (last.completed_at, last.failure_reason) if last else (None, None)
    return found


async def test_validator_scores_match_a_reference_over_a_window(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    """Counts, statistics (odd and even counts: one middle value or two), last failures: the same as a
    plain computation over the runs, for the whole history and for a time window through its middle;
    excluded (invalidated) runs, runs still going or lapsed, and a success without a score are left
    where they belong."""
    settings = make_settings(database_url=database_url)
    if settings.is_sqlite:
        await migrate.upgrade(settings)
    core = build_core(settings, gate_workers=0)
    try:
        await seed(core, 600, 11)  # 120 versions, 5 runs each, from 50 validators, a minute apart
        async with core.sessionmaker() as session, session.begin():
            ids = list(await session.scalars(select(EvaluationRun.id).order_by(EvaluationRun.id)))
            for i, run_id in enumerate(ids):
                change: dict[str, Any] = {}
                if i % 17 == 0:
                    change["is_included"] = False  # invalidated: counts nowhere
                elif i % 23 == 0:
                    change["status"] = "TIMED_OUT"
                    change.update(validator_score=None, failure_reason=f"slow {i}")
                elif i % 29 == 0:
                    change["status"] = "STALE"  # lapsed: not finished
                elif i % 31 == 0:
                    change["validator_score"] = None  # a success without a score: counted, no statistic
                    change["status"] = "SUCCESS"
                if change:
                    await session.execute(
                        update(EvaluationRun).where(EvaluationRun.id == run_id).values(change)
                    )
        async with core.sessionmaker() as session:
            runs = list(await session.scalars(select(EvaluationRun)))
        times = sorted(r.completed_at for r in runs if r.completed_at is not None)
        middle = analytics.Window(since=times[len(times) // 3], until=times[2 * len(times) // 3])
        for window in (analytics.Window(), middle, analytics.Window(since=times[-40])):
            expected = _reference(runs, window)
            found = await analytics.validator_scores(core, window=window)
            assert [v.validator_hotkey for v in found] == sorted(expected)
            parities = set()
            for v in found:
                want = expected[v.validator_hotkey]
                assert {k: n for k, n in v.counts.items() if n} == dict(want["counts"])
                assert v.score == pytest.approx(analytics.summary(want["scores"]), rel=1e-12, abs=1e-12)
                # SQLite's julianday() counts whole milliseconds
                assert v.seconds == pytest.approx(analytics.summary(want["seconds"]), abs=1e-3)
                assert (v.last_failure_at, v.last_failure_reason) == want["last"]
                parities.add(len(want["scores"]) % 2)
            if window == analytics.Window():
                assert parities == {0, 1}  # both kinds of median were computed
                assert any(want["counts"]["TIMED_OUT"] for want in expected.values())
        assert len(_reference(runs, middle)) < len(_reference(runs, analytics.Window())) or sum(
            sum(e["counts"].values()) for e in _reference(runs, middle).values()
        ) < sum(sum(e["counts"].values()) for e in _reference(runs, analytics.Window()).values())
    finally:
        await core.close()


async def test_validator_scores_read_the_analytics_indexes_on_sqlite(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Without ANALYZE statistics SQLite would read `status = 'SUCCESS'` through the lease index (a
    table read per run, then a sort): every statement of validator-scores reads an analytics index
    instead, scans only covering ones, with and without a time window."""
    settings = make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'plans.db'}")
    await migrate.upgrade(settings)
    core = build_core(settings, gate_workers=0)
    try:
        await seed(core, 50, 3)
        engine = core.sessionmaker.kw["bind"]
        seen: list[tuple[str, Any]] = []

        def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                seen.append((statement, parameters))

        event.listen(engine.sync_engine, "before_cursor_execute", record)
        since = datetime.now(UTC) - timedelta(minutes=5)
        for window in (analytics.Window(), analytics.Window(since=since, suite_id=1)):
            await analytics.validator_scores(core, window=window)
        event.remove(engine.sync_engine, "before_cursor_execute", record)
        assert len(seen) >= 8
        async with engine.connect() as conn:
            for statement, parameters in seen:
                plan = [
                    row[3]
                    for row in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                ]
                reads = [step for step in plan if " evaluation_runs " in f"{step} "]
                assert reads, plan
                for step in reads:
                    # covering, but for the last failures' reasons (a lookup per validator)
                    assert "INDEX ix_evaluation_runs_validator_" in step, plan
                    assert "COVERING" in step or step.startswith("SEARCH"), plan
    finally:
        await core.close()
