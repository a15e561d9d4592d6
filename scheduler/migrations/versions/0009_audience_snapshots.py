"""A channel's own audience per local day (followers, the Page's views and reach), stored as
snapshots like post metrics.

Revision ID: 0009_audience_snapshots
Revises: 0008_share_rollups
Created: 2026-12-01

A new table: nothing existing changes, and a database upgraded has no audience yet (the
next `loa metrics audience` or the engine's metrics job reads it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_audience_snapshots"
down_revision = "0008_share_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audiencesnapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("followers", sa.Integer(), nullable=True),
        sa.Column("views", sa.Integer(), nullable=True),
        sa.Column("reach", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audiencesnapshot_channel_day", "audiencesnapshot", ["channel_id", "day", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audiencesnapshot_channel_day", table_name="audiencesnapshot")
    op.drop_table("audiencesnapshot")
