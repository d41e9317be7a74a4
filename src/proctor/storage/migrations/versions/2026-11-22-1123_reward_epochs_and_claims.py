"""reward epochs and claims

Revision ID: 8db069260858
Revises: bdc5fe92a613
Create Date: 2026-11-22 11:23:46.191296
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import proctor.storage.base

revision = "8db069260858"
down_revision = "bdc5fe92a613"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recipient_coldkey_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("recipient_coldkey", sa.String(length=64), nullable=False),
        sa.Column("previous_recipient_coldkey", sa.String(length=64), nullable=True),
        sa.Column("signed_at", sa.BigInteger(), nullable=True),
        sa.Column("changed_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipient_coldkey_changes")),
    )
    with op.batch_alter_table("recipient_coldkey_changes", schema=None) as batch_op:
        batch_op.create_index("ix_recipient_coldkey_changes_hotkey_id", ["hotkey", "id"], unique=False)

    op.create_table(
        "recipient_coldkeys",
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("recipient_coldkey", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hotkey", name=op.f("pk_recipient_coldkeys")),
    )
    op.create_table(
        "reward_epochs",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("leaf_count", sa.Integer(), nullable=False),
        sa.Column("total_units", sa.BigInteger(), nullable=False),
        sa.Column("budget_units", sa.BigInteger(), nullable=False),
        sa.Column("allocated_units", sa.BigInteger(), nullable=False),
        sa.Column("leaf_encoding", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("published_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("nodes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_reward_epochs")),
    )
    op.create_table(
        "reward_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch_number", sa.BigInteger(), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("recipient_coldkey", sa.String(length=64), nullable=False),
        sa.Column("amount_units", sa.BigInteger(), nullable=False),
        sa.Column("claimed_before_units", sa.BigInteger(), nullable=False),
        sa.Column("paid_units", sa.BigInteger(), nullable=False),
        sa.Column("claimed_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["epoch_number"],
            ["reward_epochs.number"],
            name=op.f("fk_reward_claims_epoch_number_reward_epochs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_claims")),
        sa.UniqueConstraint("epoch_number", "hotkey", name=op.f("uq_reward_claims_epoch_number_hotkey")),
        sa.UniqueConstraint(
            "hotkey", "claimed_before_units", name=op.f("uq_reward_claims_hotkey_claimed_before_units")
        ),
    )
    op.create_table(
        "reward_leaves",
        sa.Column("epoch_number", sa.BigInteger(), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("recipient_coldkey", sa.String(length=64), nullable=False),
        sa.Column("amount_units", sa.BigInteger(), nullable=False),
        sa.Column("tree_index", sa.Integer(), nullable=False),
        sa.Column("hotkey_pubkey", sa.LargeBinary(length=32), nullable=False),
        sa.Column("recipient_pubkey", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["epoch_number"],
            ["reward_epochs.number"],
            name=op.f("fk_reward_leaves_epoch_number_reward_epochs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("epoch_number", "hotkey", name=op.f("pk_reward_leaves")),
        sa.UniqueConstraint(
            "epoch_number", "leaf_index", name=op.f("uq_reward_leaves_epoch_number_leaf_index")
        ),
    )


def downgrade() -> None:
    op.drop_table("reward_leaves")
    op.drop_table("reward_claims")
    op.drop_table("reward_epochs")
    op.drop_table("recipient_coldkeys")
    with op.batch_alter_table("recipient_coldkey_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_recipient_coldkey_changes_hotkey_id")

    op.drop_table("recipient_coldkey_changes")
