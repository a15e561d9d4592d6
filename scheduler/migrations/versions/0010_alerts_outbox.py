"""The alerts outbox: alerts, the messages they fan out to (e-mail, webhook, console notice)
with their attachments, each user's alert choices, an e-mail address on accounts; and the
campaign kit's "Tôi đã cập nhật" per staff member; the installation's own secrets (the Web
Push VAPID key, encrypted) and the staff's push subscriptions.

Revision ID: 0010_alerts_outbox
Revises: 0009_audience_snapshots
Created: 2026-12-01

Only new tables and one nullable column: existing rows are untouched, accounts start
without an address of their own (a staff account's alerts go to its staff member's).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_alerts_outbox"
down_revision = "0009_audience_snapshots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("key", sa.String(), nullable=True),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.Column("fanned_out_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index("ix_alert_at", ["at"], unique=False)
        batch_op.create_index("ix_alert_event", ["event"], unique=False)
        batch_op.create_index("ix_alert_fanned_out_at", ["fanned_out_at"], unique=False)

    op.create_table(
        "alertpreference",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("console", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("user_id", "event"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body_text", sa.Text(), nullable=True),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("status", sa.Enum("pending", "sending", "sent", name="outboxstatus"), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_alert_id", ["alert_id"], unique=False)
        batch_op.create_index("ix_outbox_status_next", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_outbox_user_id", ["user_id"], unique=False)

    op.create_table(
        "outboxattachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outboxattachment", schema=None) as batch_op:
        batch_op.create_index("ix_outboxattachment_outbox_id", ["outbox_id"], unique=False)

    op.create_table(
        "campaignupdate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("staff_id", "campaign_id", "kind", name="uq_campaignupdate_staff_kind"),
    )
    with op.batch_alter_table("campaignupdate", schema=None) as batch_op:
        batch_op.create_index("ix_campaignupdate_campaign_id", ["campaign_id"], unique=False)
        batch_op.create_index("ix_campaignupdate_staff_id", ["staff_id"], unique=False)

    op.create_table(
        "appsecret",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value_encrypted", sa.Text(), nullable=False),
        sa.Column("public", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "pushsubscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("p256dh", sa.String(), nullable=False),
        sa.Column("auth", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint"),
    )
    with op.batch_alter_table("pushsubscription", schema=None) as batch_op:
        batch_op.create_index("ix_pushsubscription_staff_id", ["staff_id"], unique=False)

    # A nullable column: no copy of the table, even in SQLite's batch mode.
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("email")
    op.drop_table("pushsubscription")
    op.drop_table("appsecret")
    op.drop_table("campaignupdate")
    op.drop_table("outboxattachment")
    op.drop_table("outbox")
    op.drop_table("alertpreference")
    op.drop_table("alert")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TYPE IF EXISTS outboxstatus")
