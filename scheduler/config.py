"""Settings as validated data.

Precedence: code defaults < ``config.toml`` < ``LOA_<SECTION>_<KEY>`` environment variables
< command-line flags. Settings are built by :func:`load_settings`, never at import time, and
a bad file fails with the file, the key and what was expected.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scheduler import bounds
from scheduler.errors import ConfigError, Text
from scheduler.i18n import Message, msg

CHANNEL_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")

class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")


class DatabaseSettings(_Section):
    url: str = "sqlite:///posts.db"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        # Refused here, in one line naming the key, rather than by the driver at first use.
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            scheme = make_url(value).drivername
        except (ArgumentError, ValueError):
            raise ValueError(msg("config.database_url_form")) from None
        if scheme not in DATABASE_SCHEMES:
            raise ValueError(msg("config.database_url_scheme", scheme=scheme)) from None
        return value


def _comma_list(value: Any) -> Any:
    """A list setting given as one string (``LOA_WEB_TRUSTED_PROXIES=10.0.0.1,10.0.0.2``)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Addresses (or networks) of reverse proxies whose X-Forwarded-For is believed; without
    # them a tracked-link visitor is the TCP peer, so nobody can forge an address.
    trusted_proxies: list[str] = Field(default_factory=list)
    # `/metrics` answers loopback callers that came through no proxy; with this variable set
    # (its value a long random string), anyone sending it as a bearer token as well.
    metrics_token_env: str | None = None
    # One JSON object per log line (with the request id of the web request that logged it),
    # for a journal read by a log collector; plain lines otherwise.
    json_logs: bool = False

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        value = _comma_list(value)
        for item in value or []:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(msg("config.not_a_network", value=item)) from None
        return value


class SharingSettings(_Section):
    """Staff share pages and tracked links (scheduler/sharing/counting.py holds the counting rules)."""

    page_days: int = Field(default=7, ge=1, le=90)  # posts published this recently are offered
    dedupe_hours: int = Field(default=24, ge=1, le=24 * 31)  # one counted click per visitor per link
    # At most this many counted clicks per client address (IPv6: per /64) per link within
    # dedupe_hours, whatever User-Agents it sends; 0 turns the bound off. Small, because one
    # phone can send any User-Agent; an office or carrier NAT behind one address is the cost.
    # Behind a reverse proxy, list it in web.trusted_proxies, or every visitor is its address.
    max_clicks_per_address: int = Field(default=3, ge=0, le=1000)
    # Share-button taps one staff member may make per minute (more are refused for a minute).
    max_taps_per_minute: int = Field(default=20, ge=1, le=1000)
    # Case-insensitive regular expressions matched against the User-Agent of link-preview
    # fetchers and crawlers: unset keeps Loa's built-in list, the extra ones are added to it.
    crawler_patterns: list[str] | None = None
    extra_crawler_patterns: list[str] = Field(default_factory=list)
    # A stored permalink is only ever redirected to on these hosts (or their subdomains).
    redirect_hosts: list[str] = Field(default_factory=lambda: ["facebook.com", "fb.com", "zalo.me"])
    # The Zalo page offers Zalo's share plugin (a script from sp.zalo.me) beside the link to paste.
    zalo_plugin: bool = True

    @field_validator("crawler_patterns", "extra_crawler_patterns", "redirect_hosts", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _comma_list(value)

    @field_validator("crawler_patterns", "extra_crawler_patterns")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        for pattern in value or []:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(msg("config.not_a_regex", value=pattern, reason=str(exc))) from None
        return value


class SandboxSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8910, ge=1, le=65535)
    state_file: str | None = None
    # docs/platforms.md A1: the sources disagree between 30 and 75 days.
    facebook_schedule_max_days: int = Field(default=30, ge=1, le=365)
    # Zalo keeps answering -214 to verify while it fetches media (B3); how many times.
    zalo_verify_pending_polls: int = Field(default=1, ge=0, le=100)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class PublishingSettings(_Section):
    # A channel whose token runs out within this many days is announced (docs/platforms.md E3).
    token_warn_days: int = Field(default=14, ge=1, le=365)
    grace_minutes: int = Field(default=60, ge=0)
    # A publication due longer ago than this is looked for on the platform before it is
    # published: a database put back (a restore, a rewound server) may not know it went out.
    check_overdue_minutes: int = Field(default=10, ge=1)
    # Searching the platform after an unknown outcome: failed searches back off (full jitter,
    # up to the cap); after this many, the publication waits for a person, with the reason.
    reconcile_max_checks: int = Field(default=8, ge=1, le=100)
    reconcile_backoff_cap_seconds: int = Field(default=1800, ge=30)
    lease_seconds: int = Field(default=120, ge=10)
    request_timeout_seconds: float = Field(default=20.0, gt=0)
    tick_seconds: int = Field(default=30, ge=1)
    # A jump of the host's clock forward is believed once it has held this long: until then
    # nothing is published early or marked missed on its account (scheduler/clock.py).
    clock_jump_confirm_seconds: int = Field(default=120, ge=0)
    per_channel_concurrency: int = Field(default=4, ge=1, le=32)
    # Publishing threads in one process: each waits on a platform most of the time.
    max_parallel: int = Field(default=128, ge=1, le=1024)
    # Loa holds posts itself, so no platform window binds it; this keeps typos such as
    # 2062 for 2026 out of the queue. 75 days is the longest window Facebook documents.
    horizon_days: int = Field(default=75, ge=1, le=3650)
    # Zalo processes an article asynchronously; verify is polled this often (B3: 8 × 3 s).
    zalo_verify_polls: int = Field(default=8, ge=1, le=100)
    zalo_verify_interval_seconds: float = Field(default=3.0, ge=0)

    @model_validator(mode="after")
    def _check_before_missed(self) -> PublishingSettings:
        # Beyond the grace a publication is missed: a check window past it would never apply.
        if self.grace_minutes and self.check_overdue_minutes >= self.grace_minutes:
            raise ValueError(msg("config.check_overdue_within_grace", grace=self.grace_minutes))
        return self


