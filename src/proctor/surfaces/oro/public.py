"""ORO public routes (no auth): suites and problems."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.config import Settings
from proctor.core.cache import caches_of
from proctor.core.evaluations import artifacts, reads
from proctor.core.evaluations import top as top_service
from proctor.core.races import flows as races
from proctor.core.scores import leaderboard
from proctor.core.submissions import service as submission_service
from proctor.core.subnet import flows as subnet
from proctor.core.suites import service as suite_service
from proctor.errors import SuiteNotFound
from proctor.http.deps import SessionDep, public_base_url, state_of
from proctor.http.params import Id64, Label, Offset
from proctor.storage.base import utcnow
from proctor.surfaces.oro import mapping, wire

router = APIRouter(tags=["public"])  # mounted at /v1/public


@router.get("/suites/current", response_model=wire.SuitePublic)
async def get_current_suite(session: SessionDep) -> wire.SuitePublic:
    """Get the currently active problem suite."""
    return mapping.to_suite_public(await suite_service.current_suite(session))


@router.get("/suites", response_model=list[wire.SuitePublic])
async def list_suites(session: SessionDep) -> list[wire.SuitePublic]:
    """List all problem suites, newest version first."""
    return [mapping.to_suite_public(s) for s in await suite_service.list_suites(session)]


@router.get("/suites/{suite_id}/problems", response_model=wire.SuiteWithProblemsResponse)
async def get_suite_problems(
    suite_id: Id64, session: SessionDep, include_embeddings: bool = False
) -> wire.SuiteWithProblemsResponse:
    """List the problems of a suite. Ground-truth fields stay hidden unless the operator made them public."""
    suite = await suite_service.get_suite(session, suite_id=suite_id)
    problems = await suite_service.list_problems(session, suite_id=suite_id)
    return wire.SuiteWithProblemsResponse(
        suite=mapping.to_suite_public(suite),
        problems=[
            mapping.to_problem_public(suite, p, include_embeddings=include_embeddings) for p in problems
        ],
    )


@router.get("/agent-versions/{agent_version_id}", response_model=wire.AgentVersionPublic)
async def get_agent_version(agent_version_id: uuid.UUID, session: SessionDep) -> wire.AgentVersionPublic:
    """Public details of an agent version (its code is only downloadable once released)."""
    version, agent = await submission_service.get_version(session, version_id=agent_version_id)
    return mapping.to_version_public(version, agent, now=utcnow())


@router.get("/agent-versions/{agent_version_id}/status", response_model=wire.AgentVersionStatus)
async def get_agent_version_status(
    agent_version_id: uuid.UUID, request: Request, session: SessionDep
) -> wire.AgentVersionStatus:
    """Live evaluation status and counters of an agent version."""
    version, agent = await submission_service.get_version(session, version_id=agent_version_id)
    live = await reads.counters(
        session, version_id=version.id, default_required=state_of(request).settings.eval_required_successes
    )
    race = await races.version_race(session, version_id=version.id)
    return mapping.to_version_status(version, agent, now=utcnow(), counters=live, race=race)


@router.get("/agent-versions/{agent_version_id}/runs", response_model=list[wire.EvaluationRunPublic])
async def get_agent_version_runs(
    agent_version_id: uuid.UUID, session: SessionDep
) -> list[wire.EvaluationRunPublic]:
    """Every validator's run of an agent version."""
    await submission_service.get_version(session, version_id=agent_version_id)
    return [mapping.to_run_public(r) for r in await reads.runs_of(session, version_id=agent_version_id)]


@router.get("/agent-versions/{agent_version_id}/problems", response_model=wire.AgentVersionProblemsResponse)
async def get_agent_version_problems(
    agent_version_id: uuid.UUID,
    session: SessionDep,
    phase: Label | None = None,
    race_id: uuid.UUID | None = None,
) -> wire.AgentVersionProblemsResponse:
    """Per-problem × per-validator progress matrix (proctor runs the QUALIFYING phase only)."""
    version, _ = await submission_service.get_version(session, version_id=agent_version_id)
    if (phase and phase.upper() != "QUALIFYING") or race_id is not None:
        return wire.AgentVersionProblemsResponse(
            agent_version_id=version.id, suite_id=version.suite_id, problems=[]
        )
    return mapping.to_problem_matrix(version, await reads.problem_matrix(session, version=version))


