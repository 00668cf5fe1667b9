"""Incident operations: silences, acknowledgements and the audit log of who did what.

- ``silences``: Alertmanager-style, per target (and optionally one dimension), from ``starts_at``
  to ``ends_at``; ``expired_at`` is set when someone ends one early.
- ``operator_actions``: every action (ack, silence_add, silence_expire, baseline_set,
  baseline_accept) with its actor, time and note, so the console and the CLI can say who did what and why.
- ``incidents.acked_at/acked_by/ack_note``: an acknowledged incident stops repeating until it
  changes.
- ``incident_events.silence_id``: the silence that held a notification back (no foreign key:
  an event outlives nothing, and SQLite cannot add one without rebuilding the table).

Self-contained: plain SQLAlchemy types only.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-01 22:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("dimension", sa.String(length=20), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_silences_target_ends", "silences", ["target", "ends_at"])
    op.create_table(
        "operator_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("silence_id", sa.Integer(), nullable=True),
        sa.Column("baseline_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["silence_id"], ["silences.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["baseline_id"], ["baselines.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_operator_actions_incident", "operator_actions", ["incident_id"])
    op.create_index("ix_operator_actions_silence", "operator_actions", ["silence_id"])
    op.create_index("ix_operator_actions_target", "operator_actions", ["target", "id"])
    op.add_column("incidents", sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("incidents", sa.Column("acked_by", sa.String(length=100), nullable=True))
    op.add_column("incidents", sa.Column("ack_note", sa.Text(), nullable=True))
    op.add_column("incident_events", sa.Column("silence_id", sa.Integer(), nullable=True))
    op.create_index("ix_incident_events_silence_id", "incident_events", ["silence_id"])


def downgrade() -> None:
    op.drop_index("ix_incident_events_silence_id", table_name="incident_events")
    with op.batch_alter_table("incident_events") as batch:
        batch.drop_column("silence_id")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("ack_note")
        batch.drop_column("acked_by")
        batch.drop_column("acked_at")
    op.drop_index("ix_operator_actions_target", table_name="operator_actions")
    op.drop_index("ix_operator_actions_silence", table_name="operator_actions")
    op.drop_index("ix_operator_actions_incident", table_name="operator_actions")
    op.drop_table("operator_actions")
    op.drop_index("ix_silences_target_ends", table_name="silences")
    op.drop_table("silences")
