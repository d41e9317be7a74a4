"""The compute surface's error envelope: FastAPI's `{"detail": …}`, as AITBC's own coordinator answers,
plus a stable machine code. Request-validation failures keep FastAPI's 422 list shape (app-wide)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from proctor.core import leases
from proctor.errors import ProctorError
from proctor.http.errors import Translation, envelope

# The lease engine's neutral errors in the compute surface's vocabulary.
LEASE_CODES = Translation(
    {
        leases.LeaseNotFound: (404, "JOB_NOT_FOUND"),
        leases.NotOwner: (409, "NOT_JOB_OWNER"),
        leases.LeaseLost: (409, "LEASE_EXPIRED"),
        leases.AlreadyFinished: (409, "JOB_ALREADY_FINISHED"),
    }
)


class ComputeError(BaseModel):
    detail: str
    error_code: str


@envelope(ComputeError)
def render_compute(error: ProctorError) -> JSONResponse:
    error = LEASE_CODES.rename(error)
    body: dict[str, Any] = {"detail": error.message, "error_code": error.error_code, **error.extra}
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(body, status_code=error.status, headers=headers or None)