class MetricsSettings(_Section):
    """When the collector asks the platforms for a publication's counters.

    Counters move fast in a post's first days and barely after a month, so a young post is
    polled often and an old one rarely, then not at all: the platforms' quotas go to what
    changes.
    """

    enabled: bool = True  # `loa run` collects on its own; `loa metrics collect` works either way
    tick_minutes: int = Field(default=5, ge=1, le=1440)  # how often the job looks for due work
    young_hours: int = Field(default=48, ge=0)  # a post is "young" this long after publishing
    young_interval_minutes: int = Field(default=60, ge=1)  # … and polled this often meanwhile
    old_interval_hours: int = Field(default=24, ge=1)  # then this often …
    max_age_days: int = Field(default=30, ge=1, le=730)  # … until this age; never after
    # Stop a channel's pass when a usage header (X-App-Usage …) reaches this percentage:
    # the rest of the quota belongs to publishing, which matters more than a fresh count.
    usage_ceiling_percent: float = Field(default=80.0, gt=0, le=100)
    max_per_pass: int = Field(default=500, ge=1)  # spreads a backlog over several passes


class LimitsSettings(_Section):
    """What one request or one file may ask of Loa (docs/bounds.md; defaults in scheduler/bounds.py).

    Past a limit Loa refuses with a message naming the key to raise; it never does the work
    anyway. Raise one only as far as the machine running `loa run` can take.
    """

    request_body_kib: int = Field(default=bounds.DEFAULT_REQUEST_BODY_KIB, ge=16, le=64 * 1024)
    upload_mib: int = Field(default=bounds.DEFAULT_UPLOAD_MIB, ge=1, le=1024)
    photo_mib: int = Field(default=bounds.DEFAULT_PHOTO_MIB, ge=1, le=200)
    sheet_max_rows: int = Field(default=bounds.DEFAULT_SHEET_MAX_ROWS, ge=1, le=1_048_576)
    sheet_max_columns: int = Field(default=bounds.DEFAULT_SHEET_MAX_COLUMNS, ge=1, le=16_384)
    sheet_max_cell_chars: int = Field(default=bounds.DEFAULT_SHEET_MAX_CELL_CHARS, ge=1, le=1_048_576)
    sheet_max_uncompressed_mib: int = Field(default=bounds.DEFAULT_SHEET_MAX_UNCOMPRESSED_MIB, ge=1, le=4096)
    sheet_max_compression_ratio: int = Field(default=bounds.DEFAULT_SHEET_MAX_COMPRESSION_RATIO, ge=1, le=10_000)
    sheet_max_zip_members: int = Field(default=bounds.DEFAULT_SHEET_MAX_ZIP_MEMBERS, ge=1, le=100_000)
    report_max_days: int = Field(default=bounds.DEFAULT_REPORT_MAX_DAYS, ge=31, le=36_525)
    report_max_rows: int = Field(default=bounds.DEFAULT_REPORT_MAX_ROWS, ge=100, le=1_000_000)
    chart_max_bars: int = Field(default=bounds.DEFAULT_CHART_MAX_BARS, ge=31, le=5_000)
    heavy_renders: int = Field(default=bounds.DEFAULT_HEAVY_RENDERS, ge=1, le=64)
    heavy_wait_seconds: float = Field(default=bounds.DEFAULT_HEAVY_WAIT_SECONDS, ge=0, le=120)

    @property
    def request_body_bytes(self) -> int:
        return self.request_body_kib * 1024

    @property
    def upload_bytes(self) -> int:
        return self.upload_mib * 1024 * 1024

    @property
    def photo_bytes(self) -> int:
        return self.photo_mib * 1024 * 1024

    @property
    def sheet_max_uncompressed_bytes(self) -> int:
        return self.sheet_max_uncompressed_mib * 1024 * 1024


