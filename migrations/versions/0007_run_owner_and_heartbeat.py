"""Runs know which process runs them and when it last showed signs of life, so a run left
``running`` by a process that died (``kill -9``, a crash, a lost machine) can be finished as
``abandoned`` by the next command that writes, instead of staying ``running`` for ever.

Self-contained: plain SQLAlchemy types only.

Revision ID: 0007
Revises: 0011 (written against 0005; re-chained after 0006, 0009 and 0011 landed on main)
Create Date: 2026-12-01 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        # "host:pid" of the process running the round
        batch_op.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("owner")
