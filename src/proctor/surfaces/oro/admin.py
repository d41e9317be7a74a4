"""ORO admin routes (`/v1/admin/*`, oro-sdk 1.0.78): signed, allowed only for PROCTOR_ADMIN_HOTKEYS.

Each route parses ORO's wire, makes one call into `proctor.core.admin` (which writes the audit event in
the action's transaction) and renders ORO's shape. The race routes belong to the races surface.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from proctor.core.admin import analytics, audit
from proctor.core.admin import flows as admin
from proctor.core.admin.audit import Actor
from proctor.http.deps import core_of, public_base_url
from proctor.http.params import Count, DateTime, Hotkey, Id64, Label, Offset
from proctor.storage.base import utcnow
from proctor.surfaces.oro.auth import AdminAuth

router = APIRouter(tags=["admin"])  # mounted at /v1/admin

Limit = Annotated[int, Query(ge=1, le=500)]


def actor(principal: Any) -> Actor:
    return Actor(principal.hotkey, "http")


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class SuiteReason(Reason):
    suite_id: Id64 | None = None


class OptionalReason(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)
    suite_id: Id64 | None = None


class ReevaluateBody(SuiteReason):
    required_successes: Count | None = None


class SetTopBody(BaseModel):
    suite_id: Id64 | None = None
    force: bool = False


class PauseBody(Reason):
    auto_release_at: datetime | None = None


class UpdateValidatorBody(BaseModel):
    max_concurrent_runs: Count


class CreateSuiteBody(BaseModel):
    problem_suite_uri: str = Field(min_length=1, max_length=1000)
    is_public: bool = True


# --- agent versions -----------------------------------------------------------------------------------


def _version_entry(row: admin.VersionRow) -> dict[str, Any]:
    v, item = row.version, row.item
    return {
        "agent_version_id": v.id,
        "agent_id": v.agent_id,
        "agent_name": row.agent_name,
        "miner_hotkey": v.miner_hotkey,
        "version_number": v.version_number,
        "created_at": v.submitted_at,
        "is_eligible": v.state == "ELIGIBLE",
        "is_discarded": v.state == "DISCARDED",
        "final_score": v.final_score,
        "work_item_is_closed": None if item is None else item.status != "OPEN",
        "work_item_is_cancelled": None if item is None else item.status == "DISCARDED",
        "active_run_count": None if item is None else item.active_count,
        "is_current_top": row.is_current_top,
        "eliminated_at": row.eliminated_at,
        "work_item_included_success_count": None if item is None else item.success_count,
    }


@router.get("/agent-versions")
async def list_agent_versions(
    request: Request,
    principal: AdminAuth,
    is_eligible: bool | None = None,
    is_discarded: bool | None = None,
    miner_hotkey: Hotkey | None = None,
    suite_id: Id64 | None = None,
    since: DateTime | None = None,
    until: DateTime | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Agent versions with their evaluation, top and elimination status."""
    where = admin.VersionFilter(is_eligible, is_discarded, miner_hotkey, suite_id, since, until)
    total, rows = await admin.list_agent_versions(core_of(request), where=where, limit=limit, offset=offset)
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "agent_versions": [_version_entry(r) for r in rows],
    }


@router.post("/agent-versions/{agent_version_id}/cancel")
async def cancel_agent_version(
    agent_version_id: uuid.UUID, body: Reason, request: Request, principal: AdminAuth
) -> dict[str, Any]:
    """End the version's active evaluation runs."""
    done = await admin.cancel_agent_version(
        core_of(request),
        actor=actor(principal),
        version_id=agent_version_id,
        reason=body.reason,
        now=utcnow(),
    )
    return {"agent_version_id": done.agent_version_id, "cancelled_runs": done.cancelled_runs}


@router.get("/agent-versions/{agent_version_id}/code")
async def agent_version_code(
    agent_version_id: uuid.UUID, request: Request, principal: AdminAuth
) -> dict[str, Any]:
    """A download URL for the version's code."""
    code = await admin.agent_version_code(
        core_of(request), version_id=agent_version_id, base_url=public_base_url(request)
    )
    return {
        "download_url": code.download_url,
        "agent_version_id": code.agent_version_id,
        "agent_name": code.agent_name,
    }