class MailSettings(_Section):
    """The SMTP server alerts and scheduled reports go out through (scheduler/alerts/mail.py).

    Without ``host`` nothing is sent by e-mail; messages wait in the outbox until it is set.
    The password never lives in the file: ``password_env`` names the variable holding it.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)  # 587 for starttls, 465 for tls, 25 for none
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    sender: str = Field(default="Loa <loa@localhost>", alias="from")
    timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    # A certificate the server presents is checked against the system's authorities; an
    # office server with its own authority names the PEM file here.
    ca_file: str | None = None

    @field_validator("sender")
    @classmethod
    def _address(cls, value: str) -> str:
        from email.utils import parseaddr

        if "@" not in parseaddr(value)[1]:
            raise ValueError(msg("config.mail_from"))
        return value

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"starttls": 587, "tls": 465, "none": 25}[self.security]

    def __repr__(self) -> str:  # the variable's name only, never its value
        return f"MailSettings(host={self.host!r}, port={self.effective_port!r}, security={self.security!r})"


ALERT_EVENTS = (
    "publication.failed",
    "publication.blocked",
    "publication.unknown",
    "publication.missed",
    "channel.needs_reauth",
    "channel.token_expiring",
    "post.pending_approval",
    "post.approved",
    "post.sent_back",
    "digest.daily",
)


def _events(value: list[str]) -> list[str]:
    for event in value:
        if event not in ALERT_EVENTS and event != "*":
            raise ValueError(msg("config.alert_event", value=event, events=", ".join(ALERT_EVENTS)))
    return value


class WebhookSettings(_Section):
    """A URL that receives alerts as signed JSON (scheduler/alerts/webhooks.py)."""

    url: str
    secret_env: str | None = None  # HMAC-SHA256 of the body, hex, in X-Loa-Signature
    events: list[str] = Field(default_factory=lambda: ["*"])
    # Only then may the URL point at loopback or a private network (an office's own server).
    allow_private: bool = False

    @field_validator("events")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return _events(value)

    @model_validator(mode="after")
    def _public(self) -> WebhookSettings:
        from scheduler.alerts.webhooks import url_problem

        problem = url_problem(self.url, allow_private=self.allow_private, resolve=False)
        if problem is not None:
            raise ValueError(problem)
        return self

    def wants(self, event: str) -> bool:
        return "*" in self.events or event in self.events


class AlertsSettings(_Section):
    """When alerts are raised and how their delivery is retried (scheduler/alerts/)."""

    # How often the lease holder looks for messages to send (an alert reaches its readers
    # within this plus one delivery).
    deliver_every_seconds: int = Field(default=10, ge=1, le=600)
    # A failed delivery is tried again after a growing wait, never given up.
    retry_base_seconds: float = Field(default=30.0, ge=0.1, le=3600)
    retry_cap_seconds: float = Field(default=3600.0, ge=1, le=86_400)
    # A channel credential that lapses within this many days raises channel.token_expiring.
    token_expiring_days: int = Field(default=7, ge=1, le=90)
    # The morning digest: the day's queue and yesterday's results, at this local hour.
    digest_hour: int = Field(default=7, ge=0, le=23)
    digest: bool = True
    # Links in e-mails point at the console here (default: public_url).
    console_url: str | None = None


class BackupSettings(_Section):
    """Backups `loa run` writes of a SQLite database on its own (PostgreSQL: pg_dump, README)."""

    enabled: bool = False
    dir: str = "backups"  # relative to config.toml; keep it on another disk than the database
    every_hours: int = Field(default=24, ge=1, le=24 * 31)
    keep_days: int = Field(default=14, ge=1, le=3650)  # older copies are deleted (never the newest)


class DoctorSettings(_Section):
    """What `loa doctor` calls a problem."""

    min_free_disk_mib: int = Field(default=1024, ge=0)
    # A channel token the platform says lapses within this many days is a problem already.
    token_warn_days: int = Field(default=7, ge=0, le=365)
    # The newest backup may be this much older than backups.every_hours before it is a problem.
    backup_slack_hours: int = Field(default=6, ge=0)
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
class MediaSettings(_Section):
    """The media library's bounds (docs/platforms.md D): what one photo or video may be."""

    max_photo_mib: int = Field(default=30, ge=1, le=200)
    max_photo_megapixels: int = Field(default=60, ge=1, le=400)
    max_video_mib: int = Field(default=1024, ge=1, le=10 * 1024)
    # The long edge of the copy a platform receives; phones take 4000 px and more.
    publish_edge_px: int = Field(default=2048, ge=320, le=8192)
    # The same text queued twice to a channel within this many hours is warned about
    # (Facebook refuses an identical text as a duplicate); 0 turns the warning off.
    duplicate_text_hours: int = Field(default=72, ge=0, le=24 * 365)

    @property
    def max_photo_bytes(self) -> int:
        return self.max_photo_mib * 1024 * 1024

    @property
    def max_video_bytes(self) -> int:
        return self.max_video_mib * 1024 * 1024


