"""The media library (photos and videos stored once by content hash), the media each post
shows in order, the steps of multi-step publishes, and the words of posts written directly.

Revision ID: 0006_media_library
Revises: 0005_queue_signal
Created: 2026-12-01

Column types are spelled out rather than imported from the models, so later model changes
cannot rewrite history; times are naive UTC, as ``UTCDateTime`` stores them. Posts stored
before have no ``words_json`` (NULL): they came from templates, and are read as they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_media_library"
down_revision = "0005_queue_signal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mediaitem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("kind", sa.Enum("photo", "video", name="mediakind"), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("file", sa.String(), nullable=False),
        sa.Column("thumbnail", sa.String(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("alt", sa.Text(), server_default="", nullable=False),
        sa.Column("original_name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mediaitem", schema=None) as batch_op:
        batch_op.create_index("ix_mediaitem_sha256", ["sha256"], unique=True)

    op.create_table(
        "postmedia",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["media_id"], ["mediaitem.id"]),
        sa.ForeignKeyConstraint(["post_id"], ["post.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("post_id", "position", name="uq_postmedia_post_position"),
    )
    with op.batch_alter_table("postmedia", schema=None) as batch_op:
        batch_op.create_index("ix_postmedia_media_id", ["media_id"], unique=False)
        batch_op.create_index("ix_postmedia_post_id", ["post_id"], unique=False)

    op.create_table(
        "publishstep",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["publication_id"], ["publication.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("publication_id", "step", name="uq_publishstep_publication_step"),
    )
    with op.batch_alter_table("publishstep", schema=None) as batch_op:
        batch_op.create_index("ix_publishstep_publication_id", ["publication_id"], unique=False)

    # A nullable column: no copy of the table, even in SQLite's batch mode.
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.add_column(sa.Column("words_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_column("words_json")
    with op.batch_alter_table("publishstep", schema=None) as batch_op:
        batch_op.drop_index("ix_publishstep_publication_id")
    op.drop_table("publishstep")
    with op.batch_alter_table("postmedia", schema=None) as batch_op:
        batch_op.drop_index("ix_postmedia_post_id")
        batch_op.drop_index("ix_postmedia_media_id")
    op.drop_table("postmedia")
    with op.batch_alter_table("mediaitem", schema=None) as batch_op:
        batch_op.drop_index("ix_mediaitem_sha256")
    op.drop_table("mediaitem")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TYPE IF EXISTS mediakind")
