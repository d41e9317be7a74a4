"""AITBC API-key authentication and per-key rate limits, as FastAPI dependencies.

A key is accepted as `Authorization: Bearer <key>` or `X-Api-Key: <key>` (AITBC's two headers).
Limits are counted per key (by its digest, before the database is asked), not per IP as AITBC does:
a fleet of miners behind one NAT does not share one bucket, and a wrong key only spends its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request

from proctor.core.compute import keys
from proctor.core.compute import service as compute_service
from proctor.errors import RateLimited
from proctor.http.deps import SessionDep, client_ip, state_of
from proctor.http.params import Identifier
from proctor.http.state import AppState
from proctor.models import ComputeClient, ComputeMiner


def presented_key(request: Request) -> str | None:
    """The API key the request carries (Bearer first, then X-Api-Key), or None."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


async def enforce(state: AppState, setting: str, key: str) -> None:
    """Count one request against the limit named by settings attribute `setting` (429 when over)."""
    if not state.settings.rate_limit_enabled:
        return
    decision = await state.limiter.hit(getattr(state.settings, setting), setting, key)
    if not decision.allowed:
        state.metrics.rate_limited.labels(setting).inc()
        raise RateLimited(
            f"Rate limit exceeded: {decision.limit}", headers={"Retry-After": str(decision.retry_after)}
        )


def _key_bucket(key: str | None) -> str:
    # Keys over the length bound are refused by authentication anyway; don't hash megabytes first.
    return keys.digest(key) if key and len(key) <= keys.MAX_KEY_LENGTH else "invalid"


async def limited_key(request: Request) -> str | None:
    """The miner key the request carries, counted against its per-key request limit (429 when over).
    For routes whose flow authenticates the key itself, in the statement that does the work."""
    key = presented_key(request)
    await enforce(state_of(request), "compute_rate_limit_requests", _key_bucket(key))
    return key


@contextmanager
def counted_auth_failures(request: Request) -> Iterator[None]:
    """Count a refused key on /metrics (for routes whose flow authenticates the key itself)."""
    try:
        yield
    except compute_service.InvalidApiKey as exc:
        state_of(request).metrics.auth_failures.labels(exc.error_code).inc()
        raise


async def _authenticated_miner(request: Request, session: SessionDep) -> ComputeMiner:
    key = await limited_key(request)
    with counted_auth_failures(request):
        return await compute_service.authenticate_miner(session, api_key=key)


def own_miner(*, job_op: bool) -> Callable[..., Awaitable[ComputeMiner]]:
    """The authenticated miner, which must be the `{miner_id}` in the path (404 otherwise)."""

    async def dependency(miner_id: Identifier, request: Request, session: SessionDep) -> ComputeMiner:
        miner = compute_service.require_own(await _authenticated_miner(request, session), miner_id)
        if job_op:
            await enforce(state_of(request), "compute_rate_limit_job_ops", "miner:" + miner.id)
        return miner

    return dependency


async def _client(request: Request, session: SessionDep) -> ComputeClient:
    state = state_of(request)
    key = presented_key(request)
    await enforce(state, "compute_rate_limit_client", _key_bucket(key))
    try:
        return await compute_service.authenticate_client(session, api_key=key)
    except compute_service.InvalidApiKey as exc:
        state.metrics.auth_failures.labels(exc.error_code).inc()
        raise


async def _client_job_op(
    request: Request, client: Annotated[ComputeClient, Depends(_client)]
) -> ComputeClient:
    await enforce(state_of(request), "compute_rate_limit_job_ops", "client:" + client.id)
    return client


async def _client_for_flow(
    session: SessionDep, client: Annotated[ComputeClient, Depends(_client_job_op)]
) -> ComputeClient:
    # The flow owns its unit of work: give the connection back first (SQLite's pool holds one).
    await session.commit()
    return client


async def _miner_for_flow(
    session: SessionDep, miner: Annotated[ComputeMiner, Depends(own_miner(job_op=True))]
) -> ComputeMiner:
    await session.commit()
    return miner


async def register_limit(request: Request) -> None:
    """Miner registration is open to anyone, so it is limited per client address."""
    await enforce(state_of(request), "compute_rate_limit_register", client_ip(request))


OwnMiner = Annotated[ComputeMiner, Depends(own_miner(job_op=False))]
OwnMinerJobOp = Annotated[ComputeMiner, Depends(own_miner(job_op=True))]
Client = Annotated[ComputeClient, Depends(_client)]
ClientJobOp = Annotated[ComputeClient, Depends(_client_job_op)]
ClientForFlow = Annotated[ComputeClient, Depends(_client_for_flow)]  # authenticated, connection released
OwnMinerForFlow = Annotated[ComputeMiner, Depends(_miner_for_flow)]
