"""A keyed hash of each click's address, for the per-address bound of counted clicks; the
recorder's lookups read counted clicks only.

Revision ID: 0004_click_address
Revises: 0003_restore_mark
Created: 2026-12-01

Clicks stored before have no address hash (NULL): recount leaves the per-address bound out
for them, so they count as they did. The (link, visitor, at) index gains ``counted`` before
``at``: the dedupe lookup read every repeat of a visitor in the window (50,000 repeats of one
script made each batch ~25 ms); now it reads the counted ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_click_address"
down_revision = "0003_restore_mark"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding a nullable column needs no copy of the table, even in SQLite's batch mode.
    with op.batch_alter_table("click", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address_hash", sa.String(), nullable=True))
        batch_op.create_index(
            "ix_click_link_address_at", ["share_link_id", "address_hash", "counted", "at"], unique=False
        )
        batch_op.drop_index("ix_click_link_visitor_at")
        batch_op.create_index(
            "ix_click_link_visitor_at", ["share_link_id", "visitor_hash", "counted", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("click", schema=None) as batch_op:
        batch_op.drop_index("ix_click_link_visitor_at")
        batch_op.create_index("ix_click_link_visitor_at", ["share_link_id", "visitor_hash", "at"], unique=False)
        batch_op.drop_index("ix_click_link_address_at")
        batch_op.drop_column("address_hash")
