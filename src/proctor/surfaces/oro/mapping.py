"""Core objects → ORO wire shapes (and the ORO rendering of submission outcomes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.responses import JSONResponse

from proctor.core.evaluations.flows import ClaimAnswer, Completion
from proctor.core.evaluations.reads import VersionCounters
from proctor.core.races import flows as races_flows
from proctor.core.races.flows import MinerRaces, RaceView, VersionRace
from proctor.core.submissions.gates import Rejection
from proctor.core.submissions.service import Outcome
from proctor.core.suites.documents import public_metadata
from proctor.models import Agent, AgentVersion, Problem, Suite
from proctor.surfaces.oro import wire


def to_suite_public(suite: Suite) -> wire.SuitePublic:
    return wire.SuitePublic(
        suite_id=suite.id,
        suite_version=suite.version,
        is_active=suite.is_active,
        name=suite.name,
        problem_count=suite.problem_count,
    )


def to_problem_public(suite: Suite, problem: Problem, *, include_embeddings: bool) -> wire.ProblemPublic:
    return wire.ProblemPublic(
        problem_id=problem.problem_id,
        suite_id=suite.id,
        metadata=public_metadata(
            problem.problem_metadata, suite.hidden_fields, include_embeddings=include_embeddings
        ),
    )


def _race_fields(version: AgentVersion, race: MinerRaces | None) -> dict[str, Any]:
    """A version's race facts for the miner reads (ORO 1.0.78's optional fields)."""
    if race is None:
        return {}
    eliminated = race.eliminated.get(version.id)
    reason = race.pin_disabled.get(version.id)
    return {
        "eliminated_at": eliminated[0] if eliminated else None,
        "eliminated_in_race_number": eliminated[1] if eliminated else None,
        "is_selected_for_race": race.pinned == version.id,
        "is_pinnable": reason is None,
        "pin_disabled_reason": reason,
    }


def to_agent_public(
    agent: Agent, latest: AgentVersion | None, race: MinerRaces | None = None
) -> wire.AgentPublic:
    return wire.AgentPublic(
        agent_id=agent.id,
        miner_hotkey=agent.miner_hotkey,
        agent_name=agent.name,
        created_at=agent.created_at,
        latest_version=None
        if latest is None
        else wire.AgentLatestVersion(
            agent_version_id=latest.id,
            version_number=latest.version_number,
            submitted_at=latest.submitted_at,
            state=latest.state,
            final_score=latest.final_score,
            **_race_fields(latest, race),
        ),
    )


def to_history_entry(version: AgentVersion, race: MinerRaces | None = None) -> wire.AgentVersionHistoryEntry:
    return wire.AgentVersionHistoryEntry(
        agent_version_id=version.id,
        version_number=version.version_number,
        submitted_at=version.submitted_at,
        state=version.state,
        final_score=version.final_score,
        **_race_fields(version, race),
    )


def to_version_public(version: AgentVersion, agent: Agent, *, now: datetime) -> wire.AgentVersionPublic:
    released = (
        version.code_available_at if version.code_available_at and version.code_available_at <= now else None
    )
    return wire.AgentVersionPublic(
        agent_version_id=version.id,
        agent_id=agent.id,
        agent_name=agent.name,
        miner_hotkey=version.miner_hotkey,
        version_number=version.version_number,
        submitted_at=version.submitted_at,
        suite_id=version.suite_id,
        latest_final_score=version.final_score,
        released_at=released,
        code_available_at=version.code_available_at,
    )


def to_version_status(
    version: AgentVersion,
    agent: Agent,
    *,
    include_flags: bool = False,
    now: datetime | None = None,
    counters: VersionCounters | None = None,
    race: VersionRace | None = None,
) -> wire.AgentVersionStatus:
    released = bool(version.code_available_at and now and version.code_available_at <= now)
    return wire.AgentVersionStatus(
        agent_version_id=version.id,
        agent_name=agent.name,
        miner_hotkey=version.miner_hotkey,
        version_number=version.version_number,
        submitted_at=version.submitted_at,
        state=version.state,
        suite_id=version.suite_id,
        final_score=version.final_score,
        release_state="RELEASED" if released else "HIDDEN",
        code_available_at=version.code_available_at,
        review_flags=list(version.review_flags) if include_flags else [],
        required_successes=counters.required_successes if counters else 1,
        success_count=counters.success_count if counters else 0,
        active_count=counters.active_count if counters else 0,
        is_closed=counters.is_closed if counters else False,
        race_score=race.race_score if race else None,
        eliminated_at=race.eliminated_at if race else None,
        eliminated_in_race_number=race.eliminated_in_race_number if race else None,
    )


def rejection_response(
    rejection: Rejection, *, dry_run: bool, remaining: int | None = None, extra: dict[str, Any] | None = None
) -> JSONResponse:
    """A rejection in ORO's flat envelope (or as a 200 REJECTED where ORO reports it that way)."""
    if rejection.status == 200:
        body: dict[str, Any] = {
            "admission_status": "REJECTED",
            "admission_reason": rejection.admission_reason,
            "message": rejection.message,
        }
    else:
        body = {"detail": rejection.message, "error_code": rejection.code, **rejection.extra}
    if rejection.code == "CODE_ANALYSIS_ERROR":
        body["remaining_seconds"] = remaining
    if dry_run:
        body["dry_run"] = True
    body.update(extra or {})
    return JSONResponse(body, status_code=rejection.status)