class SecretsSettings(_Section):
    key_env: str = "LOA_SECRET_KEY"
    key_file: str = ".loa-secret.key"


class ChannelSettings(_Section):
    id: str
    platform: str  # a name in the registry (scheduler.channels.registry)
    name: str
    external_id: str
    mode: Literal["sandbox", "live"] = "sandbox"
    token_env: str | None = None
    api_base: str | None = None
    # Zalo OAuth v4: the app and its secret; the first refresh token only seeds the vault.
    oauth_base: str | None = None
    app_id: str | None = None
    app_secret_env: str | None = None
    refresh_token_env: str | None = None
    approval: bool = False
    # The platform's names for the channel's own audience figures (followers, views, reach),
    # where they differ from the names Loa knows (docs/platforms.md: some are UNVERIFIED).
    audience_metrics: dict[str, str] = Field(default_factory=dict)
    # Zalo articles must have a cover; used when a post has none. A file in assets/,
    # served by Loa at {public_url}/assets/NAME, or a full http(s) URL.
    default_cover: str | None = None
    # Kept in the database (scheduler/channels/catalog.py), not read from config.toml: the
    # unit that owns the channel (its code), whether it is archived, where it came from.
    unit: str | None = None
    archived: bool = False
    origin: Literal["config", "connected"] = "config"

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not CHANNEL_ID_PATTERN.match(value):
            raise ValueError(msg("config.channel_slug"))
        return value

    @field_validator("platform")
    @classmethod
    def _registered(cls, value: str) -> str:
        from scheduler.channels.registry import registry

        names = list(registry())
        if value not in names:
            raise ValueError(msg("config.platform_unknown", platforms=", ".join(names)))
        return value

    @field_validator("external_id")
    @classmethod
    def _numeric(cls, value: str) -> str:
        if not value.isdigit():
            raise ValueError(msg("config.numeric_id"))
        return value

    @model_validator(mode="after")
    def _live_needs_secrets(self) -> ChannelSettings:
        if self.mode == "live":
            from scheduler.channels.registry import publisher_class

            problem = publisher_class(self.platform).live_settings_problem(self)
            if problem:
                raise ValueError(problem)
        return self

    def __repr__(self) -> str:  # never print a secret; only the names of the variables
        return f"ChannelSettings(id={self.id!r}, platform={self.platform!r}, mode={self.mode!r})"


