"""Pool request signatures, built the way Pool clients build them (`hotkey.sign(msg).hex()`, no 0x)."""

from __future__ import annotations

import time

from bittensor_wallet import Keypair


def pool_headers(signer: Keypair, *, timestamp: int | None = None, key: str | None = None) -> dict[str, str]:
    """Wallet-signed headers over `auth:{timestamp}`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Key": key or signer.ss58_address,
        "X-Timestamp": ts,
        "X-Signature": signer.sign(f"auth:{ts}").hex(),
    }


def recipient_headers(signer: Keypair, coldkey: str, *, timestamp: int | None = None) -> dict[str, str]:
    """Recipient-update headers: the message binds the timestamp and the (stripped) coldkey."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    message = f"recipient_coldkey:update:{ts}:{coldkey.strip()}"
    return {"X-Key": signer.ss58_address, "X-Timestamp": ts, "X-Signature": signer.sign(message).hex()}
