"""Checks and findings: every comparison of a window with a baseline, and what it found.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 08:58:52.111161
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("baseline_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("drift", sa.Boolean(), nullable=False),
        sa.Column("window_run_ids", sa.JSON(), nullable=False),
        sa.Column("baseline_run_ids", sa.JSON(), nullable=False),
        sa.Column("baseline_responses", sa.Integer(), nullable=False),
        sa.Column("window_responses", sa.Integer(), nullable=False),
        sa.Column("confirmation_run_id", sa.Integer(), nullable=True),
        sa.Column("model_string_changed", sa.Boolean(), nullable=False),
        sa.Column("tests_run", sa.Integer(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["baseline_id"],
            ["baselines.id"],
        ),
        sa.ForeignKeyConstraint(
            ["confirmation_run_id"],
            ["runs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["targets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.create_index("ix_checks_target_created", ["target_id", "created_at"], unique=False)

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("probe", sa.String(length=200), nullable=True),
        sa.Column("suite", sa.String(length=200), nullable=True),
        sa.Column("baseline_value", sa.JSON(), nullable=False),
        sa.Column("current_value", sa.JSON(), nullable=False),
        sa.Column("effect", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("q_value", sa.Float(), nullable=True),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=False),
        sa.Column("direction", sa.Integer(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("confirmed_by", sa.String(length=30), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["targets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index("ix_findings_target_check", ["target_id", "check_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_target_check")

    op.drop_table("findings")
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.drop_index("ix_checks_target_created")

    op.drop_table("checks")
