"""foundation: suites, problems, identity, sessions

Revision ID: 63ab7b6ed2d0
Revises:
Create Date: 2026-11-22 10:16:23.566856
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import proctor.storage.base

revision = "63ab7b6ed2d0"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_auth_sessions")),
    )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_sessions_hotkey"), ["hotkey"], unique=False)

    op.create_table(
        "hotkey_bans",
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("banned_by", sa.String(length=100), nullable=False),
        sa.Column("banned_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hotkey", name=op.f("pk_hotkey_bans")),
    )
    op.create_table(
        "hotkey_grants",
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=True),
        sa.Column("validator_permit", sa.Boolean(), nullable=False),
        sa.Column("stake", sa.Double(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hotkey", name=op.f("pk_hotkey_grants")),
    )
    op.create_table(
        "suites",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("source_format", sa.String(length=20), nullable=False),
        sa.Column(
            "hidden_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("problem_count", sa.Integer(), nullable=False),
        sa.Column("created_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suites")),
        sa.UniqueConstraint("content_sha256", name=op.f("uq_suites_content_sha256")),
        sa.UniqueConstraint("version", name=op.f("uq_suites_version")),
    )
    with op.batch_alter_table("suites", schema=None) as batch_op:
        batch_op.create_index(
            "uq_suites_single_active",
            ["is_active"],
            unique=True,
            postgresql_where=sa.text("is_active"),
            sqlite_where=sa.text("is_active = 1"),
        )

    op.create_table(
        "problems",
        sa.Column("suite_id", sa.Integer(), nullable=False),
        sa.Column("problem_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["suite_id"], ["suites.id"], name=op.f("fk_problems_suite_id_suites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("suite_id", "problem_id", name=op.f("pk_problems")),
    )


def downgrade() -> None:
    op.drop_table("problems")
    with op.batch_alter_table("suites", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_suites_single_active",
            postgresql_where=sa.text("is_active"),
            sqlite_where=sa.text("is_active = 1"),
        )

    op.drop_table("suites")
    op.drop_table("hotkey_grants")
    op.drop_table("hotkey_bans")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_sessions_hotkey"))

    op.drop_table("auth_sessions")
