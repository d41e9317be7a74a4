"""Simulated claims: what the `merklepool` contract's `claim_single` does, recorded in a ledger.

A claim carries the leaf (index, hotkey, recipient, cumulative amount) and its proof. It is checked
exactly as a contract would, against the epoch's root only: a tampered amount, recipient, index or
proof does not verify and is refused. A verified claim pays `amount − claimed cumulative(hotkey)`
to the leaf's recipient; a leaf is claimable once, and an older epoch's leaf pays nothing once a newer
one was claimed (its cumulative amount is already covered).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from proctor.auth.verifier import public_key
from proctor.core.rewards import service as epoch_service
from proctor.core.rewards.errors import AlreadyClaimed, InvalidClaim, InvalidProof
from proctor.core.rewards.merkle import LEAF_ENCODING, verify
from proctor.core.rewards.repository import ClaimRepository, EpochRepository
from proctor.models.rewards import RewardClaim, RewardEpoch

MAX_PROOF_LENGTH = 64  # a 2**64-leaf tree; anything longer is not a proof
_NODE_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class ClaimInput:
    index: int
    hotkey: str
    recipient_coldkey: str
    amount_units: int
    proof: Sequence[str]


@dataclass(frozen=True)
class Ledger:
    epoch: RewardEpoch
    claims: Sequence[RewardClaim]
    claim_count: int
    paid_units: int


def _leaf_value(epoch: int, claim: ClaimInput) -> tuple[int, int, bytes, bytes, int]:
    if not 0 <= claim.index < 2**32:
        raise InvalidClaim("index must be a uint32")
    if not 0 < claim.amount_units < 2**64:
        raise InvalidClaim("amount_units must be a positive uint64")
    keys = []
    for name, address in (("hotkey", claim.hotkey), ("recipient_coldkey", claim.recipient_coldkey)):
        try:
            keys.append(public_key(address))
        except (ValueError, TypeError):
            raise InvalidClaim(f"{name} is not a valid SS58 address") from None
    return (epoch, claim.index, keys[0], keys[1], claim.amount_units)


def _proof(claim: ClaimInput) -> list[str]:
    if len(claim.proof) > MAX_PROOF_LENGTH or not all(_NODE_RE.match(node) for node in claim.proof):
        raise InvalidClaim("proof must be a list of 32-byte hex strings")
    return [node if node.startswith("0x") else "0x" + node for node in claim.proof]


async def claim(
    session: AsyncSession, *, number: int | None, claim: ClaimInput, now: datetime
) -> RewardClaim:
    """Verify `claim` against the epoch root (default: newest epoch) and pay what is still owed."""
    epoch = await epoch_service.get_epoch(session, number=number)
    value, proof = _leaf_value(epoch.number, claim), _proof(claim)
    if not verify(epoch.root, LEAF_ENCODING, value, proof):
        raise InvalidProof()
    # The ledger keys on the addresses as published: another SS58 spelling of the same public key
    # verifies too, and must not open a second claim.
    leaf = await EpochRepository(session).leaf_at(epoch.number, claim.index)
    if leaf is None or leaf.hotkey_pubkey != value[2]:
        raise InvalidProof()
    hotkey = leaf.hotkey
    claims = ClaimRepository(session)
    if await claims.for_leaf(epoch.number, hotkey) is not None:
        raise AlreadyClaimed(f"already claimed: epoch {epoch.number} leaf {claim.index} of {hotkey}")
    claimed = await claims.claimed_total(hotkey)
    if claim.amount_units <= claimed:
        raise AlreadyClaimed(
            f"already claimed: {hotkey} has claimed {claimed} units cumulatively, "
            f"this leaf's amount is {claim.amount_units}"
        )
    record = RewardClaim(
        epoch_number=epoch.number,
        leaf_index=claim.index,
        hotkey=hotkey,
        recipient_coldkey=leaf.recipient_coldkey,
        amount_units=claim.amount_units,
        claimed_before_units=claimed,
        paid_units=claim.amount_units - claimed,
        claimed_at=now,
    )
    await claims.add(record)
    return record


async def ledger(session: AsyncSession, *, number: int | None, limit: int, offset: int) -> Ledger:
    """An epoch's simulated claims (default: newest epoch), oldest first, with totals."""
    epoch = await epoch_service.get_epoch(session, number=number)
    claims = ClaimRepository(session)
    count, paid = await claims.totals(epoch.number)
    rows = await claims.page(epoch.number, limit=limit, offset=offset)
    return Ledger(epoch=epoch, claims=rows, claim_count=count, paid_units=paid)
