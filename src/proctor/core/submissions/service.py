"""Submissions: load the facts, run the gate pipeline, and apply its outcome atomically.

A real submission writes in one transaction: the cooldown claim, the agent (created if needed), the new
version, and a line in the submission log. A rejection that costs cooldown (a code-analysis violation)
still commits the cooldown and the log line; the caller renders the rejection *without raising*, so the
request's transaction commits. A dry run loads the same facts and runs the same gates and writes
nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.evaluations import service as evaluation_service
from proctor.core.identity.registry import Identity
from proctor.core.submissions.gates import (
    Candidate,
    CooldownCost,
    Facts,
    Policy,
    Rejection,
    Verdict,
    check_duplicate,
    cooldown_rejection,
)
from proctor.core.submissions.repository import SubmissionRepository
from proctor.core.suites.repository import SuiteRepository
from proctor.errors import NotFound, Unavailable
from proctor.models import Agent, AgentVersion, Problem, SubmissionEvent, Suite, SystemFlag

QUEUED = "QUEUED"
CODE_CONTENT_TYPE = "text/x-python"
CODE_PREFIX = "agent-code"


class CodeStore(Protocol):
    async def put_content(self, data: bytes, *, content_type: str, prefix: str = ...) -> str: ...


@dataclass(frozen=True)
class Outcome:
    """What happened (or, in a dry run, what would happen) to one submission."""

    hotkey: str
    dry_run: bool
    verdict: Verdict
    rejection: Rejection | None
    agent: Agent | None = None
    version: AgentVersion | None = None
    next_allowed_at: datetime | None = None

    @property
    def accepted(self) -> bool:
        return self.rejection is None


def policy_from(settings: Any) -> Policy:
    return Policy(
        max_bytes=settings.submission_max_bytes,
        cooldown_seconds=settings.submission_cooldown_seconds,
        reduced_cooldown_seconds=settings.submission_reduced_cooldown_seconds,
    )


class SubmissionsPaused(Unavailable):
    code = "SUBMISSIONS_PAUSED"
    default_message = "Submissions are paused by the operator. Please try again later."


async def paused(session: AsyncSession) -> str | None:
    """The message to refuse with while the operator has paused submissions (None while they are
    open): the shared switch `proctor submissions pause|resume` sets (Bitrecs' `submissions_enabled`).
    One primary-key read."""
    flag = await session.get(SystemFlag, "submissions_enabled")
    if flag is not None and flag.value == "false":
        return flag.reason or SubmissionsPaused.default_message
    return None


async def ensure_open(session: AsyncSession) -> None:
    """Refuse (503 SUBMISSIONS_PAUSED) while the operator has paused submissions."""
    message = await paused(session)
    if message is not None:
        raise SubmissionsPaused(message)


async def next_allowed_at(session: AsyncSession, *, hotkey: str, now: datetime) -> datetime | None:
    """When `hotkey` may submit again, or None when it may submit now."""
    until = await SubmissionRepository(session).next_allowed_at(hotkey)
    return until if until is not None and until > now else None


async def load_facts(
    session: AsyncSession, *, candidate: Candidate, identity: Identity, policy: Policy, now: datetime
) -> Facts:
    """Everything the gates need to know about the world, read before judging."""
    repo = SubmissionRepository(session)
    suite = await SuiteRepository(session).active()
    sha256 = candidate.sha256
    duplicate = await repo.version_with_sha(sha256) if sha256 else None
    return Facts(
        identity=identity,
        suite_id=suite.id if suite else None,
        next_allowed_at=await repo.next_allowed_at(candidate.hotkey),
        duplicate_of=duplicate.id if duplicate else None,
        duplicate_is_own=bool(duplicate and duplicate.miner_hotkey == candidate.hotkey),
        answers=await suite_answers(session, suite) if suite else frozenset(),
        now=now,
        policy=policy,
        paused=await paused(session),  # the dry run answers a pause as /submit would (its first gate)
    )


class Judge(Protocol):
    async def judge(self, candidate: Candidate, facts: Facts, *, exhaustive: bool = False) -> Verdict: ...


async def check(*, candidate: Candidate, facts: Facts, runner: Judge) -> Outcome:
    """Dry run: every gate, nothing written (and no database connection held while judging)."""
    verdict = await runner.judge(candidate, facts, exhaustive=True)
    until = _cooldown_until(verdict.cooldown, facts, facts.now)
    return Outcome(candidate.hotkey, True, verdict, verdict.rejection, next_allowed_at=until)


async def submit(
    session: AsyncSession,
    *,
    candidate: Candidate,
    facts: Facts,
    code_store: CodeStore,
    evaluation: evaluation_service.Policy,
    runner: Judge,
) -> Outcome:
    """Judge a submission and apply the outcome (cooldown, agent, version, work item, log) at once.

    `facts` come from `load_facts` in a short transaction of their own: judging a 1 MB file takes the
    better part of a second, and no connection (on SQLite, the single writer) may be held meanwhile.
    What may have changed since is settled here, in the write transaction: the cooldown claim is an
    atomic conditional update, and a byte-identical file accepted in the meantime is found again (or,
    on PostgreSQL, refused by the unique index) and answered as the duplicate it is.
    """
    now = facts.now
    verdict = await runner.judge(candidate, facts)
    repo = SubmissionRepository(session)
    rejection = verdict.rejection
    if rejection is None:
        rejection = await _duplicate_since(repo, candidate, facts)
    cost = verdict.cooldown if rejection is verdict.rejection else CooldownCost.NONE  # a duplicate: none
    until = _cooldown_until(cost, facts, now)
    agent = version = None
    try:
        async with session.begin_nested():
            if until is not None and (rejection is None or rejection.cooldown is not CooldownCost.NONE):
                outcome_code = rejection.code if rejection else "ACCEPTED"
                claimed = await repo.claim_cooldown(
                    hotkey=candidate.hotkey, until=until, now=now, outcome=outcome_code
                )
                if not claimed:  # a concurrent submission from this hotkey got there first
                    current = await repo.next_allowed_at(candidate.hotkey) or until
                    until, rejection = current, rejection or cooldown_rejection(current, now)
            if rejection is None:
                agent, version = await _store_version(
                    session, repo, candidate, facts, verdict, code_store, now
                )
                await evaluation_service.enqueue(session, version=version, policy=evaluation, now=now)
    except IntegrityError:
        # The same bytes were accepted for someone else between our read and our insert (PostgreSQL;
        # SQLite's single writer makes the re-read above exact): nothing of ours was kept.
        agent = version = None
        rejection = await _duplicate_since(repo, candidate, facts)
        if rejection is None:
            raise
        until = _cooldown_until(CooldownCost.NONE, facts, now)
    repo.log(_event(candidate, rejection, version, now))
    await session.flush()
    return Outcome(candidate.hotkey, False, verdict, rejection, agent, version, next_allowed_at=until)


async def _duplicate_since(
    repo: SubmissionRepository, candidate: Candidate, facts: Facts
) -> Rejection | None:
    """The duplicate gate again, against what is stored now rather than when the facts were read."""
    if facts.duplicate_of is not None or candidate.sha256 is None:
        return None  # judged already (and the gate passed, or we would not be here)
    existing = await repo.version_with_sha(candidate.sha256)
    if existing is None:
        return None
    fresh = replace(
        facts, duplicate_of=existing.id, duplicate_is_own=existing.miner_hotkey == candidate.hotkey
    )
    return check_duplicate(candidate, fresh)


def _cooldown_until(cost: CooldownCost, facts: Facts, now: datetime) -> datetime | None:
    seconds = {
        CooldownCost.FULL: facts.policy.cooldown_seconds,
        CooldownCost.REDUCED: facts.policy.reduced_cooldown_seconds,
    }.get(cost)
    if seconds is None:
        return facts.next_allowed_at if facts.next_allowed_at and facts.next_allowed_at > now else None
    return now + timedelta(seconds=seconds)


async def _store_version(
    session: AsyncSession,
    repo: SubmissionRepository,
    candidate: Candidate,
    facts: Facts,
    verdict: Verdict,
    code_store: CodeStore,
    now: datetime,
) -> tuple[Agent, AgentVersion]:
    assert candidate.content is not None and candidate.sha256 is not None
    # Content-addressed and idempotent: a failed transaction leaves at worst an unreferenced blob.
    blob_key = await code_store.put_content(
        candidate.content, content_type=CODE_CONTENT_TYPE, prefix=CODE_PREFIX
    )
    agent = await repo.agent_by_name(candidate.hotkey, candidate.clean_name)
    if agent is None:
        agent = Agent(
            id=uuid.uuid4(), miner_hotkey=candidate.hotkey, name=candidate.clean_name, created_at=now
        )
        session.add(agent)
        await session.flush()
    version = AgentVersion(
        id=uuid.uuid4(),
        agent_id=agent.id,
        miner_hotkey=candidate.hotkey,
        version_number=await repo.next_version_number(agent.id),
        suite_id=facts.suite_id,
        code_sha256=candidate.sha256,
        code_size=len(candidate.content),
        blob_key=blob_key,
        state=QUEUED,
        submitted_at=now,
        review_flags=[f.to_wire() for f in verdict.flags],
    )
    session.add(version)
    await session.flush()
    return agent, version


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _storable(text: str) -> str:
    """A refused name or message as the event log keeps it: control characters (NUL, which PostgreSQL
    cannot store, among them) become U+FFFD."""
    return _CONTROL.sub("\ufffd", text)


def _event(
    candidate: Candidate, rejection: Rejection | None, version: AgentVersion | None, now: datetime
) -> SubmissionEvent:
    return SubmissionEvent(
        hotkey=candidate.hotkey,
        agent_name=_storable(candidate.clean_name[:100]) or None,
        outcome=rejection.code if rejection else "ACCEPTED",
        detail=_storable(rejection.message[:2000]) if rejection else "",
        code_sha256=candidate.sha256,
        agent_version_id=version.id if version else None,
        created_at=now,
    )


# --- the suite's answers, for the hard-coded-answer rule --------------------------------------------

MIN_ANSWER_LENGTH = 6


async def suite_answers(session: AsyncSession, suite: Suite) -> frozenset[str]:
    """Identifier-like values in the suite's hidden (ground-truth) fields, e.g. reward product ids."""
    return await _cached_answers(session, suite.id, suite.content_sha256, tuple(suite.hidden_fields))


async def _cached_answers(
    session: AsyncSession, suite_id: int, digest: str, hidden: tuple[str, ...]
) -> frozenset[str]:
    cached = _ANSWERS.get((suite_id, digest, hidden))
    if cached is None:
        problems = await SuiteRepository(session).problems(suite_id)
        cached = answers_in(problems, hidden)
        if len(_ANSWERS) > 16:
            _ANSWERS.clear()
        _ANSWERS[(suite_id, digest, hidden)] = cached
    return cached


# Small and bounded by hand (cleared past 16 entries): one entry per suite in use, keyed by content.
_ANSWERS: dict[tuple[int, str, tuple[str, ...]], frozenset[str]] = {}


def answers_in(problems: Iterable[Problem], hidden: Sequence[str]) -> frozenset[str]:
    """Pure: walk the hidden fields and keep values stored under `*id` keys."""
    found: set[str] = set()
    for problem in problems:
        for key in hidden:
            if key in problem.problem_metadata:
                _collect_ids(problem.problem_metadata[key], found, under_id=False)
    return frozenset(found)


def _collect_ids(value: Any, found: set[str], *, under_id: bool) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _collect_ids(item, found, under_id=str(key).lower().endswith("id"))
    elif isinstance(value, list):
        for item in value:
            _collect_ids(item, found, under_id=under_id)
    elif under_id and isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value).strip()
        if len(text) >= MIN_ANSWER_LENGTH:
            found.add(text)


