"""Read-only Pool queries: miner stats, leaderboard, results, SOTA, the monitor summary, epoch scores."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.cache import TTLCache
from proctor.core.context import Core
from proctor.core.pool.errors import ResultNotFound
from proctor.core.pool.flows import current_window
from proctor.core.pool.statements import AS, A, B, E, M, W, _p, _t
from proctor.core.pool.windows import Window
from proctor.models import PoolWindowPoints, RewardEpoch

WP, EP = _t(PoolWindowPoints), _t(RewardEpoch)

MINER = select(M).where(M.c.hotkey == _p("miner", M.c.hotkey))
MINER_RANK = select(func.count()).where(M.c.reputation > _p("reputation", M.c.reputation))
MINER_WINDOWS = (
    select(WP).where(WP.c.hotkey == _p("miner", WP.c.hotkey)).order_by(WP.c.window_number.desc()).limit(10)
)
LIVE_ASSIGNMENT = select(AS).where(
    AS.c.miner_hotkey == _p("miner", AS.c.miner_hotkey),
    AS.c.status == "ACTIVE",
    AS.c.lease_expires_at > _p("now", AS.c.lease_expires_at),
)
SUMMARY = select(
    select(func.count()).select_from(M).scalar_subquery().label("miners"),
    select(func.count()).select_from(A).scalar_subquery().label("algorithms"),
    select(func.count()).select_from(A).where(A.c.is_seed).scalar_subquery().label("seeds"),
    select(func.count())
    .select_from(A)
    .where(A.c.consensus_score.is_not(None))
    .scalar_subquery()
    .label("scored"),
    select(func.count())
    .select_from(A)
    .where(A.c.consensus_window.is_(None))
    .scalar_subquery()
    .label("unsettled"),
    select(func.count()).select_from(E).scalar_subquery().label("evaluations"),
    select(func.count())
    .select_from(AS)
    .where(AS.c.status == "ACTIVE")
    .scalar_subquery()
    .label("active_leases"),
    select(func.max(W.c.number)).scalar_subquery().label("last_closed_window"),
)
LEADERBOARD = (
    select(
        M.c.hotkey, M.c.reputation, M.c.leases_completed, M.c.evaluations_submitted, M.c.evolutions_submitted
    )
    .order_by(M.c.reputation.desc(), M.c.hotkey)
    .limit(_p("limit", M.c.leases_completed))
)
SOTA = (
    select(A.c.id, A.c.consensus_score, A.c.consensus_window, A.c.submitter_hotkey)
    .where(A.c.task_type == _p("task_type", A.c.task_type), A.c.consensus_score.is_not(None))
    .order_by(A.c.consensus_score.desc(), A.c.id)
    .limit(1)
)
VERIFY = (
    update(A)
    .where(A.c.id == _p("algorithm_id", A.c.id), A.c.consensus_score.is_not(None))
    .values(verified_at=func.coalesce(A.c.verified_at, _p("now", A.c.verified_at)))
    .returning(A.c.id, A.c.verified_at)
)
LATEST_EPOCH = select(EP.c.number, EP.c.published_at).order_by(EP.c.number.desc()).limit(1)
PIPELINE = select(
    select(func.count())
    .select_from(AS)
    .where(AS.c.claimed_at >= _p("since", AS.c.claimed_at))
    .scalar_subquery()
    .label("issued"),
    select(func.count())
    .select_from(AS)
    .where(AS.c.status == "COMPLETED", AS.c.completed_at >= _p("since", AS.c.completed_at))
    .scalar_subquery()
    .label("completed"),
    select(func.count())
    .select_from(AS)
    .where(
        AS.c.status == "COMPLETED",
        AS.c.completed_at >= _p("since", AS.c.completed_at),
        AS.c.evaluations_n == 0,
    )
    .scalar_subquery()
    .label("zero_eval"),
    select(func.count())
    .select_from(AS)
    .where(AS.c.status == "ACTIVE", AS.c.lease_expires_at > _p("now", AS.c.lease_expires_at))
    .scalar_subquery()
    .label("active"),
    select(func.count())
    .select_from(AS)
    .where(AS.c.status == "ACTIVE", AS.c.lease_expires_at <= _p("now", AS.c.lease_expires_at))
    .scalar_subquery()
    .label("overdue"),
    select(func.count()).select_from(B).where(B.c.status == "OPEN").scalar_subquery().label("open_batches"),
)
LAST_WINDOW = select(W).order_by(W.c.number.desc()).limit(1)
POINTS_SINCE = (
    select(WP.c.hotkey, func.sum(WP.c.points).label("points"))
    .join(W, W.c.number == WP.c.window_number)
    .where(W.c.closed_at > _p("since", W.c.closed_at), WP.c.points > 0)
    .group_by(WP.c.hotkey)
)
POINTS_ALL = (
    select(WP.c.hotkey, func.sum(WP.c.points).label("points")).where(WP.c.points > 0).group_by(WP.c.hotkey)
)
DISTRIBUTION = select(
    func.coalesce(func.sum(WP.c.points), 0.0).label("total"),
    func.coalesce(func.sum(WP.c.evaluator_points), 0.0).label("evaluator"),
    func.coalesce(func.sum(WP.c.evolver_points), 0.0).label("evolver"),
    func.count().label("rows"),
    func.coalesce(func.sum(case((WP.c.in_consensus, 1), else_=0)), 0).label("good"),
)


async def one(core: Core, statement: Any, params: dict[str, Any] | None = None) -> Any:
    async with core.db.transaction() as tx:
        return await tx.one(statement, params or {})


async def all_rows(core: Core, statement: Any, params: dict[str, Any] | None = None) -> Sequence[Any]:
    async with core.db.transaction() as tx:
        return await tx.all(statement, params or {})


@dataclass(frozen=True)
class MinerStats:
    miner: Any
    rank: int
    live: Any | None
    windows: Sequence[Any]
    summary: Any
    window: Window


async def miner_stats(core: Core, *, miner: str, now: datetime) -> MinerStats:
    """The miner's record, rank, live assignment and recent windows, with a pool summary."""
    async with core.db.transaction() as tx:
        row = await tx.one(MINER, {"miner": miner})
        rank = 1 + int(await tx.scalar(MINER_RANK, {"reputation": row.reputation if row else 0.0}))
        live = await tx.one(LIVE_ASSIGNMENT, {"miner": miner, "now": now})
        windows = await tx.all(MINER_WINDOWS, {"miner": miner})
        summary = await tx.one(SUMMARY)
    return MinerStats(row, rank, live, windows, summary, current_window(core, now))


