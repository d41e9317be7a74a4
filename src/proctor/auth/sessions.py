"""Bearer sessions from a signed challenge (ORO `/v1/auth/*`, bittensor-auth's flow)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.auth.principal import Role
from proctor.auth.verifier import is_valid_ss58, verify_signature
from proctor.errors import AuthError, Unauthorized
from proctor.models import AuthSession
from proctor.storage.kv import EphemeralStore

CHALLENGE_PREFIX = "proctor"
_CHALLENGE_RE = re.compile(r"^([A-Za-z0-9_-]{1,32}):(\d{1,12}):([0-9a-f]{32})$")
TOKEN_PREFIX = "ses_"


@dataclass(frozen=True)
class Challenge:
    challenge: str
    expires_at: int


@dataclass(frozen=True)
class IssuedSession:
    token: str
    expires_at: int
    role: Role


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_challenge(kv: EphemeralStore, *, hotkey: str, now: float, ttl: int) -> Challenge:
    """A one-time string for `hotkey` to sign within `ttl` seconds."""
    if not is_valid_ss58(hotkey):
        raise AuthError("Invalid hotkey format", code="INVALID_HOTKEY_FORMAT", status_code=400)
    nonce = secrets.token_hex(16)
    challenge = f"{CHALLENGE_PREFIX}:{int(now)}:{nonce}"
    await kv.put(f"challenge:{nonce}", f"{hotkey}|{challenge}", ttl)
    return Challenge(challenge=challenge, expires_at=int(now) + ttl)


async def consume_challenge(kv: EphemeralStore, *, hotkey: str, challenge: str, signature: str) -> None:
    """Check a signed challenge; it is used up whether or not the signature is good."""
    match = _CHALLENGE_RE.match(challenge or "")
    if not match:
        raise Unauthorized("Invalid challenge format", code="INVALID_CHALLENGE")
    stored = await kv.take(f"challenge:{match.group(3)}")
    if stored is None:
        raise Unauthorized("Invalid or expired challenge", code="INVALID_CHALLENGE")
    stored_hotkey, _, stored_challenge = stored.partition("|")
    if stored_hotkey != hotkey:
        raise Unauthorized("Hotkey mismatch", code="HOTKEY_MISMATCH")
    if stored_challenge != challenge:
        raise Unauthorized("Challenge mismatch", code="CHALLENGE_MISMATCH")
    if not verify_signature(hotkey, challenge.encode(), signature):
        raise Unauthorized("Invalid signature", code="INVALID_SIGNATURE")


async def open_session(
    session: AsyncSession, *, hotkey: str, role: Role, now: datetime, ttl: int
) -> IssuedSession:
    """Store a new session (only the token's hash) and return the token, shown this once."""
    token = TOKEN_PREFIX + secrets.token_hex(32)
    expires = now + timedelta(seconds=ttl)
    session.add(
        AuthSession(
            token_sha256=token_digest(token),
            hotkey=hotkey,
            role=role.value,
            created_at=now,
            expires_at=expires,
        )
    )
    await session.flush()
    return IssuedSession(token=token, expires_at=int(expires.timestamp()), role=role)


async def resolve(session: AsyncSession, *, token: str, now: datetime) -> AuthSession:
    """The live session behind a bearer token, or 401."""
    row = await session.get(AuthSession, token_digest(token)) if token.startswith(TOKEN_PREFIX) else None
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise AuthError("Invalid or expired session", code="INVALID_SESSION", status_code=401)
    return row


async def revoke(session: AsyncSession, *, token: str, now: datetime) -> None:
    """End a session; 401 when the token is not a live session."""
    await resolve(session, token=token, now=now)
    await session.execute(
        update(AuthSession).where(AuthSession.token_sha256 == token_digest(token)).values(revoked_at=now)
    )


def utc_from_unix(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)
