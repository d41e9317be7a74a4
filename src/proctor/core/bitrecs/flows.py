"""Bitrecs flows: /check and /submit through the one gate pipeline, the validator protocol on the one
lease engine, stage transitions, scoring and the read views. Routes, the CLI and the worker call these.

Submissions (reference bitrecs-and-aitbc §1.4, §1.5): the facts that cost one database round trip are
loaded first; the family's gate list is then judged in stretches, loading the replay nonce, the gist
and the similarity neighbours only when every earlier gate has passed. /check writes nothing. /submit's
insert is the last word on "a hotkey and a gist are used once": both are unique, so of two concurrent
submits exactly one succeeds and the other gets the gate's own answer.

Validators (§1.8): a session is a database row (every replica sees it) whose bearer token is stored as
its SHA-256. An evaluation is a lease owned by the validator's hotkey (a screener's name): heartbeats
renew all of an owner's leases, the reaper errors out the runs of a session that went silent, one
evaluation at a time per owner, runs follow Bitrecs' strict state machine, and finishing moves the
agent on by the stage's threshold.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import structlog
from sqlalchemy import delete, insert, select, update

from proctor.auth.verifier import is_valid_ss58, verify_signature
from proctor.core import leases
from proctor.core.admin import audit
from proctor.core.admin.audit import Actor
from proctor.core.bitrecs import artifact as artifacts
from proctor.core.bitrecs import scoring
from proctor.core.bitrecs import statements as st
from proctor.core.bitrecs.gist import GistUnavailable, source_for
from proctor.core.cache import TTLCache
from proctor.core.context import Core
from proctor.core.submissions import gates
from proctor.core.submissions.bitrecs import BitrecsFacts, SimilarAgent, Submission
from proctor.core.submissions.gates import Rejection
from proctor.errors import Conflict, Forbidden, NotFound, ProctorError, Unauthorized, ValidationFailed
from proctor.storage.sql import SessionTx, Tx, UniqueViolation

log = structlog.get_logger(__name__)

SIMILARITY_WINDOW = 2000  # newest agents compared with a new one


class Rejected(ProctorError):
    """A gate refused the submission; the surface renders `rejection` in Bitrecs' shape."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.message, code=rejection.code, status_code=rejection.status)
        self.rejection = rejection


class Unprocessable(ProctorError):
    status_code = 422
    code = "UNPROCESSABLE"


# --- submissions ----------------------------------------------------------------------------------

Loader = Callable[[Core, Submission, BitrecsFacts], Awaitable[None]]


async def _facts(core: Core, sub: Submission, now: datetime) -> BitrecsFacts:
    s = core.settings
    async with core.db.transaction() as tx:
        row = await tx.one(
            st.ADMISSION_FACTS,
            {
                "alive_after": now - timedelta(seconds=s.bitrecs_heartbeat_timeout_seconds),
                "window_start": now - timedelta(seconds=s.bitrecs_artifact_interval_seconds),
                "hotkey": sub.hotkey,
                "gist_id": sub.gist_id,
            },
        )
    assert row is not None
    enabled = row.enabled is None or str(row.enabled).lower() in ("1", "true", "yes", "on")
    return BitrecsFacts(
        now=now,
        version=s.bitrecs_version,
        skew_seconds=s.bitrecs_timestamp_skew_seconds,
        max_bytes=s.bitrecs_yaml_max_bytes,
        allowed_providers=tuple(p.strip().upper() for p in s.bitrecs_allowed_providers),
        submissions_enabled=enabled,
        disabled_reason="" if enabled else (row.reason or ""),
        connected_validators=int(row.validators or 0),
        min_validators=s.bitrecs_min_validators,
        recent_agents=int(row.recent or 0),
        artifacts_per_interval=s.bitrecs_artifacts_per_interval,
        identity=core.registry.lookup(sub.hotkey),
        registry_open=core.registry.snapshot.source is not None and core.registry.snapshot.source.open,
        hotkey_used=bool(row.hotkey_used),
        gist_used=bool(row.gist_used),
        similarity_threshold=s.bitrecs_similarity_threshold,
    )