class ConnectAppSettings(_Section):
    """A platform app through which an admin connects accounts (Facebook Login, Zalo OA v4).

    With ``[sandbox] enabled`` and no ``app_id`` set, every base defaults to the sandbox and
    the sandbox's own app is used, so the flow runs offline; once an ``app_id`` is set, its
    secret must be in the environment variable named by ``app_secret_env``.
    """

    app_id: str | None = None
    app_secret_env: str | None = None  # default: the platform's (LOA_FACEBOOK_APP_SECRET, …)
    graph_base: str | None = None  # the API the tokens are used on
    dialog_base: str | None = None  # where the person logs in and consents
    oauth_base: str | None = None  # where codes are exchanged, when not the API
    # Facebook Login for Business: a configuration id instead of the scope list.
    config_id: str | None = None
    scope: list[str] | None = None  # default: what Loa needs (docs/platforms.md E1)
    accounts_page_size: int = Field(default=100, ge=1, le=100)
    # The cover of a connected channel's posts that have none (a file in assets/), for
    # platforms whose posts need one (Zalo articles).
    default_cover: str | None = None
def _checked_colours(value: list[str]) -> list[str]:
    for colour in value:
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}", colour):
            raise ValueError(msg("config.colour", colour=colour))
    return value


class CampaignSettings(_Section):
    slug: str
    name: str
    theme: str = ""
    starts_on: date | None = None
    ends_on: date | None = None
    colours: list[str] = Field(default_factory=list)  # "#RRGGBB": the campaign's charts (shares, clicks)

    @field_validator("colours")
    @classmethod
    def _colours(cls, value: list[str]) -> list[str]:
        return _checked_colours(value)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not CHANNEL_ID_PATTERN.match(value):
            raise ValueError(msg("config.campaign_slug"))
        return value

    @model_validator(mode="after")
    def _order(self) -> CampaignSettings:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError(msg("config.ends_before_start"))
        return self


