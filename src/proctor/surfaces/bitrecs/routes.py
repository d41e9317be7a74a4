"""Bitrecs' routes: /check and /submit at the root, `/validator/*`, and the API-key read routes.

Each route parses Bitrecs' wire, makes one flow call and renders the answer; gate rejections and core
errors come out in Bitrecs' bodies (`errors.render_bitrecs`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request

from proctor.core.bitrecs import flows
from proctor.core.submissions.bitrecs import Submission
from proctor.errors import ProctorError, RateLimited, Unauthorized
from proctor.http.deps import client_ip, core_of, state_of
from proctor.http.params import Credential
from proctor.storage.base import utcnow
from proctor.surfaces.bitrecs import wire
from proctor.surfaces.bitrecs.errors import API_KEY_CODE

root = APIRouter(tags=["bitrecs: miners"])
validator = APIRouter(tags=["bitrecs: validators"])  # mounted at /validator
scoring = APIRouter(tags=["bitrecs: scoring"])  # mounted at /scoring
agent = APIRouter(tags=["bitrecs: agents"])  # mounted at /agent

GATE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A gate refused the submission: `detail` (admission gates) or `error` (artifact)"},
    403: {"description": "The hotkey is banned"},
    409: {"description": "Agent is too similar to existing agents"},
    429: {"description": "Too many submissions (per IP, or system-wide)"},
    503: {"description": "Submissions disabled, or not enough validators connected"},
}


async def per_ip_limit(request: Request) -> None:
    """Bitrecs' `30/minute` per client address on /check and /submit."""
    state = state_of(request)
    if not state.settings.rate_limit_enabled:
        return
    spec = state.settings.bitrecs_rate_limit
    decision = await state.limiter.hit(spec, "bitrecs", client_ip(request))
    if not decision.allowed:
        amount = decision.limit.amount
        per = f"{decision.limit.multiples} {decision.limit.GRANULARITY.name}"
        raise RateLimited(
            f"Rate limit exceeded: {amount} per {per}", headers={"Retry-After": str(decision.retry_after)}
        )


def _submission(body: wire.MinerSubmission, request: Request | None = None) -> Submission:
    headers = request.headers if request is not None else {}
    return Submission(
        created_at=body.created_at,
        github_account=body.github_account,
        gist_id=body.gist_id,
        hotkey=body.hotkey,
        signature=body.signature,
        x_signature=headers.get("x-signature"),
        x_timestamp=headers.get("x-timestamp"),
        x_nonce=headers.get("x-nonce"),
        x_t_nonce=headers.get("x-t-nonce"),
    )


@root.post("/check", response_model=wire.CheckOk, responses=GATE_ERRORS, dependencies=[Depends(per_ip_limit)])
async def check(body: wire.MinerSubmission, request: Request) -> wire.CheckOk:
    """Dry run: every gate of /submit that needs no chain commitment, in Bitrecs' order; writes nothing."""
    await flows.check(core_of(request), submission=_submission(body), now=utcnow())
    return wire.CheckOk()


@root.post(
    "/submit",
    status_code=201,
    response_model=wire.SubmitOk,
    responses=GATE_ERRORS,
    dependencies=[Depends(per_ip_limit)],
)
async def submit(body: wire.MinerSubmission, request: Request) -> wire.SubmitOk:
    """Submit a gist-hosted agent (transport-signed headers, chain commitment); it enters screening_1."""
    request_id = str(uuid.uuid4())
    done = await flows.submit(
        core_of(request), submission=_submission(body, request), now=utcnow(), request_id=request_id
    )
    return wire.SubmitOk(
        artifact_id=done.agent_id,
        request_id=done.request_id,
        similar_results=[
            wire.SimilarResult(agent_id=a.agent_id, distance=round(1 - a.similarity, 6)) for a in done.similar
        ],
    )


# --- validators and screeners ----------------------------------------------------------------------------


async def current_session(request: Request) -> flows.Session:
    authorization = request.headers.get("authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Not authenticated", headers={"WWW-Authenticate": "Bearer"})
    return await flows.session_of(core_of(request), token=token.strip(), now=utcnow())


SessionDep = Annotated[flows.Session, Depends(current_session)]


def _registered(done: flows.Registered) -> wire.Registered:
    return wire.Registered(
        session_id=done.session_id,
        running_agent_timeout_seconds=done.running_agent_timeout_seconds,
        running_eval_timeout_seconds=done.running_eval_timeout_seconds,
        max_evaluation_run_log_size_bytes=done.max_evaluation_run_log_size_bytes,
    )


@validator.post("/register-as-validator", response_model=wire.Registered)
async def register_as_validator(body: wire.ValidatorRegistration, request: Request) -> wire.Registered:
    """A permitted validator hotkey signs `str(timestamp)`; the answer's session_id is its bearer token."""
    done = await flows.register_validator(
        core_of(request),
        hotkey=body.hotkey,
        timestamp=body.timestamp,
        signed_timestamp=body.signed_timestamp,
        ip=client_ip(request),
        now=utcnow(),
    )
    return _registered(done)


@validator.post("/register-as-screener", response_model=wire.Registered)
async def register_as_screener(body: wire.ScreenerRegistration, request: Request) -> wire.Registered:
    """A screener `screener-{1|2}-N` with the shared password."""
    done = await flows.register_screener(
        core_of(request), name=body.name, password=body.password, ip=client_ip(request), now=utcnow()
    )
    return _registered(done)


@validator.post("/heartbeat")
async def heartbeat(body: wire.Heartbeat, request: Request, session: SessionDep) -> dict[str, Any]:
    """Keep the session (and its evaluation's lease) alive; silent for the timeout, its runs error out."""
    await flows.heartbeat(core_of(request), session=session, metrics=body.system_metrics, now=utcnow())
    return {}


