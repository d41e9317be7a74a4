"""Pool's error envelope: FastAPI's own `{"detail": "..."}`, which Pool clients read."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from proctor.errors import ProctorError
from proctor.http.errors import envelope


class DetailError(BaseModel):
    detail: str


@envelope(DetailError)
def render_detail(error: ProctorError) -> JSONResponse:
    """`{"detail": message}` with the error's status (extra wire fields, if any, alongside)."""
    body: dict[str, Any] = {"detail": error.message, **error.extra}
    return JSONResponse(body, status_code=error.status, headers=error.headers or None)
