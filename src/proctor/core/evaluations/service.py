"""The evaluation domain's policy, shapes and ORM-side pieces: queueing an accepted version (inside the
submission's transaction) and reading a run's problems. The lifecycle itself — claim, heartbeat,
progress, completion, reaping — is `proctor.core.evaluations.flows`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.evaluations.repository import EvaluationRepository
from proctor.errors import Conflict, NotFound
from proctor.models import AgentVersion, EvaluationRun, Problem, WorkItem


@dataclass(frozen=True)
class Policy:
    required_successes: int = 2
    max_failures: int = 3
    lease_seconds: int = 180
    aggregation: str = "median"
    release_delay_seconds: int = 24 * 3600
    top_margin: float = 0.05
    upload_max_bytes: int = 50 * 1024 * 1024
    claim_returns_held_run: bool = True
    races_decide_top: bool = False  # PROCTOR_RACE_ENABLED: qualifying never changes the top


def policy_from(settings: Any) -> Policy:
    return Policy(
        required_successes=settings.eval_required_successes,
        max_failures=settings.eval_max_failures,
        lease_seconds=settings.eval_lease_seconds,
        aggregation=settings.eval_aggregation,
        release_delay_seconds=settings.code_release_delay_seconds,
        top_margin=settings.top_margin,
        upload_max_bytes=settings.blob_max_upload_bytes,
        claim_returns_held_run=settings.eval_claim_returns_held_run,
        races_decide_top=settings.race_enabled,
    )


@dataclass(frozen=True)
class HostReport:
    """What a validator says about itself on claim and heartbeat."""

    service_versions: Mapping[str, Any] | None = None
    cpu_pct: float | None = None
    ram_pct: float | None = None
    disk_pct: float | None = None
    docker_container_count: int | None = None


class AtCapacity(Conflict):
    code = "AT_CAPACITY"
    default_message = "Validator already holds an active evaluation run"


# --- queueing -----------------------------------------------------------------------------------


async def enqueue(session: AsyncSession, *, version: AgentVersion, policy: Policy, now: datetime) -> WorkItem:
    """Make an accepted version wait for validators (called in the submission's transaction)."""
    assert version.suite_id is not None, "an accepted version always has a suite"
    item = WorkItem(
        id=uuid.uuid4(),
        agent_version_id=version.id,
        suite_id=version.suite_id,
        phase="QUALIFYING",
        status="OPEN",
        required_successes=policy.required_successes,
        queued_at=now,
    )
    session.add(item)
    await session.flush()
    return item


@dataclass(frozen=True)
class ProblemUpdate:
    problem_id: uuid.UUID
    status: str
    fields: Mapping[str, Any] = field(default_factory=dict)  # only the fields the validator sent


# --- reads ------------------------------------------------------------------------------------------


async def run_for_validator(session: AsyncSession, *, run_id: uuid.UUID, validator: str) -> EvaluationRun:
    """A run its validator may read; another validator's run is not found (ORO declares only 404)."""
    run = await EvaluationRepository(session).run(run_id)
    if run is None or run.validator_hotkey != validator:
        raise NotFound("Evaluation run not found", code="EVAL_RUN_NOT_FOUND")
    return run


async def run_problems(session: AsyncSession, *, run: EvaluationRun) -> Sequence[Problem]:
    """The problems a run evaluates: its suite's, in suite order (ground truth included); a RACE run's
    are the suite's hidden race bank."""
    if run.race_id is not None:
        from proctor.core.races import bank

        return await bank.problems(session, suite_id=run.suite_id)  # type: ignore[return-value]
    return await EvaluationRepository(session).suite_problems(run.suite_id)
