"""FastAPI dependencies shared by every surface."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.config import Settings
from proctor.core.context import Core
from proctor.http.state import AppState


def state_of(request: Request) -> AppState:
    """The process state; the edge middleware puts it in the scope, so mounted sub-apps reach it too."""
    state: AppState = request.scope["proctor.state"]
    return state


def core_of(request: Request) -> Core:
    """The core's typed state for flows."""
    state: AppState = request.scope["proctor.state"]
    return state.core


# Every dependency is `async def`: FastAPI runs plain `def` dependencies in a thread pool, a thread hop
# per dependency per request.
async def get_state(request: Request) -> AppState:
    return state_of(request)


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """The request's single transaction: committed when the endpoint returns, rolled back if it raises.

    Used with `scope="function"` so the commit happens *before* the response is sent: a client that
    got a 200 can rely on its write being durable and visible to its next request.
    """
    async with state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def client_ip(request: Request) -> str:
    """The client address the rate limiter and logs use (X-Forwarded-For only from trusted proxies)."""
    ip: str = request.scope.get("proctor.client_ip") or (request.client.host if request.client else "")
    return ip


def public_base_url(request: Request) -> str:
    """Where clients reach this server: PROCTOR_PUBLIC_URL, or the URL this request came in on."""
    configured = state_of(request).settings.public_url
    return configured.rstrip("/") if configured else str(request.base_url).rstrip("/")
