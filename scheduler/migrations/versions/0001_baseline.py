"""The schema of Loa 0.1, as its `loa init` left it (late-added indexes included).

A database made by 0.1 has no revision stamp: this revision then finds its tables and
creates only what is missing, so a 0.1 database that never ran the command that added an
index gets it here. Types are spelled out (not imported from the models) so that later
model changes cannot rewrite history.

Revision ID: 0001_baseline
Revises:
Created: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def _existing() -> tuple[set[str], dict[str, set[str]]]:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    indexes = {table: {index["name"] for index in inspector.get_indexes(table) if index["name"]} for table in tables}
    return tables, indexes


def upgrade() -> None:
    tables, indexes = _existing()

    def _table(name: str, *columns: Any) -> None:
        if name not in tables:
            op.create_table(name, *columns)
            indexes[name] = set()

    def _index(table: str, name: str, columns: list[str], *, unique: bool) -> None:
        if name not in indexes.get(table, set()):
            op.create_index(name, table, columns, unique=unique)

    _table(
        "auditevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("object", sa.String(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("auditevent", "ix_auditevent_action", ["action"], unique=False)
    _index("auditevent", "ix_auditevent_at", ["at"], unique=False)

    _table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("theme", sa.String(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("campaign", "ix_campaign_slug", ["slug"], unique=True)

    _table(
        "channelstate",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("status", sa.Enum("ok", "needs_reauth", "paused", name="channelstatus"), nullable=False),
        sa.Column("paused_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("credentials_encrypted", sa.Text(), nullable=True),
        sa.Column("credentials_updated_at", sa.DateTime(), nullable=True),
        sa.Column("refresh_started_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _table(
        "lease",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    _table(
        "loginfailure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(), nullable=False),
        sa.Column("ip", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("loginfailure", "ix_loginfailure_at", ["at"], unique=False)
    _index("loginfailure", "ix_loginfailure_username_ip_at", ["username", "ip", "at"], unique=False)

    _table(
        "metricpause",
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id"),
    )
    _table(
        "schedulertick",
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("role"),
    )
    _table(
        "unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("unit", "ix_unit_code", ["code"], unique=True)

    _table(
        "post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("template", sa.String(), nullable=False),
        sa.Column("variables_json", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.String(), nullable=True),
        sa.Column("cover_layout", sa.String(), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("approved_by", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("post", "ix_post_campaign_id", ["campaign_id"], unique=False)
    _index("post", "ix_post_scheduled_at", ["scheduled_at"], unique=False)

    _table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("full_name", sa.String(), nullable=False),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("share_token", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("staff", "ix_staff_email", ["email"], unique=True)
    _index("staff", "ix_staff_phone", ["phone"], unique=False)
    _index("staff", "ix_staff_share_token", ["share_token"], unique=True)
    _index("staff", "ix_staff_unit_id", ["unit_id"], unique=False)

    _table(
        "publication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "pending_approval",
                "scheduled",
                "publishing",
                "published",
                "unknown",
                "failed",
                "blocked",
                "missed",
                "cancelled",
                name="publicationstatus",
            ),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("cover_file", sa.String(), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("remote_id", sa.String(), nullable=True),
        sa.Column("permalink", sa.String(), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channelstate.id"],
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["post.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("post_id", "channel_id", name="uq_publication_post_channel"),
    )
    _index("publication", "ix_publication_channel_id", ["channel_id"], unique=False)
    _index("publication", "ix_publication_post_id", ["post_id"], unique=False)
    _index("publication", "ix_publication_status_due", ["status", "due_at"], unique=False)

    _table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=True),
        sa.Column("role", sa.Enum("admin", "editor", "approver", "staff", name="role"), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("user", "ix_user_username", ["username"], unique=True)

    _table(
        "apitoken",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("apitoken", "ix_apitoken_token_hash", ["token_hash"], unique=True)
    _index("apitoken", "ix_apitoken_user_id", ["user_id"], unique=False)

    _table(
        "metricerror",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("code", sa.String(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publication.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("metricerror", "ix_metricerror_publication_at", ["publication_id", "at"], unique=False)

    _table(
        "metricsnapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=True),
        sa.Column("reach", sa.Integer(), nullable=True),
        sa.Column("reactions", sa.Integer(), nullable=True),
        sa.Column("comments", sa.Integer(), nullable=True),
        sa.Column("shares", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publication.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("metricsnapshot", "ix_metricsnapshot_publication_at", ["publication_id", "at"], unique=False)

    _table(
        "publishattempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "published",
                "unknown",
                "auth_error",
                "rate_limited",
                "transient_error",
                "permanent_error",
                "reconciled",
                "checked_absent",
                "check_failed",
                name="attemptoutcome",
            ),
            nullable=True,
        ),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publication.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("publishattempt", "ix_publishattempt_publication_id", ["publication_id"], unique=False)

    _table(
        "sharelink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publication.id"],
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("publication_id", "staff_id", name="uq_sharelink_publication_staff"),
    )
    _index("sharelink", "ix_sharelink_code", ["code"], unique=True)
    _index("sharelink", "ix_sharelink_publication_id", ["publication_id"], unique=False)
    _index("sharelink", "ix_sharelink_staff_id", ["staff_id"], unique=False)

    _table(
        "usersession",
        sa.Column("id_hash", sa.String(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("csrf_token", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("ip", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    _index("usersession", "ix_usersession_expires_at", ["expires_at"], unique=False)
    _index("usersession", "ix_usersession_user_id", ["user_id"], unique=False)

    _table(
        "click",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("share_link_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("visitor_hash", sa.String(), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("user_agent", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["share_link_id"],
            ["sharelink.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("click", "ix_click_at", ["at"], unique=False)
    _index("click", "ix_click_counted_at_link", ["counted", "at", "share_link_id"], unique=False)
    _index("click", "ix_click_link_visitor_at", ["share_link_id", "visitor_hash", "at"], unique=False)

    _table(
        "share",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("share_link_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("kind", sa.Enum("button", "self_report", name="sharekind"), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["share_link_id"],
            ["sharelink.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("share", "ix_share_at", ["at"], unique=False)
    _index("share", "ix_share_at_link_kind", ["at", "share_link_id", "kind"], unique=False)
    _index("share", "ix_share_share_link_id", ["share_link_id"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("Loa 0.1 is the oldest schema: restore a backup made before the upgrade instead")
