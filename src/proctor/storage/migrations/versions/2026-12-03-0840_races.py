"""races: races, qualifiers, selections, the hidden race problem bank, eliminations; race work items

Revision ID: 7a3f1c2e9b80
Revises: b7d3e1f0a2c4
Create Date: 2026-12-03 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import proctor.storage.base

revision = "7a3f1c2e9b80"
down_revision = "b7d3e1f0a2c4"
branch_labels = None
depends_on = None

_OPEN = "status IN ('QUALIFYING_OPEN', 'RACE_RUNNING')"


def _dt() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return proctor.storage.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "races",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("suite_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", _dt(), nullable=False),
        sa.Column("qualifying_closes_at", _dt(), nullable=True),
        sa.Column("race_started_at", _dt(), nullable=True),
        sa.Column("race_deadline_at", _dt(), nullable=True),
        sa.Column("race_completed_at", _dt(), nullable=True),
        sa.Column("cancelled_at", _dt(), nullable=True),
        sa.Column("qualifying_threshold", sa.Double(), nullable=True),
        sa.Column("winner_agent_version_id", sa.Uuid(), nullable=True),
        sa.Column("winner_score", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["suite_id"], ["suites.id"], name=op.f("fk_races_suite_id_suites")),
        sa.ForeignKeyConstraint(
            ["winner_agent_version_id"],
            ["agent_versions.id"],
            name=op.f("fk_races_winner_agent_version_id_agent_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_races")),
        sa.UniqueConstraint("suite_id", "number", name=op.f("uq_races_suite_id_number")),
    )
    with op.batch_alter_table("races", schema=None) as batch_op:
        batch_op.create_index("ix_races_status_created", ["status", "created_at"], unique=False)
        batch_op.create_index(
            "uq_races_one_open_per_suite",
            ["suite_id"],
            unique=True,
            postgresql_where=sa.text(_OPEN),
            sqlite_where=sa.text(_OPEN),
        )
    op.create_table(
        "race_qualifiers",
        sa.Column("race_id", sa.Uuid(), nullable=False),
        sa.Column("agent_version_id", sa.Uuid(), nullable=False),
        sa.Column("miner_hotkey", sa.String(length=64), nullable=False),
        sa.Column("qualification_type", sa.String(length=20), nullable=False),
        sa.Column("qualifying_score", sa.Double(), nullable=True),
        sa.Column("work_item_id", sa.Uuid(), nullable=True),
        sa.Column("race_score", sa.Double(), nullable=True),
        sa.Column("race_rank", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_version_id"],
            ["agent_versions.id"],
            name=op.f("fk_race_qualifiers_agent_version_id_agent_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["race_id"], ["races.id"], name=op.f("fk_race_qualifiers_race_id_races"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("race_id", "agent_version_id", name=op.f("pk_race_qualifiers")),
        sa.UniqueConstraint("race_id", "miner_hotkey", name=op.f("uq_race_qualifiers_race_id_miner_hotkey")),
    )
    op.create_table(
        "race_selections",
        sa.Column("miner_hotkey", sa.String(length=64), nullable=False),
        sa.Column("agent_version_id", sa.Uuid(), nullable=False),
        sa.Column("selected_at", _dt(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_version_id"],
            ["agent_versions.id"],
            name=op.f("fk_race_selections_agent_version_id_agent_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("miner_hotkey", name=op.f("pk_race_selections")),
    )
    op.create_table(
        "race_problems",
        sa.Column("suite_id", sa.Integer(), nullable=False),
        sa.Column("problem_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["suite_id"], ["suites.id"], name=op.f("fk_race_problems_suite_id_suites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("suite_id", "problem_id", name=op.f("pk_race_problems")),
    )
    op.create_table(
        "race_eliminations",
        sa.Column("agent_version_id", sa.Uuid(), nullable=False),
        sa.Column("race_id", sa.Uuid(), nullable=False),
        sa.Column("race_number", sa.Integer(), nullable=False),
        sa.Column("eliminated_at", _dt(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_version_id"],
            ["agent_versions.id"],
            name=op.f("fk_race_eliminations_agent_version_id_agent_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["race_id"], ["races.id"], name=op.f("fk_race_eliminations_race_id_races"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("agent_version_id", name=op.f("pk_race_eliminations")),
    )
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("race_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_work_items_race_id_races"), "races", ["race_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.drop_constraint("uq_work_items_agent_version_id_phase", type_="unique")
        batch_op.create_index(
            "uq_work_items_qualifying",
            ["agent_version_id"],
            unique=True,
            postgresql_where=sa.text("phase = 'QUALIFYING'"),
            sqlite_where=sa.text("phase = 'QUALIFYING'"),
        )
        batch_op.create_index(
            "uq_work_items_race",
            ["agent_version_id", "race_id"],
            unique=True,
            postgresql_where=sa.text("phase = 'RACE'"),
            sqlite_where=sa.text("phase = 'RACE'"),
        )
    with op.batch_alter_table("evaluation_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("race_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evaluation_runs", schema=None) as batch_op:
        batch_op.drop_column("race_id")
    op.execute("DELETE FROM work_items WHERE phase = 'RACE'")
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.drop_index("uq_work_items_race")
        batch_op.drop_index("uq_work_items_qualifying")
        batch_op.create_unique_constraint(
            "uq_work_items_agent_version_id_phase", ["agent_version_id", "phase"]
        )
        batch_op.drop_constraint("fk_work_items_race_id_races", type_="foreignkey")
        batch_op.drop_column("race_id")
    op.drop_table("race_eliminations")
    op.drop_table("race_problems")
    op.drop_table("race_selections")
    op.drop_table("race_qualifiers")
    with op.batch_alter_table("races", schema=None) as batch_op:
        batch_op.drop_index("uq_races_one_open_per_suite")
        batch_op.drop_index("ix_races_status_created")
    op.drop_table("races")
