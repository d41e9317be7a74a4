"""What a subnet's public site collects: waitlist sign-ups (ORO's `POST /v1/public/waitlist`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from proctor.storage.base import Base, utcnow


class WaitlistSignup(Base):
    """One address, kept once (a repeated sign-up only refreshes `updated_at`)."""

    __tablename__ = "waitlist_signups"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)  # lower-cased
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