@router.post("/agent-versions/{agent_version_id}/discard")
async def discard_agent_version(
    agent_version_id: uuid.UUID, body: SuiteReason, request: Request, principal: AdminAuth
) -> dict[str, Any]:
    """Discard a version from the leaderboard; its runs are cancelled and its work item closed."""
    done = await admin.discard_agent_version(
        core_of(request),
        actor=actor(principal),
        version_id=agent_version_id,
        reason=body.reason,
        suite_id=body.suite_id,
        now=utcnow(),
    )
    return {"agent_version_id": done.agent_version_id, "suite_id": done.suite_id, "is_discarded": True}


@router.post("/agent-versions/{agent_version_id}/reinstate")
async def reinstate_agent_version(
    agent_version_id: uuid.UUID, body: OptionalReason, request: Request, principal: AdminAuth
) -> dict[str, Any]:
    """Undo a discard."""
    done = await admin.reinstate_agent_version(
        core_of(request),
        actor=actor(principal),
        version_id=agent_version_id,
        reason=body.reason,
        suite_id=body.suite_id,
        now=utcnow(),
    )
    return {"agent_version_id": done.agent_version_id, "suite_id": done.suite_id, "is_discarded": False}


@router.post("/agent-versions/{agent_version_id}/eliminate")
async def eliminate_agent_version(
    agent_version_id: uuid.UUID, body: SuiteReason, request: Request, principal: AdminAuth
) -> dict[str, Any]:
    """Retire a version from future qualifying."""
    done = await admin.eliminate_agent_version(
        core_of(request),
        actor=actor(principal),
        version_id=agent_version_id,
        reason=body.reason,
        suite_id=body.suite_id,
        now=utcnow(),
    )
    return {"agent_version_id": done.agent_version_id, "suite_id": done.suite_id, "eliminated_at": done.at}


@router.post("/agent-versions/{agent_version_id}/reinstate-elimination")
async def reinstate_elimination(
    agent_version_id: uuid.UUID, body: OptionalReason, request: Request, principal: AdminAuth
) -> dict[str, Any]:
    """Clear an elimination."""
    done = await admin.reinstate_elimination(
        core_of(request),
        actor=actor(principal),
        version_id=agent_version_id,
        reason=body.reason,
        suite_id=body.suite_id,
        now=utcnow(),
    )
    return {"agent_version_id": done.agent_version_id, "suite_id": done.suite_id}


@router.post("/agent-versions/{agent_version_id}/reevaluate")
async def reevaluate_agent_version(
    agent_version_id: uuid.UUID, body: ReevaluateBody, request: Request, principal: AdminAuth
) -> dict[str, Any]:
    """Reopen the version's work item for more runs."""
    done = await admin.reevaluate_agent_version(
        core_of(request),
        actor=actor(principal),
        version_id=agent_version_id,
        reason=body.reason,
        suite_id=body.suite_id,
        required_successes=body.required_successes,
        now=utcnow(),
    )
    return {"agent_version_id": done.agent_version_id}


@router.post("/agent-versions/{agent_version_id}/set-top")
async def set_top_agent(
    agent_version_id: uuid.UUID, body: SetTopBody, request: Request, principal: AdminAuth
) -> dict[str, Any]:
    """Designate the suite's top agent."""
    done = await admin.set_top(
        core_of(request),
        actor=actor(principal),
        version_id=agent_version_id,
        suite_id=body.suite_id,
        force=body.force,
        now=utcnow(),
    )
    return {
        "agent_version_id": done.agent_version_id,
        "suite_id": done.suite_id,
        "top_at": done.at,
        "previous_top_agent_version_id": done.previous_top,
    }


# --- evaluation runs ----------------------------------------------------------------------------------


def _run_entry(row: admin.RunRow) -> dict[str, Any]:
    r, inv = row.run, row.invalidation or {}
    return {
        "run_id": r.id,
        "agent_version_id": r.agent_version_id,
        "validator_hotkey": r.validator_hotkey,
        "suite_id": r.suite_id,
        "status": r.status,
        "is_included": r.is_included,
        "created_at": r.claimed_at,
        "claimed_at": r.claimed_at,
        "completed_at": r.completed_at,
        "last_heartbeat_at": r.last_heartbeat_at,
        "lease_expires_at": r.lease_expires_at,
        "score": r.validator_score,
        "invalidated_at": inv.get("invalidated_at"),
        "invalidation_reason": inv.get("invalidation_reason"),
        "failure_reason": r.failure_reason,
        "eval_work_item_id": r.work_item_id,
        "phase": row.phase,
    }