async def _load_gist(core: Core, sub: Submission, facts: BitrecsFacts) -> None:
    try:
        facts.gist = await source_for(core.caches.extra, core.settings).fetch(sub.github_account, sub.gist_id)
    except GistUnavailable as exc:
        facts.gist_error = str(exc)


async def _consume_nonce(core: Core, sub: Submission, facts: BitrecsFacts) -> None:
    key = f"bitrecs:nonce:{sub.hotkey}:{sub.x_nonce}"
    facts.nonce_fresh = await core.kv.add(key, 2 * core.settings.bitrecs_timestamp_skew_seconds)


async def _load_commitment(core: Core, sub: Submission, facts: BitrecsFacts) -> None:
    if core.settings.registry == "chain":
        from proctor.core.bitrecs.chain import revealed_commitment

        facts.commitment = await revealed_commitment(core.settings, sub.hotkey)
    else:
        facts.commitment = core.registry.commitment(sub.hotkey)


async def _load_similar(core: Core, sub: Submission, facts: BitrecsFacts) -> None:
    assert sub.artifact is not None
    mine = artifacts.vector(
        artifacts.templates_text(sub.artifact.system_prompt_template, sub.artifact.user_prompt_template)
    )
    vectors: dict[str, Any] = core.caches.extra.setdefault("bitrecs.vectors", {})
    async with core.db.transaction() as tx:
        rows = await tx.all(st.RECENT_TEMPLATES, {"limit": SIMILARITY_WINDOW})
    found: list[SimilarAgent] = []
    for row in rows:
        if row.miner_hotkey == sub.hotkey or row.gist_id == sub.gist_id:
            # This very hotkey or gist was stored since the facts were read (a concurrent submit won).
            _raise_used(facts.family, sub, facts, gist=row.gist_id == sub.gist_id)
        theirs = vectors.get(row.id)
        if theirs is None:
            if len(vectors) > 4 * SIMILARITY_WINDOW:
                vectors.clear()
            theirs = vectors[row.id] = artifacts.vector(
                artifacts.templates_text(row.system_prompt_template, row.user_prompt_template)
            )
        similarity = artifacts.cosine(mine, theirs)
        found.append(SimilarAgent(str(row.id), similarity))
    found.sort(key=lambda a: (-a.similarity, a.agent_id))
    facts.similar = [a for a in found if a.similarity >= facts.similarity_threshold][:5]
    facts.nearest = found[:3]


def _raise_used(family: str, sub: Submission, facts: BitrecsFacts, *, gist: bool) -> NoReturn:
    """Answer as the hotkey-used (or gist-used) gate does, for a race settled after the facts were read."""
    facts.gist_used, facts.hotkey_used = gist, not gist
    verdict = gates.judge(sub, facts, family=family, start="hotkey_used", stop="banned")
    assert verdict.rejection is not None
    raise Rejected(verdict.rejection)


async def _judge(
    core: Core, family: str, sub: Submission, facts: BitrecsFacts, loaders: Mapping[str, Loader]
) -> None:
    """Judge the family's list in order, loading each expensive fact just before the gate that needs it."""
    names = [name for name, _ in gates.family_of(family).pipeline]
    stops = [name for name in names if name in loaders]
    start: str | None = None
    for stop in [*stops, None]:
        if start == "gist":  # YAML, Jinja and token counts: CPU work, off the event loop
            verdict = await asyncio.to_thread(gates.judge, sub, facts, family=family, start=start, stop=stop)
        else:
            verdict = gates.judge(sub, facts, family=family, start=start, stop=stop)
        if verdict.rejection is not None:
            raise Rejected(verdict.rejection)
        if stop is None:
            return
        await loaders[stop](core, sub, facts)
        start = stop


async def check(core: Core, *, submission: Submission, now: datetime) -> None:
    """/check: every gate of /check in Bitrecs' order; writes nothing. Raises `Rejected`."""
    facts = await _facts(core, submission, now)
    facts.family = "bitrecs.check"
    await _judge(core, "bitrecs.check", submission, facts, {"gist": _load_gist, "similar": _load_similar})


