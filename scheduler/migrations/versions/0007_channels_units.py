"""Channels kept in the database (with their unit, token health and archive mark), connect
flows between the authorisation URL and the callback, units that are renamed and merged
with their history, accounts scoped to a unit.

Revision ID: 0007_channels_units
Revises: 0006_media_library
Created: 2026-12-01

Existing channel rows (one per channel of ``config.toml``) keep their credentials and
status and are marked ``origin = 'config'``; `loa init` then fills in their names and ids
from the file. Existing units and accounts are unchanged: an account without a unit acts for
the whole office, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_channels_units"
down_revision = "0006_media_library"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connectattempt",
        sa.Column("state_hash", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("secrets_encrypted", sa.Text(), nullable=True),
        sa.Column("found_json", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name="fk_connectattempt_unit"),
        sa.PrimaryKeyConstraint("state_hash"),
    )
    op.create_table(
        "unitchange",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("old_name", sa.String(), nullable=False),
        sa.Column("new_name", sa.String(), nullable=True),
        sa.Column("into_id", sa.Integer(), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["into_id"], ["unit.id"], name="fk_unitchange_into"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name="fk_unitchange_unit"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("unitchange", schema=None) as batch_op:
        batch_op.create_index("ix_unitchange_unit_id", ["unit_id"], unique=False)

    with op.batch_alter_table("channelstate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(), nullable=False, server_default="config"))
        batch_op.add_column(sa.Column("name", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("external_id", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("mode", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("approval", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("default_cover", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("picture", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("connected_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("connected_by", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("token_checked_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("token_expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("token_problem", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("token_scopes", sa.Text(), nullable=True))
        batch_op.create_index("ix_channelstate_unit_id", ["unit_id"], unique=False)
        batch_op.create_foreign_key("fk_channelstate_unit", "unit", ["unit_id"], ["id"])

    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("merged_on", sa.Date(), nullable=True))
        batch_op.create_foreign_key("fk_unit_merged_into", "unit", ["merged_into_id"], ["id"])

    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_user_unit", "unit", ["unit_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_constraint("fk_user_unit", type_="foreignkey")
        batch_op.drop_column("unit_id")
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_constraint("fk_unit_merged_into", type_="foreignkey")
        batch_op.drop_column("merged_on")
        batch_op.drop_column("merged_into_id")
    with op.batch_alter_table("channelstate", schema=None) as batch_op:
        batch_op.drop_constraint("fk_channelstate_unit", type_="foreignkey")
        batch_op.drop_index("ix_channelstate_unit_id")
        for name in (
            "token_scopes", "token_problem", "token_expires_at", "token_checked_at", "archived_at",
            "connected_by", "connected_at", "picture", "unit_id", "default_cover", "approval", "mode",
            "external_id", "name", "origin",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("unitchange", schema=None) as batch_op:
        batch_op.drop_index("ix_unitchange_unit_id")
    op.drop_table("unitchange")
    op.drop_table("connectattempt")
