"""`/v1/auth/*`: challenge → signed session → logout (bittensor-auth's router, as ORO mounts it)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from proctor.auth import sessions
from proctor.auth.principal import role_of
from proctor.errors import AuthError, Forbidden, Unauthorized
from proctor.http.deps import SessionDep, StateDep, state_of
from proctor.http.params import Credential
from proctor.surfaces.oro import wire
from proctor.surfaces.oro.auth import AnyAuth, per_ip_limit

router = APIRouter(tags=["auth"])  # mounted at /v1/auth


@router.post(
    "/challenge",
    response_model=wire.ChallengeResponse,
    dependencies=[Depends(per_ip_limit("rate_limit_auth_challenge"))],
)
async def request_challenge(body: wire.ChallengeRequest, state: StateDep) -> wire.ChallengeResponse:
    """Request a challenge for wallet authentication; sign it and POST it to /session within 60 seconds."""
    issued = await sessions.issue_challenge(
        state.kv, hotkey=body.hotkey.strip(), now=time.time(), ttl=state.settings.challenge_ttl_seconds
    )
    return wire.ChallengeResponse(challenge=issued.challenge, expires_at=issued.expires_at)


@router.post(
    "/session",
    response_model=wire.SessionResponse,
    dependencies=[Depends(per_ip_limit("rate_limit_auth_session"))],
)
async def create_session(
    body: wire.SessionRequest, state: StateDep, session: SessionDep
) -> wire.SessionResponse:
    """Create a bearer session by verifying a signed challenge."""
    settings = state.settings
    await sessions.consume_challenge(
        state.kv, hotkey=body.hotkey, challenge=body.challenge, signature=body.signature
    )
    identity = state.registry.lookup(body.hotkey)
    admins = frozenset(settings.admin_hotkeys)
    if identity.banned:
        raise Forbidden("Hotkey is banned", code="BANNED")
    if not identity.registered and body.hotkey not in admins:
        raise Unauthorized("Not registered on subnet", code="NOT_REGISTERED")
    issued = await sessions.open_session(
        session,
        hotkey=body.hotkey,
        role=role_of(identity, admin_hotkeys=admins, min_stake=settings.validator_min_stake),
        now=sessions.utc_from_unix(time.time()),
        ttl=settings.session_ttl_seconds,
    )
    return wire.SessionResponse(session_token=issued.token, expires_at=issued.expires_at, role=issued.role)


@router.post("/logout", response_model=wire.LogoutResponse)
async def logout(
    session: SessionDep, authorization: Annotated[Credential | None, Header()] = None
) -> wire.LogoutResponse:
    """Log out and invalidate the current session."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Missing bearer token", code="INVALID_SESSION", status_code=401)
    await sessions.revoke(session, token=token.strip(), now=sessions.utc_from_unix(time.time()))
    return wire.LogoutResponse(success=True)


@router.get("/whoami", response_model=wire.WhoAmIResponse)
async def whoami(principal: AnyAuth, request: Request) -> Response:
    """proctor extension: how the server sees the signed (or session) caller: role, permit, ban."""
    identity = principal.identity
    settings = state_of(request).settings
    role = role_of(
        identity, admin_hotkeys=frozenset(settings.admin_hotkeys), min_stake=settings.validator_min_stake
    )
    body = wire.WhoAmIResponse(
        hotkey=principal.hotkey,
        via=principal.via,
        role=role,
        registered=identity.registered,
        validator_permit=identity.validator_permit,
        stake=identity.stake,
        banned=identity.banned,
        registry_fresh=identity.fresh,
    )
    # Serialised here rather than re-validated by FastAPI: this route is the cheapest signed call and
    # serves as the auth-overhead probe, so it should cost nothing but the authentication itself.
    return Response(body.model_dump_json(), media_type="application/json")
