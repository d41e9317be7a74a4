"""Miners' inference-provider credentials (encrypted) and their default provider."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from proctor.storage.base import Base, utcnow


class InferenceCredential(Base):
    __tablename__ = "inference_credentials"

    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    # AES-GCM ciphertext (nonce ‖ ciphertext ‖ tag) under a key derived from PROCTOR_SECRET_KEY.
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InferencePreference(Base):
    __tablename__ = "inference_preferences"

    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    default_provider: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
