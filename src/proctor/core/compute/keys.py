"""API keys and public ids for the compute marketplace.

A key carries 256 random bits, so a plain SHA-256 digest is a safe thing to store and to look it up
by (no salt or slow hash needed: there is nothing to guess). The key itself is shown once.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

MINER_KEY_PREFIX = "mk_"
CLIENT_KEY_PREFIX = "ck_"
MAX_KEY_LENGTH = 200


def new_key(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_id(prefix: str) -> str:
    """A public id such as `miner_3f…` or `job_9a…` (128 random bits)."""
    return f"{prefix}_{uuid.uuid4().hex}"
