"""ORO request authentication as FastAPI dependencies.

Signed requests carry bittensor-auth's four `X-*` headers (reference oro-api §3); the dashboard's
bearer sessions carry `Authorization: Bearer ses_…`. When an Authorization header is present it must
be a valid session: there is no fallback to the signed headers (as in bittensor-auth's require_auth).

These dependencies read the process state straight from the request scope instead of depending on
`StateDep`: they sit on every signed request, and each extra dependency layer costs FastAPI time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from proctor.auth import sessions
from proctor.auth.principal import Principal, Role, authorize
from proctor.auth.verifier import verify_oro_headers
from proctor.errors import AuthError, RateLimited
from proctor.http.deps import state_of
from proctor.http.errors import BACKEND_UNAVAILABLE
from proctor.http.middleware import DEFERRED_LIMIT
from proctor.http.state import AppState

# Raw header names (lower-case bytes, as in the ASGI scope) → the names the verifier reports.
_SIGNED = {
    b"x-hotkey": "X-Hotkey",
    b"x-timestamp": "X-Timestamp",
    b"x-nonce": "X-Nonce",
    b"x-signature": "X-Signature",
}


def _auth_headers(request: Request) -> tuple[dict[str, str | None], str | None]:
    """One pass over the raw headers for the four signed ones and Authorization."""
    found: dict[str, str | None] = dict.fromkeys(_SIGNED.values())
    authorization = None
    for key, value in request.scope["headers"]:
        name = _SIGNED.get(key.lower())
        if name is not None:
            found[name] = value.decode("latin-1")
        elif key.lower() == b"authorization":
            authorization = value.decode("latin-1")
    return found, authorization


async def _signed(headers: dict[str, str | None], state: AppState, request: Request) -> str:
    settings = state.settings
    signed = verify_oro_headers(
        headers,
        now=time.time(),
        skew_seconds=settings.auth_skew_seconds,
        max_nonce_length=settings.auth_max_nonce_length,
    )
    nonce_key = f"nonce:{signed.hotkey}:{signed.nonce}"
    if request.scope.pop(DEFERRED_LIMIT, False):
        # The edge middleware left this request's global limit to us: counted with the nonce, in one
        # Redis round trip. A request whose signature failed above is counted by the middleware.
        try:
            decision, fresh = await state.limiter.hit_and_add(
                settings.rate_limit_global,
                ("ip", request.scope["proctor.client_ip"]),
                store=state.kv,
                key=nonce_key,
                ttl_seconds=settings.nonce_ttl_seconds,
            )
        except BACKEND_UNAVAILABLE:  # neither counted nor recorded: the replay check fails closed (503)
            state.metrics.limiter_unavailable.inc()
            raise
        if not decision.allowed:
            state.metrics.rate_limited.labels("global").inc()
            raise RateLimited(
                f"Rate limit exceeded: {decision.limit}", headers={"Retry-After": str(decision.retry_after)}
            )
    else:
        fresh = await state.kv.add(nonce_key, settings.nonce_ttl_seconds)
    if not fresh:
        raise AuthError("Nonce already used", code="NONCE_REUSED", status_code=401)
    return signed.hotkey


async def _bearer(authorization: str, state: AppState) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Invalid authorization header", code="INVALID_SESSION", status_code=401)
    async with state.sessionmaker() as db:
        row = await sessions.resolve(db, token=token.strip(), now=sessions.utc_from_unix(time.time()))
    identity = state.registry.lookup(row.hotkey)
    if not identity.registered and row.role != Role.ADMIN:
        raise AuthError("Hotkey is no longer registered", code="NOT_REGISTERED", status_code=401)
    return row.hotkey


async def _authenticate(request: Request, state: AppState) -> tuple[str, str]:
    # Memoised per request: several auth dependencies on one route must not verify (and so spend the
    # nonce) twice.
    cached: tuple[str, str] | None = request.scope.get("proctor.oro_auth")
    if cached is None:
        try:
            headers, authorization = _auth_headers(request)
            if authorization:
                cached = (await _bearer(authorization, state), "session")
            else:
                cached = (await _signed(headers, state, request), "signature")
        except AuthError as exc:
            state.metrics.auth_failures.labels(exc.error_code).inc()
            raise
        request.scope["proctor.oro_auth"] = cached
    return cached


async def authenticated(request: Request) -> Principal:
    """Any correctly signed request or live session, whatever the hotkey may or may not do."""
    state = state_of(request)
    hotkey, via = await _authenticate(request, state)
    identity = state.registry.lookup(hotkey)
    return Principal(hotkey, identity, via, is_admin=hotkey in state.settings.admin_hotkeys)


def require(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates the request and checks `role`."""

    async def dependency(request: Request) -> Principal:
        state = state_of(request)
        settings = state.settings
        admins = frozenset(settings.admin_hotkeys)
        hotkey, via = await _authenticate(request, state)
        identity = state.registry.lookup(hotkey)
        try:
            authorize(identity, role, admin_hotkeys=admins, min_stake=settings.validator_min_stake)
        except AuthError as exc:
            state.metrics.auth_failures.labels(exc.error_code).inc()
            raise
        return Principal(hotkey=hotkey, identity=identity, via=via, is_admin=hotkey in admins)

    return dependency


AnyAuth = Annotated[Principal, Depends(authenticated)]
MinerAuth = Annotated[Principal, Depends(require(Role.MINER))]
ValidatorAuth = Annotated[Principal, Depends(require(Role.VALIDATOR))]
AdminAuth = Annotated[Principal, Depends(require(Role.ADMIN))]


async def _enforce(request: Request, state: AppState, setting: str, key: str, suffix: str) -> None:
    if not state.settings.rate_limit_enabled:
        return
    decision = await state.limiter.hit(getattr(state.settings, setting), setting, key)
    if not decision.allowed:
        state.metrics.rate_limited.labels(setting).inc()
        raise RateLimited(
            f"Rate limit exceeded: {decision.limit}{suffix}",
            headers={"Retry-After": str(decision.retry_after)},
        )


def per_hotkey_limit(setting: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency applying the limit named by settings attribute `setting` to the caller's hotkey.

    It authenticates first (memoised), so nobody can spend another hotkey's allowance with forged
    requests.
    """

    async def dependency(request: Request) -> None:
        state = state_of(request)
        hotkey, _ = await _authenticate(request, state)
        await _enforce(request, state, setting, hotkey, " per hotkey")

    return dependency


def per_ip_limit(setting: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency applying the limit named by settings attribute `setting` to the client address."""

    async def dependency(request: Request) -> None:
        state = state_of(request)
        ip = request.scope.get("proctor.client_ip") or (request.client.host if request.client else "")
        await _enforce(request, state, setting, ip, "")

    return dependency
