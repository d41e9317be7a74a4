"""Bitrecs (SN122): gist-hosted YAML agents, their evaluations (leases), runs, validator sessions, API keys.

Plus `system_flags`, the operator's switches shared by every submission surface (`submissions_enabled`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from proctor.storage.base import Base, JSONType, utcnow


class SystemFlag(Base):
    """An operator switch (`submissions_enabled`, …); a missing row means the default."""

    __tablename__ = "system_flags"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BitrecsAgent(Base):
    """One submitted agent. A hotkey and a gist are each used once, ever (Bitrecs' rule): both unique.

    It is also the work row of the evaluation leases: `active_count`/`success_count` count the current
    stage's evaluations (reset when the agent moves to the next stage).
    """

    __tablename__ = "bitrecs_agents"
    __table_args__ = (
        Index("ix_bitrecs_agents_status_created", "status", "created_at"),
        Index("ix_bitrecs_agents_created", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # agent_id
    miner_hotkey: Mapped[str] = mapped_column(String(64), unique=True)
    gist_id: Mapped[str] = mapped_column(String(64), unique=True)
    github_account: Mapped[str] = mapped_column(String(100))
    commit_sha: Mapped[str] = mapped_column(String(64))
    content_sha256: Mapped[str] = mapped_column(String(64))
    block: Mapped[int] = mapped_column(BigInteger)  # first-commit order (the tie-break)
    miner_uid: Mapped[int | None]
    name: Mapped[str] = mapped_column(String(64))
    version_num: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(24), default="screening_1")
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    system_prompt_template: Mapped[str] = mapped_column(Text)
    user_prompt_template: Mapped[str] = mapped_column(Text)
    sampling_params: Mapped[dict[str, Any]]
    fewshot_examples: Mapped[list[Any]]
    request_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active_count: Mapped[int] = mapped_column(default=0)
    success_count: Mapped[int] = mapped_column(default=0)
    total_count: Mapped[int] = mapped_column(default=0)
    screener_1_score: Mapped[float | None]
    screener_2_score: Mapped[float | None]
    final_score: Mapped[float | None]


class BitrecsEvaluation(Base):
    """One evaluation of an agent by one validator or screener: a lease of the one lease engine."""

    __tablename__ = "bitrecs_evaluations"
    __table_args__ = (
        Index("ix_bitrecs_evaluations_owner_status", "validator_hotkey", "status"),
        Index("ix_bitrecs_evaluations_status_expiry", "status", "lease_expires_at"),
        Index("ix_bitrecs_evaluations_agent", "agent_id"),
        # One running evaluation per validator, whatever two of its requests race.
        Index(
            "uq_bitrecs_evaluations_one_running",
            "validator_hotkey",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    agent_id: Mapped[uuid.UUID]
    validator_hotkey: Mapped[str] = mapped_column(String(64))  # a hotkey, or a screener's name
    set_group: Mapped[str] = mapped_column(String(16))  # screener_1 | screener_2 | validator
    status: Mapped[str] = mapped_column(String(16))  # running | finished | failed | error | cancelled
    score: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime]
    last_heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class BitrecsEvaluationRun(Base):
    """One problem of an evaluation, moved through Bitrecs' strict run state machine."""

    __tablename__ = "bitrecs_evaluation_runs"
    __table_args__ = (Index("ix_bitrecs_evaluation_runs_evaluation", "evaluation_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    evaluation_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID]
    miner_hotkey: Mapped[str] = mapped_column(String(64))
    problem_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(24), default="pending")
    patch: Mapped[str | None] = mapped_column(Text)
    agent_logs: Mapped[str | None] = mapped_column(Text)
    eval_logs: Mapped[str | None] = mapped_column(Text)
    test_results: Mapped[Any | None] = mapped_column(JSONType)
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BitrecsSession(Base):
    """A validator's or screener's bearer session, in the database so every replica sees it."""

    __tablename__ = "bitrecs_sessions"
    __table_args__ = (Index("ix_bitrecs_sessions_owner", "owner"),)

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))  # the validator hotkey or the screener name
    role: Mapped[str] = mapped_column(String(16))  # validator | screener_1 | screener_2
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_heartbeat_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    system_metrics: Mapped[dict[str, Any] | None]


class BitrecsApiKey(Base):
    """A read-API key (`X-API-Key`), issued by the operator; only its SHA-256 is stored."""

    __tablename__ = "bitrecs_api_keys"

    key_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