@router.get("/evaluation-runs")
async def list_evaluation_runs(
    request: Request,
    principal: AdminAuth,
    status: Label | None = None,
    agent_version_id: uuid.UUID | None = None,
    validator_hotkey: Hotkey | None = None,
    phase: Label | None = None,
    race_id: uuid.UUID | None = None,
    eval_work_item_id: uuid.UUID | None = None,
    inference_provider: Label | None = None,
    since: DateTime | None = None,
    until: DateTime | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Evaluation runs, newest first (race and provider filters match nothing proctor records)."""
    where = admin.RunFilter(
        status, agent_version_id, validator_hotkey, eval_work_item_id, phase, since, until
    )
    rows: list[admin.RunRow] = []
    total = 0
    if race_id is None and inference_provider is None:
        total, rows = await admin.list_evaluation_runs(
            core_of(request), where=where, limit=limit, offset=offset
        )
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "evaluation_runs": [_run_entry(r) for r in rows],
    }


@router.post("/evaluation-runs/{eval_run_id}/invalidate")
async def invalidate_evaluation_run(
    eval_run_id: uuid.UUID, body: Reason, request: Request, principal: AdminAuth
) -> dict[str, Any]:
    """Exclude a run from scoring (irreversible); the work item reopens when it falls short."""
    row = await admin.invalidate_evaluation_run(
        core_of(request), actor=actor(principal), run_id=eval_run_id, reason=body.reason, now=utcnow()
    )
    r = row.run
    return {
        "eval_run_id": r.id,
        "agent_version_id": r.agent_version_id,
        "suite_id": r.suite_id,
        "validator_hotkey": r.validator_hotkey,
        "status": r.status,
        "claimed_at": r.claimed_at,
        "lease_expires_at": r.lease_expires_at,
        "is_included": r.is_included,
        "last_heartbeat_at": r.last_heartbeat_at,
        "completed_at": r.completed_at,
        "validator_score": r.validator_score,
        **(row.invalidation or {}),
    }


# --- miners and validators ----------------------------------------------------------------------------


@router.get("/miners")
async def list_miners(
    request: Request,
    principal: AdminAuth,
    is_banned: bool | None = None,
    since: DateTime | None = None,
    until: DateTime | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Miners (hotkeys that submitted or were banned)."""
    now = utcnow()
    total, rows = await admin.list_miners(
        core_of(request), is_banned=is_banned, since=since, until=until, limit=limit, offset=offset
    )
    miners = [
        {
            "miner_hotkey": m.hotkey,
            "is_banned": m.ban is not None,
            "agent_count": m.agent_count,
            "ban_reason": m.ban.reason if m.ban else None,
            "banned_at": m.ban.banned_at if m.ban else None,
            "last_submitted_at": m.last_submitted_at,
            "registered_at": m.registered_at,
            "cooldown_remaining_seconds": (
                max(int((m.cooldown_until - now).total_seconds()), 0) if m.cooldown_until else None
            ),
        }
        for m in rows
    ]
    return {"total": total, "limit": limit, "offset": offset, "miners": miners}


@router.post("/miners/{hotkey}/clear-cooldown")
async def clear_miner_cooldown(hotkey: Hotkey, request: Request, principal: AdminAuth) -> dict[str, Any]:
    """Let the miner submit again at once."""
    done = await admin.clear_miner_cooldown(
        core_of(request), actor=actor(principal), hotkey=hotkey, now=utcnow()
    )
    return {
        "cleared": done.cleared,
        "hotkey": done.hotkey,
        "seconds_remaining_was": done.seconds_remaining_was,
        "message": "cooldown cleared" if done.cleared else "no cooldown was active",
    }


@router.post("/miners/{miner_hotkey}/ban")
async def ban_miner(
    miner_hotkey: Hotkey, body: Reason, request: Request, principal: AdminAuth
) -> dict[str, Any]:
    """Ban a miner's hotkey."""
    done = await admin.ban_hotkey(
        core_of(request),
        actor=actor(principal),
        hotkey=miner_hotkey,
        reason=body.reason,
        role="miner",
        now=utcnow(),
    )
    return {"hotkey": done.hotkey, "is_banned": done.is_banned}


@router.post("/miners/{miner_hotkey}/unban")
async def unban_miner(miner_hotkey: Hotkey, request: Request, principal: AdminAuth) -> dict[str, Any]:
    """Lift a miner's ban."""
    done = await admin.unban_hotkey(
        core_of(request), actor=actor(principal), hotkey=miner_hotkey, role="miner", now=utcnow()
    )
    return {"hotkey": done.hotkey, "is_banned": done.is_banned}


def _validator_entry(row: admin.ValidatorRow) -> dict[str, Any]:
    s = row.state
    current = None
    if row.run is not None and row.version is not None:
        current = {
            "agent_name": row.agent_name or "",
            "version_id": row.version.id,
            "version_number": row.version.version_number,
            "started_at": row.run.claimed_at,
        }
    return {
        "hotkey": row.hotkey,
        "status": "evaluating" if row.run is not None else "available",
        "registered_at": s.first_seen_at if s else utcnow(),
        "is_banned": row.ban is not None,
        "max_concurrent_runs": row.max_concurrent_runs,
        "last_claim_at": s.last_claim_at if s else None,
        "last_seen_at": s.last_seen_at if s else None,
        "current_agent": current,
        "service_versions": s.service_versions if s else None,
        "cpu_pct": s.cpu_pct if s else None,
        "ram_pct": s.ram_pct if s else None,
        "disk_pct": s.disk_pct if s else None,
        "docker_container_count": s.docker_container_count if s else None,
        "metrics_reported_at": s.metrics_reported_at if s else None,
        "ban_reason": row.ban.reason if row.ban else None,
        "banned_at": row.ban.banned_at if row.ban else None,
    }


@router.get("/validators")
async def list_validators(
    request: Request,
    principal: AdminAuth,
    is_banned: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Validators with their current run and configuration."""
    total, rows = await admin.list_validators(
        core_of(request), is_banned=is_banned, limit=limit, offset=offset
    )
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "validators": [_validator_entry(r) for r in rows],
    }


@router.patch("/validators/{validator_hotkey}")
async def update_validator(
    validator_hotkey: Hotkey, body: UpdateValidatorBody, request: Request, principal: AdminAuth
) -> dict[str, Any]:
    """Configure a validator (`max_concurrent_runs`)."""
    row = await admin.update_validator(
        core_of(request),
        actor=actor(principal),
        hotkey=validator_hotkey,
        max_concurrent_runs=body.max_concurrent_runs,
        now=utcnow(),
    )
    return _validator_entry(row)


@router.post("/validators/{validator_hotkey}/ban")
async def ban_validator(
    validator_hotkey: Hotkey, body: Reason, request: Request, principal: AdminAuth
) -> dict[str, Any]:
    """Ban a validator's hotkey."""
    done = await admin.ban_hotkey(
        core_of(request),
        actor=actor(principal),
        hotkey=validator_hotkey,
        reason=body.reason,
        role="validator",
        now=utcnow(),
    )
    return {"hotkey": done.hotkey, "is_banned": done.is_banned}


@router.post("/validators/{validator_hotkey}/unban")
async def unban_validator(validator_hotkey: Hotkey, request: Request, principal: AdminAuth) -> dict[str, Any]:
    """Lift a validator's ban."""
    done = await admin.unban_hotkey(
        core_of(request), actor=actor(principal), hotkey=validator_hotkey, role="validator", now=utcnow()
    )
    return {"hotkey": done.hotkey, "is_banned": done.is_banned}


# --- validator pause ----------------------------------------------------------------------------------


def _pause(state: admin.PauseState) -> dict[str, Any]:
    return {
        "active": state.active,
        "reason": state.reason,
        "paused_by": state.paused_by,
        "paused_at": state.paused_at,
        "auto_release_at": state.auto_release_at,
    }


@router.get("/validator-pause")
async def get_validator_pause(request: Request, principal: AdminAuth) -> dict[str, Any]:
    """Whether new validator claims are paused, by whom and until when."""
    return _pause(await admin.pause_state(core_of(request), now=utcnow()))


@router.post("/validator-pause")
async def pause_validators(body: PauseBody, request: Request, principal: AdminAuth) -> dict[str, Any]:
    """Pull the andon cord: no new claims; running evaluations finish and report normally."""
    return _pause(
        await admin.pause_validators(
            core_of(request),
            actor=actor(principal),
            reason=body.reason,
            auto_release_at=body.auto_release_at,
            now=utcnow(),
        )
    )


@router.post("/validator-resume")
async def resume_validators(body: OptionalReason, request: Request, principal: AdminAuth) -> dict[str, Any]:
    """Release the andon cord."""
    return _pause(
        await admin.resume_validators(
            core_of(request), actor=actor(principal), reason=body.reason, now=utcnow()
        )
    )


# --- suites, reaper, audit ----------------------------------------------------------------------------


@router.post("/suites", status_code=201)
async def create_suite(body: CreateSuiteBody, request: Request, principal: AdminAuth) -> dict[str, Any]:
    """Import a suite document from proctor's blob store as a new suite version."""
    s = await admin.create_suite(
        core_of(request), actor=actor(principal), problem_suite_uri=body.problem_suite_uri, now=utcnow()
    )
    return {"suite_id": s.suite_id, "suite_version": s.version, "is_active": s.is_active}


@router.post("/suites/{suite_id}/activate")
async def activate_suite(
    suite_id: Id64,
    request: Request,
    principal: AdminAuth,
    requeue_top_n: Annotated[int, Query(ge=0, le=1000)] = 10,
) -> dict[str, Any]:
    """Make a suite the active one; the previous suite's top `requeue_top_n` versions are re-queued on it."""
    s = await admin.activate_suite(
        core_of(request), actor=actor(principal), suite_id=suite_id, requeue_top_n=requeue_top_n, now=utcnow()
    )
    return {
        "suite_id": s.suite_id,
        "suite_version": s.version,
        "is_active": s.is_active,
        "requeued_versions": s.requeued_versions,
    }


@router.get("/reaper/stats")
async def reaper_stats(request: Request, principal: AdminAuth) -> dict[str, Any]:
    """The lease reaper's setting and the runs it has reaped."""
    stats = await analytics.reaper_stats(core_of(request))
    return {
        "enabled": stats.enabled,
        "is_running": stats.enabled,
        "runs_reaped_total": stats.runs_reaped_total,
        "runs_reaped_last_cycle": 0,
        "last_cycle_duration_ms": 0.0,
        "error_count": 0,
        "redis_error_count": 0,
        "interval_seconds": stats.interval_seconds,
        "last_run_at": stats.last_reaped_at,
    }


@router.get("/audit-events")
async def audit_events(
    request: Request,
    principal: AdminAuth,
    action: Label | None = None,
    target_type: Label | None = None,
    target_id: Label | None = None,
    actor_hotkey: Hotkey | None = None,
    since: DateTime | None = None,
    until: DateTime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Audit events, newest first (read-only: nothing can edit or delete them)."""
    where = audit.AuditFilter(action, target_type, target_id, actor_hotkey, since, until)
    page = await admin.audit_events(core_of(request), where=where, limit=limit, offset=offset)
    events = [
        {
            "event_id": e.id,
            "action": e.action,
            "target_type": e.target_type,
            "target_id": e.target_id,
            "actor_hotkey": e.actor_hotkey,
            "created_at": e.created_at,
            "reason": e.reason,
            "details": {**(e.details or {}), "via": e.via},
        }
        for e in page.events
    ]
    return {"total": page.total, "limit": page.limit, "offset": page.offset, "events": events}


# --- analytics ----------------------------------------------------------------------------------------


@router.get("/analytics/agent-version-variance")
async def agent_version_variance(
    request: Request,
    principal: AdminAuth,
    suite_id: Id64 | None = None,
    phase: Label | None = None,
    variance_threshold: Annotated[float, Query(ge=0)] = 0.1,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    since: DateTime | None = None,
    until: DateTime | None = None,
) -> dict[str, Any]:
    """Versions whose validators disagree most."""
    found = await analytics.version_variance(
        core_of(request),
        suite_id=suite_id,
        phase=phase,
        threshold=variance_threshold,
        limit=limit,
        since=since,
        until=until,
    )
    out = []
    for v in found:
        mean, _, _, low, high = analytics.summary([s.score for s in v.scores])
        out.append(
            {
                "agent_version_id": v.agent_version_id,
                "agent_name": v.agent_name,
                "miner_hotkey": v.miner_hotkey,
                "validator_count": len(v.scores),
                "avg_score": mean,
                "min_score": low,
                "max_score": high,
                "spread": high - low,
                "is_high_variance": high - low > variance_threshold,
                "eval_work_item_id": v.work_item_id,
                "phase": v.phase,
                "per_validator": [
                    {
                        "validator_hotkey": s.validator_hotkey,
                        "score": s.score,
                        "run_id": s.run_id,
                    }
                    for s in v.scores
                ],
            }
        )
    return {"agent_versions": out, "variance_threshold": variance_threshold}


@router.get("/analytics/validator-failures/{validator_hotkey}")
async def validator_failures(
    validator_hotkey: Hotkey,
    request: Request,
    principal: AdminAuth,
    limit: Annotated[int, Query(ge=1, le=500)] = 25,
) -> dict[str, Any]:
    """A validator's runs that ended without a result."""
    total, runs = await analytics.validator_failures(core_of(request), hotkey=validator_hotkey, limit=limit)
    failures = [
        {
            "eval_run_id": r.id,
            "agent_version_id": r.agent_version_id,
            "status": r.status,
            "failure_reason": r.failure_reason,
            "completed_at": r.completed_at,
        }
        for r in runs
    ]
    return {"validator_hotkey": validator_hotkey, "failures": failures, "total": total}


@router.get("/analytics/validator-resources")
async def validator_resources(
    request: Request,
    principal: AdminAuth,
    start: DateTime,
    end: DateTime,
    validator_hotkey: Hotkey | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 5000,
) -> dict[str, Any]:
    """Host metrics validators reported in a window (their latest report each)."""
    states = await analytics.validator_resources(
        core_of(request), start=start, end=end, hotkey=validator_hotkey, limit=limit
    )
    samples = [
        {
            "validator_hotkey": s.hotkey,
            "recorded_at": s.metrics_reported_at,
            "cpu_pct": s.cpu_pct,
            "ram_pct": s.ram_pct,
            "disk_pct": s.disk_pct,
            "docker_container_count": s.docker_container_count,
        }
        for s in states
    ]
    return {"samples": samples, "count": len(samples)}


@router.get("/analytics/validator-scores")
async def validator_scores(
    request: Request,
    principal: AdminAuth,
    suite_id: Id64 | None = None,
    phase: Label | None = None,
    since: DateTime | None = None,
    until: DateTime | None = None,
) -> dict[str, Any]:
    """Each validator's score distribution against everybody's, with outliers flagged."""
    found = await analytics.validator_scores(
        core_of(request), window=analytics.Window(suite_id, phase, since, until)
    )
    runs = sum(v.counts["SUCCESS"] for v in found)
    g_mean = sum(v.score[0] * v.counts["SUCCESS"] for v in found) / runs if runs else 0.0
    g_dur = sum(v.seconds[0] * v.counts["SUCCESS"] for v in found) / runs if runs else 0.0
    # The population variance of all scores, from each validator's mean and variance.
    g_var = (
        sum(v.counts["SUCCESS"] * (v.score[2] ** 2 + (v.score[0] - g_mean) ** 2) for v in found) / runs
        if runs
        else 0.0
    )
    g_std = g_var**0.5
    out = []
    for v in found:
        mean, median, std, low, high = v.score
        d_mean, d_median, _, d_low, d_high = v.seconds
        finished = sum(v.counts.values())
        successes = v.counts["SUCCESS"]
        out.append(
            {
                "validator_hotkey": v.validator_hotkey,
                "total_runs": finished,
                "avg_score": mean,
                "median_score": median,
                "stddev_score": std,
                "min_score": low,
                "max_score": high,
                "deviation_from_global": mean - g_mean,
                "is_outlier": bool(successes) and g_std > 0 and abs(mean - g_mean) > 2 * g_std,
                "avg_execution_seconds": d_mean,
                "median_execution_seconds": d_median,
                "min_execution_seconds": d_low,
                "max_execution_seconds": d_high,
                "execution_deviation_pct": (d_mean - g_dur) / g_dur * 100 if g_dur else 0.0,
                "is_slow_outlier": bool(g_dur) and d_mean > 2 * g_dur,
                "success_count": successes,
                "failed_count": v.counts["FAILED"],
                "timed_out_count": v.counts["TIMED_OUT"],
                "success_rate": successes / finished if finished else 0.0,
                "last_failure_reason": v.last_failure_reason,
                "last_failure_at": v.last_failure_at,
            }
        )
    return {
        "validators": out,
        "global_avg_score": g_mean,
        "global_stddev": g_std,
        "global_avg_execution_seconds": g_dur,
    }
