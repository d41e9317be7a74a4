"""evaluation lifecycle: work items, runs, problem results, validators, top history

Revision ID: bdc5fe92a613
Revises: 033af95c5c69
Create Date: 2026-11-22 11:00:05.446643
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))
from sqlalchemy.dialects import postgresql

import proctor.storage.base

revision = "bdc5fe92a613"
down_revision = "033af95c5c69"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "validator_states",
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_claim_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "service_versions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("cpu_pct", sa.Double(), nullable=True),
        sa.Column("ram_pct", sa.Double(), nullable=True),
        sa.Column("disk_pct", sa.Double(), nullable=True),
        sa.Column("docker_container_count", sa.Integer(), nullable=True),
        sa.Column("metrics_reported_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("hotkey", name=op.f("pk_validator_states")),
    )
    op.create_table(
        "top_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("suite_id", sa.Integer(), nullable=False),
        sa.Column("agent_version_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("top_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_version_id"],
            ["agent_versions.id"],
            name=op.f("fk_top_history_agent_version_id_agent_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["suite_id"], ["suites.id"], name=op.f("fk_top_history_suite_id_suites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_top_history")),
    )
    with op.batch_alter_table("top_history", schema=None) as batch_op:
        batch_op.create_index("ix_top_history_suite_top_at", ["suite_id", "top_at"], unique=False)

    op.create_table(
        "work_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_version_id", sa.Uuid(), nullable=False),
        sa.Column("suite_id", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("required_successes", sa.Integer(), nullable=False),
        sa.Column("success_count", sa.Integer(), nullable=False),
        sa.Column("failure_count", sa.Integer(), nullable=False),
        sa.Column("active_count", sa.Integer(), nullable=False),
        sa.Column("queued_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("final_score", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_version_id"],
            ["agent_versions.id"],
            name=op.f("fk_work_items_agent_version_id_agent_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["suite_id"], ["suites.id"], name=op.f("fk_work_items_suite_id_suites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_items")),
        sa.UniqueConstraint("agent_version_id", "phase", name=op.f("uq_work_items_agent_version_id_phase")),
    )
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.create_index("ix_work_items_status_queued", ["status", "queued_at"], unique=False)

    op.create_table(
        "evaluation_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("work_item_id", sa.Uuid(), nullable=False),
        sa.Column("agent_version_id", sa.Uuid(), nullable=False),
        sa.Column("suite_id", sa.Integer(), nullable=False),
        sa.Column("validator_hotkey", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("claimed_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("validator_score", sa.Double(), nullable=True),
        sa.Column(
            "score_components",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("results_s3_key", sa.String(length=512), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column(
            "sandbox_metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "service_versions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("is_included", sa.Boolean(), nullable=False),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_version_id"],
            ["agent_versions.id"],
            name=op.f("fk_evaluation_runs_agent_version_id_agent_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["suite_id"], ["suites.id"], name=op.f("fk_evaluation_runs_suite_id_suites")),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_items.id"],
            name=op.f("fk_evaluation_runs_work_item_id_work_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_runs")),
    )
    with op.batch_alter_table("evaluation_runs", schema=None) as batch_op:
        batch_op.create_index("ix_evaluation_runs_status_lease", ["status", "lease_expires_at"], unique=False)
        batch_op.create_index("ix_evaluation_runs_version", ["agent_version_id"], unique=False)
        batch_op.create_index(
            "uq_evaluation_runs_one_live_per_item_validator",
            ["work_item_id", "validator_hotkey"],
            unique=True,
            postgresql_where=sa.text("status NOT IN ('STALE', 'CANCELLED')"),
            sqlite_where=sa.text("status NOT IN ('STALE', 'CANCELLED')"),
        )
        batch_op.create_index(
            "uq_evaluation_runs_one_active_per_validator",
            ["validator_hotkey"],
            unique=True,
            postgresql_where=sa.text("status IN ('CLAIMED', 'RUNNING')"),
            sqlite_where=sa.text("status IN ('CLAIMED', 'RUNNING')"),
        )

    op.create_table(
        "run_problem_results",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("problem_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column(
            "score_components_summary",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("logs_s3_key", sa.String(length=512), nullable=True),
        sa.Column("reasoning_score", sa.Double(), nullable=True),
        sa.Column("inference_failure_count", sa.Integer(), nullable=True),
        sa.Column("inference_total", sa.Integer(), nullable=True),
        sa.Column("execution_time", sa.Double(), nullable=True),
        sa.Column("updated_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["evaluation_runs.id"],
            name=op.f("fk_run_problem_results_run_id_evaluation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "problem_id", name=op.f("pk_run_problem_results")),
    )
    with op.batch_alter_table("agent_versions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agent_versions_leaderboard", ["suite_id", "state", "final_score"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_versions_leaderboard")

    op.drop_table("run_problem_results")
    with op.batch_alter_table("evaluation_runs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_evaluation_runs_one_active_per_validator",
            postgresql_where=sa.text("status IN ('CLAIMED', 'RUNNING')"),
            sqlite_where=sa.text("status IN ('CLAIMED', 'RUNNING')"),
        )
        batch_op.drop_index(
            "uq_evaluation_runs_one_live_per_item_validator",
            postgresql_where=sa.text("status NOT IN ('STALE', 'CANCELLED')"),
            sqlite_where=sa.text("status NOT IN ('STALE', 'CANCELLED')"),
        )
        batch_op.drop_index("ix_evaluation_runs_version")
        batch_op.drop_index("ix_evaluation_runs_status_lease")

    op.drop_table("evaluation_runs")
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.drop_index("ix_work_items_status_queued")

    op.drop_table("work_items")
    with op.batch_alter_table("top_history", schema=None) as batch_op:
        batch_op.drop_index("ix_top_history_suite_top_at")

    op.drop_table("top_history")
    op.drop_table("validator_states")
