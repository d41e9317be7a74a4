"""Who made a request and what they may do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from proctor.core.identity.registry import Identity
from proctor.errors import AuthError


class Role(StrEnum):
    MINER = "miner"
    VALIDATOR = "validator"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    hotkey: str
    identity: Identity
    via: str  # "signature" | "session"
    is_admin: bool = False


def role_of(identity: Identity, *, admin_hotkeys: frozenset[str], min_stake: float) -> Role:
    """The strongest role an identity holds (what a bearer session records)."""
    if identity.hotkey in admin_hotkeys:
        return Role.ADMIN
    if identity.registered and identity.validator_permit and identity.stake >= min_stake:
        return Role.VALIDATOR
    return Role.MINER


def authorize(identity: Identity, role: Role, *, admin_hotkeys: frozenset[str], min_stake: float) -> None:
    """Raise the bittensor-auth 403 for an identity that may not act as `role`."""
    if identity.banned:
        raise AuthError(
            f"Hotkey is banned: {identity.ban_reason}".rstrip(": "), code="BANNED", status_code=403
        )
    if role is Role.ADMIN:
        if identity.hotkey not in admin_hotkeys:
            raise AuthError("Hotkey is not an administrator", code="NOT_ADMIN", status_code=403)
        return
    if not identity.registered:
        message = (
            "Hotkey is not registered on the subnet"
            if identity.fresh
            else "Registry is unavailable or stale; refusing until it refreshes"
        )
        raise AuthError(message, code="NOT_REGISTERED", status_code=403)
    if role is Role.VALIDATOR and not (identity.validator_permit and identity.stake >= min_stake):
        detail = "no validator permit" if not identity.validator_permit else "stake below the minimum"
        raise AuthError(
            f"Hotkey is not registered as a validator ({detail})",
            code="NOT_REGISTERED_AS_VALIDATOR",
            status_code=403,
        )
