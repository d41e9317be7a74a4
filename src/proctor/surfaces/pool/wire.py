"""Pool's wire shapes for recipient coldkeys (reference pool-api §2.2, §3.1, §3.2).

Pool documents the update bodies and the `{"status": "success"}` reply; the GET shapes are not public,
so proctor answers with the fields a miner needs: the mapping (null when never set), who the next
epoch pays, and when it changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RecipientUpdateRequest(BaseModel):
    """`recipient_coldkey`, or the legacy `coldkey_address`; Pool's body-auth keys are tolerated."""

    model_config = ConfigDict(extra="ignore")

    recipient_coldkey: str | None = Field(default=None, max_length=256)
    coldkey_address: str | None = Field(default=None, max_length=256)
    public_address: str | None = Field(default=None, max_length=256)
    signature: str | None = Field(default=None, max_length=1024)
    message: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _one_recipient(self) -> RecipientUpdateRequest:
        given = {v.strip() for v in (self.recipient_coldkey, self.coldkey_address) if v is not None}
        if not given:
            raise ValueError("recipient_coldkey (or coldkey_address) is required")
        if len(given) > 1:
            raise ValueError("recipient_coldkey and coldkey_address disagree")
        return self

    @property
    def raw_recipient(self) -> str:
        value = self.recipient_coldkey if self.recipient_coldkey is not None else self.coldkey_address
        assert value is not None
        return value

    def auth_fields(self) -> dict[str, object]:
        return {"public_address": self.public_address, "signature": self.signature, "message": self.message}


class RecipientUpdateResponse(BaseModel):
    status: Literal["success"] = "success"
    miner_hotkey: str
    recipient_coldkey: str
    previous_recipient_coldkey: str | None
    changed: bool
    updated_at: datetime
    applies_to: str = "epochs published from now on; published epochs never change"


class RecipientChangeWire(BaseModel):
    recipient_coldkey: str
    previous_recipient_coldkey: str | None
    changed_at: datetime


class RecipientResponse(BaseModel):
    miner_hotkey: str
    recipient_coldkey: str | None  # null: never set
    effective_recipient_coldkey: str  # who the next epoch pays (the hotkey itself when unset)
    is_set: bool
    updated_at: datetime | None
    history: list[RecipientChangeWire] | None = None  # only on the signed (own) lookup
