"""Pool's root routes: `/health` fields, `/status`, the disclaimer and the monitor summary
(reference pool-api §3.1, §3.5, §2.3).

`onchain_runtime` reports what is true of proctor: the proof API is enabled when the claim app is
mounted, the publisher is the periodic epoch job (`running` when it is switched on in this process
or a worker), and proctor has no veto/challenge contract, so no veto is ever active. `read_error` (and
`status: "degraded"`) reports a database that cannot be read, so the validators' verifier fails then.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import PlainTextResponse

from proctor.core.context import Core
from proctor.core.pool import reads
from proctor.errors import Unauthorized
from proctor.http.deps import core_of
from proctor.storage.base import utcnow
from proctor.surfaces.pool.miners import summary

router = APIRouter(tags=["pool: root"])  # mounted at the root
api_router = APIRouter(tags=["pool: root"])  # mounted at /api/v1

DEFAULT_DISCLAIMER = """# Disclaimer

This Pool is operated with proctor. Mining rewards are computed from per-window consensus over
miners' evaluations and are published as Merkle epochs that each miner claims; amounts, timing and
the availability of the service are not guaranteed. Published epochs never change. Run the client at
your own risk and keep your keys safe: this service never asks for a seed phrase or a coldkey secret.
"""


async def pool_health(core: Core) -> dict[str, Any]:
    """The Pool fields of `/health` and `/status`."""
    s = core.settings
    found = await reads.status(core, now=utcnow())
    window, latest = found.window, found.latest
    publisher_on = s.epoch_publish_interval_seconds > 0
    return {
        "status": "healthy" if latest.error is None else "degraded",
        "window_number": window.number,
        "current_block": window.current_block,
        "time_remaining_s": window.time_remaining_s,
        "block_source": window.block_source,
        "window_blocks": s.pool_window_blocks,
        "onchain_runtime": {
            "enabled": bool(s.claims_enabled and publisher_on),
            "contract_status": {
                "active_veto_count": 0,
                "is_veto_active": False,
                "claim_ready": latest.number is not None,
                "read_error": latest.error,
                "latest_published_epoch": latest.number,
            },
            "proof_api": {"enabled": s.claims_enabled, "path_prefix": s.claims_path_prefix},
            "accounts": {"publisher": s.pool_publisher_hotkey or None},
            "processes": [
                {
                    "name": "publisher",
                    "running": publisher_on,
                    "interval_seconds": s.epoch_publish_interval_seconds,
                    "scores": s.epoch_scores or "proctor:top",
                }
            ],
            "verifier_diagnostics": {"verifier_count": 0},
        },
    }


@router.get("/status")
async def status(request: Request) -> dict[str, Any]:
    """Pool health, window and on-chain runtime (what `/health` answers, at the verifier's path)."""
    return await pool_health(core_of(request))


def _disclaimer(request: Request) -> str:
    path = core_of(request).settings.pool_disclaimer_file
    if path:
        try:
            return Path(path).read_text(encoding="utf-8")
        except OSError:
            return DEFAULT_DISCLAIMER
    return DEFAULT_DISCLAIMER


class MarkdownResponse(PlainTextResponse):
    media_type = "text/markdown"  # what the schema publishes; Starlette adds the charset


@router.get("/disclaimer.md", response_class=MarkdownResponse)
@api_router.get("/disclaimer.md", response_class=MarkdownResponse)
async def disclaimer_markdown(request: Request) -> MarkdownResponse:
    """The operator's disclaimer as Markdown."""
    return MarkdownResponse(_disclaimer(request))


@api_router.get("/disclaimer")
async def disclaimer(request: Request) -> dict[str, Any]:
    """The operator's disclaimer as JSON."""
    text = _disclaimer(request)
    title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.strip()), "Disclaimer")
    return {"title": title, "format": "markdown", "content": text, "markdown": text}


@api_router.get("/monitor/summary")
async def monitor_summary(
    request: Request, x_monitor_token: str | None = Header(default=None, max_length=512)
) -> dict[str, Any]:
    """Lease pipeline counts, overdue leases and reward distribution (X-Monitor-Token when configured)."""
    core, now = core_of(request), utcnow()
    token = core.settings.pool_monitor_token
    if token and not hmac.compare_digest((x_monitor_token or "").encode(), token.encode()):
        raise Unauthorized("Invalid monitor token")
    m = await reads.monitor(core, now=now)
    p, d = m.pipeline, m.distribution
    completed = p.completed or 0
    total = float(d.total or 0.0)
    evaluator, evolver = float(d.evaluator or 0.0), float(d.evolver or 0.0)
    gross = evaluator + evolver
    return {
        "window_number": m.window.number,
        "leases": {
            "issued_15m": p.issued,
            "completed_15m": completed,
            "zero_eval_ratio_15m": (p.zero_eval / completed) if completed else 0.0,
            "active": p.active,
            "overdue": p.overdue,
            "open_batches": p.open_batches,
        },
        "pool": summary(m.summary, window=m.window.number).model_dump(),
        "last_window": None
        if m.last_window is None
        else {
            "window_number": m.last_window.number,
            "closed_at": m.last_window.closed_at.isoformat(),
            "algorithms_settled": m.last_window.algorithms_settled,
            "algorithms_scored": m.last_window.algorithms_scored,
            "total_points": m.last_window.total_points,
        },
        "distribution": {
            "curve_total_reward": total,
            "curve_eval_reward": evaluator,
            "curve_evolve_reward": evolver,
            "evaluator_reward_share": evaluator / gross if gross > 0 else 0.0,
            "evolver_reward_share": evolver / gross if gross > 0 else 0.0,
            "miner_windows": d.rows,
            "miner_windows_in_consensus": d.good,
        },
    }
