"""waitlist signups (ORO's POST /v1/public/waitlist)

Revision ID: 3e8d5b2a9c71
Revises: 7a1c3e5b9d24
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import proctor.storage.base

revision = "3e8d5b2a9c71"
down_revision = "7a1c3e5b9d24"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waitlist_signups",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", proctor.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_waitlist_signups")),
    )


def downgrade() -> None:
    op.drop_table("waitlist_signups")
