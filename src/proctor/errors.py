"""The one error hierarchy. Core code raises these; each surface renders them in its peer's envelope.

An error carries a stable machine `code` (ORO's `error_code` vocabulary where one exists), an HTTP
status, a human message and optional extra wire fields (e.g. `remaining_seconds`).
"""

from __future__ import annotations

from typing import Any, ClassVar


class ProctorError(Exception):
    """Base of every expected failure; never reaches a client as a stack trace."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"
    default_message: ClassVar[str] = "Bad request"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.message = message or self.default_message
        self.error_code = code or self.code
        self.status = status_code or self.status_code
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.message)


class BadRequest(ProctorError):
    pass


class ValidationFailed(ProctorError):
    status_code = 400
    code = "VALIDATION_ERROR"
    default_message = "Validation error"


class Unauthorized(ProctorError):
    status_code = 401
    code = "UNAUTHORIZED"
    default_message = "Authentication required"


class Forbidden(ProctorError):
    status_code = 403
    code = "FORBIDDEN"
    default_message = "Forbidden"


class NotFound(ProctorError):
    status_code = 404
    code = "NOT_FOUND"
    default_message = "Not found"


class Conflict(ProctorError):
    status_code = 409
    code = "CONFLICT"
    default_message = "Conflict"


class PayloadTooLarge(ProctorError):
    status_code = 413
    code = "FILE_TOO_LARGE"
    default_message = "Payload too large"


class RateLimited(ProctorError):
    status_code = 429
    code = "RATE_LIMIT_EXCEEDED"
    default_message = "Rate limit exceeded"


class Unavailable(ProctorError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    default_message = "Service unavailable"


class AuthError(ProctorError):
    """Request-authentication failures; ORO renders these as bittensor-auth's `{code, message}` detail."""


class SuiteNotFound(NotFound):
    code = "SUITE_NOT_FOUND"
    default_message = "Suite not found"