@dataclass(frozen=True)
class Submitted:
    agent_id: str
    request_id: str
    similar: list[SimilarAgent]


async def submit(core: Core, *, submission: Submission, now: datetime, request_id: str) -> Submitted:
    """/submit: Bitrecs' /submit order, then the agent is stored in `screening_1`. Raises `Rejected`."""
    facts = await _facts(core, submission, now)
    facts.family = "bitrecs.submit"
    loaders: dict[str, Loader] = {
        "nonce": _consume_nonce,
        "gist": _load_gist,
        "commitment": _load_commitment,
        "similar": _load_similar,
    }
    await _judge(core, "bitrecs.submit", submission, facts, loaders)
    art, gist = submission.artifact, facts.gist
    assert art is not None and gist is not None
    agent_id = uuid.uuid4()
    values = {
        "id": agent_id,
        "miner_hotkey": submission.hotkey,
        "gist_id": submission.gist_id,
        "github_account": submission.github_account,
        "commit_sha": gist.commit_sha,
        "content_sha256": gist.content_sha256,
        "block": int(now.timestamp() * 1000),  # first-commit order; the chain's block where it is known
        "miner_uid": facts.identity.uid,
        "name": art.name,
        "version_num": art.version_num,
        "status": "screening_1",
        "provider": art.provider.strip().upper(),
        "model": art.model,
        "system_prompt_template": art.system_prompt_template,
        "user_prompt_template": art.user_prompt_template,
        "sampling_params": art.sampling_params,
        "fewshot_examples": art.fewshot_examples,
        "request_id": request_id,
        "created_at": now,
        "active_count": 0,
        "success_count": 0,
        "total_count": 0,
        "screener_1_score": None,
        "screener_2_score": None,
        "final_score": None,
    }
    try:
        async with core.db.transaction() as tx:
            await tx.run(st.INSERT_AGENT, values)
    except UniqueViolation as exc:
        # Another submit of the same hotkey or gist won the race: answer as its gate would have.
        _raise_used("bitrecs.submit", submission, facts, gist="gist" in str(exc).lower())
    log.info(
        "bitrecs.submitted", agent_id=str(agent_id), hotkey=submission.hotkey, gist_id=submission.gist_id
    )
    return Submitted(str(agent_id), request_id, list(facts.nearest))


# --- operator switches ----------------------------------------------------------------------------


async def set_submissions(
    core: Core, *, enabled: bool, reason: str, now: datetime, actor: Actor | None = None
) -> None:
    """Pause or resume submissions (the `submissions_enabled` system flag every submission surface
    honours: Bitrecs answers 503 SUBMISSIONS_DISABLED, ORO 503 SUBMISSIONS_PAUSED). An operator's switch
    (`actor` given, as `proctor submissions pause|resume` does) writes one audit event with it."""
    async with core.sessionmaker() as session, session.begin():
        tx = SessionTx(session)
        before = await tx.one(select(st.F.c.value).where(st.F.c.key == "submissions_enabled"))
        await tx.run(delete(st.F).where(st.F.c.key == "submissions_enabled"))
        await tx.run(
            insert(st.F).values(
                key="submissions_enabled", value="true" if enabled else "false", reason=reason, updated_at=now
            )
        )
        if actor is not None:
            await audit.record(
                session,
                actor=actor,
                action="RESUME_SUBMISSIONS" if enabled else "PAUSE_SUBMISSIONS",
                target_type="submissions",
                target_id="submissions",
                now=now,
                reason=reason or None,
                before={"submissions_enabled": before is None or str(before.value) == "true"},
                after={"submissions_enabled": enabled},
            )