@validator.post("/request-evaluation", response_model=wire.EvaluationAssigned | None)
async def request_evaluation(request: Request, session: SessionDep) -> wire.EvaluationAssigned | None:
    """The next agent this validator or screener may evaluate (null when none); one at a time (409)."""
    assigned = await flows.request_evaluation(core_of(request), session=session, now=utcnow())
    if assigned is None:
        return None
    return wire.EvaluationAssigned(
        evaluation_runs=[
            wire.EvaluationRun(evaluation_run_id=run_id, problem_name=problem)
            for run_id, problem in assigned.runs
        ],
        evaluation_id=assigned.evaluation_id,
        agent_id=assigned.agent_id,
        miner_hotkey=assigned.miner_hotkey,
    )


@validator.post("/update-evaluation-run")
async def update_evaluation_run(
    body: wire.UpdateRun, request: Request, session: SessionDep
) -> dict[str, Any]:
    """One step of the run state machine: 400 for a wrong transition, 422 for a missing field."""
    await flows.update_run(
        core_of(request),
        session=session,
        run_id=body.evaluation_run_id,
        status=body.updated_status,
        fields=body.model_dump(exclude={"evaluation_run_id", "updated_status"}),
        now=utcnow(),
    )
    return {}


@validator.post("/finish-evaluation")
async def finish_evaluation(request: Request, session: SessionDep) -> dict[str, Any]:
    """Close the current evaluation once every run finished or errored (409 otherwise)."""
    await flows.finish_evaluation(core_of(request), session=session, now=utcnow())
    return {}


@validator.post("/disconnect")
async def disconnect(body: wire.Disconnect, request: Request, session: SessionDep) -> dict[str, Any]:
    """End the session; the current evaluation's open runs error out."""
    await flows.disconnect(core_of(request), session=session, reason=body.reason, now=utcnow())
    return {}


@validator.get("/connected-validators-info")
async def connected_validators_info(request: Request) -> list[dict[str, Any]]:
    """Connected validators and screeners, with their last heartbeat."""
    return await flows.connected(core_of(request), now=utcnow())


# --- the API-key read routes -------------------------------------------------------------------------------


async def api_key(request: Request, x_api_key: Annotated[Credential | None, Header()] = None) -> None:
    if not await flows.api_key_valid(core_of(request), key=x_api_key or ""):
        raise ProctorError("Invalid or missing API Key", code=API_KEY_CODE, status_code=401)


@scoring.get("/latest", dependencies=[Depends(api_key)])
async def latest(request: Request) -> dict[str, Any]:
    """Best per (hotkey, task), the ε-Pareto frontier, winner-takes-all points, weights and the winner."""
    outcome = await flows.latest_scores(core_of(request))
    return {
        "tasks": list(outcome.tasks),
        "scores": outcome.best,
        "epsilon": outcome.epsilon,
        "frontier": list(outcome.frontier),
        "points": outcome.points,
        "weights": outcome.weights,
        "wta_hotkey": outcome.winner,
        "first_commit_blocks": outcome.blocks,
    }


@scoring.get("/constants", dependencies=[Depends(api_key)])
async def constants(request: Request) -> dict[str, Any]:
    """The thresholds and counts the stages use."""
    s = state_of(request).settings
    return {
        "SCREENER_1_THRESHOLD": s.bitrecs_screener_1_threshold,
        "SCREENER_2_THRESHOLD": s.bitrecs_screener_2_threshold,
        "PRUNE_THRESHOLD": s.bitrecs_prune_threshold,
        "NUM_EVALS_PER_AGENT": s.bitrecs_evals_per_agent,
        "MAX_TOTAL_EVALS_PER_AGENT": s.bitrecs_evals_per_agent * s.bitrecs_max_total_evals_factor,
        "VALIDATOR_HEARTBEAT_TIMEOUT_SECONDS": s.bitrecs_heartbeat_timeout_seconds,
        "ARTIFACTS_PER_INTERVAL": s.bitrecs_artifacts_per_interval,
        "SIMILARITY_THRESHOLD": s.bitrecs_similarity_threshold,
        "SUBSET_WEIGHTING": s.bitrecs_subset_weighting,
    }


@scoring.get("/screener-info", dependencies=[Depends(api_key)])
async def screener_info(request: Request) -> dict[str, Any]:
    """Agents per status and who is connected."""
    return await flows.screener_info(core_of(request), now=utcnow())


@scoring.get("/latest-set-info", dependencies=[Depends(api_key)])
async def latest_set_info(request: Request) -> dict[str, Any]:
    """The problems each stage evaluates."""
    s = state_of(request).settings
    return {
        "set_id": 1,
        "screener_1": s.bitrecs_screener_1_problems,
        "screener_2": s.bitrecs_screener_2_problems,
        "validator": s.bitrecs_validator_problems,
    }


@agent.get("/get-gist-info", dependencies=[Depends(api_key)])
async def get_gist_info(
    request: Request,
    agent_id: Annotated[str | None, Query(max_length=64)] = None,
    hotkey: Annotated[str | None, Query(max_length=64)] = None,
    gist_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """The gist behind an agent (by agent_id, hotkey or gist_id)."""
    row = await flows.agent_gist(core_of(request), agent_id=agent_id, hotkey=hotkey, gist_id=gist_id)
    return {
        "agent_id": row.id,
        "miner_hotkey": row.miner_hotkey,
        "github_account": row.github_account,
        "gist_id": row.gist_id,
        "commit_sha": row.commit_sha,
        "content_sha256": row.content_sha256,
        "block": row.block,
        "status": row.status,
        "final_score": row.final_score,
        "created_at": row.created_at.isoformat(),
    }
