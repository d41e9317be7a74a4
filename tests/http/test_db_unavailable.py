"""A database that went away answers 503 with Retry-After on every path, never a 500: the executor's
`DatabaseUnavailable`, and the ORM path's SQLAlchemy errors wrapping asyncpg's lost-connection errors
(what a PostgreSQL restart raised under load in bench/chaos.py before this mapping)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from proctor.http.errors import install_error_handlers, render_flat
from proctor.storage.sql import DatabaseUnavailable, connection_lost


def _wrapped(orig: BaseException) -> sa_exc.DBAPIError:
    """SQLAlchemy's translation of a driver error, with the driver error as its cause (as it raises it)."""
    error = sa_exc.InternalError("SELECT 1", None, orig)  # type: ignore[arg-type]
    error.__cause__ = orig
    return error


FAILURES: dict[str, BaseException] = {
    "executor": DatabaseUnavailable("database connection lost"),
    "orm-stuck-protocol": _wrapped(
        asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation is in progress")
    ),
    "orm-admin-shutdown": _wrapped(
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command")
    ),
    "orm-closed": _wrapped(
        asyncpg.exceptions.InterfaceError("cannot call Transaction.__aexit__(): the connection is closed")
    ),
}


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, lambda _path: render_flat)

    @app.get("/fail/{name}")
    async def fail(name: str) -> None:
        if name == "bug":
            raise RuntimeError("a real bug")
        raise FAILURES[name]

    return app


@pytest.mark.parametrize("name", sorted(FAILURES))
async def test_a_lost_database_connection_is_503_with_retry_after(name: str) -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get(f"/fail/{name}")
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "2"
    assert answer.json()["error_code"] == "SERVICE_UNAVAILABLE"


async def test_other_errors_stay_500() -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/fail/bug")
    assert answer.status_code == 500
    assert not connection_lost(RuntimeError("x"))
    assert not connection_lost(_wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")))