def outcome_response(outcome: Outcome, *, now: datetime) -> JSONResponse:
    """Render a submission outcome as ORO's submit endpoint answers it."""
    remaining = int((outcome.next_allowed_at - now).total_seconds()) if outcome.next_allowed_at else None
    extra: dict[str, Any] = {}
    if outcome.dry_run:
        extra["checks"] = [r.to_wire() for r in outcome.verdict.results]
        extra["flags"] = [f.to_wire() for f in outcome.verdict.flags]
    if outcome.rejection is not None:
        if outcome.rejection.status == 200:  # a 200 REJECTED is a SubmitAgentResponse: it names the hotkey
            extra["hotkey"] = outcome.hotkey
        return rejection_response(
            outcome.rejection, dry_run=outcome.dry_run, remaining=remaining, extra=extra
        )
    body = wire.SubmitAgentResponse(
        admission_status="ACCEPTED",
        hotkey=outcome.hotkey,
        agent_id=outcome.agent.id if outcome.agent else None,
        agent_version_id=outcome.version.id if outcome.version else None,
        next_allowed_at=outcome.next_allowed_at,
        message="Dry run: this submission would be accepted"
        if outcome.dry_run
        else "Agent submitted successfully",
    ).model_dump(mode="json")
    if outcome.dry_run:
        body["dry_run"] = True
    return JSONResponse({**body, **extra}, status_code=200)


def claim_response(answer: ClaimAnswer) -> wire.ClaimWorkResponse:
    grant = answer.grant
    token = (
        wire.InferenceTokenGrant(
            provider=grant.provider,
            access_token=grant.access_token,
            base_url=grant.base_url,
            expires_at=grant.expires_at,
        )
        if grant
        else None
    )
    return wire.ClaimWorkResponse(
        eval_run_id=answer.run.id,
        agent_version_id=answer.run.agent_version_id,
        suite_id=answer.run.suite_id,
        lease_expires_at=answer.run.lease_expires_at,
        code_download_url=answer.code_url,
        inference_token=token,
        chutes_access_token=grant.access_token if grant and grant.provider == "chutes" else None,
    )


def completion_response(done: Completion) -> wire.CompleteRunResponse:
    return wire.CompleteRunResponse(
        eval_run_id=done.run.id,
        status=done.run.status,
        work_item=wire.WorkItemStatus(
            included_success_count=done.item.success_count,
            required_successes=done.item.required_successes,
            is_closed=done.item.status != "OPEN",
        ),
        agent_version_became_eligible=done.became_eligible,
        final_score=done.final_score if done.item.status == "CLOSED" else None,
    )


def to_run_public(run: Any) -> wire.EvaluationRunPublic:
    return wire.EvaluationRunPublic(
        eval_run_id=run.id,
        agent_version_id=run.agent_version_id,
        suite_id=run.suite_id,
        validator_hotkey=run.validator_hotkey,
        status=run.status,
        claimed_at=run.claimed_at,
        lease_expires_at=run.lease_expires_at,
        is_included=run.is_included,
        last_heartbeat_at=run.last_heartbeat_at,
        completed_at=run.completed_at,
        failure_reason=run.failure_reason,
        validator_score=run.validator_score,
        score_components_summary=run.score_components,
        service_versions=run.service_versions,
        sandbox_metadata=run.sandbox_metadata,
        phase="RACE" if run.race_id else "QUALIFYING",
        race_id=run.race_id,
    )


def to_run_detail(run: Any, version: AgentVersion, agent: Agent) -> wire.EvaluationRunDetail:
    return wire.EvaluationRunDetail(
        eval_run_id=run.id,
        agent_version_id=run.agent_version_id,
        agent_name=agent.name,
        validator_hotkey=run.validator_hotkey,
        status=run.status,
        version_number=version.version_number,
        claimed_at=run.claimed_at,
        score=run.validator_score,
        completed_at=run.completed_at,
        failure_reason=run.failure_reason,
        is_included=run.is_included,
        sandbox_metadata=run.sandbox_metadata,
        score_components_summary=run.score_components,
    )


def to_problem_matrix(version: AgentVersion, rows: Any) -> wire.AgentVersionProblemsResponse:
    return wire.AgentVersionProblemsResponse(
        agent_version_id=version.id,
        suite_id=version.suite_id,
        problems=[
            wire.ProblemProgressEntry(
                problem_id=row.problem.problem_id,
                category=row.problem.category,
                validator_results=[
                    wire.ValidatorProblemResult(
                        eval_run_id=run.id,
                        validator_hotkey=run.validator_hotkey,
                        status=result.status,
                        score=result.score,
                        score_components=result.score_components_summary,
                        reasoning_score=result.reasoning_score,
                        updated_at=result.updated_at,
                        inference_failure_count=result.inference_failure_count,
                        inference_total=result.inference_total,
                        execution_time=result.execution_time,
                    )
                    for run, result in row.results
                ],
            )
            for row in rows
        ],
    )


