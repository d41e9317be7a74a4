"""Bitrecs' error bodies: `{"detail": …}` where Bitrecs raises an HTTPException (the admission gates,
the validator protocol), `{"error": …, …}` where it returns a JSONResponse (the artifact gates), and
`{"error": "Invalid or missing API Key"}` from its API-key middleware."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from proctor.core import leases
from proctor.core.bitrecs.flows import Rejected
from proctor.core.submissions.bitrecs import DETAIL_GATES
from proctor.errors import ProctorError
from proctor.http.errors import Translation, envelope

# The lease engine's neutral errors in Bitrecs' validator vocabulary.
LEASE_CODES = Translation(
    {
        leases.LeaseNotFound: (404, "EVALUATION_NOT_FOUND"),
        leases.NotOwner: (403, "NOT_EVALUATION_OWNER"),
        leases.LeaseLost: (409, "EVALUATION_EXPIRED"),
        leases.AlreadyFinished: (409, "EVALUATION_FINISHED"),
    }
)

API_KEY_CODE = "INVALID_API_KEY"


class BitrecsError(BaseModel):
    """`{"detail": …}` or `{"error": …, …}` (see the module docstring): one of the two, as a string."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["detail"]}, {"required": ["error"]}]}
    )

    detail: str | None = None
    error: str | None = None


class BitrecsUnprocessable(BaseModel):
    """422: FastAPI's validation list, or Bitrecs' own `{"detail": message}` (a run update missing a
    field the new status needs, an unknown status, a session id that is not a UUID)."""

    detail: list[dict[str, Any]] | str


@envelope(BitrecsError)
def render_bitrecs(error: ProctorError) -> JSONResponse:
    body: dict[str, Any]
    if isinstance(error, Rejected):
        rejection = error.rejection
        if rejection.gate in DETAIL_GATES:
            body = {"detail": rejection.message}
        else:
            body = {"error": rejection.message, **rejection.extra}
    elif error.error_code == API_KEY_CODE:
        body = {"error": "Invalid or missing API Key"}
    elif error.error_code == "RATE_LIMIT_EXCEEDED":
        body = {"error": error.message}
    else:
        error = LEASE_CODES.rename(error)
        body = {"detail": error.message}
    return JSONResponse(body, status_code=error.status, headers=error.headers or None)