async def submissions_status(core: Core) -> dict[str, Any]:
    async with core.db.transaction() as tx:
        row = await tx.one(select(st.F).where(st.F.c.key == "submissions_enabled"))
    if row is None:
        return {"submissions_enabled": True, "reason": "", "updated_at": None}
    return {
        "submissions_enabled": str(row.value) == "true",
        "reason": row.reason,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


# --- validator sessions ---------------------------------------------------------------------------

SCREENER_NAME = re.compile(r"screener-\d-\d+")


@dataclass(frozen=True)
class Session:
    token_sha256: str
    owner: str
    role: str  # validator | screener_1 | screener_2


@dataclass(frozen=True)
class Registered:
    session_id: str
    running_agent_timeout_seconds: int = 2400
    running_eval_timeout_seconds: int = 600
    max_evaluation_run_log_size_bytes: int = 500 * 1024


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _open_session(
    core: Core, *, owner: str, role: str, ip: str, now: datetime, taken: str
) -> Registered:
    token = str(uuid.uuid4())
    alive_after = now - timedelta(seconds=core.settings.bitrecs_heartbeat_timeout_seconds)
    async with core.db.transaction() as tx:
        if await tx.one(st.LIVE_SESSION_OF, {"owner": owner, "alive_after": alive_after}) is not None:
            raise Conflict(taken)
        await tx.run(
            st.INSERT_SESSION,
            {
                "token_sha256": _sha(token),
                "owner": owner,
                "role": role,
                "ip_address": ip[:64],
                "created_at": now,
                "last_heartbeat_at": now,
                "ended_at": None,
                "system_metrics": None,
            },
        )
    log.info("bitrecs.session_opened", owner=owner, role=role)
    return Registered(session_id=token)


async def register_validator(
    core: Core, *, hotkey: str, timestamp: int, signed_timestamp: str, ip: str, now: datetime
) -> Registered:
    """`/validator/register-as-validator`: a permitted hotkey signing `str(timestamp)`."""
    if not is_valid_ss58(hotkey) or not core.registry.lookup(hotkey).validator_permit:
        raise Forbidden("The provided hotkey is not in the list of whitelisted validator hotkeys.")
    if not verify_signature(hotkey, str(timestamp).encode(), signed_timestamp):
        raise Unauthorized("The provided signed timestamp does not match the provided timestamp.")
    if abs(timestamp - int(now.timestamp())) > 500:
        raise ValidationFailed("The provided timestamp is not within 5 minutes of the current time.")
    return await _open_session(
        core,
        owner=hotkey,
        role="validator",
        ip=ip,
        now=now,
        taken="There is already a validator connected with the given hotkey.",
    )


async def register_screener(core: Core, *, name: str, password: str, ip: str, now: datetime) -> Registered:
    """`/validator/register-as-screener`: `screener-{1|2}-N` with the shared screener password."""
    if not SCREENER_NAME.match(name):
        raise ValidationFailed("The provided name is not in the format screener-CLASS-NUM.")
    screener_class = name.split("-")[1]
    if screener_class not in ("1", "2"):
        raise ValidationFailed("The screener class must be either 1 or 2.")
    expected = core.settings.bitrecs_screener_password
    if not expected or not _same_secret(password, expected):
        raise Forbidden("The provided password is incorrect.")
    return await _open_session(
        core,
        owner=name,
        role=f"screener_{screener_class}",
        ip=ip,
        now=now,
        taken="There is already a screener connected with the given name.",
    )


def _same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


async def session_of(core: Core, *, token: str, now: datetime) -> Session:
    """The live session behind a bearer token (422 when not a UUID, 401 when unknown or expired)."""
    try:
        uuid.UUID(token)
    except ValueError:
        raise Unprocessable("Invalid session ID format (expected a UUID).") from None
    async with core.db.transaction() as tx:
        row = await tx.one(st.SESSION, {"token": _sha(token)})
    alive_after = now - timedelta(seconds=core.settings.bitrecs_heartbeat_timeout_seconds)
    if row is None or row.ended_at is not None or row.last_heartbeat_at <= alive_after:
        raise Unauthorized("Session ID not found or expired.")
    return Session(row.token_sha256, row.owner, row.role)


async def heartbeat(core: Core, *, session: Session, metrics: dict[str, Any] | None, now: datetime) -> int:
    """Keep the session alive and renew every evaluation lease its owner holds; returns how many."""
    seconds = core.settings.bitrecs_heartbeat_timeout_seconds
    async with core.db.transaction() as tx:
        await tx.run(st.TOUCH_SESSION, {"token": session.token_sha256, "now": now, "metrics": metrics})
        return await leases.renew_all(tx, st.EVALUATIONS, owner=session.owner, now=now, seconds=seconds)


async def disconnect(core: Core, *, session: Session, reason: str, now: datetime) -> None:
    """The validator leaves: its session ends and its evaluation's open runs error out."""
    async with core.db.transaction() as tx:
        await tx.run(st.END_SESSION, {"token": session.token_sha256, "now": now})
        ended = await leases.end(
            tx, st.EVALUATIONS, where=st.E.c.validator_hotkey == session.owner, status="error", now=now
        )
        await _errored(tx, ended, f"The validator disconnected. Reason: {reason}", now)


async def _errored(tx: Tx, evaluations: Any, message: str, now: datetime) -> None:
    for evaluation in evaluations:
        await tx.run(
            st.ERROR_OPEN_RUNS,
            {"for_evaluation": evaluation.id, "code": 1000, "message": message[:2000], "now": now},
        )
        await tx.run(st.AGENT_RELEASED, {"for_agent": evaluation.agent_id})


# --- evaluations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assigned:
    evaluation_id: str
    agent_id: str
    miner_hotkey: str
    runs: list[tuple[str, str]]  # (evaluation_run_id, problem_name)


STAGES = {  # role -> (agent status it evaluates, set group, evaluations needed per stage, claim plan)
    "screener_1": ("screening_1", "screener_1"),
    "screener_2": ("screening_2", "screener_2"),
    "validator": ("evaluating", "validator"),
}


def _problems(core: Core, group: str) -> list[str]:
    s = core.settings
    return {
        "screener_1": s.bitrecs_screener_1_problems,
        "screener_2": s.bitrecs_screener_2_problems,
        "validator": s.bitrecs_validator_problems,
    }[group]


async def request_evaluation(core: Core, *, session: Session, now: datetime) -> Assigned | None:
    """`/validator/request-evaluation`: lease the next agent this owner may evaluate (one at a time)."""
    agent_status, group = STAGES[session.role]
    plan = st.VALIDATE if group == "validator" else st.SCREEN
    needed = core.settings.bitrecs_evals_per_agent if group == "validator" else 1
    evaluation_id = uuid.uuid4()
    try:
        return await _claim_evaluation(core, session, plan, agent_status, group, needed, evaluation_id, now)
    except UniqueViolation:  # a concurrent request of the same validator claimed first
        raise Conflict(ONE_AT_A_TIME) from None


ONE_AT_A_TIME = (
    "This validator is already running an evaluation, and validators may only run one evaluation at a time."
)


async def _claim_evaluation(
    core: Core,
    session: Session,
    plan: leases.ClaimPlan,
    agent_status: str,
    group: str,
    needed: int,
    evaluation_id: uuid.UUID,
    now: datetime,
) -> Assigned | None:
    async with core.db.transaction() as tx:
        if await tx.one(st.HELD_EVALUATION, {"owner": session.owner}) is not None:
            raise Conflict(ONE_AT_A_TIME)
        claimed = await leases.claim(
            tx,
            plan,
            params={
                "agent_status": agent_status,
                "needed": needed,
                "owner": session.owner,
                "evaluation_id": evaluation_id,
                "set_group": group,
                "now": now,
                "expires": now + timedelta(seconds=core.settings.bitrecs_heartbeat_timeout_seconds),
            },
        )
        if claimed is None:
            return None
        runs = [(uuid.uuid4(), problem) for problem in _problems(core, group)]
        await tx.run(
            insert(st.R).values(
                [
                    {
                        "id": run_id,
                        "evaluation_id": evaluation_id,
                        "agent_id": claimed.lease.agent_id,
                        "miner_hotkey": claimed.work["miner_hotkey"],
                        "problem_name": problem,
                        "status": "pending",
                        "updated_at": now,
                    }
                    for run_id, problem in runs
                ]
            )
        )
    return Assigned(
        str(evaluation_id),
        str(claimed.lease.agent_id),
        claimed.work["miner_hotkey"],
        [(str(run_id), problem) for run_id, problem in runs],
    )


TRANSITIONS: dict[str, tuple[str, ...]] = {
    "initializing_agent": ("pending",),
    "running_agent": ("initializing_agent",),
    "initializing_eval": ("running_agent",),
    "running_eval": ("initializing_eval",),
    "finished": ("running_eval",),
    "error": st.LIVE_RUN,
}
REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "initializing_eval": (
        ("patch", "The patch is required when updating an evaluation run to initializing_eval."),
        ("agent_logs", "The agent logs are required when updating an evaluation run to initializing_eval."),
    ),
    "finished": (
        ("test_results", "The test results are required when updating an evaluation run to finished."),
        ("eval_logs", "The eval logs are required when updating an evaluation run to finished."),
    ),
    "error": (
        ("error_code", "The error code is required when updating an evaluation run to error."),
        ("error_message", "The error message is required when updating an evaluation run to error."),
    ),
}


