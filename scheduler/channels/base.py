"""The contract every platform publisher fulfils.

One module per platform implements :class:`Publisher`; the explicit registry in
``scheduler.channels.registry`` maps a platform name to its class. The engine only ever sees the
types declared here and the errors of ``scheduler.errors``: platform codes are mapped to
those errors at the edge, inside each publisher.

Contract of every method that talks to the platform:

- ``AuthError``: credentials rejected (after one refresh, where the platform has one).
- ``RateLimited``: throttled; ``retry_after`` seconds when the platform said.
- ``TransientError``: a read failed and may be retried later.
- ``PermanentError`` (``DuplicateContent``): the platform will not take this content.
- ``UnknownOutcome``: only from writes (``publish``); the post may exist. Never retry blindly.

A success can carry a throttle too: a reply that spent the last of the quota (usage
headers at 100 %, a regain time) sets ``PublishResult.pause_seconds``, and the dispatcher
pauses the channel exactly as it would for ``RateLimited``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

import requests

from scheduler.errors import AuthError, PublishError, RateLimited

if TYPE_CHECKING:
    from scheduler.channels.connect import ConnectFlow
    from scheduler.config import ChannelSettings, Settings
    from scheduler.i18n import Message
    from scheduler.sandbox.emulator import PlatformEmulator


@dataclass(frozen=True)
class MediaFile:
    """A photo or video from the media library, as a publisher sends it."""

    kind: str  # "photo" or "video"
    path: Path  # the stored file (a photo already cleaned and within every platform's bytes)
    url: str  # its public address (platforms that fetch media themselves)
    content_type: str
    width: int
    height: int
    size: int
    sha256: str
    duration_s: float | None = None
    alt: str = ""


class StepRecord(Protocol):
    """What a multi-step publish has already done, kept durably per publication.

    A publisher records each step the platform has taken (a staged photo's id, an upload
    session and its offset) *before* going on, so an attempt after a crash or an unknown
    outcome resumes from there instead of repeating it, and cleans up what it staged when
    the post fails for good.
    """

    def get(self, step: str) -> str | None: ...

    def put(self, step: str, value: str) -> None:
        """Durably stored when it returns."""
        ...

    def drop(self, step: str) -> None: ...


class NoSteps:
    """A record that keeps nothing (a single-call publish, a test)."""

    def __init__(self) -> None:
        self._kept: dict[str, str] = {}

    def get(self, step: str) -> str | None:
        return self._kept.get(step)

    def put(self, step: str, value: str) -> None:
        self._kept[step] = value

    def drop(self, step: str) -> None:
        self._kept.pop(step, None)


@dataclass(frozen=True)
class OutgoingPost:
    """What one publication sends: text already rendered, NFC and within limits."""

    text: str
    title: str | None = None  # Zalo article title (≤ 150); derived when absent
    description: str | None = None  # Zalo article description (≤ 300)
    link: str | None = None
    cover_jpeg: bytes | None = None  # uploaded as the photo (Facebook)
    cover_url: str | None = None  # fetched by the platform (Zalo article cover)
    media: tuple[MediaFile, ...] = ()  # photos in order, or one video
    # The person chose a cover (a layout): it is the cover even when the post has photos.
    cover_chosen: bool = False
    steps: StepRecord = field(default_factory=NoSteps, compare=False)

    @property
    def photos(self) -> tuple[MediaFile, ...]:
        return tuple(m for m in self.media if m.kind == "photo")

    @property
    def video(self) -> MediaFile | None:
        return next((m for m in self.media if m.kind == "video"), None)

    def __repr__(self) -> str:
        cover = f"{len(self.cover_jpeg)} bytes" if self.cover_jpeg else None
        return f"OutgoingPost(text={self.text[:40]!r}…, cover={cover}, cover_url={self.cover_url!r})"


@dataclass(frozen=True)
class PublishResult:
    """A post that is live. ``pause_seconds``: the platform asked for no further call for that long."""

    remote_id: str
    permalink: str | None = None
    published_at: datetime | None = None
    pause_seconds: float | None = None


@dataclass(frozen=True)
class RemotePost:
    """A post found on the platform, for the reconciler."""

    remote_id: str
    text: str
    created_at: datetime | None
    permalink: str | None = None


@dataclass(frozen=True)
class PostMetrics:
    views: int | None = None
    reach: int | None = None
    reactions: int | None = None
    comments: int | None = None
    shares: int | None = None
    raw: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class PageAudience:
    """A Page's or OA's own audience on one local day: followers at its end, the day's views
    and reach (None where the platform gives no such figure, never 0)."""

    followers: int | None = None
    views: int | None = None
    reach: int | None = None


class TokenVault(Protocol):
    """Where a channel's rotating secrets live (encrypted in the database in production).

    ``save`` returns only once the new secrets are durably committed: Zalo refresh tokens
    are single-use, so a refreshed pair that is not saved is a channel lost.
    """

    def load(self, channel_id: str) -> dict[str, str] | None: ...

    def save(self, channel_id: str, secrets: Mapping[str, str]) -> None: ...

    def locked(self, channel_id: str) -> AbstractContextManager[None]:
        """Held while a single-use secret is read and spent: one holder across all processes."""
        ...

    def begin_refresh(self, channel_id: str) -> None:
        """Called just before a single-use secret is sent; the next ``save`` ends it.

        A refresh begun and never saved means the process died in between: the old secret
        may be spent, and the vault reports it instead of letting it fail silently later.
        """
        ...


@dataclass(frozen=True)
class ChannelAccess:
    """Everything a publisher needs to talk for one channel (no secrets in repr)."""

    channel_id: str
    external_id: str  # Page id / OA id
    api_base: str  # e.g. https://graph.facebook.com/v25.0 or https://openapi.zalo.me
    oauth_base: str | None = None  # Zalo OAuth v4 base
    access_token: str | None = field(default=None, repr=False)  # Facebook Page token
    app_id: str | None = None
    app_secret: str | None = field(default=None, repr=False)
    initial_refresh_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CoverTarget:
    """A canvas a cover layout can be drawn on (``[canvas]`` key in a layout file) for a platform."""

    name: str
    max_jpeg_bytes: int
    max_png_bytes: int

    def max_bytes(self, fmt: str) -> int:
        """The largest file the platform takes in ``fmt`` (``jpeg`` or ``png``)."""
        return self.max_png_bytes if fmt == "png" else self.max_jpeg_bytes


@dataclass(frozen=True)
class ShareDialog:
    """How a staff member's share page hands a tracked link to the platform.

    With ``sharer_url`` the tap goes to the platform's own share dialog, the tracked link
    appended (percent-encoded). Without it the tap opens Loa's page with the link to paste,
    titled ``paste_title`` with ``paste_steps`` (catalogue ids), and the platform's share
    plugin when the platform has one and an official account of it is configured.
    """

    button_label: str  # catalogue id
    sharer_url: str | None = None
    form_action: str | None = None  # origin the share form may post on to (CSP form-action)
    paste_title: str | None = None  # catalogue id
    paste_steps: tuple[str, ...] = ()  # catalogue ids
    plugin_script: str | None = None
    plugin_csp: str | None = None  # script-src and frame-src sources the plugin needs
    plugin_intro: str | None = None  # catalogue id of the line above the plugin
    plugin_markup: str | None = None  # HTML with {link} and {account} placeholders (escaped values)


class Publisher(ABC):
    """Base of every platform publisher. Capabilities are class data.

    Everything above the platform folders asks these attributes instead of testing the
    platform's name, so a new platform is one folder and one registry line.
    """

    platform: ClassVar[str]
    label: ClassVar[str]
    # How reports and summaries name one channel of this platform ("Fanpage", "Zalo OA").
    kind_label: ClassVar[str]
    # The letter of the platform's small round badge in the console.
    avatar: ClassVar[str]
    max_text_length: ClassVar[int]
    supports_image: ClassVar[bool] = True
    max_image_bytes: ClassVar[int]
    max_title_length: ClassVar[int | None] = None
    max_description_length: ClassVar[int | None] = None
    # Covers: the canvases this platform's posts may be drawn on; the first is the one a
    # post's cover is drawn at. ``needs_cover``: a post cannot go out without one.
    cover_targets: ClassVar[tuple[CoverTarget, ...]]
    needs_cover: ClassVar[bool] = False
    # True: the platform fetches the cover from Loa's public URL; False: the bytes are uploaded.
    cover_by_url: ClassVar[bool] = False
    # The platform renews credentials with single-use refresh tokens: renewal runs ahead of
    # expiry under the vault's lock, and a reconnect stores a refresh token, not an access token.
    single_use_refresh_token: ClassVar[bool] = False
    # Where the platform's API lives: live, and under the sandbox's base URL.
    live_api_base: ClassVar[str]
    sandbox_api_path: ClassVar[str] = ""
    live_oauth_base: ClassVar[str | None] = None
    share_dialog: ClassVar[ShareDialog | None] = None
    # Media a post may carry: photos in one post (0: none), a video, its bytes and length.
    max_photos: ClassVar[int] = 0
    supports_video: ClassVar[bool] = False
    max_video_bytes: ClassVar[int] = 0
    # A short vertical video published as a short-form video (a Reel) when it fits these;
    # ``short_video_daily_cap`` such posts per channel in any 24 hours (0: no cap).
    short_video_seconds: ClassVar[tuple[float, float] | None] = None
    short_video_aspect: ClassVar[tuple[int, int] | None] = None
    short_video_daily_cap: ClassVar[int] = 0

    @classmethod
    def is_short_video(cls, video: MediaFile | None) -> bool:
        """Whether ``video`` goes out as this platform's short-form video."""
        if video is None or cls.short_video_seconds is None or cls.short_video_aspect is None:
            return False
        low, high = cls.short_video_seconds
        wide, tall = cls.short_video_aspect
        if video.duration_s is None or not low <= video.duration_s <= high or not video.height:
            return False
        return abs(video.width / video.height - wide / tall) < 0.02

    @classmethod
    def live_settings_problem(cls, channel: ChannelSettings) -> Message | None:
        """What a live channel of this platform lacks in config.toml, or None when complete."""
        return None

    @classmethod
    def options(cls, settings: Settings, channel: ChannelSettings) -> dict[str, object]:
        """Keyword arguments of this platform's constructor taken from the settings."""
        return {}

    @classmethod
    def connect_flow(cls) -> type[ConnectFlow] | None:
        """How an admin connects an account of this platform (its login flow), if it has one."""
        return None

    @classmethod
    @abstractmethod
    def emulator(cls) -> type[PlatformEmulator]:
        """This platform's part of the sandbox (imported only when a sandbox is built)."""

    def __init__(
        self,
        access: ChannelAccess,
        *,
        vault: TokenVault,
        timeout: float = 20.0,
        session: requests.Session | None = None,
    ) -> None:
        self.access = access
        self.vault = vault
        self.timeout = timeout
        # A session given by the caller is shared (kept-alive connections) and stays open.
        self._owns_session = session is None
        self.session = session or requests.Session()
        # Highest quota usage (percent) the platform reported on the last call, from its
        # usage headers; 0 when it sends none. Lets readers yield before the quota runs out.
        self.usage_percent = 0.0

    @abstractmethod
    def publish(self, post: OutgoingPost) -> PublishResult:
        """Create the post now. Raises any error of the contract, ``UnknownOutcome`` included."""

    @abstractmethod
    def find_recent(self, *, since: datetime) -> list[RemotePost]:
        """Posts created since ``since`` (newest first), for matching after an unknown outcome."""

    @abstractmethod
    def fetch_metrics(self, remote_id: str) -> PostMetrics:
        """The platform's current counters for one published post."""

    def fetch_metrics_many(
        self,
        remote_ids: Sequence[str],
        *,
        since: datetime | None = None,
        usage_ceiling: float = 100.0,
    ) -> dict[str, PostMetrics | PublishError]:
        """Counters of several posts, in as few calls as the platform allows.

        ``since``: none of the posts is older (lets a listing-based batch stop early).
        A post the platform refuses maps to its error and the others still come back.
        ``AuthError`` or ``RateLimited`` ends the batch (every later call would fail the same
        way): that error is given for the post it hit. Once ``usage_percent`` reaches
        ``usage_ceiling`` no further call is made. Posts not asked are absent from the answer.
        This default asks one post at a time; publishers override it where the API batches.
        """
        found: dict[str, PostMetrics | PublishError] = {}
        for remote_id in remote_ids:
            if self.usage_percent >= usage_ceiling:
                break
            try:
                found[remote_id] = self._fetch_for_batch(remote_id)
            except (AuthError, RateLimited) as exc:
                found[remote_id] = exc
                break
            except PublishError as exc:
                found[remote_id] = exc
        return found

    def _fetch_for_batch(self, remote_id: str) -> PostMetrics:
        """How ``fetch_metrics_many`` reads one post; a platform may read more per call."""
        return self.fetch_metrics(remote_id)

    # Whether fetch_audience reads anything on this platform (class data, read by the collector).
    audience: ClassVar[bool] = False

    def fetch_audience(self, day: date) -> PageAudience:
        """The channel's own audience on ``day`` (followers, the Page's views and reach)."""
        return PageAudience()

    @abstractmethod
    def delete(self, remote_id: str) -> None:
        """Remove a published post."""

    @abstractmethod
    def check(self) -> None:
        """Verify that the credentials work (cheap read); raises ``AuthError`` if not."""

    def token_expires_at(self) -> datetime | None:
        """When the channel's credential stops working, as the platform says (`loa doctor`
        warns ahead of it); None when it does not expire, or the platform does not say."""
        return None

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(channel={self.access.channel_id!r})"
