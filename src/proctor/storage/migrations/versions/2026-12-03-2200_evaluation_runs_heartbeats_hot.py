"""evaluation runs: heartbeats become HOT updates

A heartbeat writes a run's `lease_expires_at` and `last_heartbeat_at`. With `lease_expires_at` in
`ix_evaluation_runs_status_lease`, PostgreSQL could never update the row in place (a HOT update): every
heartbeat wrote a new entry into each of the table's indexes. Now:

- the index is on `status` alone. The reaper, the one reader of `lease_expires_at`, looks only at live
  runs, which `uq_evaluation_runs_live_validator_slot` (partial: CLAIMED, RUNNING) already lists;
- the table leaves a fifth of each page free (fillfactor 80, PostgreSQL only), so the new version of a
  heartbeated row fits beside the old one.

Revision ID: 4f7a2c9e1b63
Revises: 8b2d4f6a0c31
Create Date: 2026-12-03 22:00:00
"""

from __future__ import annotations

from alembic import op

revision = "4f7a2c9e1b63"
down_revision = "8b2d4f6a0c31"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_evaluation_runs_status_lease", table_name="evaluation_runs")
    op.create_index("ix_evaluation_runs_status", "evaluation_runs", ["status"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE evaluation_runs SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE evaluation_runs RESET (fillfactor)")
    op.drop_index("ix_evaluation_runs_status", table_name="evaluation_runs")
    op.create_index("ix_evaluation_runs_status_lease", "evaluation_runs", ["status", "lease_expires_at"])
