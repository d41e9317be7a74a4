"""The admin analytics' SQL aggregates agree with plain Python statistics, on SQLite and PostgreSQL."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable

import pytest
from bench.admin import seed
from sqlalchemy import select

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