def to_validator_public(view: Any) -> wire.ValidatorPublic:
    state = view.state
    current = (
        wire.ValidatorCurrentAgent(
            agent_name=view.agent.name,
            version_id=view.version.id,
            version_number=view.version.version_number,
            started_at=view.run.claimed_at,
        )
        if view.run is not None
        else None
    )
    return wire.ValidatorPublic(
        hotkey=view.hotkey,
        status="evaluating" if view.run is not None else "available",
        registered_at=state.first_seen_at,
        last_claim_at=state.last_claim_at,
        last_seen_at=state.last_seen_at,
        current_agent=current,
        service_versions=state.service_versions,
        cpu_pct=state.cpu_pct,
        ram_pct=state.ram_pct,
        disk_pct=state.disk_pct,
        docker_container_count=state.docker_container_count,
        metrics_reported_at=state.metrics_reported_at,
    )


def to_running(run: Any, version: AgentVersion, agent: Agent) -> wire.RunningEvaluation:
    percent = 100.0 * run.progress_done / run.progress_total if run.progress_total else 0.0
    return wire.RunningEvaluation(
        eval_run_id=run.id,
        agent_version_id=version.id,
        agent_name=agent.name,
        version_number=version.version_number,
        miner_hotkey=version.miner_hotkey,
        validator_hotkey=run.validator_hotkey,
        status=run.status,
        started_at=run.claimed_at,
        progress_percent=round(min(100.0, percent), 2),
        phase="RACE" if run.race_id else "QUALIFYING",
        race_id=run.race_id,
    )


def to_pending(queue: Any) -> wire.PendingEvaluationsResponse:
    return wire.PendingEvaluationsResponse(
        summary=wire.PendingEvaluationSummary(
            total_pending=queue.total_pending,
            total_runs_needed=queue.runs_needed,
            total_runs_active=queue.runs_active,
            projected_completion_at=queue.projected_completion_at,
        ),
        items=[
            wire.PendingEvaluation(
                work_item_id=item.id,
                agent_version_id=version.id,
                agent_name=agent.name,
                version_number=version.version_number,
                miner_hotkey=version.miner_hotkey,
                suite_id=item.suite_id,
                required_successes=item.required_successes,
                completed_successes=item.success_count,
                active_runs=item.active_count,
                remaining=max(0, item.required_successes - item.success_count - item.active_count),
                queued_at=item.queued_at,
                phase=item.phase,
                race_id=item.race_id,
            )
            for item, version, agent in queue.items
        ],
    )


def to_leaderboard(
    page: Any, suite: Suite, *, limit: int, offset: int, threshold: float | None
) -> wire.LeaderboardResponse:
    return wire.LeaderboardResponse(
        total=page.total,
        limit=limit,
        offset=offset,
        suite=to_suite_public(suite),
        unique_miners=page.unique_miners,
        agents_submitted_24h=page.submitted_24h,
        challenge_threshold=threshold,
        entries=[
            wire.LeaderboardEntry(
                rank=e.rank,
                agent_version_id=e.version.id,
                agent_name=e.agent_name,
                miner_hotkey=e.version.miner_hotkey,
                version_number=e.version.version_number,
                final_score=e.version.final_score,
                eligible_at=e.version.eligible_at,
                is_miner_banned=e.is_miner_banned,
                is_current_top=e.is_current_top,
                was_top=e.was_top,
                top_at=e.top_at,
            )
            for e in page.entries
        ],
    )


def to_race_leaderboard(
    race: RaceView | None, suite: Suite, *, limit: int, offset: int, q: str | None
) -> wire.LeaderboardResponse:
    """`score_type=race`: the latest completed race's finishers by race rank (`final_score` is the race
    score there, as the entry requires a number)."""
    finishers = races_flows.finishers(race, q=q)
    winner = race.race.winner_agent_version_id if race else None
    return wire.LeaderboardResponse(
        total=len(finishers),
        limit=limit,
        offset=offset,
        suite=to_suite_public(suite),
        unique_miners=len({r.row.miner_hotkey for r in finishers}),
        entries=[
            wire.LeaderboardEntry(
                rank=r.row.race_rank or 0,
                agent_version_id=r.version.id,
                agent_name=r.agent.name,
                miner_hotkey=r.row.miner_hotkey,
                version_number=r.version.version_number,
                final_score=float(r.row.race_score or 0.0),
                race_score=r.row.race_score,
                eligible_at=r.version.eligible_at,
                is_discarded=r.version.state == "DISCARDED",
                is_current_top=r.version.id == winner,
            )
            for r in finishers[offset : offset + limit]
        ],
    )
