"""validator run slots, per-suite qualifying items, analytics indexes

- `evaluation_runs.slot`: a validator with `max_concurrent_runs = k` holds live runs in slots 0..k-1;
  the unique index on (validator_hotkey, slot) over live runs replaces "one live run per validator"
  (k = 1 is slot 0 only, the same guarantee as before).
- A QUALIFYING work item per version *and suite*: suite activation re-queues earlier top versions on
  the new suite beside their old item.
- Partial covering indexes for the admin analytics (validator scores, version variance, last failure).

Revision ID: 5c2f9a7d1e38
Revises: 3e8d5b2a9c71
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "5c2f9a7d1e38"
down_revision = "3e8d5b2a9c71"
branch_labels = None
depends_on = None

_LIVE = "status IN ('CLAIMED', 'RUNNING')"
_FINISHED = "status IN ('SUCCESS', 'FAILED', 'TIMED_OUT')"
_FAILED = "status IN ('FAILED', 'TIMED_OUT')"
_SUCCESS = "status = 'SUCCESS'"
_QUALIFYING = "phase = 'QUALIFYING'"


def _where(clause: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(clause), "sqlite_where": sa.text(clause)}


def upgrade() -> None:
    with op.batch_alter_table("evaluation_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slot", sa.Integer(), server_default="0", nullable=False))
    op.drop_index(
        "uq_evaluation_runs_one_active_per_validator", table_name="evaluation_runs", **_where(_LIVE)
    )
    op.create_index(
        "uq_evaluation_runs_live_validator_slot",
        "evaluation_runs",
        ["validator_hotkey", "slot"],
        unique=True,
        **_where(_LIVE),
    )
    op.create_index(
        "ix_evaluation_runs_validator_finished",
        "evaluation_runs",
        ["validator_hotkey", "status", "is_included", "validator_score", "claimed_at", "completed_at"],
        **_where(_FINISHED),
    )
    op.create_index(
        "ix_evaluation_runs_item_success",
        "evaluation_runs",
        ["work_item_id", "validator_score", "is_included"],
        **_where(_SUCCESS),
    )
    op.create_index(
        "ix_evaluation_runs_validator_failed",
        "evaluation_runs",
        ["validator_hotkey", "completed_at"],
        **_where(_FAILED),
    )
    op.drop_index("uq_work_items_qualifying", table_name="work_items", **_where(_QUALIFYING))
    op.create_index(
        "uq_work_items_qualifying",
        "work_items",
        ["agent_version_id", "suite_id"],
        unique=True,
        **_where(_QUALIFYING),
    )


def downgrade() -> None:
    op.drop_index("uq_work_items_qualifying", table_name="work_items", **_where(_QUALIFYING))
    op.create_index(
        "uq_work_items_qualifying", "work_items", ["agent_version_id"], unique=True, **_where(_QUALIFYING)
    )
    op.drop_index("ix_evaluation_runs_validator_failed", table_name="evaluation_runs", **_where(_FAILED))
    op.drop_index("ix_evaluation_runs_item_success", table_name="evaluation_runs", **_where(_SUCCESS))
    op.drop_index("ix_evaluation_runs_validator_finished", table_name="evaluation_runs", **_where(_FINISHED))
    op.drop_index("uq_evaluation_runs_live_validator_slot", table_name="evaluation_runs", **_where(_LIVE))
    op.create_index(
        "uq_evaluation_runs_one_active_per_validator",
        "evaluation_runs",
        ["validator_hotkey"],
        unique=True,
        **_where(_LIVE),
    )
    with op.batch_alter_table("evaluation_runs", schema=None) as batch_op:
        batch_op.drop_column("slot")
