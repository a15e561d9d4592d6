"""SQLModel tables. Every datetime is UTC-aware in Python and stored as UTC."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from sqlalchemy import Column, DateTime, Index, LargeBinary, String, Text, TypeDecorator, UniqueConstraint
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


_NOT_ASCII = re.compile(r"[^\x00-\x7f]+")


def _percent(match: re.Match[str]) -> str:
    # surrogatepass: a lone surrogate (a broken reply) still becomes bytes, never an exception.
    return quote(match.group().encode("utf-8", "surrogatepass"), safe="")


def ascii_url(url: str) -> str:
    """The same address in ASCII: an internationalised host in IDNA, every other non-ASCII
    character percent-encoded as UTF-8 (``…/bài-viết`` → ``…/b%C3%A0i-vi%E1%BA%BFt``), as a
    browser would send it. ASCII is returned as it is; so is anything that will not convert,
    for the reader (:func:`scheduler.sharing.service.safe_destination`) to refuse."""
    if url.isascii():
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _NOT_ASCII.sub(_percent, url)
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    if not hostport.isascii():
        host, colon, port = hostport.partition(":")
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return url
        hostport = host + colon + port
    return scheme + sep + _NOT_ASCII.sub(_percent, userinfo) + at + hostport + _NOT_ASCII.sub(_percent, tail)


class AsciiURL(TypeDecorator[str]):
    """An address stored and read as ASCII (:func:`ascii_url`): a permalink with Vietnamese
    in its path goes into a ``Location`` header as it is, and rows stored before this type
    are converted as they are read."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else ascii_url(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else ascii_url(value)


def _utc_column(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class PublicationStatus(StrEnum):
    draft = "draft"  # saved or sent back; not queued
    pending_approval = "pending_approval"
    scheduled = "scheduled"
    publishing = "publishing"
    published = "published"
    unknown = "unknown"
    failed = "failed"
    blocked = "blocked"
    missed = "missed"
    cancelled = "cancelled"


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
    check_failed = "check_failed"  # the reconciler could not look at the platform


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
    # What the person wrote, as they wrote it (JSON: text, title, description, per-platform
    # overrides); None for a post from a template without overrides, and for older rows.
    words_json: str | None = Field(default=None, sa_column=Column(Text))


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
    cover_file: str | None = None  # a file in media_dir, rendered when the post was queued
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: datetime | None = _utc_column()
    next_attempt_at: datetime | None = _utc_column()
    remote_id: str | None = None
    permalink: str | None = Field(default=None, sa_column=Column(AsciiURL()))
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
    # Set just before a single-use refresh token is sent, cleared when the new pair is saved.
    refresh_started_at: datetime | None = _utc_column()
    # -- the channel itself, kept in the database (imported from config.toml on `loa init`,
    # or added by connecting an account); NULL on rows written before channels were kept here.
    origin: str = "config"  # config | connected
    name: str | None = None
    external_id: str | None = None  # the Page id / OA id
    mode: str | None = None  # sandbox | live
    approval: bool = False
    default_cover: str | None = None
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    picture: str | None = Field(default=None, sa_column=Column(Text))
    connected_at: datetime | None = _utc_column()
    connected_by: str | None = None
    archived_at: datetime | None = _utc_column()  # kept with its history, no longer offered
    # -- token health (the daily check and the pre-flight before a post)
    token_checked_at: datetime | None = _utc_column()
    token_expires_at: datetime | None = _utc_column()  # whichever of the platform's limits comes first
    token_problem: str | None = Field(default=None, sa_column=Column(Text))  # a stored reason, or None when well
    token_scopes: str | None = Field(default=None, sa_column=Column(Text))  # comma-separated, as granted

    def __repr__(self) -> str:
        return f"ChannelState(id={self.id!r}, status={self.status!r})"


class ConnectAttempt(SQLModel, table=True):
    """One "connect an account" flow between the authorisation URL and the channels it adds.

    Only a digest of ``state`` is kept, so a copy of the database cannot complete a flow; what
    must stay secret in between (the PKCE verifier, the user token and the Page tokens) is
    Fernet-encrypted like every other credential.
    """

    state_hash: str = Field(primary_key=True)
    platform: str
    actor: str
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    channel_id: str | None = None  # reconnecting this channel
    redirect_uri: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = _utc_column()  # the callback arrived (a second one is a replay)
    finished_at: datetime | None = _utc_column()  # channels added
    secrets_encrypted: str | None = Field(default=None, sa_column=Column(Text))
    # What the person picks from: accounts found (ids, names, problems), no secret.
    found_json: str | None = Field(default=None, sa_column=Column(Text))

    def __repr__(self) -> str:
        return f"ConnectAttempt(platform={self.platform!r}, actor={self.actor!r})"


class Lease(SQLModel, table=True):
    """A named lock with an expiry, shared by every process on the database.

    Used where one holder at a time matters across hosts: the time-based jobs and the
    spending of a channel's single-use refresh token.
    """

    name: str = Field(primary_key=True)
    owner: str
    until: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SchedulerTick(SQLModel, table=True):
    """When one process's dispatcher last completed a pass.

    One row per role (``run``, ``worker``, ``publish-due``) and instance (``host:pid:…``; a
    host's name for ``publish-due``), so that no process's tick can vouch for another.
    """

    role: str = Field(primary_key=True)
    instance: str = Field(primary_key=True)
    host: str | None = None
    pid: int | None = None
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Restore(SQLModel, table=True):
    """A backup put in place by `loa restore`: what it replaced, and what it held for a check.

    A restored database is older than the platforms: what it still calls ``scheduled`` or
    ``publishing`` may have gone out after the copy was made. The row says when and from
    which file, so a person (and the reasons on the held publications) can tell why.
    """

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))  # the backup file restored
    set_aside: str | None = Field(default=None, sa_column=Column(Text))  # the database it replaced, kept
    schema_before: str | None = None  # the backup's schema revision (older ones are upgraded)
    held: int = 0  # publications to check on the platform before anything is published
    actor: str = "cli"


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


