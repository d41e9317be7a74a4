"""admin analytics: validator-scores indexes in duration and score order, covering failures

`GET /v1/admin/analytics/validator-scores` now reads a validator's included successes in one ordered
pass over `ix_evaluation_runs_validator_seconds` (on the duration expression, each dialect's own: the
`run_seconds` the query writes), its score median's middle values from
`ix_evaluation_runs_validator_scores`, and its failures from `ix_evaluation_runs_validator_failed`, now
covering (status, is_included, suite_id). They replace `ix_evaluation_runs_validator_finished`, which
only that query read. Each holds its predicate's columns too: SQLite reads an index as covering only if
it holds every column the query names.

Revision ID: 8b2d4f6a0c31
Revises: 7a1c3e5b9d20
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "8b2d4f6a0c31"
down_revision = "7a1c3e5b9d20"
branch_labels = None
depends_on = None

_FINISHED = "status IN ('SUCCESS', 'FAILED', 'TIMED_OUT')"
_FAILED = "status IN ('FAILED', 'TIMED_OUT')"
_SCORED = {
    "postgresql": "status = 'SUCCESS' AND is_included",
    "sqlite": "status = 'SUCCESS' AND is_included = 1",
}
# `run_seconds(completed_at, claimed_at)` of proctor.models.evaluations, per dialect.
_SECONDS = {
    "postgresql": "date_part('epoch', completed_at - claimed_at)",
    "sqlite": "((julianday(completed_at) - julianday(claimed_at)) * 86400.0)",
}


def _where(clause: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(clause), "sqlite_where": sa.text(clause)}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    scored: dict[str, Any] = {f"{dialect}_where": sa.text(_SCORED[dialect])}
    op.drop_index("ix_evaluation_runs_validator_finished", table_name="evaluation_runs", **_where(_FINISHED))
    op.drop_index("ix_evaluation_runs_validator_failed", table_name="evaluation_runs", **_where(_FAILED))
    op.create_index(
        "ix_evaluation_runs_validator_seconds",
        "evaluation_runs",
        [
            "validator_hotkey",
            sa.text(_SECONDS[dialect]),
            "validator_score",
            "claimed_at",
            "completed_at",
            "suite_id",
            "status",
            "is_included",
        ],
        **scored,
    )
    op.create_index(
        "ix_evaluation_runs_validator_scores",
        "evaluation_runs",
        ["validator_hotkey", "validator_score", "completed_at", "suite_id", "status", "is_included"],
        **scored,
    )
    op.create_index(
        "ix_evaluation_runs_validator_failed",
        "evaluation_runs",
        ["validator_hotkey", "completed_at", "status", "is_included", "suite_id"],
        **_where(_FAILED),
    )


def downgrade() -> None:
    op.drop_index("ix_evaluation_runs_validator_failed", table_name="evaluation_runs", **_where(_FAILED))
    op.drop_index("ix_evaluation_runs_validator_scores", table_name="evaluation_runs")
    op.drop_index("ix_evaluation_runs_validator_seconds", table_name="evaluation_runs")
    op.create_index(
        "ix_evaluation_runs_validator_failed",
        "evaluation_runs",
        ["validator_hotkey", "completed_at"],
        **_where(_FAILED),
    )
    op.create_index(
        "ix_evaluation_runs_validator_finished",
        "evaluation_runs",
        ["validator_hotkey", "status", "is_included", "validator_score", "claimed_at", "completed_at"],
        **_where(_FINISHED),
    )
