"""ORO miner routes (`/v1/miner/*`): submission, its dry run, and the miner's own agents."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from proctor.auth.principal import Principal
from proctor.core.credentials import service as credential_service
from proctor.core.evaluations import reads
from proctor.core.evaluations import service as evaluation_service
from proctor.core.races import flows as races
from proctor.core.submissions import service as submission_service
from proctor.core.submissions.gates import Candidate, Facts, cooldown_rejection
from proctor.errors import RateLimited
from proctor.http.deps import SessionDep, state_of
from proctor.http.multipart import read_upload
from proctor.http.params import Label
from proctor.http.state import AppState
from proctor.storage.base import utcnow
from proctor.surfaces.oro import mapping, wire
from proctor.surfaces.oro.auth import MinerAuth, per_hotkey_limit
from proctor.surfaces.oro.mapping import outcome_response, rejection_response

router = APIRouter(tags=["miner"])  # mounted at /v1/miner

SUBMIT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "INVALID_AGENT_NAME or INVALID_FILE"},
    413: {"description": "FILE_TOO_LARGE"},
    422: {"description": "CODE_ANALYSIS_ERROR with violations and remaining_seconds"},
    429: {"description": "COOLDOWN_ACTIVE (remaining_seconds, next_allowed_at) or RATE_LIMIT_EXCEEDED"},
    503: {"description": "NO_ACTIVE_SUITE or SUBMISSIONS_PAUSED (operator switch)"},
}


async def _read_candidate(request: Request, state: AppState, hotkey: str) -> Candidate:
    form = await read_upload(request, max_file_bytes=state.settings.submission_max_bytes)
    return Candidate(
        hotkey=hotkey,
        agent_name=form.fields.get("agent_name"),
        filename=form.filename,
        content=form.content,
        oversized=form.oversized,
    )


async def _load_facts(state: AppState, principal: Principal, candidate: Candidate) -> Facts:
    """What the gates need from the database, read in a short transaction of its own (see `submit`)."""
    async with state.sessionmaker() as session:
        return await submission_service.load_facts(
            session,
            candidate=candidate,
            identity=principal.identity,
            policy=submission_service.policy_from(state.settings),
            now=utcnow(),
        )


@router.post("/submit", response_model=wire.SubmitAgentResponse, responses=SUBMIT_ERRORS)
async def submit_agent(request: Request, principal: MinerAuth, session: SessionDep) -> Response:
    """Submit an agent file for evaluation. Creates the agent if needed; each submission is a new version."""
    state = state_of(request)
    settings = state.settings
    now = utcnow()
    # The pause switch and the cooldown are checked before the body is read, in one short transaction:
    # a refusal costs two indexed reads, and no database lock is held while a slow upload streams in.
    async with state.sessionmaker() as probe:
        await submission_service.ensure_open(probe)
        until = await submission_service.next_allowed_at(probe, hotkey=principal.hotkey, now=now)
    if until is not None:
        return rejection_response(cooldown_rejection(until, now), dry_run=False)
    limit = settings.rate_limit_submit
    if settings.rate_limit_enabled:
        # Peek now, count after: concurrent submissions all reach the atomic cooldown claim, so the
        # loser hears COOLDOWN_ACTIVE rather than a generic rate-limit refusal.
        decision = await state.limiter.peek(limit, "rate_limit_submit", principal.hotkey)
        if not decision.allowed:
            state.metrics.rate_limited.labels("rate_limit_submit").inc()
            raise RateLimited(
                f"Rate limit exceeded: {decision.limit} per hotkey",
                headers={"Retry-After": str(decision.retry_after)},
            )
    try:
        candidate = await _read_candidate(request, state, principal.hotkey)
        facts = await _load_facts(state, principal, candidate)
        outcome = await submission_service.submit(
            session,
            candidate=candidate,
            facts=facts,
            code_store=state.blobs,
            evaluation=evaluation_service.policy_from(settings),
            runner=state.core.gates,
        )
    finally:
        if settings.rate_limit_enabled:
            await state.limiter.hit(limit, "rate_limit_submit", principal.hotkey)
    return outcome_response(outcome, now=facts.now)


@router.post(
    "/check",
    response_model=wire.SubmitAgentResponse,
    responses=SUBMIT_ERRORS,
    dependencies=[Depends(per_hotkey_limit("rate_limit_check"))],
)
async def check_agent(request: Request, principal: MinerAuth) -> Response:
    """Dry run of /submit: same body, same gates, same answers, nothing stored and no cooldown spent.

    Every gate runs (the answer is the first failure, as /submit would give it) and the body lists
    each gate's verdict under `checks`, so a miner on cooldown can still validate a file. The first
    gate is the operator's submissions pause: while it is on, the answer is /submit's 503
    SUBMISSIONS_PAUSED (ORO's wire has no field for it in a 200).
    """
    state = state_of(request)
    candidate = await _read_candidate(request, state, principal.hotkey)
    facts = await _load_facts(state, principal, candidate)
    outcome = await submission_service.check(candidate=candidate, facts=facts, runner=state.core.gates)
    return outcome_response(outcome, now=facts.now)


@router.get("/agents", response_model=wire.MinerAgentsResponse)
async def list_miner_agents(
    request: Request, principal: MinerAuth, session: SessionDep
) -> wire.MinerAgentsResponse:
    """List the miner's agents, each with its latest version, and whether it may submit now."""
    now = utcnow()
    rows = await submission_service.miner_agents(session, hotkey=principal.hotkey)
    until = await submission_service.next_allowed_at(session, hotkey=principal.hotkey, now=now)
    race = await races.miner_races(
        session,
        hotkey=principal.hotkey,
        versions=[latest for _, latest in rows if latest is not None],
        min_score=state_of(request).settings.race_min_qualifying_score,
    )
    return wire.MinerAgentsResponse(
        agents=[mapping.to_agent_public(agent, latest, race) for agent, latest in rows],
        can_submit=until is None,
        next_allowed_at=until,
        racing_agent_version_id=race.racing.id if race.racing else None,
        racing_agent_id=race.racing.agent_id if race.racing else None,
    )


@router.get("/agents/{agent_id}/versions", response_model=list[wire.AgentVersionHistoryEntry])
async def list_agent_versions(
    agent_id: uuid.UUID, request: Request, principal: MinerAuth, session: SessionDep
) -> list[wire.AgentVersionHistoryEntry]:
    """List every version of one of the miner's agents, newest first."""
    _, versions = await submission_service.owned_agent_versions(
        session, hotkey=principal.hotkey, agent_id=agent_id
    )
    race = await races.miner_races(
        session,
        hotkey=principal.hotkey,
        versions=versions,
        min_score=state_of(request).settings.race_min_qualifying_score,
    )
    return [mapping.to_history_entry(v, race) for v in versions]


@router.get("/agent-versions/{agent_version_id}", response_model=wire.AgentVersionStatus)
async def get_owned_agent_version_status(
    agent_version_id: uuid.UUID, request: Request, principal: MinerAuth, session: SessionDep
) -> wire.AgentVersionStatus:
    """Detailed status of one of the miner's agent versions (with the flags kept for review)."""
    version, agent = await submission_service.owned_version(
        session, hotkey=principal.hotkey, version_id=agent_version_id
    )
    live = await reads.counters(
        session, version_id=version.id, default_required=state_of(request).settings.eval_required_successes
    )
    race = await races.version_race(session, version_id=version.id)
    return mapping.to_version_status(
        version, agent, now=utcnow(), counters=live, include_flags=True, race=race
    )


# --- inference-provider credentials ----------------------------------------------------------------


class StoreCredentialRequest(BaseModel):
    credential: str = Field(max_length=8192)


class StoreChutesTokenRequest(BaseModel):
    refresh_token: str = Field(max_length=8192)


class SetDefaultProviderRequest(BaseModel):
    provider: str = Field(max_length=64)


@router.get("/inference-auth")
async def list_inference_auth(principal: MinerAuth, session: SessionDep) -> dict[str, Any]:
    """Every inference provider the miner has connected, and which one claims mint from."""
    return await credential_service.list_status(session, hotkey=principal.hotkey)


@router.patch("/inference-auth/default")
async def set_default_inference_provider(
    body: SetDefaultProviderRequest, principal: MinerAuth, session: SessionDep
) -> dict[str, Any]:
    """Set the provider claim_work mints a token from, starting with the next claim."""
    return await credential_service.set_default(session, hotkey=principal.hotkey, provider=body.provider)


@router.get("/inference-auth/{provider}")
async def get_inference_auth_status_one(
    provider: Label, principal: MinerAuth, session: SessionDep
) -> dict[str, Any]:
    """Whether the miner has a credential stored for one provider."""
    return await credential_service.status(session, hotkey=principal.hotkey, provider=provider)


@router.post("/inference-auth/{provider}")
async def store_inference_credential(
    provider: Label, body: StoreCredentialRequest, request: Request, principal: MinerAuth, session: SessionDep
) -> dict[str, Any]:
    """Store (or overwrite) a credential; it is validated with the provider before it is kept.

    The first stored provider becomes the default. The secret is encrypted at rest and never returned.
    """
    return await credential_service.store(
        session,
        hotkey=principal.hotkey,
        provider=provider,
        credential=body.credential,
        settings=state_of(request).settings,
    )


@router.delete("/inference-auth/{provider}")
async def delete_inference_credential(
    provider: Label, principal: MinerAuth, session: SessionDep
) -> dict[str, Any]:
    """Disconnect a provider; a deleted default falls back to another connected provider, or none."""
    return await credential_service.delete(session, hotkey=principal.hotkey, provider=provider)


@router.post("/chutes-auth")
async def store_chutes_token(
    body: StoreChutesTokenRequest, request: Request, principal: MinerAuth, session: SessionDep
) -> dict[str, Any]:
    """Legacy: store a Chutes OAuth refresh token (same as POST /inference-auth/chutes)."""
    return await credential_service.store(
        session,
        hotkey=principal.hotkey,
        provider="chutes",
        credential=body.refresh_token,
        settings=state_of(request).settings,
    )


@router.get("/chutes-auth/status")
async def get_chutes_auth_status(principal: MinerAuth, session: SessionDep) -> dict[str, Any]:
    """Legacy: whether a Chutes token is stored."""
    found = await credential_service.status(session, hotkey=principal.hotkey, provider="chutes")
    return {"connected": found["connected"], "updated_at": found.get("updated_at")}