def run_score(test_results: Any) -> float:
    """A run's score from its test results: a `score` field, or the share of tests that passed."""
    if isinstance(test_results, dict):
        value = test_results.get("score")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return max(0.0, min(1.0, float(value)))
        test_results = test_results.get("tests", [])
    if isinstance(test_results, list) and test_results:
        passed = sum(
            1
            for t in test_results
            if isinstance(t, dict) and str(t.get("status", "")).lower() in ("pass", "passed", "success")
        )
        return passed / len(test_results)
    return 0.0


async def update_run(
    core: Core, *, session: Session, run_id: str, status: str, fields: Mapping[str, Any], now: datetime
) -> None:
    """`/validator/update-evaluation-run`: one step of the run state machine (400 wrong step, 422 missing)."""
    if status == "pending":
        raise ValidationFailed("An evaluation run can never be updated to pending.")
    if status not in TRANSITIONS:
        raise Unprocessable(f"Unknown evaluation run status {status!r}.")
    for name, message in REQUIRED.get(status, ()):
        if fields.get(name) is None:
            raise Unprocessable(message)
    async with core.db.transaction() as tx:
        held = await tx.one(st.HELD_EVALUATION, {"owner": session.owner})
        if held is None:
            raise Conflict(
                "This validator is not currently running an evaluation, and therefore cannot update an "
                "evaluation run."
            )
        await leases.hold(tx, st.EVALUATIONS, lease_id=held.id, owner=session.owner, now=now)
        run = await tx.one(st.RUN, {"run_id": _uuid(run_id)})
        if run is None:
            raise NotFound(f"Evaluation run with ID {run_id} does not exist.")
        if run.evaluation_id != held.id:
            raise Forbidden(
                f"The evaluation run with ID {run_id} is not associated with the validator's current "
                "evaluation."
            )
        if run.status not in TRANSITIONS[status]:
            allowed = " or ".join(TRANSITIONS[status])
            raise ValidationFailed(
                f"An evaluation run can only be updated to {status} if it is currently in the {allowed} "
                f"status. The current status of evaluation run {run_id} is {run.status}."
            )
        values = _run_values(status, fields)
        changed = await tx.run(
            st.move_run(frozenset(values)),
            {"run_id": run.id, "expected": run.status, "new": status, "now": now}
            | {f"v_{k}": v for k, v in values.items()},
        )
        if not changed:
            raise Conflict(f"Evaluation run {run_id} changed concurrently; read it and retry.")


