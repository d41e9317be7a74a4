"""Operator-managed identity facts: bans and registry grants (both override the registry source)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from proctor.storage.base import Base, utcnow


class HotkeyBan(Base):
    __tablename__ = "hotkey_bans"

    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    banned_by: Mapped[str] = mapped_column(String(100), default="operator")
    banned_at: Mapped[datetime] = mapped_column(default=utcnow)


class HotkeyGrant(Base):
    """A registration or validator permit granted by the operator, merged over the registry source."""

    __tablename__ = "hotkey_grants"

    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    uid: Mapped[int | None]
    validator_permit: Mapped[bool] = mapped_column(default=False)
    stake: Mapped[float] = mapped_column(default=0.0)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuthSession(Base):
    """A bearer session from the challenge flow. Only the token's SHA-256 is stored."""

    __tablename__ = "auth_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    hotkey: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
