"""The live server the hostile-input corpus runs against, and what a case checks afterwards.

One `proctor serve` process per database backend with every API surface mounted (ORO, Pool, claims,
compute with AITBC's protocol, Bitrecs) and the local blob store; the corpus speaks raw HTTP to it, so
the ASGI stack (body limits, header parsing, uvicorn's own checks) is the one a client meets.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from proctor.config import Settings
from proctor.core.compute import service as compute_service
from proctor.storage.base import utcnow
from proctor.storage.db import create_engine, create_sessionmaker, unit_of_work
from tests.hostile.corpus import Case
from tests.support import services
from tests.support.server import ServerProcess
from tests.support.signing import ALICE, BOB, FERDIE, oro_headers
from tests.surfaces.pool.signing import pool_headers

SURFACES = "oro,pool,claims,compute,bitrecs"
SECRET_KEY = "hostile-corpus-secret-key-0123456789abcdef"
# Tables a refused request may still touch: none. Listed here when a surface legitimately records
# refusals (kept empty on purpose; a case that writes anything fails).
IGNORED_TABLES: frozenset[str] = frozenset({"alembic_version"})


@dataclass
class Live:
    """A running server, its settings (for direct database reads) and the credentials tests need."""

    server: ServerProcess
    settings: Settings
    blob_root: Path
    compute_client_key: str = ""
    compute_miner: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.base_url


def server_env(data_dir: Path, registry: Path, github_url: str, database_url: str) -> dict[str, str]:
    env = {
        "PROCTOR_DATA_DIR": str(data_dir),
        "PROCTOR_REGISTRY": str(registry),
        "PROCTOR_SURFACES": SURFACES,
        "PROCTOR_SECRET_KEY": SECRET_KEY,
        "PROCTOR_ADMIN_HOTKEYS": "",
        "PROCTOR_LOG_LEVEL": "WARNING",
        "PROCTOR_REGISTRY_REFRESH_SECONDS": "0.5",
        # Hostile requests must meet the parsers and validators, not the rate limiter.
        "PROCTOR_RATE_LIMIT_GLOBAL": "1000000/minute",
        "PROCTOR_RATE_LIMIT_SUBMIT": "1000000/minute",
        "PROCTOR_RATE_LIMIT_CHECK": "1000000/minute",
        "PROCTOR_RATE_LIMIT_AUTH_CHALLENGE": "1000000/minute",
        "PROCTOR_RATE_LIMIT_AUTH_SESSION": "1000000/minute",
        "PROCTOR_BITRECS_RATE_LIMIT": "1000000/minute",
        "PROCTOR_COMPUTE_RATE_LIMIT_REQUESTS": "1000000/minute",
        "PROCTOR_COMPUTE_RATE_LIMIT_JOB_OPS": "1000000/minute",
        "PROCTOR_COMPUTE_RATE_LIMIT_CLIENT": "1000000/minute",
        "PROCTOR_COMPUTE_RATE_LIMIT_REGISTER": "1000000/minute",
        "PROCTOR_BITRECS_MIN_VALIDATORS": "0",
        "PROCTOR_GITHUB_API_URL": github_url,
        "PROCTOR_GIST_RAW_URL": github_url,
        "PROCTOR_RUN_JOBS": "false",
    }
    if database_url:
        env["PROCTOR_DATABASE_URL"] = database_url
    return env


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(
        data_dir=Path(env["PROCTOR_DATA_DIR"]),
        database_url=env.get("PROCTOR_DATABASE_URL", ""),
        registry=env["PROCTOR_REGISTRY"],
        secret_key=SECRET_KEY,
    )


async def issue_compute_client(settings: Settings) -> str:
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            issued = await compute_service.issue_client(session, name="hostile", now=utcnow())
    finally:
        await engine.dispose()
    return issued.api_key


# "Nothing stored": row counts of every table, and the files of the blob store. ------------------


async def _row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        counts = {}
        for name in sorted(set(names) - IGNORED_TABLES):
            counts[name] = int((await conn.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar_one())
    return counts


def row_counts(settings: Settings) -> dict[str, int]:
    async def go() -> dict[str, int]:
        engine = create_async_engine(settings.resolved_database_url)
        try:
            return await _row_counts(engine)
        finally:
            await engine.dispose()

    return services.blocking(go())


def blob_files(root: Path) -> set[str]:
    if not root.exists():
        return set()
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, int]
    blobs: set[str]

    @classmethod
    def take(cls, live: Live) -> Snapshot:
        return cls(row_counts(live.settings), blob_files(live.blob_root))

    def changes(self, after: Snapshot) -> dict[str, Any]:
        rows = {k: (v, after.rows.get(k)) for k, v in self.rows.items() if after.rows.get(k) != v}
        blobs = sorted(after.blobs ^ self.blobs)
        return {k: v for k, v in (("rows", rows), ("blobs", blobs)) if v}


# The request itself, as raw as the case needs. ----------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def raw_request(
    url: str,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes | None,
    *,
    chunked: bool = False,
) -> Answer:
    """One HTTP/1.1 exchange over a bare socket: the path, header bytes and framing go out exactly as
    given (httpx would normalise `../`, refuse NUL or non-ASCII header bytes)."""
    host, port = url.removeprefix("http://").split(":")
    head = [f"{method} {path} HTTP/1.1".encode(), f"Host: {host}:{port}".encode(), b"Connection: close"]
    head += [k + b": " + v for k, v in headers]
    if body is not None and chunked:
        head.append(b"Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in _chunks(body)) + b"0\r\n\r\n"
    elif body is not None:
        head.append(f"Content-Length: {len(body)}".encode())
        payload = body
    else:
        payload = b""
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (413) and closed: read its answer
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    return _parse(data)


def _chunks(body: bytes, size: int = 64 * 1024) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)] or [b""]


def _parse(data: bytes) -> Answer:
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/"):
        return Answer(0, {}, data)
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    if headers.get("transfer-encoding") == "chunked":
        body, rest_ = b"", rest
        while rest_:
            size_line, _, rest_ = rest_.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            body, rest_ = body + rest_[:size], rest_[size + 2 :]
        rest = body
    return Answer(status, headers, rest)


def envelope_problem(surface: str, status: int, text_body: str) -> str | None:
    """Why a refusal is not in `surface`'s own error shape (None: it is)."""
    if "Traceback" in text_body or 'File "' in text_body:
        return "a stack trace leaked"
    try:
        body = json.loads(text_body)
    except ValueError:
        return f"not JSON: {text_body[:200]!r}"
    if not isinstance(body, dict):
        return f"not an object: {text_body[:200]!r}"
    if status == 422:  # FastAPI's validation list, the shape every peer's clients declare
        ok = isinstance(body.get("detail"), list)
        return None if ok else f"422 without FastAPI's detail list: {body}"
    checks: dict[str, Callable[[dict[str, Any]], bool]] = {
        # ORO: flat {detail, error_code}, or bittensor-auth's {detail: {code, message}} for auth.
        "oro": lambda b: (
            ("error_code" in b and isinstance(b.get("detail"), str))
            or (isinstance(b.get("detail"), dict) and {"code", "message"} <= set(b["detail"]))
        ),
        "pool": lambda b: "detail" in b,
        "claims": lambda b: "detail" in b,
        "compute": lambda b: isinstance(b.get("detail"), str) and "error_code" in b,
        "bitrecs": lambda b: "detail" in b or "error" in b,
        "blobs": lambda b: isinstance(b.get("detail"), str) and "error_code" in b,
    }
    return None if checks[surface](body) else f"not the {surface} envelope: {body}"


def still_answers(url: str) -> None:
    response = httpx.get(url + "/health", timeout=10)
    assert response.status_code == 200, response.text


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def auth_headers(live: Live, auth: str | None) -> dict[str, str]:
    if auth == "miner":
        return oro_headers(BOB)
    if auth == "validator":
        return oro_headers(ALICE)
    if auth == "admin":
        return oro_headers(FERDIE)
    if auth == "pool":
        return pool_headers(BOB)
    if auth == "client":
        return {"X-Api-Key": live.compute_client_key}
    if auth == "compute-miner":
        return {"Authorization": f"Bearer {live.compute_miner['key']}"}
    return {}


def send(live: Live, case: Case) -> Answer:
    values = auth_headers(live, case.auth)
    if case.content_type:
        values["Content-Type"] = case.content_type
    values.update(case.headers)
    headers = [(k.encode(), v.encode("utf-8", "surrogateescape")) for k, v in values.items()]
    path = case.path.replace("{miner}", live.compute_miner.get("id", "none"))
    return raw_request(live.url, case.method, path, headers, case.body, chunked=case.chunked)
