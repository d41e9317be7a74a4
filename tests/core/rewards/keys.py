"""Valid SS58 addresses in bulk for reward tests (no signing needed, so no key derivation)."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from bittensor_wallet import Keypair


def address(public_key: bytes) -> str:
    """The generic-substrate (prefix 42) SS58 address of a 32-byte public key."""
    return str(Keypair(public_key="0x" + public_key.hex(), ss58_format=42).ss58_address)


_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def address_with_prefix(public_key: bytes, prefix: int) -> str:
    """The SS58 address of a key under another network prefix (< 64): same key, other spelling."""
    data = bytes([prefix]) + public_key
    data += hashlib.blake2b(b"SS58PRE" + data, digest_size=64).digest()[:2]
    number, digits = int.from_bytes(data, "big"), []
    while number:
        number, digit = divmod(number, 58)
        digits.append(_BASE58[digit])
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + "".join(reversed(digits))


def hotkey(label: str) -> str:
    """A stable address per label."""
    return address(hashlib.sha256(label.encode()).digest())


def random_hotkeys(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [address(rng.randbytes(32)) for _ in range(count)]


def snapshot(*competitions: tuple[Any, dict[str, Any]]) -> dict[str, Any]:
    """An autoresearch snapshot document from (weight, {hotkey: score}) pairs."""
    return {
        "competitions": [
            {"weight": weight, "miners": [{"hotkey": h, "score": s} for h, s in scores.items()]}
            for weight, scores in competitions
        ]
    }


def write_snapshot(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path
