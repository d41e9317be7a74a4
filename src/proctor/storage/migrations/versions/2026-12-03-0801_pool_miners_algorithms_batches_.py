"""BitSOTA Pool: miners, algorithms, batches and their leases (assignments), evaluations, closed windows
and their points (issue 13)

Revision ID: b7d3e1f0a2c4
Revises: fa1fb29f6570
Create Date: 2026-12-03 08:01:54.611911
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))
from sqlalchemy.dialects import postgresql

import proctor.storage.base

revision = "b7d3e1f0a2c4"
down_revision = "fa1fb29f6570"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pool_algorithms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dsl_hash", sa.String(length=64), nullable=False),
        sa.Column("algorithm_dsl", sa.Text(), nullable=False),
        sa.Column("task_type", sa.String(length=64), nullable=False),
        sa.Column("input_dim", sa.Integer(), nullable=False),
        sa.Column(
            "parent_ids",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("submitter_hotkey", sa.String(length=64), nullable=True),
        sa.Column("is_seed", sa.Boolean(), nullable=False),
        sa.Column("created_window", sa.Integer(), nullable=True),
        sa.Column("eval_pending", sa.Integer(), nullable=False),
        sa.Column("eval_count", sa.Integer(), nullable=False),
        sa.Column("consensus_score", sa.Double(), nullable=True),
        sa.Column("consensus_window", sa.Integer(), nullable=True),
        sa.Column("verified_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_algorithms")),
        sa.UniqueConstraint("dsl_hash", name=op.f("uq_pool_algorithms_dsl_hash")),
    )
    with op.batch_alter_table("pool_algorithms", schema=None) as batch_op:
        batch_op.create_index("ix_pool_algorithms_open", ["consensus_window", "is_seed", "id"], unique=False)
        batch_op.create_index("ix_pool_algorithms_task_score", ["task_type", "consensus_score"], unique=False)

    op.create_table(
        "pool_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("task_type", sa.String(length=64), nullable=False),
        sa.Column(
            "evaluate_ids",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "seed_ids",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("evolve_budget", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("active_count", sa.Integer(), nullable=False),
        sa.Column("created_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_batches")),
    )
    with op.batch_alter_table("pool_batches", schema=None) as batch_op:
        batch_op.create_index("ix_pool_batches_status_id", ["status", "id"], unique=False)

    op.create_table(
        "pool_miners",
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("registered_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reputation", sa.Double(), nullable=False),
        sa.Column("leases_completed", sa.Integer(), nullable=False),
        sa.Column("evaluations_submitted", sa.Integer(), nullable=False),
        sa.Column("evolutions_submitted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hotkey", name=op.f("pk_pool_miners")),
    )
    op.create_table(
        "pool_windows",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("closed_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("algorithms_settled", sa.Integer(), nullable=False),
        sa.Column("algorithms_scored", sa.Integer(), nullable=False),
        sa.Column("sota_before", sa.Double(), nullable=True),
        sa.Column("total_points", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_pool_windows")),
    )
    op.create_table(
        "pool_assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("miner_hotkey", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("window_number", sa.Integer(), nullable=False),
        sa.Column("lease_window", sa.Integer(), nullable=True),
        sa.Column("claimed_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("iterations", sa.Integer(), nullable=True),
        sa.Column("evaluations_n", sa.Integer(), nullable=True),
        sa.Column("evolutions_n", sa.Integer(), nullable=True),
        sa.Column("repeats_n", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["pool_batches.id"], name=op.f("fk_pool_assignments_batch_id_pool_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_assignments")),
        sa.UniqueConstraint(
            "miner_hotkey", "lease_window", name=op.f("uq_pool_assignments_miner_hotkey_lease_window")
        ),
    )
    with op.batch_alter_table("pool_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_pool_assignments_miner_status", ["miner_hotkey", "status"], unique=False)
        batch_op.create_index(
            "ix_pool_assignments_status_lease", ["status", "lease_expires_at"], unique=False
        )
        batch_op.create_index("ix_pool_assignments_window", ["window_number"], unique=False)

    op.create_table(
        "pool_window_points",
        sa.Column("window_number", sa.Integer(), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("agreements", sa.Integer(), nullable=False),
        sa.Column("disagreements", sa.Integer(), nullable=False),
        sa.Column("evaluations", sa.Integer(), nullable=False),
        sa.Column("evolutions", sa.Integer(), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("evaluator_points", sa.Double(), nullable=False),
        sa.Column("evolver_points", sa.Double(), nullable=False),
        sa.Column("penalty_points", sa.Double(), nullable=False),
        sa.Column("in_consensus", sa.Boolean(), nullable=False),
        sa.Column("points", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["window_number"],
            ["pool_windows.number"],
            name=op.f("fk_pool_window_points_window_number_pool_windows"),
        ),
        sa.PrimaryKeyConstraint("window_number", "hotkey", name=op.f("pk_pool_window_points")),
    )
    op.create_table(
        "pool_evaluations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("algorithm_id", sa.Integer(), nullable=False),
        sa.Column("miner_hotkey", sa.String(length=64), nullable=False),
        sa.Column("assignment_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("window_number", sa.Integer(), nullable=False),
        sa.Column("created_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["algorithm_id"],
            ["pool_algorithms.id"],
            name=op.f("fk_pool_evaluations_algorithm_id_pool_algorithms"),
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["pool_assignments.id"],
            name=op.f("fk_pool_evaluations_assignment_id_pool_assignments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_evaluations")),
        sa.UniqueConstraint(
            "algorithm_id", "miner_hotkey", name=op.f("uq_pool_evaluations_algorithm_id_miner_hotkey")
        ),
    )
    with op.batch_alter_table("pool_evaluations", schema=None) as batch_op:
        batch_op.create_index("ix_pool_evaluations_window", ["window_number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pool_evaluations", schema=None) as batch_op:
        batch_op.drop_index("ix_pool_evaluations_window")

    op.drop_table("pool_evaluations")
    op.drop_table("pool_window_points")
    with op.batch_alter_table("pool_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_pool_assignments_window")
        batch_op.drop_index("ix_pool_assignments_status_lease")
        batch_op.drop_index("ix_pool_assignments_miner_status")

    op.drop_table("pool_assignments")
    op.drop_table("pool_windows")
    op.drop_table("pool_miners")
    with op.batch_alter_table("pool_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_pool_batches_status_id")

    op.drop_table("pool_batches")
    with op.batch_alter_table("pool_algorithms", schema=None) as batch_op:
        batch_op.drop_index("ix_pool_algorithms_task_score")
        batch_op.drop_index("ix_pool_algorithms_open")

    op.drop_table("pool_algorithms")
