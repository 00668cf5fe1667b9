"""Response features: one row per successful response, tagged with the feature-set version.

When the feature code changes its version, `drift-monitor features recompute` rewrites the rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 08:58:42.597481
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "response_features",
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("feature_set_version", sa.String(length=20), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["response_id"], ["responses.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("response_id"),
    )
    with op.batch_alter_table("response_features", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_response_features_feature_set_version"),
            ["feature_set_version"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("response_features", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_response_features_feature_set_version"))

    op.drop_table("response_features")
