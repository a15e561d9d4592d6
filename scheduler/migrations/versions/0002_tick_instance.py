"""Scheduler ticks per process: one row per (role, instance), with its host and pid.

Every process wrote the one ``dispatcher`` row, so a `loa publish-due` from cron made a
dead `loa run` look alive. The row a database already has is kept as role ``dispatcher``,
instance ``""`` (nobody reads it any more; it ages out with the other old rows).

Revision ID: 0002_tick_instance
Revises: 0001_baseline
Created: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_tick_instance"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def _table(key: tuple[str, ...]) -> sa.Table:
    return sa.Table(
        "schedulertick",
        sa.MetaData(),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("instance", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(*key),
    )


def upgrade() -> None:
    op.add_column("schedulertick", sa.Column("instance", sa.String(), nullable=True))
    op.add_column("schedulertick", sa.Column("host", sa.String(), nullable=True))
    op.add_column("schedulertick", sa.Column("pid", sa.Integer(), nullable=True))
    op.execute("UPDATE schedulertick SET instance = '' WHERE instance IS NULL")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot change a primary key in place: batch mode copies the table into
        # the new shape, given whole.
        with op.batch_alter_table("schedulertick", recreate="always", copy_from=_table(("role", "instance"))):
            pass
        return
    op.alter_column("schedulertick", "instance", existing_type=sa.String(), nullable=False)
    op.drop_constraint("schedulertick_pkey", "schedulertick", type_="primary")
    op.create_primary_key("schedulertick_pkey", "schedulertick", ["role", "instance"])


def downgrade() -> None:
    op.execute("DELETE FROM schedulertick WHERE instance <> ''")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("schedulertick", recreate="always", copy_from=_table(("role",))) as batch:
            batch.drop_column("pid")
            batch.drop_column("host")
            batch.drop_column("instance")
        return
    op.drop_constraint("schedulertick_pkey", "schedulertick", type_="primary")
    op.drop_column("schedulertick", "pid")
    op.drop_column("schedulertick", "host")
    op.drop_column("schedulertick", "instance")
    op.create_primary_key("schedulertick_pkey", "schedulertick", ["role"])