async def leaderboard(core: Core, *, limit: int) -> Sequence[Any]:
    return await all_rows(core, LEADERBOARD, {"limit": limit})


def results_statement(*, limit: int, task_type: str | None, min_score: float | None) -> Any:
    conditions: list[Any] = [A.c.consensus_score.is_not(None)]
    if task_type:
        conditions.append(A.c.task_type == task_type)
    if min_score is not None:
        conditions.append(A.c.consensus_score >= min_score)
    return (
        select(A, func.count(E.c.id).label("evaluations"))
        .outerjoin(E, E.c.algorithm_id == A.c.id)
        .where(and_(*conditions))
        .group_by(A.c.id)
        .order_by(A.c.consensus_score.desc(), A.c.id)
        .limit(limit)
    )


async def results(core: Core, *, limit: int, task_type: str | None, min_score: float | None) -> Sequence[Any]:
    """Consensus-scored algorithms, best first."""
    return await all_rows(core, results_statement(limit=limit, task_type=task_type, min_score=min_score))


async def sota(core: Core, *, task_type: str) -> Any | None:
    return await one(core, SOTA, {"task_type": task_type})


async def verify(core: Core, *, result_id: int, now: datetime) -> Any:
    """Mark a consensus-scored result verified (the first verification's time is kept)."""
    async with core.db.transaction() as tx:
        row = await tx.one(VERIFY, {"algorithm_id": result_id, "now": now})
    if row is None:
        raise ResultNotFound(f"Result {result_id} not found or not yet scored by consensus")
    return row


@dataclass(frozen=True)
class LatestEpoch:
    number: int | None
    error: str | None  # why the database could not be read, if it could not


@dataclass(frozen=True)
class Status:
    window: Window
    latest: LatestEpoch


async def status(core: Core, *, now: datetime) -> Status:
    """What `/health` and `/status` report: the window and the latest published epoch."""
    return Status(current_window(core, now), await latest_epoch(core))


async def latest_epoch(core: Core) -> LatestEpoch:
    """The latest published epoch for `/health`: cached 2 s, bounded by the health timeout, and a
    database failure is answered as a read error instead of raised (liveness must still answer)."""
    cache = core.caches.extra.get("pool.latest_epoch")
    if cache is None:
        cache = core.caches.extra["pool.latest_epoch"] = TTLCache[LatestEpoch](2.0, maxsize=1)
    found = cache.get("latest")
    if found is not None:
        return found
    try:
        async with asyncio.timeout(core.settings.health_db_timeout_seconds):
            row = await one(core, LATEST_EPOCH)
    except Exception as exc:  # any driver error or the timeout: reported, not raised
        return LatestEpoch(None, f"database unavailable ({type(exc).__name__})")
    return cache.put("latest", LatestEpoch(row.number if row else None, None))


@dataclass(frozen=True)
class Monitor:
    pipeline: Any
    summary: Any
    last_window: Any | None
    distribution: Any
    window: Window


async def monitor(core: Core, *, now: datetime) -> Monitor:
    async with core.db.transaction() as tx:
        pipeline = await tx.one(PIPELINE, {"since": now - timedelta(minutes=15), "now": now})
        summary = await tx.one(SUMMARY)
        last = await tx.one(LAST_WINDOW)
        distribution = await tx.one(DISTRIBUTION)
    return Monitor(pipeline, summary, last, distribution, current_window(core, now))


async def epoch_scores(session: AsyncSession) -> dict[str, float]:
    """Positive window points per hotkey from windows closed since the latest published epoch."""
    latest = (await session.execute(LATEST_EPOCH)).first()
    if latest is None:
        rows = (await session.execute(POINTS_ALL)).all()
    else:
        rows = (await session.execute(POINTS_SINCE, {"since": latest.published_at})).all()
    return {r.hotkey: float(r.points) for r in rows}
