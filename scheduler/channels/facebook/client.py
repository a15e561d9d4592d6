"""Facebook Page publisher (Graph API, docs/platforms.md A0–A8).

Every Graph answer is classified here, at the edge, into ``scheduler.errors``; nothing
above this module reads a Graph error code. The Page token travels as the ``access_token``
form or query parameter, as in all of Meta's examples (A0), and is never put into an error
message, a log line or a repr.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import requests
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
    DuplicateContent,
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
log = logging.getLogger("loa.facebook")
# The step record's mark for a call sent whose answer has not come back.
_PENDING = "?"
# Photos of one album uploaded at once (UNVERIFIED: Graph's tolerance for parallel uploads;
# a few at a time stays well inside the Page's call budget).
_STAGING_THREADS = 4

# Graph error codes (A6). Sets, not ranges, so a reader can grep for a code.
_AUTH_CODES = frozenset({102, 190})
_AUTH_SUBCODES = frozenset(range(458, 468))  # 458 app removed … 467 logged out
_THROTTLE_CODES = frozenset({4, 17, 32, 341, 613} | set(range(80000, 80015)))
# Page-level and BUC throttles last longer than the app-level ones (A7: rolling 24 h window).
_PAGE_THROTTLE_CODES = frozenset({32} | set(range(80000, 80015)))
_SERVER_CODES = frozenset({1, 2})
_PERMISSION_CODES = frozenset({3, 10} | set(range(200, 300)))
_DUPLICATE = 506
_POLICY_BLOCK = 368

# When Graph throttles without saying for how long (regain time 0 or absent). Mixpost uses
# 1 h for this case (docs/reliability.md §3.2); app-level limits recover faster.
_DEFAULT_PAGE_THROTTLE_S = 3600.0
_DEFAULT_APP_THROTTLE_S = 600.0
# 368 is a policy block on the Page, not on this post: every post to the Page would fail the
# same way, so the channel is paused (RateLimited) instead of failing post after post. The
# block length is not published; a day is the usual order of magnitude.
_POLICY_BLOCK_S = 24 * 3600.0

_SUBCODE_REASONS = {
    458: N_("error.facebook_subcode.458"),
    459: N_("error.facebook_subcode.459"),
    460: N_("error.facebook_subcode.460"),
    463: N_("error.facebook_subcode.463"),
    464: N_("error.facebook_subcode.464"),
    467: N_("error.facebook_subcode.467"),
}


def _http_timeouts(total: float) -> tuple[float, float]:
    # Connecting is quick or hopeless; reading may wait on Facebook processing an upload.
    return (min(5.0, total), total)


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request provably never reached the server (no TCP connection).

    Only then is a failed write safe to call transient; anything later (read timeout,
    reset after sending) leaves the outcome unknown.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    inner = exc.args[0] if exc.args else None
    return isinstance(getattr(inner, "reason", None), NewConnectionError)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, float):
        return int(value)
    return None


def _parse_time(value: object) -> datetime | None:
    """Graph times look like ``2026-03-01T02:00:00+0000`` (A3)."""
    if not isinstance(value, str) or not value:
        return None
    for parse in (
        lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z"),
        lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")),
    ):
        try:
            parsed = parse(value)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _usage(headers: Mapping[str, str]) -> tuple[float, float | None]:
    """Highest usage percentage and longest regain time (seconds) in the rate-limit headers.

    ``X-App-Usage``/``X-Page-Usage`` hold percentages; ``X-Business-Use-Case-Usage`` also
    carries ``estimated_time_to_regain_access`` in MINUTES (A7).
    """
    peak = 0.0
    regain: float | None = None

    def take(entry: object) -> None:
        nonlocal peak, regain
        if not isinstance(entry, dict):
            return
        for key in ("call_count", "total_time", "total_cputime"):
            value = entry.get(key)
            if isinstance(value, int | float):
                peak = max(peak, float(value))
        minutes = entry.get("estimated_time_to_regain_access")
        if isinstance(minutes, int | float) and minutes > 0:
            regain = max(regain or 0.0, float(minutes) * 60.0)

    for name in ("X-App-Usage", "X-Page-Usage", "X-Business-Use-Case-Usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            parsed = json.loads(raw)
        except ValueError:
            continue
        if name == "X-Business-Use-Case-Usage" and isinstance(parsed, dict):
            for entries in parsed.values():
                for entry in entries if isinstance(entries, list) else [entries]:
                    take(entry)
        else:
            take(parsed)
    retry_after = headers.get("Retry-After")
    if retry_after and retry_after.strip().isdigit():
        regain = max(regain or 0.0, float(retry_after.strip()))
    return peak, regain


class FacebookPublisher(Publisher):
    """Publishes to one Facebook Page with a Page access token."""

    platform: ClassVar[str] = "facebook"
    label: ClassVar[str] = "Facebook Page"
    kind_label: ClassVar[str] = "Fanpage"
    avatar: ClassVar[str] = "f"
    # The Graph `message` field's documented ceiling for Page posts.
    max_text_length: ClassVar[int] = 63206
    supports_image: ClassVar[bool] = True
    # docs/platforms.md A2: Facebook advises keeping files under 4 MB.
    max_image_bytes: ClassVar[int] = 4 * 1024 * 1024
    # docs/platforms.md A2: photos under 4 MB, PNGs under 1 MB. The link-size canvas, and the
    # square one for a photo post.
    cover_targets: ClassVar[tuple[CoverTarget, ...]] = (
        CoverTarget("facebook", max_jpeg_bytes=4_000_000, max_png_bytes=1_000_000),
        CoverTarget("square", max_jpeg_bytes=4_000_000, max_png_bytes=1_000_000),
    )
    live_api_base: ClassVar[str] = "https://graph.facebook.com/v25.0"
    sandbox_api_path: ClassVar[str] = "/v25.0"
    # D3: up to 10 photos in one post (attached_media); video posts; Reels 3–90 s at 9:16,
    # 30 per Page in any 24 hours. UNVERIFIED: the largest video a Page takes through the
    # chunked upload; 1 GB keeps Loa's uploads well inside what is reported.
    max_photos: ClassVar[int] = 10
    supports_video: ClassVar[bool] = True
    max_video_bytes: ClassVar[int] = 1024 * 1024 * 1024
    short_video_seconds: ClassVar[tuple[float, float] | None] = (3.0, 90.0)
    short_video_aspect: ClassVar[tuple[int, int] | None] = (9, 16)
    short_video_daily_cap: ClassVar[int] = 30
    share_dialog: ClassVar[ShareDialog | None] = ShareDialog(
        button_label=N_("share.button.facebook"),
        sharer_url="https://www.facebook.com/sharer/sharer.php?u=",
        form_action="https://www.facebook.com",
    )

    @classmethod
    def emulator(cls) -> type[PlatformEmulator]:
        from scheduler.channels.facebook.emulator import FacebookApi

        return FacebookApi

    @classmethod
    def connect_flow(cls) -> type[ConnectFlow]:
        from scheduler.channels.facebook.login import FacebookLogin

        return FacebookLogin

    @classmethod
    def live_settings_problem(cls, channel: ChannelSettings) -> Message | None:
        # A connected channel's Page token is in the vault, not in the environment.
        if not channel.token_env and channel.origin != "connected":
            return msg("config.live_facebook_needs_token")
        return None

    @classmethod
    def options(cls, settings: Settings, channel: ChannelSettings) -> dict[str, object]:
        return {"zone": settings.tz, "audience_metrics": channel.audience_metrics}

    def __init__(
        self,
        access: ChannelAccess,
        *,
        vault: TokenVault,
        timeout: float = 20.0,
        session: requests.Session | None = None,
        max_pages: int = 10,
        page_size: int = 25,
        video_polls: int = 40,
        video_poll_interval: float = 3.0,
        video_chunk_bytes: int = 4 * 1024 * 1024,
        zone: ZoneInfo | None = None,
        audience_metrics: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(access, vault=vault, timeout=timeout, session=session)
        # A video is processed after its upload; polled with short waits first, then these.
        self.video_polls = max(1, video_polls)
        self.video_poll_interval = video_poll_interval
        self.video_chunk_bytes = video_chunk_bytes
        # Page insights are asked for local days, under the names Loa knows or the channel's own.
        self.zone = zone or ZoneInfo("Asia/Ho_Chi_Minh")
        self.audience_metrics = dict(audience_metrics or {})
        # find_recent reads at most max_pages × page_size posts (Graph's default page is 25).
        self.max_pages = max_pages
        self.page_size = page_size
        # Set when Graph says the quota is spent (usage ≥ 100 % or a regain time): calls
        # made before then would only fail and deepen the throttle, so they are refused here.
        self._blocked_until = 0.0
        # Cleared when Graph refuses the insights edge inside a post read (fetch_metrics_many).
        self._insights_expandable = True

    # ------------------------------------------------------------------ contract

    def publish(self, post: OutgoingPost) -> PublishResult:
        self._check_content(post)
        page = self.access.external_id
        if post.video is not None:
            return self._publish_video(post, post.video)
        if post.photos:
            return self._publish_album(post)
        if post.cover_jpeg:
            caption = post.text
            # /photos takes no `link`; keep the link readable by putting it in the caption.
            if post.link and post.link not in caption:
                caption = f"{caption}\n\n{post.link}" if caption else post.link
            body = self._call(
                "POST",
                f"{page}/photos",
                data={"caption": caption},
                files={"source": ("cover.jpg", post.cover_jpeg, "image/jpeg")},
                write=True,
            )
            # The post is the feed story (`post_id`), not the photo object (`id`), A2.
            remote_id = str(body.get("post_id") or body.get("id") or "")
        else:
            # Read-after-write (Graph v2.9): the reply carries the permalink, saving a call.
            data = {"message": post.text, "fields": "id,permalink_url,created_time"}
            if post.link:
                data["link"] = post.link
            body = self._call("POST", f"{page}/feed", data=data, write=True)
            remote_id = str(body.get("id") or "")
        if not remote_id:
            raise UnknownOutcome(
                msg("error.facebook_no_id"),
                hint=msg("hint.facebook_look_first"),
                platform=self.platform,
            )
        return self._result(remote_id, body)

    # ------------------------------------------------------------------ photos

    def _publish_album(self, post: OutgoingPost) -> PublishResult:
        """Photos staged unpublished (invisible on the Page), then one feed post attaching
        them in order (docs/platforms.md D3). The feed call is the irreversible step; each
        staged photo's id is recorded first, so a retry attaches the same photos."""
        page = self.access.external_id
        steps = post.steps
        record = threading.Lock()  # the step record is written from the staging threads

        def stage(index: int, photo: MediaFile) -> str:
            key = f"photo:{index}:{photo.sha256[:16]}"
            with record:
                known = steps.get(key)
                if known and known != _PENDING:
                    return known
                if known == _PENDING:
                    # The reply to this photo was lost last time: Facebook may hold it unpublished.
                    log.warning("%s: photo %d of an album may be staged twice (a reply was lost)", self, index + 1)
                    steps.put(f"orphan:{index}", "possible")
                steps.put(key, _PENDING)
            with photo.path.open("rb") as handle:
                body = self._call(
                    "POST",
                    f"{page}/photos",
                    data={"published": "false"},
                    files={"source": (photo.path.name, handle, photo.content_type)},
                )
            photo_id = str(body.get("id") or "")
            if not photo_id:
                raise TransientError(msg("error.facebook_no_id"), hint=msg("hint.retry_later"), platform=self.platform)
            with record:
                steps.put(key, photo_id)
            return photo_id

        # Staged a few at a time (the order is kept by index): an album is not ten round trips.
        with ThreadPoolExecutor(max_workers=min(_STAGING_THREADS, len(post.photos))) as pool:
            futures = [pool.submit(stage, index, photo) for index, photo in enumerate(post.photos)]
            staged = [future.result() for future in futures]
        text = post.text
        if post.link and post.link not in text:
            text = f"{text}\n\n{post.link}" if text else post.link
        data = {
            "message": text,
            "attached_media": json.dumps([{"media_fbid": photo_id} for photo_id in staged]),
            "fields": "id,permalink_url,created_time",
        }
        steps.put("feed", "sent")
        try:
            body = self._call("POST", f"{page}/feed", data=data, write=True)
        except PermanentError as exc:
            if not isinstance(exc, DuplicateContent):
                self._remove_staged(staged, post)
            raise
        remote_id = str(body.get("id") or "")
        if not remote_id:
            raise UnknownOutcome(
                msg("error.facebook_no_id"), hint=msg("hint.facebook_look_first"), platform=self.platform
            )
        steps.put("post", remote_id)
        return self._result(remote_id, body)

    def _remove_staged(self, staged: list[str], post: OutgoingPost) -> None:
        """A post refused for good: its staged photos are deleted, or kept on record as left behind."""
        for index, photo_id in enumerate(staged):
            try:
                self._call("DELETE", photo_id)
            except PublishError:
                log.warning("%s: staged photo %s could not be removed; it stays unpublished", self, photo_id)
                post.steps.put(f"orphan:{index}", photo_id)
                continue
            post.steps.drop(f"photo:{index}:{post.photos[index].sha256[:16]}")

    def _result(self, remote_id: str, body: Json) -> PublishResult:
        returned = body.get("permalink_url")
        if isinstance(returned, str) and returned:
            created = _parse_time(body.get("created_time")) or datetime.now(UTC)
            return PublishResult(
                remote_id=remote_id, permalink=returned, published_at=created, pause_seconds=self._pause_left()
            )
        permalink, published_at = self._read_back(remote_id)
        return PublishResult(
            remote_id=remote_id, permalink=permalink, published_at=published_at, pause_seconds=self._pause_left()
        )

    # ------------------------------------------------------------------ video

    def _publish_video(self, post: OutgoingPost, video: MediaFile) -> PublishResult:
        """A Page video by chunked upload (``upload_phase`` start → transfer → finish), then
        processing polled until the post exists; a short vertical one goes out as a Reel.

        The irreversible step is ``finish``: from then on Facebook publishes the video once
        processed. Every earlier step is recorded as it completes, so an attempt after a
        crash resumes the upload at the last offset Facebook took instead of starting again,
        and an attempt after a lost ``finish`` only reads the video's status.
        """
        steps = post.steps
        text = post.text if not post.link or post.link in post.text else f"{post.text}\n\n{post.link}"
        reel = self.is_short_video(video)
        video_id = steps.get("video:id")
        if steps.get("video:finish") is None:
            if reel:
                video_id = self._upload_reel(video, steps)
                data = {"upload_phase": "finish", "video_id": video_id, "video_state": "PUBLISHED"}
                data["description"] = text
                steps.put("video:finish", "sent")
                self._call("POST", f"{self.access.external_id}/video_reels", data=data, write=True)
            else:
                session, video_id = self._upload_video(video, steps)
                steps.put("video:finish", "sent")
                self._call(
                    "POST",
                    f"{self.access.external_id}/videos",
                    data={"upload_phase": "finish", "upload_session_id": session, "description": text},
                    write=True,
                )
        assert video_id is not None
        return self._await_video(video_id, post)

    def _upload_video(self, video: MediaFile, steps: StepRecord) -> tuple[str, str]:
        page = self.access.external_id
        session, video_id = steps.get("video:session"), steps.get("video:id")
        if session is None or video_id is None:
            body = self._call("POST", f"{page}/videos", data={"upload_phase": "start", "file_size": str(video.size)})
            session, video_id = str(body.get("upload_session_id") or ""), str(body.get("video_id") or "")
            if not session or not video_id:
                raise TransientError(msg("error.facebook_no_id"), hint=msg("hint.retry_later"), platform=self.platform)
            steps.put("video:id", video_id)
            steps.put("video:session", session)
            start, end = 0, int(body.get("end_offset") or video.size)
        else:
            # Resumed: Facebook answers a chunk sent again at a recorded offset with the next one.
            start = int(steps.get("video:offset") or 0)
            end = min(video.size, start + self.video_chunk_bytes)
        with video.path.open("rb") as handle:
            while start < video.size:
                handle.seek(start)
                chunk = handle.read(max(1, end - start))
                body = self._call(
                    "POST",
                    f"{page}/videos",
                    data={"upload_phase": "transfer", "upload_session_id": session, "start_offset": str(start)},
                    files={"video_file_chunk": (video.path.name, chunk, "application/octet-stream")},
                )
                start, end = int(body.get("start_offset") or video.size), int(body.get("end_offset") or video.size)
                steps.put("video:offset", str(start))
        return session, video_id

    def _upload_reel(self, video: MediaFile, steps: StepRecord) -> str:
        page = self.access.external_id
        video_id, upload_url = steps.get("video:id"), steps.get("video:upload_url")
        if video_id is None or upload_url is None:
            body = self._call("POST", f"{page}/video_reels", data={"upload_phase": "start"})
            video_id, upload_url = str(body.get("video_id") or ""), str(body.get("upload_url") or "")
            if not video_id or not upload_url:
                raise TransientError(msg("error.facebook_no_id"), hint=msg("hint.retry_later"), platform=self.platform)
            steps.put("video:id", video_id)
            steps.put("video:upload_url", upload_url)
        if not self._trusted_upload_url(upload_url):
            # The Page token goes with the bytes: never to a host Facebook's reply merely named.
            raise PermanentError(msg("error.facebook_upload_host"), platform=self.platform)
        with video.path.open("rb") as handle:
            try:
                response = self.session.post(
                    upload_url,
                    data=handle,  # streamed from the file, never read whole
                    headers={
                        "Authorization": f"OAuth {self._token()}",
                        "offset": "0",
                        "file_size": str(video.size),
                        "Content-Type": "application/octet-stream",
                    },
                    timeout=_http_timeouts(self.timeout),
                )
            except requests.RequestException as exc:
                raise self._network_error(exc, False) from None
        if response.status_code >= 400:
            raise TransientError(
                msg("error.facebook_answered", what=msg("error.http_status", status=response.status_code)),
                hint=msg("hint.retry_later"),
                platform=self.platform,
                http_status=response.status_code,
            )
        return video_id

    def _trusted_upload_url(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        own = (urlsplit(self.access.api_base).hostname or "").lower()
        return host == own or host == "facebook.com" or host.endswith(".facebook.com")

    def _await_video(self, video_id: str, post: OutgoingPost) -> PublishResult:
        """Poll the video until its post exists; an error removes the video and fails for good."""
        waited = 0.0
        for attempt in range(self.video_polls):
            if attempt:
                pause = min(self.video_poll_interval, 0.5 * 2 ** (attempt - 1))
                time.sleep(pause)
                waited += pause
            try:
                body = self._call("GET", video_id, params={"fields": "status,post_id,permalink_url"})
            except TransientError:
                continue
            status = body.get("status") if isinstance(body.get("status"), dict) else {}
            state = str((status or {}).get("video_status") or "")
            if state == "error":
                try:
                    self._call("DELETE", video_id)
                except PublishError:
                    post.steps.put("orphan:video", video_id)
                raise PermanentError(
                    msg("error.facebook_video_processing"),
                    hint=msg("hint.facebook_video_again"),
                    platform=self.platform,
                )
            remote_id = str(body.get("post_id") or "")
            if state == "ready" and remote_id:
                post.steps.put("post", remote_id)
                permalink = body.get("permalink_url")
                if isinstance(permalink, str) and permalink:
                    return PublishResult(
                        remote_id=remote_id,
                        permalink=permalink,
                        published_at=datetime.now(UTC),
                        pause_seconds=self._pause_left(),
                    )
                return self._result(remote_id, {})
        raise UnknownOutcome(
            msg("error.facebook_video_still_processing", checks=self.video_polls, seconds=round(waited)),
            hint=msg("hint.facebook_look_first"),
            platform=self.platform,
        )

    def find_recent(self, *, since: datetime) -> list[RemotePost]:
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        params: dict[str, str] = {
            "fields": "id,message,created_time,permalink_url",
            "limit": str(self.page_size),
        }
        found: list[RemotePost] = []
        for _ in range(self.max_pages):
            body = self._call("GET", f"{self.access.external_id}/published_posts", params=params)
            items = body.get("data")
            if not isinstance(items, list) or not items:
                break
            reached_older = False
            for item in items:
                if not isinstance(item, dict) or not item.get("id"):
                    continue
                created = _parse_time(item.get("created_time"))
                # Graph lists newest first: the first older post ends the search.
                if created is not None and created < since:
                    reached_older = True
                    break
                permalink = item.get("permalink_url")
                found.append(
                    RemotePost(
                        remote_id=str(item["id"]),
                        text=str(item.get("message") or ""),
                        created_at=created,
                        permalink=permalink if isinstance(permalink, str) else None,
                    )
                )
            next_params = self._next_page(body)
            if reached_older or next_params is None:
                break
            params = next_params
        return found

    def fetch_metrics(self, remote_id: str) -> PostMetrics:
        fields = self._call(
            "GET",
            remote_id,
            params={"fields": "shares,reactions.limit(0).summary(true),comments.limit(0).summary(true)"},
        )
        raw: dict[str, object] = {
            "shares": fields.get("shares"),
            "reactions": _summary_total(fields.get("reactions")),
            "comments": _summary_total(fields.get("comments")),
        }
        views: int | None = None
        reach: int | None = None
        try:
            insights = self._call(
                "GET",
                f"{remote_id}/insights",
                # post_impressions* are gone since Nov 2025 / Jun 2026 (A4); views replace them.
                params={
                    "metric": "post_media_view,post_total_media_view_unique",
                    "period": "lifetime",
                },
            )
        except (AuthError, TransientError):
            raise
        except PermanentError as exc:
            # Insights exist only for Pages with 100+ likes and need the ANALYZE task (A4):
            # counters from the post itself are still worth keeping.
            raw["insights_error"] = exc.message
        else:
            values = _insight_values(insights)
            raw["insights"] = values
            views = values.get("post_media_view")
            reach = values.get("post_total_media_view_unique")
        shares = fields.get("shares")
        # `shares` is omitted when nobody shared the post (A3): that means zero.
        share_count = _as_int(shares.get("count")) if isinstance(shares, dict) else None
        return PostMetrics(
            views=views,
            reach=reach,
            reactions=_summary_total(fields.get("reactions")),
            comments=_summary_total(fields.get("comments")),
            shares=share_count if share_count is not None else 0,
            raw=raw,
        )

    def _fetch_for_batch(self, remote_id: str) -> PostMetrics:
        """One call per post instead of two: the insights edge is expanded inside the post read.

        Same figures as :meth:`fetch_metrics`. Where Graph refuses the expanded read (insights
        need a Page with 100+ likes, A4), that post and the rest of the batch fall back to
        ``fetch_metrics``, which keeps the post's own counters without the insights.
        """
        return self._metrics_in_one_call(remote_id)

    def _metrics_in_one_call(self, remote_id: str) -> PostMetrics:
        if not self._insights_expandable:
            return self.fetch_metrics(remote_id)
        try:
            fields = self._call(
                "GET",
                remote_id,
                params={
                    "fields": "shares,reactions.limit(0).summary(true),comments.limit(0).summary(true),"
                    # post_impressions* are gone (A4): views and unique views replace them.
                    "insights.metric(post_media_view,post_total_media_view_unique).period(lifetime)"
                },
            )
        except (AuthError, TransientError):
            raise
        except PermanentError:
            # Either the post is gone (fetch_metrics will say so) or insights are refused
            # for this Page: stop asking for them in this batch.
            self._insights_expandable = False
            try:
                return self.fetch_metrics(remote_id)
            except PermanentError:
                # The post itself is unreadable (deleted?), not its insights: the next
                # posts may still be read in one call.
                self._insights_expandable = True
                raise
        values = _insight_values(fields["insights"]) if isinstance(fields.get("insights"), dict) else {}
        shares = fields.get("shares")
        share_count = _as_int(shares.get("count")) if isinstance(shares, dict) else None
        return PostMetrics(
            views=values.get("post_media_view"),
            reach=values.get("post_total_media_view_unique"),
            reactions=_summary_total(fields.get("reactions")),
            comments=_summary_total(fields.get("comments")),
            # `shares` is omitted when nobody shared the post (A3): that means zero.
            shares=share_count if share_count is not None else 0,
            raw={"shares": shares, "insights": values},
        )

    audience: ClassVar[bool] = True

    def fetch_audience(self, day: date) -> PageAudience:
        """Page insights of one local day (facebook/audience.py: the metric names)."""
        from scheduler.channels.facebook.audience import read_audience

        return read_audience(self._call, self.access.external_id, day, self.zone, self.audience_metrics)

    def delete(self, remote_id: str) -> None:
        body = self._call("DELETE", remote_id)
        if body.get("success") is False:
            raise PermanentError(
                msg("error.facebook_not_deleted", remote_id=remote_id),
                hint=msg("hint.facebook_delete_by_hand"),
                platform=self.platform,
            )

    def check(self) -> None:
        self._call("GET", self.access.external_id, params={"fields": "id,name"})

    def token_expires_at(self) -> datetime | None:
        # debug_token, asked with the token itself; 0 means "never" (docs/platforms.md A5).
        answer = self._call("GET", "debug_token", params={"input_token": self._token()})
        data = answer.get("data") if isinstance(answer, dict) else None
        moment = data.get("expires_at") if isinstance(data, dict) else None
        if not isinstance(moment, int | float) or moment <= 0:
            return None
        return datetime.fromtimestamp(moment, UTC)

    # ------------------------------------------------------------------ helpers

    def _check_content(self, post: OutgoingPost) -> None:
        # Cheap local checks: a call Facebook would refuse anyway costs quota.
        if not post.text and not post.link and not post.cover_jpeg:
            raise PermanentError(
                msg("error.post_empty"),
                hint=msg("hint.write_text_link_or_cover"),
                platform=self.platform,
            )
        if len(post.text) > self.max_text_length:
            raise PermanentError(
                msg("error.facebook_text_too_long", length=len(post.text), limit=self.max_text_length),
                hint=msg("hint.shorten_text"),
                platform=self.platform,
            )
        if post.cover_jpeg and len(post.cover_jpeg) > self.max_image_bytes:
            raise PermanentError(
                msg(
                    "error.facebook_cover_too_big",
                    kilobytes=len(post.cover_jpeg) // 1024,
                    megabytes=self.max_image_bytes // (1024 * 1024),
                ),
                hint=msg("hint.facebook_smaller_image"),
                platform=self.platform,
            )

    def _pause_left(self) -> float | None:
        """Seconds the usage headers of the last replies still forbid calls, None when free.

        This publisher lives for one publication; the dispatcher carries the pause over to
        the channel, so the next post waits for the regain time instead of deepening the throttle.
        """
        wait = self._blocked_until - time.monotonic()
        return wait if wait > 0 else None

    def _token(self) -> str:
        token = self.access.access_token
        if not token:
            # The Page token may live only in the vault (connected through the console).
            stored = self.vault.load(self.access.channel_id) or {}
            token = stored.get("access_token")
        if not token:
            raise AuthError(
                msg("error.facebook_no_token", channel=self.access.channel_id),
                hint=msg("hint.facebook_reconnect"),
                platform=self.platform,
            )
        return token

    def _url(self, path: str) -> str:
        return f"{self.access.api_base.rstrip('/')}/{path.lstrip('/')}"

    def _next_page(self, body: Json) -> dict[str, str] | None:
        """Query of the next page, taken from `paging` without following a foreign URL.

        Rebuilding the request on our own base keeps the token from ever being sent to a
        host named in a reply.
        """
        paging = body.get("paging")
        if not isinstance(paging, dict) or not paging.get("next"):
            return None
        query = parse_qs(urlsplit(str(paging["next"])).query)
        params = {key: values[-1] for key, values in query.items() if key != "access_token"}
        cursors = paging.get("cursors")
        if isinstance(cursors, dict) and cursors.get("after") and "after" not in params:
            params["after"] = str(cursors["after"])
        return params or None

    def _read_back(self, remote_id: str) -> tuple[str, datetime]:
        """Permalink and creation time of a post just created: best effort only.

        The publish has already succeeded, so no failure here may raise (the engine would
        otherwise record a failure for a post that is live).
        """
        permalink = f"https://www.facebook.com/{remote_id}"
        published_at = datetime.now(UTC)
        try:
            body = self._call("GET", remote_id, params={"fields": "permalink_url,created_time"})
        except Exception:  # see docstring: never raise after success
            return permalink, published_at
        if isinstance(body.get("permalink_url"), str) and body["permalink_url"]:
            permalink = body["permalink_url"]
        return permalink, _parse_time(body.get("created_time")) or published_at

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, Any, str]] | None = None,
        write: bool = False,
    ) -> Json:
        """One Graph call; returns the JSON object or raises a classified error.

        ``write`` marks the call that creates a post: after it may have reached Facebook,
        a failure without a clear answer is an UnknownOutcome, never a retryable error.
        """
        wait = self._blocked_until - time.monotonic()
        if wait > 0:
            raise RateLimited(
                msg("error.facebook_slow_down"),
                hint=msg("hint.retry_in_about", wait=_minutes(wait)),
                retry_after=wait,
                platform=self.platform,
            )
        token = self._token()
        query = dict(params or {})
        form = dict(data or {})
        if method == "POST":
            form["access_token"] = token
        else:
            query["access_token"] = token
        try:
            response = self.session.request(
                method,
                self._url(path),
                params=query,
                data=form or None,
                files=files,
                timeout=_http_timeouts(self.timeout),
            )
        except requests.RequestException as exc:
            # `from None`: the exception text holds the URL, and GET URLs hold the token.
            raise self._network_error(exc, write) from None

        peak, regain = _usage(response.headers)
        self.usage_percent = peak
        try:
            body: object = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            raise self._graph_error(error, response.status_code, peak, regain, write)
        if response.status_code == 429:
            raise self._throttled(None, regain, peak)
        if response.status_code >= 400 or not isinstance(body, dict):
            what = (
                msg("error.http_status", status=response.status_code)
                if response.status_code >= 400
                else msg("error.reply_not_json")
            )
            if write:
                raise UnknownOutcome(
                    msg("error.facebook_write_answered", what=what),
                    hint=msg("hint.facebook_look_first"),
                    platform=self.platform,
                    http_status=response.status_code,
                )
            raise TransientError(
                msg("error.facebook_answered", what=what),
                hint=msg("hint.retry_later"),
                platform=self.platform,
                http_status=response.status_code,
            )
        if peak >= 100 or regain:
            # The call worked but spent the last of the quota: hold the next ones back.
            self._blocked_until = time.monotonic() + (regain or _DEFAULT_APP_THROTTLE_S)
        return body

    def _network_error(self, exc: requests.RequestException, write: bool) -> PublishError:
        kind = msg("error.call_timed_out") if isinstance(exc, requests.Timeout) else msg("error.call_lost_connection")
        if write and not _never_sent(exc):
            return UnknownOutcome(
                msg("error.facebook_write_lost", kind=kind),
                hint=msg("hint.facebook_look_first"),
                platform=self.platform,
            )
        return TransientError(
            msg("error.facebook_unreachable", kind=kind),
            hint=msg("hint.check_connection"),
            platform=self.platform,
        )

    def _throttled(self, code: int | None, regain: float | None, peak: float) -> RateLimited:
        default = _DEFAULT_PAGE_THROTTLE_S if code in _PAGE_THROTTLE_CODES else _DEFAULT_APP_THROTTLE_S
        retry_after = regain or default
        self._blocked_until = time.monotonic() + retry_after
        scope = msg("error.scope_page") if code in _PAGE_THROTTLE_CODES else msg("error.scope_app")
        details = [msg("error.with_code", code=code)] if code is not None else []
        if peak:
            details.append(msg("error.at_quota", percent=round(peak)))
        return RateLimited(
            msg("error.facebook_throttled_details", scope=scope, details=details)
            if details
            else msg("error.facebook_throttled", scope=scope),
            hint=msg("hint.resumes_in_about", wait=_minutes(retry_after)),
            retry_after=retry_after,
            platform=self.platform,
            code=code,
        )

    def _graph_error(self, error: Json, status: int, peak: float, regain: float | None, write: bool) -> PublishError:
        code = _as_int(error.get("code"))
        subcode = _as_int(error.get("error_subcode"))
        said = self._scrub(str(error.get("error_user_msg") or error.get("message") or ""))
        extra: dict[str, Any] = {
            "platform": self.platform,
            "code": code,
            "subcode": subcode,
            "http_status": status,
        }

        if code in _AUTH_CODES or subcode in _AUTH_SUBCODES:
            reason = msg(_SUBCODE_REASONS.get(subcode or 0, N_("error.facebook_token_rejected")))
            return AuthError(
                msg("error.facebook_token_refused", channel=self.access.channel_id, reason=reason),
                hint=msg("hint.facebook_reconnect"),
                **extra,
            )
        if code in _THROTTLE_CODES:
            error_obj = self._throttled(code, regain, peak)
            error_obj.subcode, error_obj.http_status = subcode, status
            return error_obj
        if code == _DUPLICATE:
            return DuplicateContent(
                msg("error.facebook_duplicate"),
                hint=msg("hint.facebook_duplicate"),
                **extra,
            )
        if code == _POLICY_BLOCK:
            self._blocked_until = time.monotonic() + _POLICY_BLOCK_S
            return RateLimited(
                msg("error.facebook_policy_block"),
                hint=msg("hint.facebook_policy_block"),
                retry_after=_POLICY_BLOCK_S,
                **extra,
            )
        if code in _PERMISSION_CODES:
            return PermanentError(
                msg("error.facebook_permission", reason=said),
                hint=msg("hint.facebook_permissions"),
                **extra,
            )
        transient = code in _SERVER_CODES or error.get("is_transient") is True or status >= 500
        if transient and write:
            return UnknownOutcome(
                msg("error.facebook_write_temporary"),
                hint=msg("hint.facebook_look_first"),
                **extra,
            )
        if transient:
            return TransientError(
                msg("error.facebook_temporary", reason=said),
                hint=msg("hint.retry_later"),
                **extra,
            )
        if peak >= 100 or regain:
            return self._throttled(code, regain, peak)
        if code == 100:
            return PermanentError(
                msg("error.facebook_bad_value", reason=said),
                hint=msg("hint.facebook_fix_value"),
                **extra,
            )
        return PermanentError(
            msg("error.facebook_refused_code", reason=said or msg("error.no_reason_given"), code=code)
            if code is not None
            else msg("error.facebook_refused", reason=said or msg("error.no_reason_given")),
            hint=msg("hint.facebook_fix_post"),
            **extra,
        )

    def _scrub(self, text: str) -> str:
        """Remove any secret Facebook might echo back."""
        for secret in (self.access.access_token, self.access.app_secret):
            if secret:
                text = text.replace(secret, "***")
        return text


def _summary_total(edge: object) -> int | None:
    if isinstance(edge, dict) and isinstance(edge.get("summary"), dict):
        return _as_int(edge["summary"].get("total_count"))
    return None


def _insight_values(body: Json) -> dict[str, int | None]:
    values: dict[str, int | None] = {}
    for entry in body.get("data") or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        points = entry.get("values")
        value = points[-1].get("value") if isinstance(points, list) and points else None
        values[str(entry["name"])] = _as_int(value)
    return values


def _minutes(seconds: float) -> Message:
    if seconds < 90:
        return msg("duration.seconds", n=max(1, round(seconds)))
    if seconds < 5400:
        return msg("duration.minutes", n=round(seconds / 60))
    return msg("duration.hours", n=round(seconds / 3600))
