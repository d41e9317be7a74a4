"""The compute surface's error envelope: FastAPI's `{"detail": …}`, as AITBC's own coordinator answers,
plus a stable machine code. Request-validation failures keep FastAPI's 422 list shape (app-wide)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from proctor.errors import ProctorError


def render_compute(error: ProctorError) -> JSONResponse:
    body: dict[str, Any] = {"detail": error.message, "error_code": error.error_code, **error.extra}
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(body, status_code=error.status, headers=headers or None)
