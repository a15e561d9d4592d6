"""Zalo Official Account publisher: articles (docs/platforms.md B0–B5).

Publishing an article is two calls: ``article/create`` answers with a processing token,
``article/verify`` turns that token into the article id once Zalo has fetched the media.
Access tokens last about 25 h and the refresh token is SINGLE-USE (B1, docs/reliability.md
§4.2): every refreshed pair is saved to the vault before it is used for anything, and
refreshes of one channel never overlap inside this process.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar

import requests
from requests.utils import requote_uri
from urllib3.exceptions import NewConnectionError

from scheduler.channels.base import (
    ChannelAccess,
    CoverTarget,
    MediaFile,
    OutgoingPost,
    PageAudience,
    PostMetrics,
    Publisher,
    PublishResult,
    RemotePost,
    ShareDialog,
    StepRecord,
    TokenVault,
)
from scheduler.errors import (
    AuthError,
    PermanentError,
    PublishError,
    RateLimited,
    TransientError,
    UnknownOutcome,
)
from scheduler.i18n import N_, Message, msg

if TYPE_CHECKING:
    from scheduler.channels.connect import ConnectFlow
    from scheduler.config import ChannelSettings, Settings
    from scheduler.sandbox.emulator import PlatformEmulator

Json = dict[str, Any]

ZALO_OAUTH_BASE = "https://oauth.zaloapp.com"

# B5 error codes.
_TOKEN_DEAD = frozenset({-216, -220})  # invalid / expired access token: refresh once, retry once
_RATE = -32  # per-minute call limit
_QUOTA = -211  # out of quota (monthly article quota, resets on the package anniversary)
_PROCESSING = -214  # article still being processed: poll verify
# The refresh token was already used or has expired (number UNVERIFIED, docs/platforms.md B1).
_REFRESH_TOKEN_SPENT = -14020
_MEDIA_FAILED = -200  # at verify: Zalo could not fetch the cover / body images
_NIGHT = -234  # no promotional sends 22:00–06:00 Vietnam time
_NOT_AUTHORIZED = -223  # OA has not granted this API to the app: needs re-authorisation
# D4 (UNVERIFIED, from an integration's design): upload_video/verify's status values.
_VIDEO_USABLE = 1
_VIDEO_REFUSED = frozenset({2, 4, 5})  # locked, error, deleted

_RATE_WAIT_S = 60.0  # −32 is a per-minute limit
_QUOTA_WAIT_S = 24 * 3600.0  # the quota resets on a date we cannot see; look again daily
_VIETNAM = timezone(timedelta(hours=7))  # no DST in Vietnam, so a fixed offset is exact

_TITLE_LIMIT = 149  # B3: "1 to 150 characters", yet exactly 150 was rejected in the field
_DESCRIPTION_LIMIT = 300
_AUTHOR_LIMIT = 50
_SLICE_LIMIT = 10  # getslice rejects limit > 10 (B3)

_BLOCK_TAG = re.compile(r"(?i)<\s*br\s*/?\s*>|</\s*p\s*>\s*<\s*p[^>]*>")
_ANY_TAG = re.compile(r"<[^>]+>")


def _http_timeouts(total: float) -> tuple[float, float]:
    # Connecting is quick or hopeless; reading may wait on Zalo's processing.
    return (min(5.0, total), total)


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request provably never left (no TCP connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    inner = exc.args[0] if exc.args else None
    return isinstance(getattr(inner, "reason", None), NewConnectionError)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _from_ms(value: object) -> datetime | None:
    """Zalo dates are epoch milliseconds (B3)."""
    number = _as_int(value)
    if number is None or number <= 0:
        return None
    return datetime.fromtimestamp(number / 1000, tz=UTC)


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word boundary with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space >= limit // 2:  # a very long word: cut inside it rather than lose half
        head = head[:space]
    return head.rstrip(" ,;:.-–") + "…"


def derive_title(text: str) -> str:
    """First non-empty line of the text, within Zalo's title limit."""
    for line in text.splitlines():
        if line.strip():
            return _cut(line, _TITLE_LIMIT)
    return ""


def derive_description(text: str) -> str:
    """The text after the title line (or the whole text if one line), within 300 chars."""
    lines = [line for line in text.splitlines() if line.strip()]
    rest = " ".join(lines[1:]) if len(lines) > 1 else " ".join(lines)
    return _cut(rest, _DESCRIPTION_LIMIT)


