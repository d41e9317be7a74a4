"""compute: AITBC's real-miner protocol (capabilities on miners, constraints on jobs)

Revision ID: 7a1c3e5b9d24
Revises: 7a3f1c2e9b80
Create Date: 2026-12-03 08:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "7a1c3e5b9d24"
down_revision = "7a3f1c2e9b80"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("compute_miners") as batch:
        batch.add_column(sa.Column("memory_mb", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("models", sa.Text(), nullable=True))
        batch.add_column(sa.Column("capabilities", _json(), nullable=True))
    with op.batch_alter_table("compute_jobs") as batch:
        batch.add_column(sa.Column("constraints", _json(), nullable=True))
        batch.add_column(sa.Column("region", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("min_vram_mb", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_price_micro", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("model_pattern", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compute_jobs") as batch:
        for name in ("model_pattern", "max_price_micro", "min_vram_mb", "region", "constraints"):
            batch.drop_column(name)
    with op.batch_alter_table("compute_miners") as batch:
        for name in ("capabilities", "models", "memory_mb"):
            batch.drop_column(name)
