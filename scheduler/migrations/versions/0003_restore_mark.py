"""The restore mark: one row per backup `loa restore` put in place.

Types are spelled out (not imported from the models) so that later model changes cannot
rewrite history; times are naive UTC, as ``UTCDateTime`` stores them.

Revision ID: 0003_restore_mark
Revises: 0002_tick_instance
Created: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_restore_mark"
down_revision = "0002_tick_instance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "restore",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("set_aside", sa.Text(), nullable=True),
        sa.Column("schema_before", sa.String(), nullable=True),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("restore")
