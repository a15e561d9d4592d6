"""The language of an account's alert e-mails.

Revision ID: 0011_account_language
Revises: 0010_alerts_outbox
Created: 2026-12-01

One nullable column: existing accounts keep Vietnamese mail (None means the default).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_account_language"
down_revision = "0010_alerts_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lang", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("lang")
