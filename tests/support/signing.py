"""Signed ORO headers for tests, built the way clients build them."""

from __future__ import annotations

import time
import uuid

from bittensor_wallet import Keypair

ALICE = Keypair.create_from_uri("//Alice")
BOB = Keypair.create_from_uri("//Bob")
CHARLIE = Keypair.create_from_uri("//Charlie")
DAVE = Keypair.create_from_uri("//Dave")
EVE = Keypair.create_from_uri("//Eve")
FERDIE = Keypair.create_from_uri("//Ferdie")


def oro_headers(
    signer: Keypair,
    *,
    hotkey: str | None = None,
    timestamp: int | str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four X-* headers; `hotkey` lets a test claim one identity while signing with another key."""
    hotkey = hotkey or signer.ss58_address
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(uuid.uuid4())
    signature = signer.sign(f"{hotkey}:{ts}:{nonce}".encode())
    return {"X-Hotkey": hotkey, "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": "0x" + signature.hex()}
