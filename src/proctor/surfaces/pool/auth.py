"""Pool request authentication (reference pool-api §2.1, §2.2), over the one verifier module.

* Wallet-signed routes: `X-Key` (SS58 hotkey), `X-Timestamp` (unix seconds), `X-Signature` (hex
  sr25519, with or without `0x`) over `auth:{X-Timestamp}`, within ±`PROCTOR_POOL_AUTH_SKEW_SECONDS`
  (300 by default, as Pool documents). Every failure is a 401 `{"detail": ...}`.
* Recipient updates sign `recipient_coldkey:update:{timestamp}:{recipient_coldkey}`.
* The body keys newer clients copy the auth into (`public_address`, `signature`, `message`) are
  ignored when the headers are present and accepted as a fallback when they are absent.

Replays: Pool's scheme has no nonce, and proctor does not add one (Pool clients would not send it).
`auth:{ts}` authorises reads only here (a miner's own recipient mapping, which is public anyway), so
replaying it within the window discloses nothing. State changes are recipient updates, whose message
binds the recipient; `core.rewards.recipients` refuses any update signed earlier than the one in
force, so a replay can never roll a mapping back.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request

from proctor.auth.verifier import PoolSignature, verify_pool_body, verify_pool_headers
from proctor.errors import AuthError
from proctor.http.deps import state_of


def _headers(request: Request) -> dict[str, str | None]:
    headers = request.headers
    return {
        "X-Key": headers.get("x-key"),
        "X-Timestamp": headers.get("x-timestamp"),
        "X-Signature": headers.get("x-signature"),
    }


def _has_headers(headers: dict[str, str | None]) -> bool:
    return any(headers.values())


def authenticate(
    request: Request,
    *,
    recipient_coldkeys: tuple[str, ...] = (),
    body: dict[str, object] | None = None,
) -> PoolSignature:
    """Verify the request's Pool signature (headers first, then the body copy); AuthError on failure."""
    state = state_of(request)
    skew = state.settings.pool_auth_skew_seconds
    headers = _headers(request)
    try:
        fallback = body or {}
        keys = ("public_address", "signature", "message")
        if not _has_headers(headers) and all(isinstance(fallback.get(k), str) for k in keys):
            return verify_pool_body(
                str(fallback["public_address"]),
                str(fallback["signature"]),
                str(fallback["message"]),
                now=time.time(),
                skew_seconds=skew,
                recipient_coldkeys=recipient_coldkeys,
            )
        return verify_pool_headers(
            headers, now=time.time(), skew_seconds=skew, recipient_coldkeys=recipient_coldkeys
        )
    except AuthError as exc:
        state.metrics.auth_failures.labels(exc.error_code).inc()
        raise


async def wallet_signed(request: Request) -> str:
    """The hotkey of a Pool wallet-signed request (`auth:{timestamp}`)."""
    return authenticate(request).hotkey


WalletAuth = Annotated[str, Depends(wallet_signed)]