@router.get("/evaluation-runs/{eval_run_id}", response_model=wire.EvaluationRunDetail)
async def get_evaluation_run(eval_run_id: uuid.UUID, session: SessionDep) -> wire.EvaluationRunDetail:
    """One evaluation run."""
    return mapping.to_run_detail(*await reads.run_detail(session, run_id=eval_run_id))


@router.get("/validators", response_model=list[wire.ValidatorPublic])
async def get_validators(request: Request, session: SessionDep) -> list[wire.ValidatorPublic]:
    """All non-banned validators with their current status."""
    listed = state_of(request).registry.validators()
    return [mapping.to_validator_public(v) for v in await reads.validators(session, listed=listed)]


@router.get("/evaluations/running", response_model=list[wire.RunningEvaluation])
async def get_running_evaluations(session: SessionDep) -> list[wire.RunningEvaluation]:
    """Every run currently CLAIMED or RUNNING, with its progress."""
    return [mapping.to_running(*row) for row in await reads.running(session)]


@router.get("/evaluations/pending", response_model=wire.PendingEvaluationsResponse)
async def get_pending_evaluations(
    request: Request,
    session: SessionDep,
    suite_id: Id64 | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> wire.PendingEvaluationsResponse:
    """Open work items waiting for validator claims, with a projected drain time."""
    active = sum(1 for v in state_of(request).registry.validators() if not v.banned)
    queue = await reads.pending(
        session, suite_id=suite_id, limit=limit, offset=offset, now=utcnow(), active_validators=active
    )
    return mapping.to_pending(queue)


# Rendered answers of the most-polled public reads (dashboards ask for the same page over and over),
# kept for a couple of seconds. Keys carry the scores generation, so a change made by this process is
# served at once; another replica's change shows within the TTL plus the ranking's stamp check.


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@router.get("/leaderboard", response_model=wire.LeaderboardResponse)
async def get_leaderboard(
    request: Request,
    session: SessionDep,
    suite_id: Id64 | None = None,
    score_type: Literal["qualifying", "race"] = "qualifying",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Eligible agents ranked by final score; `q` matches agent names (substring) or hotkeys (prefix)."""
    settings = state_of(request).settings
    if score_type == "race":  # the latest completed race's finishers, by race rank
        suite = await (
            suite_service.get_suite(session, suite_id=suite_id)
            if suite_id is not None
            else suite_service.current_suite(session)
        )
        race = await races.latest_complete(session, suite_id=suite.id)
        board = mapping.to_race_leaderboard(race, suite, limit=limit, offset=offset, q=q)
        return _json(board.model_dump_json(by_alias=True).encode())
    caches = caches_of(session)
    key = ("leaderboard", caches.scores.value, suite_id, limit, offset, q, settings.top_margin)
    body = caches.rendered.get(key)
    if body is not None:
        return _json(body)
    suite = await (
        suite_service.get_suite(session, suite_id=suite_id)
        if suite_id is not None
        else suite_service.current_suite(session)
    )
    page = await leaderboard.page(session, suite_id=suite.id, limit=limit, offset=offset, q=q, now=utcnow())
    top = await top_service.current(session, suite_id=suite.id, margin=settings.top_margin)
    answer = mapping.to_leaderboard(
        page, suite, limit=limit, offset=offset, threshold=top.challenge_threshold
    )
    return _json(caches.rendered.put(key, answer.model_dump_json(by_alias=True).encode()))


@router.get("/top", response_model=wire.TopAgentResponse)
async def get_top_agent(request: Request, session: SessionDep) -> Response:
    """The current top agent for emissions (a challenger must beat it by the policy's margin)."""
    settings = state_of(request).settings
    caches = caches_of(session)
    key = ("top", caches.scores.value, settings.top_margin, settings.top_emission_weight)
    body = caches.rendered.get(key)
    if body is None:
        answer = await _top_agent(session, settings)
        body = answer.model_dump_json(by_alias=True).encode()
        if answer.suite_id:  # "no active suite" is not kept: an import elsewhere must show at once
            caches.rendered.put(key, body)
    return _json(body)


async def _top_agent(session: AsyncSession, settings: Settings) -> wire.TopAgentResponse:
    policy = {
        "margin": settings.top_margin,
        "emission_weight": settings.top_emission_weight,
        "aggregation": settings.eval_aggregation,
        "required_successes": settings.eval_required_successes,
    }
    now = utcnow()
    try:
        suite = await suite_service.current_suite(session)
    except SuiteNotFound:
        return wire.TopAgentResponse(suite_id=0, computed_at=now, policy=policy, margin=settings.top_margin)
    top = await top_service.current(session, suite_id=suite.id, margin=settings.top_margin)
    version = top.version
    return wire.TopAgentResponse(
        suite_id=suite.id,
        computed_at=now,
        top_agent_version_id=version.id if version else None,
        top_miner_hotkey=version.miner_hotkey if version else None,
        top_score=version.final_score if version else None,
        top_agent_name=top.agent.name if top.agent else None,
        policy=policy,
        challenge_threshold=top.challenge_threshold,
        emission_weight=settings.top_emission_weight if version else None,
        margin=settings.top_margin,
    )


@router.get("/top/history", response_model=wire.TopHistoryResponse)
async def get_top_history(session: SessionDep, suite_id: Id64 | None = None) -> wire.TopHistoryResponse:
    """Every agent that has held the top spot (for one suite, or all), newest first."""
    rows = await top_service.history(session, suite_id=suite_id)
    current_ids = {row.agent_version_id for row, _, _ in rows if row.ended_at is None}
    return wire.TopHistoryResponse(
        suite_id=suite_id if suite_id is not None else (rows[0][0].suite_id if rows else 0),
        entries=[
            wire.TopHistoryEntry(
                agent_version_id=version.id,
                agent_name=agent.name,
                miner_hotkey=version.miner_hotkey,
                version_number=version.version_number,
                final_score=row.score,
                top_at=row.top_at,
                is_current_top=version.id in current_ids and row.ended_at is None,
                was_top=True,
                suite_id=row.suite_id,
            )
            for row, version, agent in rows
        ],
    )


@router.post("/artifacts/download-url", response_model=wire.ArtifactDownloadResponse)
async def get_artifact_download_url(
    body: wire.ArtifactDownloadRequest, request: Request, session: SessionDep
) -> wire.ArtifactDownloadResponse:
    """A presigned download URL: agent code once released, validator logs at once."""
    state = state_of(request)
    now = utcnow()
    key, filename = await artifacts.locate(
        session,
        artifact_type=body.artifact_type,
        version_id=body.agent_version_id,
        run_id=body.eval_run_id,
        problem_id=body.problem_id,
        now=now,
    )
    ttl = artifacts.URL_TTL_SECONDS
    url = await state.blobs.presign_get(
        key, expires_in=ttl, base_url=public_base_url(request), filename=filename
    )
    return wire.ArtifactDownloadResponse(download_url=url, expires_at=now + timedelta(seconds=ttl))


@router.get("/top-miner-payout", response_model=wire.TopMinerPayoutResponse)
async def get_top_miner_payout(request: Request, session: SessionDep) -> wire.TopMinerPayoutResponse:
    """The current top miner and what it earns per day (from the operator's configured emission)."""
    payout = await subnet.top_miner_payout(session, state_of(request).settings, now=utcnow())
    return wire.TopMinerPayoutResponse(**payout.__dict__)


@router.get(
    "/inference/models",
    response_model=wire.InferenceModelsResponse | wire.RankedInferenceModelsResponse,
)
async def get_inference_models(
    request: Request, provider: Label = "chutes", ranked: bool = False
) -> wire.InferenceModelsResponse | wire.RankedInferenceModelsResponse:
    """The models validators may call for agents' inference (ranked: the same list, in its order)."""
    models = subnet.inference_models(state_of(request).settings, provider=provider)
    if not ranked:
        return wire.InferenceModelsResponse(models=models)
    return wire.RankedInferenceModelsResponse(
        models=[wire.RankedInferenceModel(id=m) for m in models], ranked_by="operator", as_of=utcnow()
    )


@router.post("/waitlist", response_model=wire.WaitlistSignupResponse)
async def join_waitlist(body: wire.WaitlistSignupRequest, session: SessionDep) -> wire.WaitlistSignupResponse:
    """Join the subnet's waitlist; answers the same whether or not the address was already listed."""
    await subnet.join_waitlist(session, email=body.email, source=body.source, now=utcnow())
    return wire.WaitlistSignupResponse(success=True)