class ReportSettings(_Section):
    """The monthly report's letterhead in the Decree 30/2020 layout (docs/vietnam.md), and its delivery."""

    parent_body: str = "BẢO HIỂM XÃ HỘI VIỆT NAM"  # tên cơ quan chủ quản, above the issuer
    issuer: str = "BẢO HIỂM XÃ HỘI TỈNH NGHỆ AN"  # tên cơ quan ban hành
    issuer_in_text: str = "Bảo hiểm xã hội tỉnh Nghệ An"  # the issuer named inside a sentence
    issuer_code: str = "BHXH"  # the issuer's symbol in "Số: …/BC-BHXH"
    place: str = "Nghệ An"  # địa danh in "Nghệ An, ngày 05 tháng 6 năm 2026"
    signer_title: str = "GIÁM ĐỐC"  # the signature block's title; the name is left for the signer
    recipients: list[str] = Field(
        default_factory=lambda: ["BHXH Việt Nam (để báo cáo)", "Ban Giám đốc", "Các phòng, BHXH cơ sở", "Lưu: VT."]
    )
    # An office's own Word template (relative to this file); unset: Loa's own layout.
    # `loa report template -o FILE` writes Loa's layout as a starting point.
    template: str | None = None
    # The month before's report is e-mailed on this day of the month to these addresses.
    email_day: int | None = Field(default=None, ge=1, le=28)
    email_to: list[str] = Field(default_factory=list)
    # The charts' colours (shares, clicks) when no campaign's own are set: the BHXH blue and gold.
    colours: list[str] = Field(default_factory=lambda: ["#0054A6", "#E0A100"])

    @field_validator("colours")
    @classmethod
    def _colours(cls, value: list[str]) -> list[str]:
        return _checked_colours(value)

    @field_validator("parent_body", "issuer", "issuer_in_text", "issuer_code", "place", "signer_title")
    @classmethod
    def _nfc(cls, value: str) -> str:
        return unicodedata.normalize("NFC", value.strip())


