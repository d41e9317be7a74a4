"""merge the compute-marketplace and reward-epoch branches

Both were written in parallel from the evaluation-lifecycle revision; this revision joins them so the
history has one head again.

Revision ID: 4c2e9a7d1b35
Revises: 68f6c0cb2b9c, 8db069260858
Create Date: 2026-11-22 12:15:00
"""

from __future__ import annotations

revision = "4c2e9a7d1b35"
down_revision = ("68f6c0cb2b9c", "8db069260858")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: this revision only joins two branches."""


def downgrade() -> None:
    """Nothing to change: this revision only joins two branches."""
