"""Rendering `ProctorError`s. Each surface owns the envelope for its path prefixes; the app-level
handlers dispatch on the request path, so a core error raised anywhere comes out in the caller's
peer's own shape. Nothing unexpected leaves as a stack trace."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis import exceptions as redis_exceptions
from sqlalchemy import exc as sqlalchemy_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from proctor.errors import AuthError, ProctorError, Unavailable
from proctor.storage.sql import connection_lost

# A backing service that is down, saturated or locked: the request may succeed if retried, so the
# answer is 503 with Retry-After rather than a 500 that reads like a bug in proctor.
BACKEND_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis_exceptions.ConnectionError,
    redis_exceptions.TimeoutError,
    redis_exceptions.BusyLoadingError,
    sqlalchemy_exc.OperationalError,  # connection refused or lost, SQLite "database is locked"
    sqlalchemy_exc.TimeoutError,  # every pooled connection busy for pool_timeout
    ConnectionError,  # a socket refused or reset below either driver
)

log = structlog.get_logger(__name__)

Renderer = Callable[[ProctorError], JSONResponse]

# The body model each renderer answers 4xx with, published in the OpenAPI of every route whose group
# it renders (`proctor.http.surface.document_errors`), so clients and Schemathesis can check refusals.
ENVELOPES: dict[Renderer, type[BaseModel]] = {}


def envelope(model: type[BaseModel]) -> Callable[[Renderer], Renderer]:
    """Declare `model` as the decorated renderer's error body."""

    def register(renderer: Renderer) -> Renderer:
        ENVELOPES[renderer] = model
        return renderer

    return register


class AuthDetail(BaseModel):
    code: str
    message: str


class FlatError(BaseModel):
    """ORO's envelope; bittensor-auth's `{code, message}` as the detail of an authentication error."""

    detail: str | AuthDetail
    error_code: str


class Translation:
    """A surface's one table from the core's neutral errors (the lease engine's, say) to its peer's
    (status, code), with per-route exceptions where a route's peer declares fewer codes.

        LEASES = Translation({leases.NotOwner: (409, "NOT_RUN_OWNER"), …}, routes={"progress": {…}})
        with LEASES.route("progress"):
            await flows.record_progress(…)

    The message is kept; the status and code become the peer's.
    """

    def __init__(
        self,
        table: Mapping[type[ProctorError], tuple[int, str]],
        *,
        routes: Mapping[str, Mapping[type[ProctorError], tuple[int, str]]] | None = None,
    ) -> None:
        self.table = dict(table)
        self.routes = {name: {**self.table, **extra} for name, extra in (routes or {}).items()}
        self.kinds = tuple(self.table)

    def rename(self, error: ProctorError, route: str | None = None) -> ProctorError:
        """The peer's version of `error` (unchanged when the table does not name its kind)."""
        found = self.routes.get(route or "", self.table).get(type(error))
        if found is None:
            return error
        status, code = found
        return ProctorError(
            error.message, code=code, status_code=status, headers=error.headers, **error.extra
        )

    @contextmanager
    def route(self, name: str | None = None) -> Iterator[None]:
        try:
            yield
        except self.kinds as exc:
            assert isinstance(exc, ProctorError)
            status, code = self.routes.get(name or "", self.table)[type(exc)]
            raise ProctorError(
                exc.message, code=code, status_code=status, headers=exc.headers, **exc.extra
            ) from None


@envelope(FlatError)
def render_flat(error: ProctorError) -> JSONResponse:
    """ORO's envelope (the default): `{"detail": str, "error_code": str, ...extra}`."""
    body: dict[str, Any] = {"detail": error.message, "error_code": error.error_code, **error.extra}
    if isinstance(error, AuthError):
        # bittensor-auth's shape, which ORO clients and validators already parse.
        body["detail"] = {"code": error.error_code, "message": error.message}
    return JSONResponse(body, status_code=error.status, headers=error.headers or None)


class ErrorRenderers:
    """Longest-prefix lookup from request path to a surface's renderer."""

    def __init__(self, default: Renderer = render_flat) -> None:
        self.default = default
        self._by_prefix: list[tuple[str, Renderer]] = []

    def register(self, prefix: str, renderer: Renderer) -> None:
        self._by_prefix.append((prefix, renderer))
        self._by_prefix.sort(key=lambda item: len(item[0]), reverse=True)

    def for_path(self, path: str) -> Renderer:
        for prefix, renderer in self._by_prefix:
            if path.startswith(prefix):
                return renderer
        return self.default


_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMIT_EXCEEDED",
}


def install_error_handlers(app: FastAPI, renderer_for: Callable[[str], Renderer]) -> None:
    """Render every failure on `app` through the renderer chosen for the request path."""

    @app.exception_handler(ProctorError)
    async def _proctor_error(request: Request, exc: ProctorError) -> JSONResponse:
        return renderer_for(request.url.path)(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
        headers = dict(exc.headers) if exc.headers else None
        error = ProctorError(str(exc.detail), code=code, status_code=exc.status_code, headers=headers)
        return renderer_for(request.url.path)(error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422 shape: ORO's SDK declares it (HTTPValidationError) on most routes.
        errors = [{k: v for k, v in err.items() if k in ("loc", "msg", "type")} for err in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    async def _backend_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "request.backend_unavailable",
            path=request.url.path,
            method=request.method,
            error=type(exc).__name__,
            message=str(exc)[:200],
        )
        error = Unavailable("A backing service is unavailable; retry shortly", headers={"Retry-After": "2"})
        return renderer_for(request.url.path)(error)

    for kind in BACKEND_UNAVAILABLE:
        app.add_exception_handler(kind, _backend_unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Also reached for errors raised by middleware outside the routing layer (the global limiter).
        if isinstance(exc, BACKEND_UNAVAILABLE) or connection_lost(exc):
            return await _backend_unavailable(request, exc)
        log.exception("request.unhandled_error", path=request.url.path, method=request.method)
        error = ProctorError("Internal server error", code="INTERNAL_ERROR", status_code=500)
        return renderer_for(request.url.path)(error)
