"""Races (ORO's second phase): a race per suite and number, its field of qualifiers, the miners' pinned
race candidates, the hidden race-only problem bank, and the versions races eliminated."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from proctor.storage.base import Base, utcnow

OPEN_RACE_STATUSES = ("QUALIFYING_OPEN", "RACE_RUNNING")


class Race(Base):
    """QUALIFYING_OPEN → RACE_RUNNING → RACE_COMPLETE (or CANCELLED)."""

    __tablename__ = "races"
    __table_args__ = (
        UniqueConstraint("suite_id", "number"),
        # At most one race in progress per suite, enforced by the database.
        Index(
            "uq_races_one_open_per_suite",
            "suite_id",
            unique=True,
            postgresql_where=text("status IN ('QUALIFYING_OPEN', 'RACE_RUNNING')"),
            sqlite_where=text("status IN ('QUALIFYING_OPEN', 'RACE_RUNNING')"),
        ),
        Index("ix_races_status_created", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    suite_id: Mapped[int] = mapped_column(ForeignKey("suites.id"))
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), default="QUALIFYING_OPEN")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    qualifying_closes_at: Mapped[datetime | None]
    race_started_at: Mapped[datetime | None]
    race_deadline_at: Mapped[datetime | None]
    race_completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    qualifying_threshold: Mapped[float | None]
    winner_agent_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_versions.id", ondelete="SET NULL")
    )
    winner_score: Mapped[float | None]


class RaceQualifier(Base):
    """One version in a race's field (one per hotkey); its race work item and result."""

    __tablename__ = "race_qualifiers"
    __table_args__ = (
        UniqueConstraint("race_id", "miner_hotkey"),
        # A version's races (its agent page): the primary key leads with race_id.
        Index("ix_race_qualifiers_version", "agent_version_id"),
    )

    race_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"), primary_key=True)
    agent_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_versions.id", ondelete="CASCADE"), primary_key=True
    )
    miner_hotkey: Mapped[str] = mapped_column(String(64))
    qualification_type: Mapped[str] = mapped_column(String(20))  # INCUMBENT | SCORED
    qualifying_score: Mapped[float | None]
    work_item_id: Mapped[uuid.UUID | None]
    race_score: Mapped[float | None]
    race_rank: Mapped[int | None]
    outcome: Mapped[str | None] = mapped_column(String(20))  # FINISHED | FAILED | STRAGGLER


class RaceSelection(Base):
    """A miner's pinned race candidate (else the best eligible version of the hotkey races)."""

    __tablename__ = "race_selections"

    miner_hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent_versions.id", ondelete="CASCADE"))
    selected_at: Mapped[datetime] = mapped_column(default=utcnow)


class RaceProblem(Base):
    """The hidden bank: race-only problems of a suite. Never in a public payload or a QUALIFYING run."""

    __tablename__ = "race_problems"

    suite_id: Mapped[int] = mapped_column(ForeignKey("suites.id", ondelete="CASCADE"), primary_key=True)
    problem_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    position: Mapped[int]
    external_id: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100))
    problem_metadata: Mapped[dict[str, Any]] = mapped_column("metadata")


class RaceElimination(Base):
    """A version that lost a race and may not race again."""

    __tablename__ = "race_eliminations"

    agent_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_versions.id", ondelete="CASCADE"), primary_key=True
    )
    race_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"))
    race_number: Mapped[int]
    eliminated_at: Mapped[datetime] = mapped_column(default=utcnow)
