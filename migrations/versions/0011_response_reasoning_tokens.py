"""responses.reasoning_tokens: the output tokens a reasoning model spent thinking, when the
provider reports them apart (OpenAI Responses API ``output_tokens_details.reasoning_tokens``).
They are already inside ``output_tokens``, which is what is billed.

Self-contained: plain SQLAlchemy types only.

Revision ID: 0011
Revises: 0009 (written on 0005; re-chained onto the head main has)
Create Date: 2026-12-01 22:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("reasoning_tokens", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        batch.drop_column("reasoning_tokens")
