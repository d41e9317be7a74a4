"""The hidden race bank: race-only problems an operator imports with a suite. They live in their own
table, so no public route or QUALIFYING run can ever list them; only a RACE run's validator reads them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.suites.documents import parse_suite_document
from proctor.errors import Conflict, SuiteNotFound, ValidationFailed
from proctor.models import Problem, RaceProblem, Suite


async def import_bank(session: AsyncSession, *, suite_id: int, document: Any) -> int:
    """Store a suite's race bank (same file formats as a suite); once per suite. Returns its size."""
    if await session.get(Suite, suite_id) is None:
        raise SuiteNotFound()
    if await session.scalar(
        select(func.count()).select_from(RaceProblem).where(RaceProblem.suite_id == suite_id)
    ):
        raise Conflict("This suite already has a race bank", code="RACE_BANK_EXISTS")
    parsed = parse_suite_document(document)
    ids = [p.problem_id for p in parsed.problems]
    public = await session.scalars(
        select(Problem.problem_id).where(Problem.suite_id == suite_id, Problem.problem_id.in_(ids))
    )
    if public.first() is not None:
        raise ValidationFailed("race problems must not repeat the suite's public problems")
    session.add_all(
        RaceProblem(
            suite_id=suite_id,
            problem_id=p.problem_id,
            position=i,
            external_id=p.external_id,
            category=p.category,
            problem_metadata=p.metadata,
        )
        for i, p in enumerate(parsed.problems)
    )
    await session.flush()
    return len(parsed.problems)


async def problems(session: AsyncSession, *, suite_id: int) -> Sequence[RaceProblem]:
    query = select(RaceProblem).where(RaceProblem.suite_id == suite_id).order_by(RaceProblem.position)
    return list(await session.scalars(query))


async def size(session: AsyncSession, *, suite_id: int) -> int:
    query = select(func.count()).select_from(RaceProblem).where(RaceProblem.suite_id == suite_id)
    return int(await session.scalar(query) or 0)
