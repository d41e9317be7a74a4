"""Miners' agents, their versions, submission cooldowns and the submission log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from proctor.storage.base import Base, utcnow


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("miner_hotkey", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    miner_hotkey: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentVersion(Base):
    __tablename__ = "agent_versions"
    __table_args__ = (
        UniqueConstraint("agent_id", "version_number"),
        # Exact duplicates are refused across every miner: same bytes, same hash.
        UniqueConstraint("code_sha256"),
        Index("ix_agent_versions_state_submitted", "state", "submitted_at"),
        Index("ix_agent_versions_miner_submitted", "miner_hotkey", "submitted_at"),
        # The leaderboard: eligible versions of a suite by score.
        Index("ix_agent_versions_leaderboard", "suite_id", "state", "final_score"),
        # The leaderboard's change stamp (count and newest eligibility): an index-only pass.
        Index("ix_agent_versions_eligible_stamp", "suite_id", "state", "eligible_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    miner_hotkey: Mapped[str] = mapped_column(String(64))
    version_number: Mapped[int]
    suite_id: Mapped[int | None] = mapped_column(ForeignKey("suites.id"))
    code_sha256: Mapped[str] = mapped_column(String(64))
    code_size: Mapped[int]
    blob_key: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Informational findings (determinism flags) kept for human review; they never reject.
    review_flags: Mapped[list[Any]]
    final_score: Mapped[float | None]
    eligible_at: Mapped[datetime | None]
    code_available_at: Mapped[datetime | None]
    discarded_at: Mapped[datetime | None]
    discard_reason: Mapped[str | None] = mapped_column(Text)


class MinerCooldown(Base):
    """When a hotkey may submit again. Claimed atomically: see submissions.repository."""

    __tablename__ = "miner_cooldowns"

    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_allowed_at: Mapped[datetime]
    last_submitted_at: Mapped[datetime]
    last_outcome: Mapped[str] = mapped_column(String(40))


class SubmissionEvent(Base):
    """Every real (non dry-run) submission attempt and its outcome, for operators."""

    __tablename__ = "submission_events"
    __table_args__ = (Index("ix_submission_events_hotkey_created", "hotkey", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    hotkey: Mapped[str] = mapped_column(String(64))
    agent_name: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(40))  # ACCEPTED or the rejection code
    detail: Mapped[str] = mapped_column(Text, default="")
    code_sha256: Mapped[str | None] = mapped_column(String(64))
    agent_version_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
