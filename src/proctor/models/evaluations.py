"""Evaluation work: work items, leased evaluation runs, per-problem results, validators, top history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.functions import FunctionElement

from proctor.storage.base import Base, utcnow

ACTIVE_RUN_STATUSES = ("CLAIMED", "RUNNING")

# The runs the admin analytics' score and duration statistics read (an included success), as each
# dialect's partial-index predicate: a query uses those indexes only when its WHERE repeats these terms
# with the same literals (`core/admin/analytics.py` builds them from here).
SCORED_RUN = {
    "postgresql": "status = 'SUCCESS' AND is_included",
    "sqlite": "status = 'SUCCESS' AND is_included = 1",
}
FAILED_RUN = "status IN ('FAILED', 'TIMED_OUT')"


class run_seconds(FunctionElement[float]):  # noqa: N801 -- a SQL function, named like one
    """`run_seconds(completed_at, claimed_at)`: a finished run's duration in seconds, as each dialect
    computes it (double precision on PostgreSQL: date_part, not EXTRACT's numeric). One construct for
    the index below and the queries that read it: a planner reads an indexed expression from the index
    only when the query's expression is the same."""

    type = Float()
    name = "run_seconds"
    inherit_cache = True


@compiles(run_seconds)  # PostgreSQL's, also for printed statements and alembic's index comparison
@compiles(run_seconds, "postgresql")
def _run_seconds_postgresql(element: run_seconds, compiler: Any, **kw: Any) -> str:
    completed, claimed = (compiler.process(c, **kw) for c in element.clauses)
    return f"date_part('epoch', {completed} - {claimed})"


@compiles(run_seconds, "sqlite")
def _run_seconds_sqlite(element: run_seconds, compiler: Any, **kw: Any) -> str:
    completed, claimed = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({completed}) - julianday({claimed})) * 86400.0)"


class WorkItem(Base):
    """An accepted agent version waiting for `required_successes` runs from distinct validators."""

    __tablename__ = "work_items"
    __table_args__ = (
        # One QUALIFYING item per version and suite, and one RACE item per version and race.
        Index(
            "uq_work_items_qualifying",
            "agent_version_id",
            "suite_id",  # a version re-queued on a new suite gets an item there beside its old one
            unique=True,
            postgresql_where=text("phase = 'QUALIFYING'"),
            sqlite_where=text("phase = 'QUALIFYING'"),
        ),
        Index(
            "uq_work_items_race",
            "agent_version_id",
            "race_id",
            unique=True,
            postgresql_where=text("phase = 'RACE'"),
            sqlite_where=text("phase = 'RACE'"),
        ),
        Index("ix_work_items_status_queued", "status", "queued_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    agent_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent_versions.id", ondelete="CASCADE"))
    suite_id: Mapped[int] = mapped_column(ForeignKey("suites.id"))
    phase: Mapped[str] = mapped_column(String(20), default="QUALIFYING")  # QUALIFYING | RACE
    race_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("races.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="OPEN")  # OPEN | CLOSED | DISCARDED
    required_successes: Mapped[int]
    success_count: Mapped[int] = mapped_column(default=0)
    failure_count: Mapped[int] = mapped_column(default=0)
    active_count: Mapped[int] = mapped_column(default=0)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    final_score: Mapped[float | None]


class EvaluationRun(Base):
    """One validator's leased attempt at a work item."""

    __tablename__ = "evaluation_runs"
    __table_args__ = (
        # Distinct validators: a validator evaluates a work item at most once -- except that a run it
        # let lapse (STALE) does not count, so a restarted validator can pick the item up again.
        Index(
            "uq_evaluation_runs_one_live_per_item_validator",
            "work_item_id",
            "validator_hotkey",
            unique=True,
            postgresql_where=text("status NOT IN ('STALE', 'CANCELLED')"),
            sqlite_where=text("status NOT IN ('STALE', 'CANCELLED')"),
        ),
        # A validator holds its live runs in distinct slots 0..max_concurrent_runs-1 (the claim picks a
        # free one), so it never holds more than its limit, whatever races happen above; the default
        # limit of one is slot 0 only.
        Index(
            "uq_evaluation_runs_live_validator_slot",
            "validator_hotkey",
            "slot",
            unique=True,
            postgresql_where=text("status IN ('CLAIMED', 'RUNNING')"),
            sqlite_where=text("status IN ('CLAIMED', 'RUNNING')"),
        ),
        Index(
            "ix_evaluation_runs_item_success",
            "work_item_id",
            "validator_score",
            "is_included",
            postgresql_where=text("status = 'SUCCESS'"),
            sqlite_where=text("status = 'SUCCESS'"),
        ),
        # Not on lease_expires_at: a heartbeat then changes no indexed column and PostgreSQL updates the
        # row in place (HOT); the reaper finds live runs through the live-slot index above.
        Index("ix_evaluation_runs_status", "status"),
        Index("ix_evaluation_runs_version", "agent_version_id"),
        {"postgresql_with": {"fillfactor": 80}},  # room on each page for a heartbeat's new row version
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    work_item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"))
    agent_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent_versions.id", ondelete="CASCADE"))
    suite_id: Mapped[int] = mapped_column(ForeignKey("suites.id"))
    race_id: Mapped[uuid.UUID | None]  # the work item's race (RACE runs), copied at claim
    validator_hotkey: Mapped[str] = mapped_column(String(64))
    slot: Mapped[int] = mapped_column(default=0, server_default="0")  # see uq_..._live_validator_slot
    status: Mapped[str] = mapped_column(String(20), default="CLAIMED")
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime]
    last_heartbeat_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    validator_score: Mapped[float | None]
    score_components: Mapped[dict[str, Any] | None]
    results_s3_key: Mapped[str | None] = mapped_column(String(512))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    sandbox_metadata: Mapped[dict[str, Any] | None]
    service_versions: Mapped[dict[str, Any] | None]
    is_included: Mapped[bool] = mapped_column(default=True)
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)


