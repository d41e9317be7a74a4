"""ORO wire shapes, exactly as `oro-sdk==1.0.78` reads them (reference oro-api Appendix A).

Required fields here are required there; optional ones may be null. Extra fields are harmless (the
SDK keeps them in `additional_properties`) and are used sparingly for operator-useful facts.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from proctor.core.suites.documents import public_metadata
from proctor.models import Problem, Suite


class SuitePublic(BaseModel):
    suite_id: int
    suite_version: int
    is_active: bool
    name: str | None = None
    problem_count: int | None = None


class ProblemPublic(BaseModel):
    problem_id: uuid.UUID
    suite_id: int
    metadata: dict[str, Any] = Field(default_factory=dict)


class SuiteWithProblemsResponse(BaseModel):
    suite: SuitePublic
    problems: list[ProblemPublic]


class ChallengeRequest(BaseModel):
    hotkey: str = Field(max_length=128)


class ChallengeResponse(BaseModel):
    challenge: str
    expires_at: int


class SessionRequest(BaseModel):
    hotkey: str = Field(max_length=128)
    challenge: str = Field(max_length=256)
    signature: str = Field(max_length=256)


class SessionResponse(BaseModel):
    session_token: str
    expires_at: int
    role: str


class LogoutResponse(BaseModel):
    success: bool


class WhoAmIResponse(BaseModel):
    """proctor extension: what the server makes of the caller (explains a 403 before it happens)."""

    hotkey: str
    via: str
    role: str
    registered: bool
    validator_permit: bool
    stake: float
    banned: bool
    registry_fresh: bool


def to_suite_public(suite: Suite) -> SuitePublic:
    return SuitePublic(
        suite_id=suite.id,
        suite_version=suite.version,
        is_active=suite.is_active,
        name=suite.name,
        problem_count=suite.problem_count,
    )


def to_problem_public(suite: Suite, problem: Problem, *, include_embeddings: bool) -> ProblemPublic:
    return ProblemPublic(
        problem_id=problem.problem_id,
        suite_id=suite.id,
        metadata=public_metadata(
            problem.problem_metadata, suite.hidden_fields, include_embeddings=include_embeddings
        ),
    )
