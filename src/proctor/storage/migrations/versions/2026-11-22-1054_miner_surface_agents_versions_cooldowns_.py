"""miner surface: agents, versions, cooldowns, submission log, credentials

Revision ID: 033af95c5c69
Revises: 63ab7b6ed2d0
Create Date: 2026-11-22 10:54:30.773593
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))
from sqlalchemy.dialects import postgresql

import proctor.storage.base

revision = "033af95c5c69"
down_revision = "63ab7b6ed2d0"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("miner_hotkey", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("miner_hotkey", "name", name=op.f("uq_agents_miner_hotkey_name")),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agents_miner_hotkey"), ["miner_hotkey"], unique=False)

    op.create_table(
        "inference_credentials",
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hotkey", "provider", name=op.f("pk_inference_credentials")),
    )
    op.create_table(
        "inference_preferences",
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("default_provider", sa.String(length=32), nullable=True),
        sa.Column("updated_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hotkey", name=op.f("pk_inference_preferences")),
    )
    op.create_table(
        "miner_cooldowns",
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("next_allowed_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_submitted_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_outcome", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("hotkey", name=op.f("pk_miner_cooldowns")),
    )
    op.create_table(
        "submission_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("agent_name", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=True),
        sa.Column("agent_version_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_events")),
    )
    with op.batch_alter_table("submission_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submission_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_submission_events_hotkey_created", ["hotkey", "created_at"], unique=False)

    op.create_table(
        "agent_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("miner_hotkey", sa.String(length=64), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("suite_id", sa.Integer(), nullable=True),
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("code_size", sa.Integer(), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("submitted_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "review_flags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("final_score", sa.Double(), nullable=True),
        sa.Column("eligible_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("code_available_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("discarded_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("discard_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_versions_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["suite_id"], ["suites.id"], name=op.f("fk_agent_versions_suite_id_suites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_versions")),
        sa.UniqueConstraint(
            "agent_id", "version_number", name=op.f("uq_agent_versions_agent_id_version_number")
        ),
        sa.UniqueConstraint("code_sha256", name=op.f("uq_agent_versions_code_sha256")),
    )
    with op.batch_alter_table("agent_versions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agent_versions_miner_submitted", ["miner_hotkey", "submitted_at"], unique=False
        )
        batch_op.create_index("ix_agent_versions_state_submitted", ["state", "submitted_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agent_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_versions_state_submitted")
        batch_op.drop_index("ix_agent_versions_miner_submitted")

    op.drop_table("agent_versions")
    with op.batch_alter_table("submission_events", schema=None) as batch_op:
        batch_op.drop_index("ix_submission_events_hotkey_created")
        batch_op.drop_index(batch_op.f("ix_submission_events_created_at"))

    op.drop_table("submission_events")
    op.drop_table("miner_cooldowns")
    op.drop_table("inference_preferences")
    op.drop_table("inference_credentials")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agents_miner_hotkey"))

    op.drop_table("agents")
