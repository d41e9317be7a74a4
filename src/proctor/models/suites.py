"""Problem suites and their problems."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from proctor.storage.base import Base, utcnow


class Suite(Base):
    __tablename__ = "suites"
    __table_args__ = (
        UniqueConstraint("version"),
        UniqueConstraint("content_sha256"),
        # At most one active suite, enforced by the database rather than by the code that activates.
        Index(
            "uq_suites_single_active",
            "is_active",
            unique=True,
            postgresql_where=text("is_active"),
            sqlite_where=text("is_active = 1"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=False)
    content_sha256: Mapped[str] = mapped_column(String(64))
    source_format: Mapped[str] = mapped_column(String(20))
    # Metadata keys that hold ground truth: hidden from public problem payloads.
    hidden_fields: Mapped[list[Any]]
    problem_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None]


class Problem(Base):
    __tablename__ = "problems"

    suite_id: Mapped[int] = mapped_column(ForeignKey("suites.id", ondelete="CASCADE"), primary_key=True)
    problem_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    position: Mapped[int]
    external_id: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100))
    problem_metadata: Mapped[dict[str, Any]] = mapped_column("metadata")
