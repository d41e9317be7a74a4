"""ORO public routes (no auth): suites and problems."""

from __future__ import annotations

from fastapi import APIRouter

from proctor.core.suites import service as suite_service
from proctor.http.deps import SessionDep
from proctor.surfaces.oro import wire

router = APIRouter(tags=["public"])  # mounted at /v1/public


@router.get("/suites/current", response_model=wire.SuitePublic)
async def get_current_suite(session: SessionDep) -> wire.SuitePublic:
    """Get the currently active problem suite."""
    return wire.to_suite_public(await suite_service.current_suite(session))


@router.get("/suites", response_model=list[wire.SuitePublic])
async def list_suites(session: SessionDep) -> list[wire.SuitePublic]:
    """List all problem suites, newest version first."""
    return [wire.to_suite_public(s) for s in await suite_service.list_suites(session)]


@router.get("/suites/{suite_id}/problems", response_model=wire.SuiteWithProblemsResponse)
async def get_suite_problems(
    suite_id: int, session: SessionDep, include_embeddings: bool = False
) -> wire.SuiteWithProblemsResponse:
    """List the problems of a suite. Ground-truth fields stay hidden unless the operator made them public."""
    suite = await suite_service.get_suite(session, suite_id=suite_id)
    problems = await suite_service.list_problems(session, suite_id=suite_id)
    return wire.SuiteWithProblemsResponse(
        suite=wire.to_suite_public(suite),
        problems=[wire.to_problem_public(suite, p, include_embeddings=include_embeddings) for p in problems],
    )
