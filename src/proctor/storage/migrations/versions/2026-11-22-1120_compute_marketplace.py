"""compute marketplace: miners, clients, jobs, job leases (assignments), earnings ledger

Revision ID: 68f6c0cb2b9c
Revises: bdc5fe92a613
Create Date: 2026-11-22 11:20:54.326087
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))
from sqlalchemy.dialects import postgresql

import proctor.storage.base

revision = "68f6c0cb2b9c"
down_revision = "bdc5fe92a613"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compute_clients",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("api_key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_clients")),
        sa.UniqueConstraint("api_key_hash", name=op.f("uq_compute_clients_api_key_hash")),
    )
    op.create_table(
        "compute_miners",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("gpu_type", sa.String(length=64), nullable=False),
        sa.Column("gpu_count", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=True),
        sa.Column("price_per_hour_micro", sa.BigInteger(), nullable=False),
        sa.Column("max_concurrent", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("api_key_hash", sa.String(length=64), nullable=False),
        sa.Column("registered_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_heartbeat_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_miners")),
        sa.UniqueConstraint("api_key_hash", name=op.f("uq_compute_miners_api_key_hash")),
    )
    with op.batch_alter_table("compute_miners", schema=None) as batch_op:
        batch_op.create_index(
            "ix_compute_miners_status_heartbeat", ["status", "last_heartbeat_at"], unique=False
        )

    op.create_table(
        "compute_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("gpu_type", sa.String(length=64), nullable=True),
        sa.Column("gpu_count", sa.Integer(), nullable=False),
        sa.Column("estimated_time", sa.Integer(), nullable=False),
        sa.Column("price_micro", sa.BigInteger(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("assigned_miner_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result_hash", sa.String(length=200), nullable=True),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assigned_miner_id"],
            ["compute_miners.id"],
            name=op.f("fk_compute_jobs_assigned_miner_id_compute_miners"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["compute_clients.id"], name=op.f("fk_compute_jobs_client_id_compute_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_jobs")),
    )
    with op.batch_alter_table("compute_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_compute_jobs_client_created", ["client_id", "created_at"], unique=False)
        batch_op.create_index("ix_compute_jobs_state_created", ["state", "created_at"], unique=False)

    op.create_table(
        "compute_assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("miner_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("accepted_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["compute_jobs.id"], name=op.f("fk_compute_assignments_job_id_compute_jobs")
        ),
        sa.ForeignKeyConstraint(
            ["miner_id"], ["compute_miners.id"], name=op.f("fk_compute_assignments_miner_id_compute_miners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_assignments")),
        sa.UniqueConstraint("job_id", "attempt", name=op.f("uq_compute_assignments_job_id_attempt")),
    )
    with op.batch_alter_table("compute_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_compute_assignments_miner_status", ["miner_id", "status"], unique=False)
        batch_op.create_index(
            "ix_compute_assignments_status_lease", ["status", "lease_expires_at"], unique=False
        )
        batch_op.create_index(
            "uq_compute_assignments_one_running_per_job",
            ["job_id"],
            unique=True,
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        )

    op.create_table(
        "compute_earnings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("assignment_id", sa.Uuid(), nullable=False),
        sa.Column("miner_id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("amount_micro", sa.BigInteger(), nullable=False),
        sa.Column("gpu_seconds", sa.Double(), nullable=False),
        sa.Column("execution_seconds", sa.Double(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["compute_assignments.id"],
            name=op.f("fk_compute_earnings_assignment_id_compute_assignments"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["compute_clients.id"], name=op.f("fk_compute_earnings_client_id_compute_clients")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["compute_jobs.id"], name=op.f("fk_compute_earnings_job_id_compute_jobs")
        ),
        sa.ForeignKeyConstraint(
            ["miner_id"], ["compute_miners.id"], name=op.f("fk_compute_earnings_miner_id_compute_miners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_earnings")),
        sa.UniqueConstraint("assignment_id", name=op.f("uq_compute_earnings_assignment_id")),
        sa.UniqueConstraint("job_id", name=op.f("uq_compute_earnings_job_id")),
    )
    with op.batch_alter_table("compute_earnings", schema=None) as batch_op:
        batch_op.create_index("ix_compute_earnings_miner", ["miner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("compute_earnings", schema=None) as batch_op:
        batch_op.drop_index("ix_compute_earnings_miner")

    op.drop_table("compute_earnings")
    with op.batch_alter_table("compute_assignments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_compute_assignments_one_running_per_job",
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        )
        batch_op.drop_index("ix_compute_assignments_status_lease")
        batch_op.drop_index("ix_compute_assignments_miner_status")

    op.drop_table("compute_assignments")
    with op.batch_alter_table("compute_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_compute_jobs_state_created")
        batch_op.drop_index("ix_compute_jobs_client_created")

    op.drop_table("compute_jobs")
    with op.batch_alter_table("compute_miners", schema=None) as batch_op:
        batch_op.drop_index("ix_compute_miners_status_heartbeat")

    op.drop_table("compute_miners")
    op.drop_table("compute_clients")