async def owned_version(
    session: AsyncSession, *, hotkey: str, version_id: uuid.UUID
) -> tuple[AgentVersion, Agent]:
    """A version the miner owns, or AGENT_VERSION_NOT_FOUND (whoever else owns it)."""
    found = await SubmissionRepository(session).version(version_id)
    if found is None or found[0].miner_hotkey != hotkey:
        raise NotFound("Agent version not found", code="AGENT_VERSION_NOT_FOUND")
    return found


async def get_version(session: AsyncSession, *, version_id: uuid.UUID) -> tuple[AgentVersion, Agent]:
    found = await SubmissionRepository(session).version(version_id)
    if found is None:
        raise NotFound("Agent version not found", code="AGENT_VERSION_NOT_FOUND")
    return found


async def owned_agent_versions(
    session: AsyncSession, *, hotkey: str, agent_id: uuid.UUID
) -> tuple[Agent, Sequence[AgentVersion]]:
    repo = SubmissionRepository(session)
    agent = await repo.agent(agent_id)
    if agent is None or agent.miner_hotkey != hotkey:
        raise NotFound("Agent not found", code="AGENT_NOT_FOUND")
    return agent, await repo.versions_of(agent_id)


async def miner_agents(session: AsyncSession, *, hotkey: str) -> list[tuple[Agent, AgentVersion | None]]:
    """The miner's agents, each with its latest version."""
    return await SubmissionRepository(session).agents_with_latest(hotkey)
