"""Which stored blob a public artifact request points at, and whether it may be handed out yet."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.evaluations.repository import EvaluationRepository
from proctor.errors import BadRequest, NotFound

URL_TTL_SECONDS = 3600
TYPES = ("AGENT_CODE", "EVAL_LOGS_BUNDLE", "EVAL_PROBLEM_LOGS", "REASONING_DETAILS")


async def locate(
    session: AsyncSession,
    *,
    artifact_type: str,
    version_id: uuid.UUID,
    run_id: uuid.UUID | None,
    problem_id: uuid.UUID | None,
    now: datetime,
) -> tuple[str, str]:
    """(blob key, download file name), or the ORO error in its documented order."""
    if artifact_type not in TYPES:
        raise BadRequest(f"artifact_type must be one of {', '.join(TYPES)}", code="INVALID_ARTIFACT_TYPE")
    if artifact_type != "AGENT_CODE" and run_id is None:
        raise BadRequest(f"{artifact_type} needs eval_run_id", code="MISSING_PARAMETER")
    if artifact_type in ("EVAL_PROBLEM_LOGS", "REASONING_DETAILS") and problem_id is None:
        raise BadRequest(f"{artifact_type} needs problem_id", code="MISSING_PARAMETER")
    repo = EvaluationRepository(session)
    version = await repo.version(version_id)
    if version is None:
        raise NotFound("Agent version not found", code="AGENT_VERSION_NOT_FOUND")
    if artifact_type == "AGENT_CODE":
        if version.code_available_at is None or version.code_available_at > now:
            when = (
                f" (available at {version.code_available_at.isoformat()})"
                if version.code_available_at
                else ""
            )
            raise NotFound(f"Agent code is not released yet{when}", code="ARTIFACT_NOT_RELEASED")
        return version.blob_key, f"agent-{version.id}.py"
    run = await repo.run(run_id)  # type: ignore[arg-type]
    if run is None or run.agent_version_id != version.id:
        raise NotFound("Evaluation run not found for this agent version", code="EVAL_RUN_NOT_FOUND")
    if artifact_type == "EVAL_LOGS_BUNDLE":
        key = run.results_s3_key
    else:
        result = await repo.result(run.id, problem_id)  # type: ignore[arg-type]
        key = result.logs_s3_key if result else None
    if not key:
        raise NotFound(f"No {artifact_type} was uploaded for this run", code="ARTIFACT_NOT_FOUND")
    return key, key.rsplit("/", 1)[-1]
