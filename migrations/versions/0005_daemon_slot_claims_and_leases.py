"""The daemon's slot claims (one row per scheduled slot: claimed once, or recorded missed) and
daemon leases (heartbeats; SQLite allows one daemon).

Self-contained: plain SQLAlchemy types only, so later changes to the package never change what
this revision does.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 09:55:47.645299
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daemon_leases",
        sa.Column("daemon_id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("daemon_id"),
    )
    op.create_table(
        "slot_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("daemon_id", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("target", "scheduled_for", name="uq_slot_claims_target_slot"),
    )
    with op.batch_alter_table("slot_claims", schema=None) as batch_op:
        batch_op.create_index("ix_slot_claims_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slot_claims", schema=None) as batch_op:
        batch_op.drop_index("ix_slot_claims_status")

    op.drop_table("slot_claims")
    op.drop_table("daemon_leases")
