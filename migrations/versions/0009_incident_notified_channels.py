"""The channels that got an incident's alerts, so its resolution goes to the same ones even
after the routes change (a PagerDuty incident is resolved where it was triggered).

Self-contained: plain SQLAlchemy types only, so later changes to the package never change what
this revision does.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-01 22:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for incidents announced before routes existed: their resolutions route afresh
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("notified_channels", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("notified_channels")
