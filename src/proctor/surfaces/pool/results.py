"""Pool's results routes: consensus-scored results, the SOTA and verification (reference pool-api §3.4)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from proctor.core.pool import reads
from proctor.http.deps import core_of
from proctor.http.params import Id64
from proctor.storage.base import utcnow
from proctor.surfaces.pool import wire
from proctor.surfaces.pool.auth import WalletAuth

router = APIRouter(tags=["pool: results"])  # mounted at /api/v1/results


@router.get("/", response_model=wire.ResultsResponse)
async def list_results(
    request: Request,
    hotkey: WalletAuth,
    limit: int = Query(default=100, ge=1, le=1000),
    task_type: str | None = Query(default=None, max_length=64),
    min_score: float | None = Query(default=None, allow_inf_nan=False),
) -> wire.ResultsResponse:
    """Results whose score a window's consensus settled, best first (signed)."""
    rows = await reads.results(core_of(request), limit=limit, task_type=task_type, min_score=min_score)
    results = [
        wire.ResultWire(
            id=r.id,
            result_id=r.id,
            algorithm_id=r.id,
            algorithm_dsl=r.algorithm_dsl,
            task_type=r.task_type,
            input_dim=r.input_dim,
            score=r.consensus_score,
            consensus_window=r.consensus_window,
            evaluations=r.evaluations,
            miner_hotkey=r.submitter_hotkey,
            parent_ids=list(r.parent_ids or []),
            is_seed=r.is_seed,
            verified=r.verified_at is not None,
            verified_at=r.verified_at,
            created_at=r.created_at,
        )
        for r in rows
    ]
    return wire.ResultsResponse(results=results, count=len(results))


@router.get("/sota", response_model=wire.SotaResponse)
async def sota(
    request: Request, task_type: str = Query(default="cifar10_binary", max_length=64)
) -> wire.SotaResponse:
    """The best consensus score for `task_type`: it only ratchets up as windows close (public)."""
    row = await reads.sota(core_of(request), task_type=task_type)
    return wire.SotaResponse(
        task_type=task_type,
        sota_score=row.consensus_score if row else None,
        threshold=row.consensus_score if row else None,
        algorithm_id=row.id if row else None,
        window_number=row.consensus_window if row else None,
        miner_hotkey=row.submitter_hotkey if row else None,
    )


@router.post("/verify/{result_id}", response_model=wire.VerifyResponse)
async def verify(request: Request, result_id: Id64, hotkey: WalletAuth) -> wire.VerifyResponse:
    """Mark a consensus-scored result verified (signed; repeating it keeps the first time)."""
    row = await reads.verify(core_of(request), result_id=result_id, now=utcnow())
    return wire.VerifyResponse(result_id=row.id, verified_at=row.verified_at)