class AudienceSnapshot(SQLModel, table=True):
    """A channel's own audience on one local day, as its platform reported it at ``at``; never
    updated (a later reading of the same day is a new row, the newest counts)."""

    __table_args__ = (Index("ix_audiencesnapshot_channel_day", "channel_id", "day", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel_id: str
    day: date  # local day in the configured zone
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    followers: int | None = None
    views: int | None = None
    reach: int | None = None


class MetricError(SQLModel, table=True):
    """A metrics call that failed: the snapshot was skipped and this says why.

    Kept next to the snapshots so a gap in a post's figures can always be explained, and so
    the polling schedule counts a failed attempt like a successful one (no retry storm).
    """

    __table_args__ = (Index("ix_metricerror_publication_at", "publication_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    publication_id: int = Field(foreign_key="publication.id")
    channel_id: str
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    kind: str  # auth | rate_limited | transient | permanent | missing
    code: str | None = None  # the platform's error code (and subcode), when it gave one
    message: str = Field(sa_column=Column(Text, nullable=False))


class MetricPause(SQLModel, table=True):
    """A channel whose metrics calls wait until ``until`` (throttled, or token rejected).

    Persisted because `loa metrics collect` runs in its own process: a throttle one run
    was told about must hold for the next run too.
    """

    channel_id: str = Field(primary_key=True)
    until: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


# -- alerts: the outbox ---------------------------------------------------------------------


class Alert(SQLModel, table=True):
    """Something a person must hear about, written in the same transaction as what caused it.

    ``key`` makes an alert that must exist once (a day's digest, a token's expiry date) unique
    whichever process raises it; ``fanned_out_at`` is set when its deliveries were written.
    """

    __table_args__ = (Index("ix_alert_fanned_out_at", "fanned_out_at"),)

    id: int | None = Field(default=None, primary_key=True)
    event: str = Field(index=True)  # publication.failed, channel.needs_reauth, digest.daily…
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    key: str | None = Field(default=None, unique=True)
    data_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    fanned_out_at: datetime | None = _utc_column()


class OutboxStatus(StrEnum):
    pending = "pending"  # waiting for its next attempt
    sending = "sending"  # claimed by a process; if that process dies, tried again
    sent = "sent"


class Outbox(SQLModel, table=True):
    """One message to deliver: an e-mail to one address, a webhook call, a console notice.

    ``key`` is the idempotency key (the e-mail's Message-ID, the webhook body's ``id``): a
    retry after a crash between sending and marking carries the same one.
    """

    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    kind: str  # email | webhook | console
    target: str = Field(sa_column=Column(Text, nullable=False))  # address, URL, or the user id
    alert_id: int | None = Field(default=None, foreign_key="alert.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    subject: str | None = Field(default=None, sa_column=Column(Text))
    body_text: str | None = Field(default=None, sa_column=Column(Text))
    body_html: str | None = Field(default=None, sa_column=Column(Text))
    status: OutboxStatus = Field(default=OutboxStatus.pending)
    attempts: int = 0
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    claimed_by: str | None = None
    claimed_until: datetime | None = _utc_column()
    sent_at: datetime | None = _utc_column()
    read_at: datetime | None = _utc_column()  # console notices: when the user saw it
    last_error: str | None = Field(default=None, sa_column=Column(Text))


class OutboxAttachment(SQLModel, table=True):
    """A file sent with an outbox e-mail (a monthly report); kept until the message is sent."""

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", index=True)
    filename: str
    content_type: str
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AlertPreference(SQLModel, table=True):
    """A user's own choice for one event; without a row the defaults of their role apply."""

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    event: str = Field(primary_key=True)
    email: bool = True
    console: bool = True


# -- staff amplification -------------------------------------------------------------------


class Unit(SQLModel, table=True):
    """A unit of the office (BHXH huyện/thị xã/thành phố, or a department)."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True)
    name: str
    parent_id: int | None = Field(default=None, foreign_key="unit.id")
    # A unit merged into another stays, for the history; its staff and channels move.
    merged_into_id: int | None = Field(default=None, foreign_key="unit.id")
    merged_on: date | None = None


class UnitChange(SQLModel, table=True):
    """A rename or a merge of a unit, from a date: old names still find the unit."""

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    kind: str  # rename | merge
    old_name: str
    new_name: str | None = None
    into_id: int | None = Field(default=None, foreign_key="unit.id")
    effective_from: date
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = "cli"


class Staff(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    full_name: str
    phone: str | None = Field(default=None, index=True)
    email: str | None = Field(default=None, index=True, unique=True)
    # Unguessable: the only key to the staff member's personal share page.
    share_token: str = Field(index=True, unique=True)
    active: bool = True
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    deactivated_at: datetime | None = _utc_column()

    def __repr__(self) -> str:
        return f"Staff(id={self.id!r}, full_name={self.full_name!r})"


class ShareLink(SQLModel, table=True):
    """One tracked link per staff member × publication."""

    __table_args__ = (UniqueConstraint("publication_id", "staff_id", name="uq_sharelink_publication_staff"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True)
    publication_id: int = Field(foreign_key="publication.id", index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ShareKind(StrEnum):
    button = "button"  # tapped on the share page
    self_report = "self_report"  # reported offline (`loa share record`)


class Share(SQLModel, table=True):
    __table_args__ = (
        Index("ix_share_at", "at"),
        # Covering for the reports (scheduler.reports): a period's shares are read from the
        # index alone, never from the table — 3× faster on a year of a large office.
        Index("ix_share_at_link_kind", "at", "share_link_id", "kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    share_link_id: int = Field(foreign_key="sharelink.id", index=True)
    platform: str  # facebook | zalo | copy | other
    kind: ShareKind = Field(default=ShareKind.button)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    note: str | None = None


class Click(SQLModel, table=True):
    """Every request to a tracked link, counted or not, so the rules can be re-run."""

    __table_args__ = (
        # The recorder's dedupe lookup, over counted clicks only: a visitor's thousands of
        # repeats (one script, one User-Agent) cost it nothing.
        Index("ix_click_link_visitor_at", "share_link_id", "visitor_hash", "counted", "at"),
        Index("ix_click_at", "at"),
        # Covering for the reports: counted clicks of a period, read from the index alone.
        Index("ix_click_counted_at_link", "counted", "at", "share_link_id"),
        # The recorder's per-address bound, the same way.
        Index("ix_click_link_address_at", "share_link_id", "address_hash", "counted", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    share_link_id: int = Field(foreign_key="sharelink.id")
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    visitor_hash: str
    counted: bool
    # counted | repeat | address_limit | head | crawler | empty_user_agent | not_published | self | inactive_staff
    reason: str
    user_agent: str | None = None
    # A keyed hash of the client's address (IPv6: its /64), never the address; None on clicks
    # stored before it was kept, which the per-address bound leaves as they were.
    address_hash: str | None = None


class RollupDay(SQLModel, table=True):
    """Shares and counted clicks of one staff member on one publication on one local day.

    Kept by the writers in the transaction that stores the raw rows (``store_clicks``, share
    taps, offline shares) and rebuilt from them by `loa share recount`; the reports read it
    instead of every event. The publication fixes the platform and the channel, the staff
    member the unit (their current one, looked up when a report is read)."""

    __table_args__ = (Index("ix_rollupday_publication_day", "publication_id", "day"),)

    day: date = Field(primary_key=True)  # local day in RollupState.zone
    staff_id: int = Field(primary_key=True)
    publication_id: int = Field(primary_key=True)
    button: int = 0
    self_report: int = 0
    clicks: int = 0  # counted clicks only


class RollupStaffMonth(SQLModel, table=True):
    """The same figures per staff member and local month: a year by staff or unit is 12 rows each."""

    # Covering: a year's figures are read from the index alone, never from the table.
    __table_args__ = (Index("ix_rollupstaffmonth_cover", "month", "staff_id", "button", "self_report", "clicks"),)

    month: date = Field(primary_key=True)  # the month's first day
    staff_id: int = Field(primary_key=True)
    button: int = 0
    self_report: int = 0
    clicks: int = 0


class RollupPublicationDay(SQLModel, table=True):
    """The same figures per publication and local day: reports by channel, campaign and day.

    The publication's channel and its post's campaign are copied in (fixed once a post is
    published, and rebuilt with the rest), so those reports read this table's covering
    index alone: joining 50.000 publications' wide rows cost a national year ~1 s."""

    __table_args__ = (
        Index(
            "ix_rolluppublicationday_cover", "day", "channel_id", "campaign_id", "button", "self_report", "clicks"
        ),
    )

    day: date = Field(primary_key=True)
    publication_id: int = Field(primary_key=True)
    channel_id: str
    campaign_id: int | None = None
    button: int = 0
    self_report: int = 0
    clicks: int = 0


class RollupState(SQLModel, table=True):
    """The time zone the rollups' days are in; reports use them only when it is the configured one."""

    id: int = Field(default=1, primary_key=True)
    zone: str
    built_at: datetime | None = _utc_column()
class AppSecret(SQLModel, table=True):
    """A secret of the installation itself (the Web Push VAPID private key), Fernet-encrypted:
    the key to it never lives in the database."""

    name: str = Field(primary_key=True)
    value_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    public: str | None = Field(default=None, sa_column=Column(Text))  # its public half, when it has one
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    def __repr__(self) -> str:
        return f"AppSecret(name={self.name!r})"


class PushSubscription(SQLModel, table=True):
    """A staff member's phone subscribed to Web Push from their share page."""

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    endpoint: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    p256dh: str
    auth: str
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CampaignUpdate(SQLModel, table=True):
    """A staff member's "Tôi đã cập nhật": they put the campaign's avatar frame or cover on
    their own profile. Once per staff member, campaign and kind; counted in the reports."""

    __table_args__ = (UniqueConstraint("staff_id", "campaign_id", "kind", name="uq_campaignupdate_staff_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    kind: str  # avatar | cover
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


# -- console users and the audit log -------------------------------------------------------


class Role(StrEnum):
    admin = "admin"
    editor = "editor"
    approver = "approver"
    staff = "staff"


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True)
    password_hash: str | None = None
    role: Role
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    # The unit the account acts for (and the units below it); None: the whole office.
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    active: bool = True
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    email: str | None = None  # where this account's alerts go (else its staff member's address)
    lang: str | None = None  # the language of this account's alert e-mails (None: Vietnamese)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, username={self.username!r}, role={self.role!r})"


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(index=True, unique=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_used_at: datetime | None = _utc_column()
    revoked: bool = False


class AuditEvent(SQLModel, table=True):
    """Append-only: who did what to which object, and when."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor: str
    action: str = Field(index=True)
    object: str | None = None
    details: str | None = Field(default=None, sa_column=Column(Text))


class UserSession(SQLModel, table=True):
    """A console session. Only the SHA-256 of the cookie's value is stored, so a copy of the
    database cannot be replayed as a live session; ``user_id`` is None before login."""

    id_hash: str = Field(primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    csrf_token: str
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    ip: str | None = None


class LoginFailure(SQLModel, table=True):
    """One failed console login; recent rows throttle further tries per username + address."""

    __table_args__ = (Index("ix_loginfailure_username_ip_at", "username", "ip", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str
    ip: str
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class MediaKind(StrEnum):
    photo = "photo"
    video = "video"


class MediaItem(SQLModel, table=True):
    """A photo or video in the media library, stored once by the hash of its content.

    ``file`` and ``thumbnail`` are names inside the library folder (``media_dir/library``);
    a photo's file is the cleaned copy (oriented, location data removed), not the upload.
    """

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(index=True, unique=True)
    kind: MediaKind
    content_type: str
    file: str
    thumbnail: str | None = None
    width: int
    height: int
    duration_s: float | None = None
    bytes: int
    alt: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    original_name: str = ""
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = "cli"


class PostMedia(SQLModel, table=True):
    """The photos and video a post shows, in order."""

    __table_args__ = (UniqueConstraint("post_id", "position", name="uq_postmedia_post_position"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    media_id: int = Field(foreign_key="mediaitem.id", index=True)
    position: int


class PublishStep(SQLModel, table=True):
    """One step of a multi-step publish that the platform has taken (a staged photo, an
    upload session, an uploaded video): what a later attempt resumes from or cleans up."""

    __table_args__ = (UniqueConstraint("publication_id", "step", name="uq_publishstep_publication_step"),)

    id: int | None = Field(default=None, primary_key=True)
    publication_id: int = Field(foreign_key="publication.id", index=True)
    step: str
    value: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
