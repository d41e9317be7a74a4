"""Queries for work items, evaluation runs, problem results and validator states."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.models import (
    Agent,
    AgentVersion,
    EvaluationRun,
    Problem,
    RunProblemResult,
    ValidatorState,
    WorkItem,
)
from proctor.models.evaluations import ACTIVE_RUN_STATUSES


class EvaluationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def next_item_query(self, validator: str) -> Select[WorkItem]:
        """Open work items this validator has not run, oldest first, that still need a validator.

        A run the validator let lapse (STALE) does not count as having run it.
        """
        already = select(EvaluationRun.id).where(
            EvaluationRun.work_item_id == WorkItem.id,
            EvaluationRun.validator_hotkey == validator,
            EvaluationRun.status.not_in(("STALE", "CANCELLED")),
        )
        return (
            select(WorkItem)
            .where(
                WorkItem.status == "OPEN",
                WorkItem.success_count + WorkItem.active_count < WorkItem.required_successes,
                ~already.exists(),
            )
            .order_by(WorkItem.queued_at, WorkItem.id)
        )

    async def active_run_of(self, validator: str) -> EvaluationRun | None:
        query = select(EvaluationRun).where(
            EvaluationRun.validator_hotkey == validator, EvaluationRun.status.in_(ACTIVE_RUN_STATUSES)
        )
        return await self.session.scalar(query)

    async def run(self, run_id: uuid.UUID) -> EvaluationRun | None:
        return await self.session.get(EvaluationRun, run_id)

    async def item(self, item_id: uuid.UUID, *, lock: bool = False) -> WorkItem | None:
        query = select(WorkItem).where(WorkItem.id == item_id)
        return await self.session.scalar(query.with_for_update() if lock else query)

    async def item_for_version(self, version_id: uuid.UUID) -> WorkItem | None:
        query = (
            select(WorkItem)
            .where(WorkItem.agent_version_id == version_id, WorkItem.phase == "QUALIFYING")
            .order_by(WorkItem.queued_at.desc())
        )
        return await self.session.scalar(query.limit(1))

    async def version(self, version_id: uuid.UUID, *, lock: bool = False) -> AgentVersion | None:
        query = select(AgentVersion).where(AgentVersion.id == version_id)
        return await self.session.scalar(query.with_for_update() if lock else query)

    async def included_success_scores(self, item_id: uuid.UUID) -> list[float]:
        query = select(EvaluationRun.validator_score).where(
            EvaluationRun.work_item_id == item_id,
            EvaluationRun.status == "SUCCESS",
            EvaluationRun.is_included.is_(True),
        )
        return [float(s) for s in (await self.session.scalars(query)).all() if s is not None]

    async def runs_of_version(self, version_id: uuid.UUID) -> Sequence[EvaluationRun]:
        query = (
            select(EvaluationRun)
            .where(EvaluationRun.agent_version_id == version_id)
            .order_by(EvaluationRun.claimed_at)
        )
        return (await self.session.scalars(query)).all()

    async def suite_problem_ids(self, suite_id: int) -> set[uuid.UUID]:
        query = select(Problem.problem_id).where(Problem.suite_id == suite_id)
        return set((await self.session.scalars(query)).all())

    async def suite_problems(self, suite_id: int) -> Sequence[Problem]:
        query = select(Problem).where(Problem.suite_id == suite_id).order_by(Problem.position)
        return (await self.session.scalars(query)).all()

    async def problem_results(self, run_ids: Sequence[uuid.UUID]) -> Sequence[RunProblemResult]:
        if not run_ids:
            return []
        query = select(RunProblemResult).where(RunProblemResult.run_id.in_(run_ids))
        return (await self.session.scalars(query)).all()

    async def result(self, run_id: uuid.UUID, problem_id: uuid.UUID) -> RunProblemResult | None:
        return await self.session.get(RunProblemResult, (run_id, problem_id))

    async def validator_state(self, hotkey: str) -> ValidatorState | None:
        return await self.session.get(ValidatorState, hotkey)

    async def touch_validator(
        self,
        hotkey: str,
        *,
        now: datetime,
        claimed: bool,
        service_versions: dict[str, Any] | None,
        metrics: dict[str, Any] | None,
    ) -> None:
        """Record that a validator was seen (one upsert: this runs on every claim and heartbeat)."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        values: dict[str, Any] = {"hotkey": hotkey, "first_seen_at": now, "last_seen_at": now}
        if claimed:
            values["last_claim_at"] = now
        if service_versions:
            values["service_versions"] = service_versions
        if metrics:
            values.update(metrics, metrics_reported_at=now)
        upsert = insert(ValidatorState).values(**values)
        changed = {k: upsert.excluded[k] for k in values if k not in ("hotkey", "first_seen_at")}
        await self.session.execute(
            upsert.on_conflict_do_update(index_elements=[ValidatorState.hotkey], set_=changed)
        )

    async def validator_states(self) -> Sequence[ValidatorState]:
        return (await self.session.scalars(select(ValidatorState))).all()

    async def active_runs_with_agents(self) -> Sequence[tuple[EvaluationRun, AgentVersion, Agent]]:
        query = (
            select(EvaluationRun, AgentVersion, Agent)
            .join(AgentVersion, AgentVersion.id == EvaluationRun.agent_version_id)
            .join(Agent, Agent.id == AgentVersion.agent_id)
            .where(EvaluationRun.status.in_(ACTIVE_RUN_STATUSES))
            .order_by(EvaluationRun.claimed_at)
        )
        return [(r[0], r[1], r[2]) for r in (await self.session.execute(query)).all()]

    async def open_items_with_agents(
        self, *, suite_id: int | None, limit: int, offset: int
    ) -> Sequence[tuple[WorkItem, AgentVersion, Agent]]:
        query = (
            select(WorkItem, AgentVersion, Agent)
            .join(AgentVersion, AgentVersion.id == WorkItem.agent_version_id)
            .join(Agent, Agent.id == AgentVersion.agent_id)
            .where(WorkItem.status == "OPEN")
        )
        if suite_id is not None:
            query = query.where(WorkItem.suite_id == suite_id)
        query = query.order_by(WorkItem.queued_at, WorkItem.id).limit(limit).offset(offset)
        return [(r[0], r[1], r[2]) for r in (await self.session.execute(query)).all()]

    async def open_item_totals(self, *, suite_id: int | None) -> tuple[int, int, int]:
        """(open items, runs still needed, runs active) over the open queue."""
        remaining = WorkItem.required_successes - WorkItem.success_count - WorkItem.active_count
        query = select(
            func.count(),
            func.coalesce(func.sum(remaining), 0),
            func.coalesce(func.sum(WorkItem.active_count), 0),
        ).where(WorkItem.status == "OPEN")
        if suite_id is not None:
            query = query.where(WorkItem.suite_id == suite_id)
        row = (await self.session.execute(query)).one()
        return int(row[0]), max(0, int(row[1])), int(row[2])

    async def recent_completions(self, since: datetime) -> int:
        query = select(func.count()).where(
            EvaluationRun.status == "SUCCESS", EvaluationRun.completed_at >= since
        )
        return int(await self.session.scalar(query) or 0)
