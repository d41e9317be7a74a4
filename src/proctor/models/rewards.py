"""Reward epochs (Merkle trees of cumulative amounts), recipient coldkeys and the simulated claim ledger.

Storage of an epoch (reference pool-api §5.3, §6):

* `reward_epochs` holds one row per published epoch, with the whole tree as one blob: `nodes` is the
  flat OpenZeppelin node array, `(2n - 1) * 32` bytes, root first (64 MiB for 1,000,000 leaves). The
  column is deferred, so listing epochs never reads it.
* `reward_leaves` holds one row per leaf: the claim package fields, the public keys the leaf commits to
  and the leaf's position in `nodes`. A proof is the sibling path of that position, derived on request;
  no proof is ever stored.

Amounts are integer units (RAO of alpha on a Bittensor subnet). They are `uint64` in the leaf; proctor
keeps every amount and every total below 2**63 so they fit a signed BIGINT on both databases.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from proctor.storage.base import Base, utcnow


class RewardEpoch(Base):
    """A published epoch. Never updated: its number, root and leaves are final once committed."""

    __tablename__ = "reward_epochs"

    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(String(66))  # 0x + 64 hex
    leaf_count: Mapped[int]
    total_units: Mapped[int] = mapped_column(BigInteger)  # Σ leaf amounts (cumulative)
    budget_units: Mapped[int] = mapped_column(BigInteger)  # new units this epoch was given
    allocated_units: Mapped[int] = mapped_column(BigInteger)  # of the budget, what went to miners
    leaf_encoding: Mapped[str] = mapped_column(String(200))  # comma-separated ABI types
    source: Mapped[str] = mapped_column(Text)  # "proctor:top" or the snapshot file / URL
    source_sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    nodes: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class RewardLeaf(Base):
    """One leaf: (epoch, index, hotkey, recipient, cumulative amount) and where it sits in the tree."""

    __tablename__ = "reward_leaves"
    __table_args__ = (UniqueConstraint("epoch_number", "leaf_index"),)

    epoch_number: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("reward_epochs.number", ondelete="CASCADE"), primary_key=True
    )
    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    leaf_index: Mapped[int]
    recipient_coldkey: Mapped[str] = mapped_column(String(64))
    amount_units: Mapped[int] = mapped_column(BigInteger)
    tree_index: Mapped[int]
    hotkey_pubkey: Mapped[bytes] = mapped_column(LargeBinary(32))
    recipient_pubkey: Mapped[bytes] = mapped_column(LargeBinary(32))


class RecipientColdkey(Base):
    """The current payout recipient of a miner hotkey (the hotkey itself when no row exists)."""

    __tablename__ = "recipient_coldkeys"

    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipient_coldkey: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[int | None] = mapped_column(BigInteger)  # unix seconds the applied update signed
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecipientColdkeyChange(Base):
    """Append-only history of recipient changes."""

    __tablename__ = "recipient_coldkey_changes"
    __table_args__ = (Index("ix_recipient_coldkey_changes_hotkey_id", "hotkey", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hotkey: Mapped[str] = mapped_column(String(64))
    recipient_coldkey: Mapped[str] = mapped_column(String(64))
    previous_recipient_coldkey: Mapped[str | None] = mapped_column(String(64))
    signed_at: Mapped[int | None] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class RewardClaim(Base):
    """A simulated claim (PROCTOR_CLAIMS_SIMULATION): the contract's `claim_single`, recorded.

    `(epoch_number, hotkey)` makes a leaf claimable once. `(hotkey, claimed_before_units)` is the
    optimistic lock on the hotkey's claimed cumulative total: two concurrent claims computed from the
    same total cannot both be written, so nothing is paid twice.
    """

    __tablename__ = "reward_claims"
    __table_args__ = (
        UniqueConstraint("epoch_number", "hotkey"),
        UniqueConstraint("hotkey", "claimed_before_units"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    epoch_number: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("reward_epochs.number", ondelete="CASCADE")
    )
    leaf_index: Mapped[int]
    hotkey: Mapped[str] = mapped_column(String(64))
    recipient_coldkey: Mapped[str] = mapped_column(String(64))
    amount_units: Mapped[int] = mapped_column(BigInteger)  # the leaf's cumulative amount
    claimed_before_units: Mapped[int] = mapped_column(BigInteger)
    paid_units: Mapped[int] = mapped_column(BigInteger)  # amount − claimed before
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
