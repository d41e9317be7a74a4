"""Request bodies and headers at the edge: a size limit per route prefix, strict JSON, bounded headers.

Pure ASGI, inside `EdgeMiddleware`. Before this layer a 2 MiB body reached every JSON route whole and
Python's `json` module accepted what JSON does not allow. Now:

- A body longer than its route's limit is refused with 413 in the surface's envelope: at once when
  Content-Length says so, otherwise the moment the stream passes the limit (nothing more is read).
  Upload routes (ORO submit/check, the local blob store) get their own larger limits, and enforce
  their exact caps themselves.
- A JSON body (Content-Type `application/json`, `*+json`, or none) is read whole (it is bounded) and
  checked before any route sees it: valid UTF-8, no bare `NaN`/`Infinity` and no number that overflows
  to infinity (`1e309`), no `\\u0000` (PostgreSQL can store it in neither text nor jsonb), nesting at
  most `MAX_JSON_DEPTH` levels. A failure is FastAPI's own 422 `json_invalid` list, which every peer's
  clients already parse. The route then reads the same bytes.
- Headers larger than `max_header_bytes` in all are refused with 431 in the surface's envelope. The
  default HTTP parser under uvicorn (httptools) sets no limit of its own; a proxy in front should too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proctor.errors import PayloadTooLarge, ProctorError
from proctor.http.errors import ErrorRenderers

MAX_JSON_DEPTH = 64
MiB = 1024 * 1024
BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class InvalidJson(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise InvalidJson(f"{text[:40]} is out of range for a number")
    return value


def _has_nul_escape(body: bytes) -> bool:
    start = 0
    while (at := body.find(b"\\u0000", start)) >= 0:
        backslashes = 0
        while at - backslashes - 1 >= 0 and body[at - backslashes - 1] == 0x5C:
            backslashes += 1
        if backslashes % 2 == 0:  # this backslash begins an escape, not an escaped "\\"
            return True
        start = at + 1
    return False


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def check_json(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise InvalidJson unless `body` is strict JSON proctor can store."""
    if not body.strip():
        return  # an empty body is the route's business (a missing-body 422)
    try:
        value = json.loads(body, parse_constant=_reject_constant, parse_float=_finite)
    except RecursionError:
        raise InvalidJson(f"JSON nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError:
        raise InvalidJson("the body is not valid UTF-8") from None
    except ValueError as exc:  # JSONDecodeError and InvalidJson
        raise InvalidJson(str(exc) if isinstance(exc, InvalidJson) else f"invalid JSON: {exc}") from None
    if _has_nul_escape(body):
        raise InvalidJson("JSON strings must not contain NUL (\\u0000)")
    if (body.count(b"[") + body.count(b"{")) > max_depth and _depth_exceeds(value, max_depth):
        raise InvalidJson(f"JSON nested deeper than {max_depth} levels")


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI parses a body without a type as JSON
    main = content_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or (main.startswith("application/") and main.endswith("+json"))


def invalid_json_response(message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"type": "json_invalid", "loc": ["body"], "msg": message}]}, status_code=422
    )


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        default_limit: int,
        limits: Sequence[tuple[str, int]] = (),
        max_header_bytes: int = 32 * 1024,
        opaque_prefixes: tuple[str, ...] = (),
        renderers: ErrorRenderers,
    ) -> None:
        self.app = app
        # Bodies stored as they come (blob uploads, whatever their type): counted, never parsed.
        self.opaque_prefixes = opaque_prefixes
        self.max_header_bytes = max_header_bytes
        self.default_limit = default_limit
        # Longest prefix first, so "/v1/miner/submit" wins over "/v1/miner".
        self.limits = sorted(limits, key=lambda item: len(item[0]), reverse=True)
        self.renderers = renderers

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > self.max_header_bytes:
            error = ProctorError(
                f"Request headers exceed {self.max_header_bytes} bytes",
                code="REQUEST_HEADERS_TOO_LARGE",
                status_code=431,
            )
            await self.renderers.for_path(scope["path"])(error)(scope, _disconnected, send)
            return
        if scope["method"] in BODYLESS:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, send, limit)
            return
        content_type = headers.get(b"content-type", b"").decode("latin-1") or None
        if not _is_json(content_type) or scope["path"].startswith(self.opaque_prefixes):
            await self.app(scope, _counting(receive, limit), send)
            return
        body = await _read_body(receive, limit)
        if body is None:
            await self._too_large(scope, send, limit)
            return
        try:
            check_json(body)
        except InvalidJson as exc:
            await invalid_json_response(str(exc))(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        error = PayloadTooLarge(f"Request body exceeds {limit} bytes", code="PAYLOAD_TOO_LARGE")
        response = self.renderers.for_path(scope["path"])(error)
        response.headers["Connection"] = "close"  # the rest of the body is not read
        await response(scope, _disconnected, send)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later reads wait for the disconnect, as Starlette expects

    return replay


def _counting(receive: Receive, limit: int) -> Receive:
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise HTTPException(413, f"Request body exceeds {limit} bytes")
        return message

    return counted


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}


def route_limits(
    *, submission_max_bytes: int, blob_max_upload_bytes: int, validator_max_body_bytes: int
) -> list[tuple[str, int]]:
    """Prefixes whose bodies may exceed the default: uploads (their routes enforce the exact cap) and
    ORO validators' progress and completion reports (up to 10,000 problems each)."""
    from proctor.http.multipart import FORM_OVERHEAD_BYTES
    from proctor.storage.blobs import ROUTE_PREFIX

    upload = submission_max_bytes + FORM_OVERHEAD_BYTES
    return [
        ("/v1/miner/submit", upload),
        ("/v1/miner/check", upload),
        (ROUTE_PREFIX + "/", blob_max_upload_bytes + 1),
        ("/v1/validator/", validator_max_body_bytes),
        ("/api/v1/tasks", 4 * MiB),  # Pool batches: up to 16 evolutions of 64 KiB DSL each, plus scores
        ("/validator/update-evaluation-run", 8 * MiB),  # Bitrecs: patch, agent and eval logs of 2 MB each
    ]
