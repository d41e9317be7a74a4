"""Read models over evaluation state: runs, per-problem matrices, validators, queues."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.evaluations.repository import EvaluationRepository
from proctor.core.identity.registry import Identity
from proctor.errors import NotFound
from proctor.models import (
    Agent,
    AgentVersion,
    EvaluationRun,
    Problem,
    RunProblemResult,
    ValidatorState,
    WorkItem,
)


@dataclass(frozen=True)
class VersionCounters:
    required_successes: int
    success_count: int
    active_count: int
    is_closed: bool


async def counters(session: AsyncSession, *, version_id: uuid.UUID, default_required: int) -> VersionCounters:
    """Live work-item counters of a version (defaults before it was ever queued)."""
    item = await EvaluationRepository(session).item_for_version(version_id)
    if item is None:
        return VersionCounters(default_required, 0, 0, False)
    return VersionCounters(
        item.required_successes, item.success_count, item.active_count, item.status != "OPEN"
    )


async def runs_of(session: AsyncSession, *, version_id: uuid.UUID) -> Sequence[EvaluationRun]:
    return await EvaluationRepository(session).runs_of_version(version_id)


async def run_detail(
    session: AsyncSession, *, run_id: uuid.UUID
) -> tuple[EvaluationRun, AgentVersion, Agent]:
    repo = EvaluationRepository(session)
    run = await repo.run(run_id)
    version = await repo.version(run.agent_version_id) if run else None
    agent = await session.get(Agent, version.agent_id) if version else None
    if run is None or version is None or agent is None:
        raise NotFound("Evaluation run not found", code="EVAL_RUN_NOT_FOUND")
    return run, version, agent


@dataclass(frozen=True)
class ProblemRow:
    problem: Problem
    results: list[tuple[EvaluationRun, RunProblemResult]]


async def problem_matrix(
    session: AsyncSession, *, version: AgentVersion, runs: Sequence[EvaluationRun] | None = None
) -> list[ProblemRow]:
    """Every problem of the version's suite × every validator's result for it (`runs`: the version's
    runs when the caller has just read them with `runs_of`, saving that query)."""
    repo = EvaluationRepository(session)
    if runs is None:
        runs = await repo.runs_of_version(version.id)
    by_run = {r.id: r for r in runs}
    results = await repo.problem_results(list(by_run))
    grouped: dict[uuid.UUID, list[tuple[EvaluationRun, RunProblemResult]]] = {}
    for result in results:
        grouped.setdefault(result.problem_id, []).append((by_run[result.run_id], result))
    problems = await repo.suite_problems(version.suite_id) if version.suite_id is not None else []
    return [ProblemRow(p, grouped.get(p.problem_id, [])) for p in problems]


@dataclass(frozen=True)
class ValidatorView:
    hotkey: str
    state: ValidatorState | None
    run: EvaluationRun | None
    version: AgentVersion | None
    agent: Agent | None


async def validators(session: AsyncSession, *, listed: Iterable[Identity]) -> list[ValidatorView]:
    """Validators proctor has seen that still hold a permit and are not banned."""
    repo = EvaluationRepository(session)
    permitted = {i.hotkey for i in listed if not i.banned}
    active = {
        run.validator_hotkey: (run, version, agent)
        for run, version, agent in await repo.active_runs_with_agents()
    }
    views = []
    for state in sorted(await repo.validator_states(), key=lambda s: s.hotkey):
        if state.hotkey not in permitted:
            continue
        run, version, agent = active.get(state.hotkey, (None, None, None))
        views.append(ValidatorView(state.hotkey, state, run, version, agent))
    return views


async def running(session: AsyncSession) -> Sequence[tuple[EvaluationRun, AgentVersion, Agent]]:
    return await EvaluationRepository(session).active_runs_with_agents()


@dataclass(frozen=True)
class PendingQueue:
    total_pending: int
    runs_needed: int
    runs_active: int
    projected_completion_at: datetime | None
    items: Sequence[tuple[WorkItem, AgentVersion, Agent]]


async def pending(
    session: AsyncSession,
    *,
    suite_id: int | None,
    limit: int,
    offset: int,
    now: datetime,
    active_validators: int,
) -> PendingQueue:
    """The open queue, with a drain projection from the last hour's completion rate."""
    repo = EvaluationRepository(session)
    total, needed, active = await repo.open_item_totals(suite_id=suite_id)
    items = await repo.open_items_with_agents(suite_id=suite_id, limit=limit, offset=offset)
    projected = None
    done_last_hour = await repo.recent_completions(now - timedelta(hours=1))
    if total and active_validators and done_last_hour:
        projected = now + timedelta(hours=(needed + active) / done_last_hour)
    return PendingQueue(total, needed, active, projected, items)
