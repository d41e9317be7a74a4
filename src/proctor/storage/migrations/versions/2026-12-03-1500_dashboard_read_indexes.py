"""dashboard read indexes: a version's races, and the leaderboard's change stamp

- `race_qualifiers.agent_version_id`: an agent page lists the races a version was in; the primary key
  (race_id, agent_version_id) cannot serve that lookup, so it scanned every qualifier row.
- `agent_versions (suite_id, state, eligible_at)`: the leaderboard's stamp (count and newest
  eligibility of a suite's eligible versions, read every few seconds by each process) becomes an
  index-only pass instead of a scan of the whole table.

Revision ID: 7a1c3e5b9d20
Revises: 5c2f9a7d1e38
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

from alembic import op

revision = "7a1c3e5b9d20"
down_revision = "5c2f9a7d1e38"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_race_qualifiers_version", "race_qualifiers", ["agent_version_id"])
    op.create_index(
        "ix_agent_versions_eligible_stamp", "agent_versions", ["suite_id", "state", "eligible_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_agent_versions_eligible_stamp", table_name="agent_versions")
    op.drop_index("ix_race_qualifiers_version", table_name="race_qualifiers")