def text_to_html(text: str, link: str | None = None) -> str:
    """Plain text as article HTML: blank lines split paragraphs, single newlines are <br>.

    Everything is escaped: the text is the author's words, never markup (ASVS 3.2.2).
    """
    paragraphs = [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))]
    parts = ["<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>" for p in paragraphs if p.strip()]
    if link and link not in text:
        href = html.escape(link, quote=True)
        parts.append(f'<p><a href="{href}">{href}</a></p>')
    return "".join(parts)


def html_to_text(markup: str) -> str:
    """The inverse of :func:`text_to_html`, close enough for matching posts."""
    text = _BLOCK_TAG.sub(lambda m: "\n" if "br" in m.group(0).lower() else "\n\n", markup)
    return html.unescape(_ANY_TAG.sub("", text)).strip()


def _seconds_until_morning(now: datetime | None = None) -> float:
    """Seconds until 06:05 Vietnam time, when −234 (night ban) stops applying."""
    local = (now or datetime.now(UTC)).astimezone(_VIETNAM)
    morning = local.replace(hour=6, minute=5, second=0, microsecond=0)
    if morning <= local:
        morning += timedelta(days=1)
    return (morning - local).total_seconds()


class ZaloPublisher(Publisher):
    """Publishes articles to one Zalo Official Account."""

    platform: ClassVar[str] = "zalo"
    label: ClassVar[str] = "Zalo OA"
    kind_label: ClassVar[str] = "Zalo OA"
    avatar: ClassVar[str] = "Z"
    # No documented limit on the article body (UNVERIFIED): 10 000 characters of plain
    # text keeps the escaped HTML well below any plausible request-size cap.
    max_text_length: ClassVar[int] = 10_000
    supports_image: ClassVar[bool] = True
    # Article images must be ≤ 1 MB (B2/B3); decimal megabyte to stay on the safe side.
    max_image_bytes: ClassVar[int] = 1_000_000
    max_title_length: ClassVar[int | None] = _TITLE_LIMIT
    max_description_length: ClassVar[int | None] = _DESCRIPTION_LIMIT
    # An article always shows a cover, which Zalo fetches from Loa's public URL (B2/B3: ≤ 1 MB).
    cover_targets: ClassVar[tuple[CoverTarget, ...]] = (
        CoverTarget("zalo", max_jpeg_bytes=1_000_000, max_png_bytes=1_000_000),
    )
    needs_cover: ClassVar[bool] = True
    cover_by_url: ClassVar[bool] = True
    # D4: several images in an article's body, each ≤ 1 MB, fetched from public URLs.
    # UNVERIFIED: how many one body may hold; 20 is what Loa sends at most.
    max_photos: ClassVar[int] = 20
    # D4: a video article from an uploaded file; UNVERIFIED: 50 MB, from the SDK's documentation.
    supports_video: ClassVar[bool] = True
    max_video_bytes: ClassVar[int] = 50 * 1_000_000
    single_use_refresh_token: ClassVar[bool] = True
    live_api_base: ClassVar[str] = "https://openapi.zalo.me"
    live_oauth_base: ClassVar[str | None] = ZALO_OAUTH_BASE
    share_dialog: ClassVar[ShareDialog | None] = ShareDialog(
        button_label=N_("share.button.zalo"),
        paste_title=N_("share.button.zalo"),
        paste_steps=(N_("share.step_copy"), N_("share.step_paste_zalo")),
        plugin_script="https://sp.zalo.me/plugins/sdk.js",
        plugin_csp="script-src 'self' https://sp.zalo.me; frame-src https://sp.zalo.me https://button-share.zalo.me",
        plugin_intro=N_("share.or_zalo_button"),
        plugin_markup=(
            '<div class="zalo-share-button" data-href="{link}" data-oaid="{account}" data-layout="1"'
            ' data-color="blue" data-customize="false"></div>'
        ),
    )

    @classmethod
    def emulator(cls) -> type[PlatformEmulator]:
        from scheduler.channels.zalo.emulator import ZaloApi

        return ZaloApi

    @classmethod
    def connect_flow(cls) -> type[ConnectFlow]:
        from scheduler.channels.zalo.login import ZaloLogin

        return ZaloLogin

    @classmethod
    def live_settings_problem(cls, channel: ChannelSettings) -> Message | None:
        if not (channel.app_id and channel.app_secret_env):
            return msg("config.live_zalo_needs_app")
        return None

    @classmethod
    def options(cls, settings: Settings, channel: ChannelSettings) -> dict[str, object]:
        publishing = settings.publishing
        return {
            "verify_polls": publishing.zalo_verify_polls,
            "verify_interval": publishing.zalo_verify_interval_seconds,
            "author": channel.name,
        }

    # One lock per channel for the whole process: two refreshes with the same single-use
    # refresh token would kill the channel (docs/reliability.md §4.2).
    _refresh_locks: ClassVar[dict[str, threading.Lock]] = {}
    _refresh_locks_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        access: ChannelAccess,
        *,
        vault: TokenVault,
        timeout: float = 20.0,
        session: requests.Session | None = None,
        verify_polls: int = 8,
        verify_interval: float = 3.0,
        refresh_margin: timedelta = timedelta(hours=1),
        author: str | None = None,
        max_pages: int = 10,
        video_polls: int = 40,
    ) -> None:
        super().__init__(access, vault=vault, timeout=timeout, session=session)
        # B3: Zalo fetches the media asynchronously; the field client polls 8 × 3 s.
        self.verify_polls = max(1, verify_polls)
        self.verify_interval = verify_interval
        self.refresh_margin = refresh_margin
        self.author = author[:_AUTHOR_LIMIT] if author else None
        self.max_pages = max_pages
        self.video_polls = max(1, video_polls)
        self.oauth_base = (access.oauth_base or ZALO_OAUTH_BASE).rstrip("/")

    # ------------------------------------------------------------------ contract

    def publish(self, post: OutgoingPost) -> PublishResult:
        article = self._video_article(post, post.video) if post.video is not None else self._article(post)
        created = self._api("POST", "/v2.0/article/create", body=article, write=True)
        token = created.get("token")
        if not isinstance(token, str) or not token:
            raise UnknownOutcome(
                msg("error.zalo_no_processing_token"),
                hint=msg("hint.zalo_look_first"),
                platform=self.platform,
            )
        cover = post.cover_url if post.cover_chosen or not post.photos else post.photos[0].url
        article_id = self._verify(token, cover or "")
        permalink, published_at = self._read_back(article_id)
        return PublishResult(remote_id=article_id, permalink=permalink, published_at=published_at)

    def find_recent(self, *, since: datetime) -> list[RemotePost]:
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        found: list[RemotePost] = []
        for page in range(self.max_pages):
            data = self._api(
                "GET",
                "/v2.0/article/getslice",
                params={
                    "offset": str(page * _SLICE_LIMIT),
                    "limit": str(_SLICE_LIMIT),
                    "type": "normal",
                },
            )
            items = data.get("medias")
            if not isinstance(items, list) or not items:
                break
            reached_older = False
            for item in items:
                if not isinstance(item, dict) or not item.get("id"):
                    continue
                created = _from_ms(item.get("create_date"))
                # getslice lists newest first: the first older article ends the search.
                if created is not None and created < since:
                    reached_older = True
                    break
                detail = self._detail_or_none(str(item["id"]))
                if created is None and detail is not None:
                    created = _from_ms(detail.get("create_date"))
                    if created is not None and created < since:
                        reached_older = True
                        break
                found.append(
                    RemotePost(
                        remote_id=str(item["id"]),
                        text=_article_text(detail or item),
                        created_at=created,
                        permalink=_link(detail) or _link(item),
                    )
                )
            if reached_older or len(items) < _SLICE_LIMIT:
                break
        return found

    def fetch_metrics(self, remote_id: str) -> PostMetrics:
        detail = self._api("GET", "/v2.0/article/getdetail", params={"id": remote_id})
        views = _as_int(detail.get("total_view"))
        shares = _as_int(detail.get("total_share"))
        return PostMetrics(
            views=views,
            reach=None,  # Zalo exposes no unique-viewer count (B3)
            shares=shares,
            raw={"total_view": detail.get("total_view"), "total_share": detail.get("total_share")},
        )

    def fetch_metrics_many(
        self,
        remote_ids: Sequence[str],
        *,
        since: datetime | None = None,
        usage_ceiling: float = 100.0,
    ) -> dict[str, PostMetrics | PublishError]:
        """Ten articles per call: ``getslice`` lists both counters, newest first (B3).

        The listing is read while it can still beat one ``getdetail`` per article: it stops
        when every article is found, at an article older than ``since``, at the end of the
        list, or once the pages read equal the articles still missing. Those are then read
        one by one.
        """
        wanted = list(dict.fromkeys(remote_ids))
        found: dict[str, PostMetrics | PublishError] = {}
        missing = set(wanted)
        cutoff = None if since is None else (since if since.tzinfo else since.replace(tzinfo=UTC))
        page = 0
        while len(missing) > page and page < self.max_pages:
            try:
                data = self._api(
                    "GET",
                    "/v2.0/article/getslice",
                    params={"offset": str(page * _SLICE_LIMIT), "limit": str(_SLICE_LIMIT), "type": "normal"},
                )
            except (AuthError, RateLimited) as exc:
                found[wanted[0]] = exc
                return found
            except PublishError:
                break  # the listing is refused: one by one still works
            page += 1
            items = data.get("medias")
            items = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
            for item in items:
                article_id = str(item.get("id") or "")
                if article_id in missing:
                    missing.discard(article_id)
                    found[article_id] = PostMetrics(
                        views=_as_int(item.get("total_view")),
                        reach=None,  # Zalo exposes no unique-viewer count (B3)
                        shares=_as_int(item.get("total_share")),
                        raw={"total_view": item.get("total_view"), "total_share": item.get("total_share")},
                    )
            created = _from_ms(items[-1].get("create_date")) if items else None
            if len(items) < _SLICE_LIMIT or (cutoff is not None and created is not None and created < cutoff):
                break
        rest = [article_id for article_id in wanted if article_id in missing]
        found.update(super().fetch_metrics_many(rest, since=since, usage_ceiling=usage_ceiling))
        return found

    def delete(self, remote_id: str) -> None:
        self._api("POST", "/v2.0/article/remove", body={"id": remote_id})

    def check(self) -> None:
        self._api("GET", "/v2.0/oa/getoa")

    audience: ClassVar[bool] = True

    def fetch_audience(self, day: date) -> PageAudience:
        """The OA's follower count now (``getoa``'s ``num_follower``); Zalo's OA API gives no
        daily views or reach of the OA itself (UNVERIFIED: none found in its reference)."""
        count = self._api("GET", "/v2.0/oa/getoa").get("num_follower")
        return PageAudience(followers=count if isinstance(count, int) and not isinstance(count, bool) else None)

    def refresh_tokens(self) -> datetime:
        """Trade the stored refresh token for a new pair now; returns the new expiry.

        The engine calls this under its own lock; the per-channel lock here also keeps two
        publishers of this process from spending the same single-use refresh token.
        """
        with self._lock(), self.vault.locked(self.access.channel_id):
            stored = self.vault.load(self.access.channel_id) or {}
            refresh_token = stored.get("refresh_token") or self.access.initial_refresh_token
            if not refresh_token:
                raise self._no_tokens()
            _, expires_at = self._exchange(refresh_token)
            return expires_at

    # ------------------------------------------------------------------ tokens

    def _lock(self) -> threading.Lock:
        with self._refresh_locks_guard:
            return self._refresh_locks.setdefault(self.access.channel_id, threading.Lock())

    def _no_tokens(self) -> AuthError:
        return AuthError(
            msg("error.zalo_no_token", channel=self.access.channel_id),
            hint=msg("hint.zalo_reconnect"),
            platform=self.platform,
        )

    def _access_token(self) -> str:
        """A usable access token, refreshing first when it expires within the margin."""
        stored = self.vault.load(self.access.channel_id) or {}
        token = stored.get("access_token")
        if not token:
            # First use of the channel: seed the vault from the configured refresh token.
            return self._refresh_unless_done(None)
        expires_at = _parse_iso(stored.get("expires_at"))
        now = datetime.now(UTC)
        # Without a known expiry (a pair stored by hand) the token is used until Zalo says
        # −216/−220: refreshing on every call would rotate the pair for nothing.
        if expires_at is None or expires_at - now > self.refresh_margin:
            return token
        try:
            return self._refresh_unless_done(token)
        except TransientError:
            # A proactive refresh is an optimisation: while the old token is still valid,
            # an unreachable OAuth server must not stop the call.
            if expires_at > now:
                return token
            raise

    def _refresh_unless_done(self, stale: str | None) -> str:
        """Refresh, unless another caller already replaced ``stale`` while we waited."""
        with self._lock(), self.vault.locked(self.access.channel_id):
            # Re-read under the lock (docs/reliability.md §4.2): someone may have refreshed.
            stored = self.vault.load(self.access.channel_id) or {}
            current = stored.get("access_token")
            if current and current != stale:
                return current
            refresh_token = stored.get("refresh_token") or self.access.initial_refresh_token
            if not refresh_token:
                raise self._no_tokens()
            token, _ = self._exchange(refresh_token)
            return token

    def _exchange(self, refresh_token: str) -> tuple[str, datetime]:
        """POST the refresh grant; saves the new pair to the vault before returning it."""
        if not self.access.app_id or not self.access.app_secret:
            raise AuthError(
                msg("error.zalo_app_missing", channel=self.access.channel_id),
                hint=msg("hint.zalo_set_app"),
                platform=self.platform,
            )
        self.vault.begin_refresh(self.access.channel_id)
        try:
            response = self.session.post(
                f"{self.oauth_base}/v4/oa/access_token",
                data={
                    "app_id": self.access.app_id,
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                },
                headers={"secret_key": self.access.app_secret},
                timeout=_http_timeouts(self.timeout),
            )
        except requests.RequestException:
            # If the request reached Zalo the refresh token is already spent; nothing can
            # recover that here, the next attempt will tell (AuthError → reconnect).
            raise TransientError(
                msg("error.zalo_renewal_unreachable"),
                hint=msg("hint.zalo_renewal_unreachable"),
                platform=self.platform,
            ) from None
        try:
            body: object = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TransientError(
                msg("error.zalo_token_service_not_json", status=response.status_code),
                hint=msg("hint.retry_later"),
                platform=self.platform,
                http_status=response.status_code,
            )
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            # OAuth errors come as error/error_name/error_description, often with HTTP 200.
            if response.status_code >= 500:
                raise TransientError(
                    msg("error.zalo_token_service_failed", status=response.status_code),
                    hint=msg("hint.retry_later"),
                    platform=self.platform,
                    http_status=response.status_code,
                )
            reason = self._scrub(
                str(
                    body.get("error_description")
                    or body.get("error_reason")
                    or body.get("error_name")
                    or body.get("message")
                    or ""
                )
            )
            code = _as_int(body.get("error"))
            if code == _REFRESH_TOKEN_SPENT:
                # Single-use: a copy of the token elsewhere (another Loa, a tool, a backup
                # restored) spent it first. Saying so points the person at the real cause.
                raise AuthError(
                    msg("error.refresh_token_spent", channel=self.access.channel_id, reason=reason),
                    hint=msg("hint.refresh_token_spent"),
                    platform=self.platform,
                    code=code,
                    http_status=response.status_code,
                )
            raise AuthError(
                msg(
                    "error.zalo_renewal_refused",
                    channel=self.access.channel_id,
                    reason=reason or msg("error.no_reason_given"),
                ),
                hint=msg("hint.zalo_reconnect"),
                platform=self.platform,
                code=_as_int(body.get("error")),
                http_status=response.status_code,
            )
        new_refresh = body.get("refresh_token")
        # `expires_in` is a string of seconds ("90000" = 25 h, B1); trust it over any lore.
        lifetime = _as_int(body.get("expires_in")) or 3600
        expires_at = datetime.now(UTC) + timedelta(seconds=lifetime)
        # Saved BEFORE the token is used or returned: the old refresh token is dead now.
        self.vault.save(
            self.access.channel_id,
            {
                "access_token": access_token,
                "refresh_token": new_refresh if isinstance(new_refresh, str) and new_refresh else refresh_token,
                "expires_at": expires_at.isoformat(),
            },
        )
        return access_token, expires_at

    # ------------------------------------------------------------------ calls

    def _api(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Json | None = None,
        write: bool = False,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Json:
        """One OA API call; returns ``data`` or raises a classified error.

        A dead access token (−216/−220, HTTP 401) is refreshed once and the call retried
        once: Zalo rejected the first call, so even a create is safe to repeat.
        """
        token = self._access_token()
        for attempt in range(2):
            status, reply = self._send(method, path, token, params, body, write, files=files, headers=headers)
            code = _as_int(reply.get("error"))
            if code in _TOKEN_DEAD or status == 401:
                if attempt == 0:
                    token = self._refresh_unless_done(token)
                    continue
                raise AuthError(
                    msg("error.zalo_token_refused_after_renewal", channel=self.access.channel_id),
                    hint=msg("hint.zalo_reconnect"),
                    platform=self.platform,
                    code=code,
                    http_status=status,
                )
            if code:
                raise self._zalo_error(code, str(reply.get("message") or ""), status, write)
            data = reply.get("data")
            return data if isinstance(data, dict) else {}
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _send(
        self,
        method: str,
        path: str,
        token: str,
        params: Mapping[str, str] | None,
        body: Json | None,
        write: bool,
        *,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Json]:
        if files is not None:
            for _name, (_file_name, handle, _kind) in files.items():
                handle.seek(0)  # the refresh-and-retry sends the same file from its start
        try:
            response = self.session.request(
                method,
                f"{self.access.api_base.rstrip('/')}{path}",
                params=params,
                json=body,
                files=files,
                headers={"access_token": token, **(headers or {})},
                timeout=_http_timeouts(self.timeout),
            )
        except requests.RequestException as exc:
            timed_out = isinstance(exc, requests.Timeout)
            kind = msg("error.call_timed_out") if timed_out else msg("error.call_lost_connection")
            if write and not _never_sent(exc):
                raise UnknownOutcome(
                    msg("error.zalo_write_lost", kind=kind),
                    hint=msg("hint.zalo_look_first"),
                    platform=self.platform,
                ) from None
            raise TransientError(
                msg("error.zalo_unreachable", kind=kind),
                hint=msg("hint.check_connection"),
                platform=self.platform,
            ) from None
        try:
            reply: object = response.json()
        except ValueError:
            reply = None
        if isinstance(reply, dict) and "error" in reply and response.status_code < 500:
            return response.status_code, reply
        if response.status_code == 401:
            return 401, {}
        what = (
            msg("error.http_status", status=response.status_code)
            if response.status_code >= 400
            else msg("error.reply_not_json")
        )
        if write:
            raise UnknownOutcome(
                msg("error.zalo_write_answered", what=what),
                hint=msg("hint.zalo_look_first"),
                platform=self.platform,
                http_status=response.status_code,
            )
        if response.status_code == 429:
            raise RateLimited(
                msg("error.zalo_rate_limited"),
                hint=msg("hint.retry_in_a_minute"),
                retry_after=_RATE_WAIT_S,
                platform=self.platform,
                http_status=429,
            )
        raise TransientError(
            msg("error.zalo_answered", what=what),
            hint=msg("hint.retry_later"),
            platform=self.platform,
            http_status=response.status_code,
        )

    def _zalo_error(self, code: int, message: str, status: int, write: bool) -> PublishError:
        said: str | Message = self._scrub(message) or msg("error.no_reason_given")
        extra: dict[str, Any] = {"platform": self.platform, "code": code, "http_status": status}
        if code == _RATE:
            return RateLimited(
                msg("error.zalo_rate_per_minute"),
                hint=msg("hint.retry_in_a_minute"),
                retry_after=_RATE_WAIT_S,
                **extra,
            )
        if code == _QUOTA:
            return RateLimited(
                msg("error.zalo_quota"),
                hint=msg("hint.zalo_quota"),
                retry_after=_QUOTA_WAIT_S,
                **extra,
            )
        if code == _NIGHT:
            return TransientError(
                msg("error.zalo_night"),
                hint=msg("hint.retry_in_the_morning"),
                retry_after=_seconds_until_morning(),
                **extra,
            )
        if code == _PROCESSING:
            return TransientError(
                msg("error.zalo_processing"),
                hint=msg("hint.check_again_shortly"),
                **extra,
            )
        if code == _NOT_AUTHORIZED:
            return AuthError(
                msg("error.zalo_not_authorized"),
                hint=msg("hint.zalo_grant_articles"),
                **extra,
            )
        if code == _MEDIA_FAILED:
            return PermanentError(
                msg("error.zalo_media_failed", reason=said),
                hint=msg("hint.zalo_cover_public"),
                **extra,
            )
        # −201 invalid parameter, −204/−205 OA gone, −209/−212 API not enabled, −210 over a
        # limit, −221 OA not verified, −224 package too small, and any code we do not know:
        # retrying the same call cannot change the answer.
        return PermanentError(
            msg("error.zalo_refused", reason=said, code=code),
            hint=msg("hint.zalo_fix_article"),
            **extra,
        )

    # ------------------------------------------------------------------ publish helpers

    def _article(self, post: OutgoingPost) -> Json:
        photos = post.photos
        # The cover: the layout the person chose, else the post's first photo (they chose the
        # order), else the channel's default.
        cover = post.cover_url if post.cover_chosen or not photos else photos[0].url
        if not cover:
            # Zalo itself answers −201 "cover value is invalid" without one (B3); saying so
            # before the call names the fix.
            raise PermanentError(
                msg("error.zalo_needs_cover"),
                hint=msg("hint.add_cover"),
                platform=self.platform,
            )
        if not post.text.strip():
            raise PermanentError(
                msg("error.article_no_text"),
                hint=msg("hint.write_text"),
                platform=self.platform,
            )
        if len(post.text) > self.max_text_length:
            raise PermanentError(
                msg("error.zalo_text_too_long", length=len(post.text), limit=self.max_text_length),
                hint=msg("hint.shorten_text"),
                platform=self.platform,
            )
        title = post.title.strip() if post.title else derive_title(post.text)
        if len(title) > _TITLE_LIMIT:
            raise PermanentError(
                msg("error.zalo_title_too_long", length=len(title), limit=_TITLE_LIMIT),
                hint=msg("hint.shorten_title"),
                platform=self.platform,
            )
        description = post.description.strip() if post.description else derive_description(post.text)
        if len(description) > _DESCRIPTION_LIMIT:
            raise PermanentError(
                msg("error.zalo_description_too_long", length=len(description), limit=_DESCRIPTION_LIMIT),
                hint=msg("hint.shorten_description"),
                platform=self.platform,
            )
        article: Json = {
            "type": "normal",
            "title": title,
            "description": description or title,
            # Zalo rejects unencoded spaces or Vietnamese letters in photo_url (B3).
            "cover": {
                "cover_type": "photo",
                "photo_url": requote_uri(cover),
                "status": "show",
            },
            # The words, then the photos in the order the person gave them (D4: public URLs).
            "body": [
                {"type": "text", "content": text_to_html(post.text, post.link)},
                *(
                    {"type": "image", "url": requote_uri(photo.url), **({"caption": photo.alt} if photo.alt else {})}
                    for photo in photos
                ),
            ],
            "status": "show",
            "comment": "show",
        }
        if self.author:
            article["author"] = self.author
        return article

    def _video_article(self, post: OutgoingPost, video: MediaFile) -> Json:
        """A ``type: video`` article (D4): the file uploaded (``preparevideo``), its conversion
        polled (``verify``) until usable, then the article naming its ``video_id``.

        The upload's token and the usable video id are recorded as each arrives, so an
        attempt after a crash polls the same upload instead of sending the file again; the
        irreversible step stays ``article/create``.
        """
        if video.size > self.max_video_bytes:
            raise PermanentError(
                msg("error.zalo_video_too_big", size=round(video.size / 1e6), limit=self.max_video_bytes // 1_000_000),
                hint=msg("hint.media_video_smaller"),
                platform=self.platform,
            )
        if not post.cover_url:
            raise PermanentError(msg("error.zalo_needs_cover"), hint=msg("hint.add_cover"), platform=self.platform)
        steps = post.steps
        video_id = steps.get("video:id")
        if video_id is None:
            token = steps.get("video:token")
            if token is None:
                with video.path.open("rb") as handle:
                    data = self._api(
                        "POST",
                        "/v2.0/article/upload_video/preparevideo",
                        files={"file": (video.path.name, handle, video.content_type)},
                    )
                token = str(data.get("token") or "")
                if not token:
                    raise TransientError(
                        msg("error.zalo_no_processing_token"), hint=msg("hint.retry_later"), platform=self.platform
                    )
                steps.put("video:token", token)
            video_id = self._video_ready(token, steps)
        title = post.title.strip() if post.title else derive_title(post.text)
        description = post.description.strip() if post.description else derive_description(post.text)
        article: Json = {
            "type": "video",
            "title": title[:_TITLE_LIMIT],
            "description": (description or title)[:_DESCRIPTION_LIMIT],
            "video_id": video_id,
            "avatar": requote_uri(post.cover_url),
            "status": "show",
            "comment": "show",
        }
        if self.author:
            article["author"] = self.author
        return article

    def _video_ready(self, token: str, steps: StepRecord) -> str:
        """Poll ``upload_video/verify`` until the video is usable; its error fails the post."""
        waited = 0.0
        for attempt in range(self.video_polls):
            if attempt:
                pause = min(self.verify_interval, 0.5 * 2 ** (attempt - 1))
                time.sleep(pause)
                waited += pause
            data = self._api("GET", "/v2.0/article/upload_video/verify", headers={"token": token})
            status = _as_int(data.get("status"))
            if status == _VIDEO_USABLE and data.get("video_id"):
                video_id = str(data["video_id"])
                steps.put("video:id", video_id)
                return video_id
            if status in _VIDEO_REFUSED:
                steps.drop("video:token")  # that upload is dead: the next attempt uploads again
                raise PermanentError(
                    msg("error.zalo_video_refused", status=status),
                    hint=msg("hint.media_video_again"),
                    platform=self.platform,
                    code=status,
                )
        raise TransientError(
            msg("error.zalo_video_still_processing", checks=self.video_polls, seconds=round(waited)),
            hint=msg("hint.retry_later"),
            platform=self.platform,
        )

    def _verify(self, token: str, cover_url: str) -> str:
        """Poll article/verify until Zalo gives the id.

        The article exists from here on (create answered), so every failure that does not
        prove otherwise is an UnknownOutcome: the reconciler will find it later.
        """
        last: PublishError | None = None
        waited = 0.0
        for attempt in range(self.verify_polls):
            if attempt:
                # Short waits first (most articles are ready within a second), then the
                # field clients' 3 s: the same budget, reached sooner for the usual case.
                pause = min(self.verify_interval, 0.5 * 2 ** (attempt - 1))
                time.sleep(pause)
                waited += pause
            try:
                data = self._api("POST", "/v2.0/article/verify", body={"token": token})
            except PublishError as exc:
                if exc.code == _MEDIA_FAILED:
                    raise PermanentError(
                        msg("error.zalo_cover_unfetched", url=_safe_url(cover_url)),
                        hint=msg("hint.zalo_cover_reachable"),
                        platform=self.platform,
                        code=exc.code,
                        http_status=exc.http_status,
                    ) from None
                if isinstance(exc, TransientError):
                    # −214 (processing), −32, timeouts: keep polling within the budget.
                    last = exc
                    continue
                raise UnknownOutcome(
                    msg("error.zalo_unconfirmed", reason=msg(exc.msgid, **exc.params)),
                    hint=msg("hint.zalo_look_first"),
                    platform=self.platform,
                    code=exc.code,
                    http_status=exc.http_status,
                ) from None
            article_id = data.get("id")
            if article_id:
                return str(article_id)
        raise UnknownOutcome(
            msg(
                "error.zalo_still_processing_last",
                checks=self.verify_polls,
                seconds=round(waited),
                answer=msg(last.msgid, **last.params),
            )
            if last
            else msg("error.zalo_still_processing", checks=self.verify_polls, seconds=round(waited)),
            hint=msg("hint.zalo_look_first"),
            platform=self.platform,
            code=last.code if last else None,
        )

    def _detail_or_none(self, article_id: str) -> Json | None:
        try:
            return self._api("GET", "/v2.0/article/getdetail", params={"id": article_id})
        except (AuthError, RateLimited):
            raise
        except PublishError:
            return None

    def _read_back(self, article_id: str) -> tuple[str | None, datetime]:
        """Link and creation time of the new article: best effort only.

        The article is published already, so nothing here may raise.
        """
        now = datetime.now(UTC)
        try:
            detail = self._api("GET", "/v2.0/article/getdetail", params={"id": article_id})
        except Exception:  # see docstring: never raise after success
            return None, now
        return _link(detail), _from_ms(detail.get("create_date")) or now

    def _scrub(self, text: str) -> str:
        """Remove any secret Zalo might echo back."""
        secrets = [self.access.app_secret, self.access.initial_refresh_token]
        stored = self.vault.load(self.access.channel_id) or {}
        secrets += [stored.get("access_token"), stored.get("refresh_token")]
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def _link(item: Mapping[str, Any] | None) -> str | None:
    if not item:
        return None
    link = item.get("link") or item.get("url")
    return link if isinstance(link, str) and link.startswith(("http://", "https://")) else None


def _article_text(item: Mapping[str, Any]) -> str:
    """The best text of an article for matching: its body, else title and description."""
    parts: list[str] = []
    body = item.get("body")
    if isinstance(body, list):
        for block in body:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(html_to_text(str(block.get("content") or "")))
    text = "\n\n".join(p for p in parts if p)
    if text:
        return text
    return "\n".join(str(item[key]) for key in ("title", "description") if isinstance(item.get(key), str))


def _safe_url(url: str) -> str:
    """The URL without its query string, which may hold a signature."""
    return url.split("?", 1)[0][:200]
