"""The Pool claim app's wire shapes (reference pool-api §3.6, §6).

Representation choices (Pool's own metadata and ledger shapes are not public):

* Amounts are JSON integers of indivisible units (RAO). The proof package carries the cumulative
  amount twice, as `amount` and `amount_units`, because Pool clients read either. Python and any
  bigint-aware JSON parser read them exactly; the `value` field repeats the leaf in the `standard-v1`
  form (decimal strings, 0x hex public keys), which JavaScript's `StandardMerkleTree.verify(root,
  leafEncoding, value, proof)` takes as is.
* Epoch metadata names follow the contract's `publish_epoch(epoch, root, num_of_leaves, total, uri)`:
  `num_of_leaves`, `total_units`, `tree_uri` (the standard-v1 dump anyone can rebuild the root from).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, model_validator

from proctor.http.params import Id64, Int64, NotBool

# A uint64 amount (or a negative one, which the core refuses with 400).
Amount64 = Annotated[int, Ge(-(2**63)), Le(2**64 - 1), NotBool]


class Health(BaseModel):
    status: Literal["healthy"] = "healthy"
    service: str = "proctor-claims"
    default_epoch: int | None
    epochs: int
    simulation: bool


class EpochList(BaseModel):
    epochs: list[int]  # newest first
    default_epoch: int | None  # the newest epoch: its cumulative amounts supersede earlier ones


class EpochInfo(BaseModel):
    epoch: int
    root: str
    num_of_leaves: int
    total_units: int  # Σ cumulative leaf amounts: what the contract must be able to pay in total
    budget_units: int  # new units this epoch split
    allocated_units: int  # of the budget, what went to miners (the rest stays unallocated)
    published_at: datetime
    tree_uri: str
    format: str = "standard-v1"
    leaf_encoding: list[str]
    source: str
    source_sha256: str
    is_default: bool


class ProofPackage(BaseModel):
    epoch: int
    index: int
    hotkey: str
    recipient_coldkey: str
    amount: int
    amount_units: int
    proof: list[str]
    root: str
    leaf: str  # the leaf hash, 0x hex
    value: list[str]  # the leaf in standard-v1 JSON form
    leaf_encoding: list[str]


class ClaimRequest(BaseModel):
    """A claim as the contract's `claim_single` takes it; `amount` and `recipient_address` are aliases."""

    model_config = ConfigDict(extra="ignore")

    # Bounded to what JSON and the database carry; the contract's own ranges (uint32 index, positive
    # uint64 amount) and the proof's hex are checked by the core, which answers 400 as the claim server.
    epoch: Id64 | None = None
    index: Int64
    hotkey: str = Field(max_length=128)
    recipient_coldkey: str | None = Field(default=None, max_length=128)
    recipient_address: str | None = Field(default=None, max_length=128)
    amount_units: Amount64 | None = None
    amount: Amount64 | None = None
    proof: list[Annotated[str, Field(max_length=66)]] = Field(max_length=256)  # "0x" + 32 bytes in hex

    @model_validator(mode="after")
    def _required(self) -> ClaimRequest:
        if self.amount_units is None and self.amount is None:
            raise ValueError("amount_units is required")
        if self.recipient_coldkey is None and self.recipient_address is None:
            raise ValueError("recipient_coldkey is required")
        return self

    @property
    def units(self) -> int:
        value = self.amount_units if self.amount_units is not None else self.amount
        assert value is not None
        return value

    @property
    def recipient(self) -> str:
        value = self.recipient_coldkey if self.recipient_coldkey is not None else self.recipient_address
        assert value is not None
        return value


class ClaimReceipt(BaseModel):
    status: Literal["claimed"] = "claimed"
    simulated: bool = True
    epoch: int
    index: int
    hotkey: str
    recipient_coldkey: str
    amount_units: int  # the leaf's cumulative amount
    claimed_before_units: int
    paid_units: int  # amount_units − claimed_before_units, paid to recipient_coldkey
    claimed_at: datetime


class LedgerEntry(BaseModel):
    index: int
    hotkey: str
    recipient_coldkey: str
    amount_units: int
    claimed_before_units: int
    paid_units: int
    claimed_at: datetime


class Ledger(BaseModel):
    epoch: int
    root: str
    total_units: int
    claim_count: int
    paid_units: int
    limit: int
    offset: int
    claims: list[LedgerEntry]