class Settings(_Section):
    timezone: str = "Asia/Ho_Chi_Minh"
    public_url: str = "http://127.0.0.1:8000"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    publishing: PublishingSettings = Field(default_factory=PublishingSettings)
    sharing: SharingSettings = Field(default_factory=SharingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    backups: BackupSettings = Field(default_factory=BackupSettings)
    doctor: DoctorSettings = Field(default_factory=DoctorSettings)
    templates_dir: str = "templates"
    assets_dir: str = "assets"
    # Rendered covers, served at {public_url}/media/NAME (Zalo fetches them from there).
    media_dir: str = "media"
    channels: list[ChannelSettings] = Field(default_factory=list)
    campaigns: list[CampaignSettings] = Field(default_factory=list)
    facebook_app: ConnectAppSettings = Field(default_factory=ConnectAppSettings)
    zalo_app: ConnectAppSettings = Field(default_factory=ConnectAppSettings)
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    # Folder of the config file: relative paths inside it are relative to this.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(msg("config.time_zone")) from None
        return value

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(msg("config.http_url"))
        return value.rstrip("/")

    @model_validator(mode="after")
    def _unique_channels(self) -> Settings:
        seen: set[str] = set()
        for channel in self.channels:
            if channel.id in seen:
                raise ValueError(msg("config.channel_twice", channel=channel.id))
            seen.add(channel.id)
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def path(self, value: str) -> Path:
        candidate = Path(value)
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    @property
    def templates_path(self) -> Path:
        return self.path(self.templates_dir)

    @property
    def assets_path(self) -> Path:
        return self.path(self.assets_dir)

    @property
    def media_path(self) -> Path:
        return self.path(self.media_dir)

    @property
    def backups_path(self) -> Path:
        return self.path(self.backups.dir)

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path made relative to the config file."""
        url = self.database.url
        prefix = "sqlite:///"
        plain = not url.startswith(("sqlite:////", "sqlite:///file:")) and url != "sqlite:///:memory:"
        if url.startswith(prefix) and plain:
            return prefix + str(self.path(url[len(prefix) :]))
        return url

    def channel(self, channel_id: str) -> ChannelSettings:
        for channel in self.channels:
            if channel.id == channel_id:
                return channel
        from scheduler.errors import NotFound

        known = ", ".join(c.id for c in self.channels)
        hint = msg("hint.known_channels", known=known) if known else msg("hint.no_channels_configured")
        raise NotFound(msg("error.unknown_channel", channel=channel_id), hint=hint, field="channel")

    def api_base(self, channel: ChannelSettings) -> str:
        if channel.api_base:
            return channel.api_base.rstrip("/")
        from scheduler.channels.registry import publisher_class

        platform = publisher_class(channel.platform)
        if channel.mode == "sandbox":
            return self.sandbox.base_url + platform.sandbox_api_path
        return platform.live_api_base

    def oauth_base(self, channel: ChannelSettings) -> str:
        if channel.oauth_base:
            return channel.oauth_base.rstrip("/")
        if channel.mode == "sandbox":
            return self.sandbox.base_url
        from scheduler.channels.registry import publisher_class

        return publisher_class(channel.platform).live_oauth_base or self.api_base(channel)


def _coerce_env(raw: str) -> Any:
    lowered = raw.strip().lower()
    if lowered in {"true", "yes", "on"}:
        return True
    if lowered in {"false", "no", "off"}:
        return False
    return raw


def _apply_environment(data: dict[str, Any], environ: dict[str, str]) -> None:
    """Overlay ``LOA_<SECTION>_<KEY>`` (or ``LOA_<KEY>`` for top-level keys)."""
    sections = {
        name
        for name, field in Settings.model_fields.items()
        if isinstance(field.default_factory, type) and issubclass(field.default_factory, _Section)
    }
    for name in Settings.model_fields:
        if name in sections or name in {"channels", "campaigns", "webhooks", "base_dir"}:
            continue
        value = environ.get(f"LOA_{name.upper()}")
        if value is not None:
            data[name] = _coerce_env(value)
    for section in sections:
        model = Settings.model_fields[section].default_factory
        assert isinstance(model, type) and issubclass(model, _Section)
        for key, info in model.model_fields.items():
            # A key spelt differently in the file (`[mail] from`) is named the file's way.
            name = info.alias or key
            value = environ.get(f"LOA_{section.upper()}_{name.upper()}")
            if value is not None:
                data.setdefault(section, {})[name] = _coerce_env(value)


def _describe(error: dict[str, Any]) -> Message:
    """One validation problem as a message, pydantic's type errors in the reader's language."""
    from scheduler.i18n.validation import validation_problem

    location = ".".join(str(part) for part in error["loc"])
    problem: Text = validation_problem(error)
    if error["type"] == "extra_forbidden":
        problem = msg("config.unknown_key")
    elif error["type"] == "missing":
        problem = msg("config.required")
    given = error.get("input")
    if given is not None and error["type"] != "missing" and not isinstance(given, dict | list):
        return msg("config.problem_got", key=location or "(top level)", problem=problem, value=repr(given))
    return msg("config.problem", key=location or "(top level)", problem=problem)


def resolve_config_path(explicit: str | Path | None, environ: dict[str, str] | None = None) -> Path:
    environ = dict(os.environ) if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get("LOA_CONFIG"):
        return Path(environ["LOA_CONFIG"])
    return Path("config.toml")


def load_settings(
    path: str | Path | None = None,
    *,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Read, overlay and validate the settings; raise :class:`ConfigError` with what to fix."""
    environ = dict(os.environ) if environ is None else environ
    config_path = resolve_config_path(path, environ)
    data: dict[str, Any] = {}
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                msg("config.not_toml", path=str(config_path), reason=str(exc)), hint=msg("hint.fix_toml_line")
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(msg("config.not_utf8", path=str(config_path)), hint=msg("hint.save_utf8")) from None
    elif path is not None or environ.get("LOA_CONFIG"):
        raise ConfigError(msg("config.missing_file", path=str(config_path)), hint=msg("hint.existing_config"))
    _apply_environment(data, environ)
    for section, values in (overrides or {}).items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    data["base_dir"] = config_path.resolve().parent
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors()]  # type: ignore[arg-type]
        raise ConfigError(
            msg("config.invalid", path=str(config_path), problems=problems), hint=msg("hint.fix_config_keys")
        ) from None