def _run_values(status: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    if status == "initializing_eval":
        return {"patch": str(fields["patch"]), "agent_logs": str(fields["agent_logs"])[: 500 * 1024]}
    if status == "finished":
        return {
            "test_results": fields["test_results"],
            "eval_logs": str(fields["eval_logs"])[: 500 * 1024],
            "score": run_score(fields["test_results"]),
        }
    if status == "error":
        values: dict[str, Any] = {
            "error_code": int(fields["error_code"]),
            "error_message": str(fields["error_message"])[:2000],
            "score": 0.0,
        }
        for name in ("agent_logs", "eval_logs"):
            if fields.get(name) is not None:
                values[name] = str(fields[name])[: 500 * 1024]
        return values
    return {}


@dataclass(frozen=True)
class Finished:
    evaluation_id: str
    agent_id: str
    score: float
    success: bool
    agent_status: str


async def finish_evaluation(core: Core, *, session: Session, now: datetime) -> Finished:
    """`/validator/finish-evaluation`: every run terminal (409 otherwise); the agent moves on."""
    async with core.db.transaction() as tx:
        held = await tx.one(st.HELD_EVALUATION, {"owner": session.owner})
        if held is None:
            raise Conflict(
                "This validator is not currently running an evaluation, and therefore cannot request to "
                "finish an evaluation."
            )
        await leases.hold(tx, st.EVALUATIONS, lease_id=held.id, owner=session.owner, now=now)
        runs = await tx.all(st.RUNS_OF, {"evaluation_id": held.id})
        if any(run.status not in st.DONE_RUN for run in runs):
            raise Conflict(
                "Not all evaluation runs associated with the evaluation that this validator is currently "
                "running have either finished or errored. Did you forget to send an update-evaluation-run?"
            )
        success = any(run.status == "finished" for run in runs)
        score = sum(run.score or 0.0 for run in runs) / len(runs) if runs else 0.0
        await leases.finish(
            tx,
            st.EVALUATIONS,
            lease_id=held.id,
            owner=session.owner,
            now=now,
            status="finished" if success else "failed",  # failed: every run errored
            values={"score": score if success else None},
        )
        status = await _advance(
            core, tx, agent_id=held.agent_id, group=held.set_group, score=score, success=success
        )
    return Finished(str(held.id), str(held.agent_id), score, success, status)


async def _advance(
    core: Core, tx: Tx, *, agent_id: uuid.UUID, group: str, score: float, success: bool
) -> str:
    """The agent's next status after one finished evaluation of `group` (Bitrecs' thresholds)."""
    s = core.settings
    agent = await tx.one(st.AGENT, {"agent_id": agent_id})
    assert agent is not None
    counts = {"active_count": max(0, agent.active_count - 1)}
    if group == "validator":
        done = agent.success_count + (1 if success else 0)
        values: dict[str, Any] = {**counts, "success_count": done}
        status = agent.status
        if (
            done >= s.bitrecs_evals_per_agent
            or agent.total_count >= s.bitrecs_evals_per_agent * s.bitrecs_max_total_evals_factor
        ):
            scores = [r.score for r in await tx.all(st.VALIDATOR_SCORES, {"agent_id": agent_id})]
            status = "finished"
            values["final_score"] = sum(scores) / len(scores) if scores else 0.0
    elif not success:
        values, status = counts, agent.status  # every run errored: the stage is retried by another screener
    elif group == "screener_1":
        status = "screening_2" if score >= s.bitrecs_screener_1_threshold else "failed_screening_1"
        values = {"active_count": 0, "success_count": 0, "screener_1_score": score}
    else:
        top = await tx.scalar(st.TOP_FINAL) or 0.0
        bar = max(s.bitrecs_screener_2_threshold, top * s.bitrecs_prune_threshold)
        status = "evaluating" if score >= bar else "failed_screening_2"
        values = {"active_count": 0, "success_count": 0, "screener_2_score": score}
    values["status"] = status
    await tx.run(
        st.advance(frozenset(values)),
        {"agent_id": agent_id, "expected": agent.status} | {f"v_{k}": v for k, v in values.items()},
    )
    if status != agent.status:
        log.info("bitrecs.agent_moved", agent_id=str(agent_id), to=status, score=round(score, 4))
    return str(status)


# --- the reaper -----------------------------------------------------------------------------------


async def reap(core: Core, now: datetime | None = None) -> int:
    """End silent sessions and error out the evaluations whose lease lapsed (their runs with them)."""
    now = now or _utcnow()
    alive_after = now - timedelta(seconds=core.settings.bitrecs_heartbeat_timeout_seconds)
    async with core.db.transaction() as tx:
        await tx.all(st.END_SILENT_SESSIONS, {"alive_after": alive_after, "now": now})
        lapsed = await leases.reap(tx, st.EVALUATIONS, now=now)
        await _errored(
            tx,
            lapsed,
            f"The validator was disconnected because it did not send a heartbeat in "
            f"{core.settings.bitrecs_heartbeat_timeout_seconds} seconds.",
            now,
        )
    if lapsed:
        log.info("bitrecs.reaped", evaluations=len(lapsed))
    return len(lapsed)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- reads ----------------------------------------------------------------------------------------


async def latest_scores(core: Core) -> scoring.Outcome:
    async with core.db.transaction() as tx:
        rows = await tx.all(st.SCORED_RUNS)
    results = [scoring.Result(r.miner_hotkey, r.problem_name, float(r.score), int(r.block)) for r in rows]
    return scoring.score(results, weighting=core.settings.bitrecs_subset_weighting)


async def screener_info(core: Core, *, now: datetime) -> dict[str, Any]:
    alive_after = now - timedelta(seconds=core.settings.bitrecs_heartbeat_timeout_seconds)
    async with core.db.transaction() as tx:
        counts = {r[0]: int(r[1]) for r in await tx.all(st.COUNT_BY_STATUS)}
        sessions = await tx.all(st.LIVE_SESSIONS, {"alive_after": alive_after})
    flags = await submissions_status(core)
    return {
        "submissions_enabled": flags["submissions_enabled"],
        "agents_by_status": counts,
        "connected_screeners": sorted(s.owner for s in sessions if s.role != "validator"),
        "connected_validators": sorted(s.owner for s in sessions if s.role == "validator"),
    }


async def connected(core: Core, *, now: datetime) -> list[dict[str, Any]]:
    """Every live validator and screener session (Bitrecs' `connected-validators-info`)."""
    alive_after = now - timedelta(seconds=core.settings.bitrecs_heartbeat_timeout_seconds)
    async with core.db.transaction() as tx:
        sessions = await tx.all(st.LIVE_SESSIONS, {"alive_after": alive_after})
    return [
        {
            "name": s.owner,
            "hotkey": s.owner,
            "time_connected": s.created_at.isoformat(),
            "time_last_heartbeat": s.last_heartbeat_at.isoformat(),
        }
        for s in sorted(sessions, key=lambda s: (s.created_at, s.owner))
    ]


async def agent_gist(core: Core, *, agent_id: str | None, hotkey: str | None, gist_id: str | None) -> Any:
    async with core.db.transaction() as tx:
        row = await tx.one(
            st.AGENT_BY, {"agent_id": _uuid(agent_id or ""), "hotkey": hotkey or "", "gist_id": gist_id or ""}
        )
    if row is None:
        raise NotFound("Agent not found")
    return row


def _uuid(value: str) -> uuid.UUID:
    """A client-given id; one that is not a UUID names nothing (the nil UUID matches no row)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return uuid.UUID(int=0)


# --- read-API keys --------------------------------------------------------------------------------


async def issue_api_key(core: Core, *, name: str, now: datetime) -> str:
    """A new `X-API-Key` for the read routes; shown once, stored as its SHA-256."""
    key = "brk_" + secrets.token_urlsafe(32)
    async with core.db.transaction() as tx:
        await tx.run(
            insert(st.K).values(key_sha256=_sha(key), name=name[:100], created_at=now, revoked_at=None)
        )
    return key


async def revoke_api_key(core: Core, *, name: str, now: datetime) -> int:
    t = st.K
    async with core.db.transaction() as tx:
        count = await tx.run(
            update(t).where(t.c.name == name, t.c.revoked_at.is_(None)).values(revoked_at=now)
        )
    core.caches.extra.pop("bitrecs.keys", None)
    return count


async def api_key_valid(core: Core, *, key: str) -> bool:
    """Whether `key` is a live read-API key (answers are kept 5 s per process)."""

    if not key or len(key) > 200:
        return False
    cache: TTLCache[bool] = core.caches.extra.setdefault("bitrecs.keys", TTLCache(5.0, maxsize=1024))
    digest = _sha(key)
    known = cache.get(digest)
    if known is not None:
        return known
    t = st.K
    async with core.db.transaction() as tx:
        row = await tx.one(select(t.c.key_sha256).where(t.c.key_sha256 == digest, t.c.revoked_at.is_(None)))
    return cache.put(digest, row is not None)
