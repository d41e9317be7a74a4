"""The one place signatures are checked. Every surface's signed-request scheme calls into here.

Cryptography comes from `bittensor-wallet` (Rust sr25519/ed25519); this module only decides *what*
message is signed and how the header values are parsed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from bittensor_wallet import Keypair

from proctor.errors import AuthError

_HEX_RE = re.compile(r"^(0[xX])?[0-9a-fA-F]*$")


@lru_cache(maxsize=65_536)
def _verifier(ss58_address: str) -> Keypair:
    # Decoding an SS58 address is a fixed cost per hotkey; the same few hundred keys sign everything.
    return Keypair(ss58_address=ss58_address)


def is_valid_ss58(address: str) -> bool:
    """True when `address` decodes as an SS58 account id."""
    if not address or len(address) > 64:
        return False
    try:
        _verifier(address)
    except (ValueError, TypeError):
        return False
    return True


def public_key(address: str) -> bytes:
    """The 32-byte public key behind an SS58 address (ValueError when invalid)."""
    key = _verifier(address).public_key
    if key is None:  # a keypair built from an address always has one; keeps the type checker honest
        raise ValueError(f"no public key for {address}")
    return bytes(key)


def verify_signature(address: str, message: bytes, signature_hex: str) -> bool:
    """Check a hex (optionally 0x-prefixed) sr25519 signature; malformed hex is simply invalid."""
    if not _HEX_RE.match(signature_hex or ""):
        return False
    raw = signature_hex[2:] if signature_hex[:2] in ("0x", "0X") else signature_hex
    if len(raw) != 128:
        return False
    try:
        return bool(_verifier(address).verify(message, bytes.fromhex(raw)))
    except (ValueError, TypeError):
        return False


# --- ORO / bittensor-auth header scheme (reference oro-api §3) -------------------------------------

ORO_HEADERS = ("X-Hotkey", "X-Timestamp", "X-Nonce", "X-Signature")


@dataclass(frozen=True)
class SignedHeaders:
    hotkey: str
    timestamp: int
    nonce: str


def verify_oro_headers(
    headers: dict[str, str | None], *, now: float, skew_seconds: int, max_nonce_length: int
) -> SignedHeaders:
    """Validate the four `X-*` headers in bittensor-auth's order; raise `AuthError` on the first failure.

    The caller records the nonce afterwards (only a verified request may consume a nonce).
    """
    missing = [name for name in ORO_HEADERS if not headers.get(name)]
    if missing:
        raise AuthError(
            f"Missing required authentication headers: {', '.join(missing)}",
            code="MISSING_HEADERS",
            status_code=401,
        )
    hotkey = str(headers["X-Hotkey"])
    if not is_valid_ss58(hotkey):
        raise AuthError("Invalid hotkey format", code="INVALID_HOTKEY_FORMAT", status_code=400)
    raw_timestamp = str(headers["X-Timestamp"])
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise AuthError("Invalid timestamp", code="INVALID_TIMESTAMP", status_code=400) from None
    if abs(now - timestamp) > skew_seconds:
        raise AuthError("Timestamp outside allowed window", code="TIMESTAMP_SKEW", status_code=401)
    nonce = str(headers["X-Nonce"])
    if len(nonce) > max_nonce_length:
        raise AuthError("Nonce too long", code="NONCE_TOO_LONG", status_code=400)
    if ":" in nonce:
        # The signed message is colon-separated; a colon in the nonce makes it ambiguous.
        raise AuthError("Nonce contains invalid characters", code="NONCE_INVALID_CHARS", status_code=400)
    message = f"{hotkey}:{raw_timestamp}:{nonce}".encode()  # exactly the string the client signed
    if not verify_signature(hotkey, message, str(headers["X-Signature"])):
        raise AuthError("Invalid signature", code="INVALID_SIGNATURE", status_code=401)
    return SignedHeaders(hotkey=hotkey, timestamp=timestamp, nonce=nonce)


# --- BitSOTA Pool header scheme (reference pool-api §2.1, §2.2) ------------------------------------

POOL_HEADERS = ("X-Key", "X-Timestamp", "X-Signature")
POOL_SKEW_SECONDS = 300


@dataclass(frozen=True)
class PoolSignature:
    hotkey: str
    timestamp: int


def pool_auth_message(timestamp: str | int) -> str:
    """What a Pool wallet-signed request signs."""
    return f"auth:{timestamp}"


def pool_recipient_message(timestamp: str | int, recipient_coldkey: str) -> str:
    """What a Pool recipient-coldkey update signs: it binds the timestamp and the new recipient."""
    return f"recipient_coldkey:update:{timestamp}:{recipient_coldkey}"


def verify_pool_headers(
    headers: Mapping[str, str | None],
    *,
    now: float,
    skew_seconds: int = POOL_SKEW_SECONDS,
    recipient_coldkeys: tuple[str, ...] = (),
) -> PoolSignature:
    """Validate Pool's `X-Key`/`X-Timestamp`/`X-Signature`; raise `AuthError` (401) on the first failure.

    Without `recipient_coldkeys` the signed message is `auth:{X-Timestamp}`; with them it is the
    recipient-update message, accepted for any of the given spellings of the recipient (the client
    strips whitespace before signing; a caller may pass the raw value as a fallback). The signature
    is hex with or without `0x`; bittensor-wallet also accepts polkadot.js's `<Bytes>` wrapper.
    """
    missing = [name for name in POOL_HEADERS if not headers.get(name)]
    if missing:
        raise AuthError(
            f"Missing authentication headers: {', '.join(missing)}", code="MISSING_HEADERS", status_code=401
        )
    return _verify_pool(
        str(headers["X-Key"]),
        str(headers["X-Timestamp"]),
        str(headers["X-Signature"]),
        now=now,
        skew_seconds=skew_seconds,
        recipient_coldkeys=recipient_coldkeys,
    )


def verify_pool_body(
    public_address: str,
    signature: str,
    message: str,
    *,
    now: float,
    skew_seconds: int = POOL_SKEW_SECONDS,
    recipient_coldkeys: tuple[str, ...] = (),
) -> PoolSignature:
    """The body copy of Pool's auth that newer clients also send (`public_address`, `signature`,
    `message`), accepted when the headers are absent. `message` must be the scheme's own message
    (`auth:{ts}`, or the recipient-update message when `recipient_coldkeys` are given): only its
    timestamp is taken from it, the message actually verified is rebuilt here.
    """
    prefix = "recipient_coldkey:update:" if recipient_coldkeys else "auth:"
    timestamp = message.removeprefix(prefix).split(":", 1)[0] if message.startswith(prefix) else ""
    if not timestamp:
        raise AuthError("Invalid auth message", code="INVALID_MESSAGE", status_code=401)
    return _verify_pool(
        public_address,
        timestamp,
        signature,
        now=now,
        skew_seconds=skew_seconds,
        recipient_coldkeys=recipient_coldkeys,
    )


def _verify_pool(
    hotkey: str,
    raw_timestamp: str,
    signature: str,
    *,
    now: float,
    skew_seconds: int,
    recipient_coldkeys: tuple[str, ...] = (),
) -> PoolSignature:
    if not is_valid_ss58(hotkey):
        raise AuthError("Invalid X-Key: not an SS58 address", code="INVALID_HOTKEY_FORMAT", status_code=401)
    if not raw_timestamp.isascii() or not raw_timestamp.isdigit() or len(raw_timestamp) > 12:
        raise AuthError(
            "Invalid X-Timestamp: expected unix seconds", code="INVALID_TIMESTAMP", status_code=401
        )
    timestamp = int(raw_timestamp)
    if abs(now - timestamp) > skew_seconds:
        raise AuthError(
            f"Timestamp outside the allowed window (±{skew_seconds} s)",
            code="TIMESTAMP_SKEW",
            status_code=401,
        )
    if recipient_coldkeys:
        messages = [
            pool_recipient_message(raw_timestamp, coldkey) for coldkey in dict.fromkeys(recipient_coldkeys)
        ]
    else:
        messages = [pool_auth_message(raw_timestamp)]
    if not any(verify_signature(hotkey, message.encode(), signature) for message in messages):
        raise AuthError("Invalid signature", code="INVALID_SIGNATURE", status_code=401)
    return PoolSignature(hotkey=hotkey, timestamp=timestamp)
