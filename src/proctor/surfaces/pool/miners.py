"""Pool's miner routes: register, stats, leaderboard (reference pool-api §3.2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from proctor.core.pool import flows, reads
from proctor.http.deps import core_of
from proctor.storage.base import utcnow
from proctor.surfaces.pool import wire
from proctor.surfaces.pool.auth import WalletAuth

router = APIRouter(tags=["pool: miners"])  # mounted at /api/v1/miners


def miner_record(row: Any) -> wire.MinerRecord:
    return wire.MinerRecord(
        miner_hotkey=row.hotkey,
        reputation=row.reputation,
        registered_at=row.registered_at,
        last_seen_at=row.last_seen_at,
        leases_completed=row.leases_completed,
        evaluations_submitted=row.evaluations_submitted,
        evolutions_submitted=row.evolutions_submitted,
    )


@router.post("/register", response_model=wire.RegisterResponse)
async def register(request: Request, hotkey: WalletAuth) -> wire.RegisterResponse:
    """Register the signer, or refresh its record (idempotent); answers its reputation and timestamps."""
    row = await flows.register(core_of(request), miner=hotkey, now=utcnow())
    return wire.RegisterResponse(**miner_record(row).model_dump())


@router.get("/stats", response_model=wire.MinerStatsResponse)
async def stats(request: Request, hotkey: WalletAuth) -> wire.MinerStatsResponse:
    """The signer's record, rank, live assignment and recent windows, with a pool summary."""
    found = await reads.miner_stats(core_of(request), miner=hotkey, now=utcnow())
    s = found.summary
    live = found.live
    return wire.MinerStatsResponse(
        miner=miner_record(found.miner) if found.miner else None,
        rank=found.rank if found.miner else None,
        active_assignment=None
        if live is None
        else {
            "lease_id": str(live.id),
            "kind": live.kind,
            "window_number": live.window_number,
            "timeout_at": live.lease_expires_at.isoformat(),
        },
        recent_windows=[
            wire.WindowPointsWire(
                window_number=w.window_number,
                points=w.points,
                evaluator_points=w.evaluator_points,
                evolver_points=w.evolver_points,
                penalty_points=w.penalty_points,
                agreements=w.agreements,
                disagreements=w.disagreements,
                in_consensus=w.in_consensus,
            )
            for w in found.windows
        ],
        pool=summary(s, window=found.window.number),
    )


def summary(s: Any, *, window: int) -> wire.PoolSummary:
    return wire.PoolSummary(
        miners=s.miners,
        algorithms=s.algorithms,
        seeds=s.seeds,
        scored_algorithms=s.scored,
        unsettled_algorithms=s.unsettled,
        evaluations=s.evaluations,
        active_leases=s.active_leases,
        last_closed_window=s.last_closed_window,
        window_number=window,
    )


@router.get("/leaderboard", response_model=wire.LeaderboardResponse)
async def leaderboard(
    request: Request, limit: int = Query(default=50, ge=1, le=500)
) -> wire.LeaderboardResponse:
    """Top miners by reputation (public)."""
    rows = await reads.leaderboard(core_of(request), limit=limit)
    entries = [
        wire.LeaderboardEntry(
            rank=i + 1,
            miner_hotkey=r.hotkey,
            reputation=r.reputation,
            leases_completed=r.leases_completed,
            evaluations_submitted=r.evaluations_submitted,
            evolutions_submitted=r.evolutions_submitted,
        )
        for i, r in enumerate(rows)
    ]
    return wire.LeaderboardResponse(leaderboard=entries, count=len(entries))
