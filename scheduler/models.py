"""SQLModel tables. Every datetime is UTC-aware in Python and stored as UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, Index, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: attach a time zone first")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _utc_column(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class PublicationStatus(StrEnum):
    pending_approval = "pending_approval"
    scheduled = "scheduled"
    publishing = "publishing"
    published = "published"
    unknown = "unknown"
    failed = "failed"
    blocked = "blocked"
    missed = "missed"
    cancelled = "cancelled"


# Statuses a publication can still leave by itself or by the engine.
OPEN_STATUSES = frozenset(
    {
        PublicationStatus.pending_approval,
        PublicationStatus.scheduled,
        PublicationStatus.publishing,
        PublicationStatus.unknown,
        PublicationStatus.blocked,
    }
)


class ChannelStatus(StrEnum):
    ok = "ok"
    needs_reauth = "needs_reauth"
    paused = "paused"


class AttemptOutcome(StrEnum):
    published = "published"
    unknown = "unknown"
    auth_error = "auth_error"
    rate_limited = "rate_limited"
    transient_error = "transient_error"
    permanent_error = "permanent_error"
    reconciled = "reconciled"
    checked_absent = "checked_absent"


class Campaign(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(index=True, unique=True)
    name: str
    theme: str = ""
    starts_on: date | None = None
    ends_on: date | None = None


class Post(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    template: str
    variables_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    link: str | None = None
    cover_layout: str | None = None
    scheduled_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = "cli"
    approved_by: str | None = None


class Publication(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("post_id", "channel_id", name="uq_publication_post_channel"),
        Index("ix_publication_status_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    channel_id: str = Field(foreign_key="channelstate.id", index=True)
    platform: str
    status: PublicationStatus = Field(default=PublicationStatus.scheduled)
    text: str = Field(sa_column=Column(Text, nullable=False))
    title: str | None = None
    description: str | None = None
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: datetime | None = _utc_column()
    next_attempt_at: datetime | None = _utc_column()
    remote_id: str | None = None
    permalink: str | None = None
    published_at: datetime | None = _utc_column()
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime | None = _utc_column()


class PublishAttempt(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    publication_id: int = Field(foreign_key="publication.id", index=True)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = _utc_column()
    outcome: AttemptOutcome | None = None
    error_code: str | None = None
    error_message: str | None = Field(default=None, sa_column=Column(Text))


class ChannelState(SQLModel, table=True):
    """What Loa learned about a configured channel at run time."""

    id: str = Field(primary_key=True)
    platform: str
    status: ChannelStatus = Field(default=ChannelStatus.ok)
    paused_until: datetime | None = _utc_column()
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_at: datetime | None = _utc_column()
    # Fernet token of a JSON object; the key never lives in the database.
    credentials_encrypted: str | None = Field(default=None, sa_column=Column(Text))
    credentials_updated_at: datetime | None = _utc_column()

    def __repr__(self) -> str:
        return f"ChannelState(id={self.id!r}, status={self.status!r})"


class SchedulerTick(SQLModel, table=True):
    """One row per process role: when the dispatcher last completed a pass."""

    role: str = Field(primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class MetricSnapshot(SQLModel, table=True):
    """What a platform reported for one publication at one moment; never updated."""

    __table_args__ = (Index("ix_metricsnapshot_publication_at", "publication_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    publication_id: int = Field(foreign_key="publication.id")
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    views: int | None = None
    reach: int | None = None
    reactions: int | None = None
    comments: int | None = None
    shares: int | None = None
