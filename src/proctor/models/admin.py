"""Operator state: the append-only audit trail, the validator-pause switch, per-validator settings and
eliminations. Written only through `proctor.core.admin` (every write there also writes an audit event)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from proctor.models.agents import AgentVersion
from proctor.models.evaluations import EvaluationRun
from proctor.storage.base import Base, utcnow

# The admin lists page these tables newest first (declared here to keep the admin's indexes together).
Index("ix_evaluation_runs_claimed_at", EvaluationRun.claimed_at)
Index("ix_agent_versions_submitted_at", AgentVersion.submitted_at)


class AuditEvent(Base):
    """One operator action: who, when, what, on which target, why, and a before/after summary.

    Append-only: nothing in proctor updates or deletes these rows (no API, no CLI command does).
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_created", "created_at"),
        Index("ix_audit_events_target", "target_type", "target_id"),
        Index("ix_audit_events_action_created", "action", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(200))
    actor_hotkey: Mapped[str] = mapped_column(String(100))
    via: Mapped[str] = mapped_column(String(20))  # "http" | "cli"
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None]  # {"before": {...}, "after": {...}, ...}
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ValidatorPause(Base):
    """The andon cord: while `active` (and before `auto_release_at`), no validator claims new work."""

    __tablename__ = "validator_pause"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1: one switch for the whole subnet
    active: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    paused_by: Mapped[str | None] = mapped_column(String(100))
    paused_at: Mapped[datetime | None]
    auto_release_at: Mapped[datetime | None]


class ValidatorSetting(Base):
    """Operator configuration of one validator (ORO's `PATCH /v1/admin/validators/{hotkey}`)."""

    __tablename__ = "validator_settings"

    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    max_concurrent_runs: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentVersionElimination(Base):
    """An operator (or a race) retired a version from future qualifying; deleting the row reinstates it."""

    __tablename__ = "agent_version_eliminations"

    agent_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_versions.id", ondelete="CASCADE"), primary_key=True
    )
    suite_id: Mapped[int] = mapped_column(ForeignKey("suites.id"))
    eliminated_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")