class RunProblemResult(Base):
    """One validator's result for one problem of a run; progress updates merge into it."""

    __tablename__ = "run_problem_results"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluation_runs.id", ondelete="CASCADE"), primary_key=True
    )
    problem_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    score: Mapped[float | None]
    score_components_summary: Mapped[dict[str, Any] | None]
    logs_s3_key: Mapped[str | None] = mapped_column(String(512))
    reasoning_score: Mapped[float | None]
    inference_failure_count: Mapped[int | None]
    inference_total: Mapped[int | None]
    execution_time: Mapped[float | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ValidatorState(Base):
    """What proctor last saw of each validator (for the public validators list)."""

    __tablename__ = "validator_states"

    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_claim_at: Mapped[datetime | None]
    service_versions: Mapped[dict[str, Any] | None]
    cpu_pct: Mapped[float | None]
    ram_pct: Mapped[float | None]
    disk_pct: Mapped[float | None]
    docker_container_count: Mapped[int | None]
    metrics_reported_at: Mapped[datetime | None]


class TopHistory(Base):
    """Each time an agent version became the suite's top agent."""

    __tablename__ = "top_history"
    __table_args__ = (Index("ix_top_history_suite_top_at", "suite_id", "top_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    suite_id: Mapped[int] = mapped_column(ForeignKey("suites.id"))
    agent_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent_versions.id", ondelete="CASCADE"))
    score: Mapped[float]
    top_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


# The admin analytics (`core/admin/analytics.py`): partial indexes covering what they read (the time
# window's completed_at and suite_id too; in SQLite an index covers a query only if it also holds the
# columns of its own predicate, hence status and is_included):
# - a validator's included successes in duration order: one ordered pass gives every statistic;
Index(
    "ix_evaluation_runs_validator_seconds",
    EvaluationRun.validator_hotkey,
    run_seconds(EvaluationRun.completed_at, EvaluationRun.claimed_at),
    *(getattr(EvaluationRun, c) for c in ("validator_score", "claimed_at", "completed_at", "suite_id")),
    EvaluationRun.status,
    EvaluationRun.is_included,
    postgresql_where=text(SCORED_RUN["postgresql"]),
    sqlite_where=text(SCORED_RUN["sqlite"]),
)
# - the same runs in score order, where the score median's middle values are;
Index(
    "ix_evaluation_runs_validator_scores",
    *(getattr(EvaluationRun, c) for c in ("validator_hotkey", "validator_score", "completed_at", "suite_id")),
    EvaluationRun.status,
    EvaluationRun.is_included,
    postgresql_where=text(SCORED_RUN["postgresql"]),
    sqlite_where=text(SCORED_RUN["sqlite"]),
)
# - a validator's failures newest first: its failure counts and its last failure.
Index(
    "ix_evaluation_runs_validator_failed",
    *(
        getattr(EvaluationRun, c)
        for c in ("validator_hotkey", "completed_at", "status", "is_included", "suite_id")
    ),
    postgresql_where=text(FAILED_RUN),
    sqlite_where=text(FAILED_RUN),
)
