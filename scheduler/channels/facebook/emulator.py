"""Facebook Graph API, Pages subset (docs/platforms.md A1–A7 and C).

Routes live under ``/vNN.0/`` (any version; the version is echoed back in the
``facebook-api-version`` header). Every handler runs in a worker thread and raises
:class:`GraphError` for anything Graph would refuse; :meth:`FacebookApi.handle` turns it into
Graph's error object with the usual HTTP status and headers.
"""

from __future__ import annotations

import base64
import calendar
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

from scheduler.channels.facebook.login_emulator import FacebookLoginEmulator, GraphFallbacks, login_routes
from scheduler.channels.facebook.media_emulator import FacebookMedia
from scheduler.config import SandboxSettings
from scheduler.sandbox.control import ControlError, counter_value
from scheduler.sandbox.emulator import Combine
from scheduler.sandbox.faults import Fault
from scheduler.sandbox.media import MediaError, fetch_image, inspect_image
from scheduler.sandbox.state import (
    FB_DEFAULT_PAGE_ID,
    FbPhoto,
    FbPost,
    SandboxState,
    StateData,
    TokenRecord,
    fb_trace_id,
    opaque_token,
)
from scheduler.sandbox.wire import (
    ApiRequest,
    ApiResponse,
    ParamError,
    as_bool,
    as_int,
    as_list,
    as_object_list,
    as_str,
)

DEFAULT_VERSION = "v25.0"
PERMALINK_BASE = "https://www.facebook.com"
SANDBOX_APP_ID = "100000000000999"
SANDBOX_USER_ID = "100000000000777"
SANDBOX_APP_NAME = "Loa Sandbox"
# UNVERIFIED (A2): Facebook only *recommends* < 4 MB; the sandbox rejects above it.
MAX_PHOTO_BYTES = 4 * 1024 * 1024
PHOTO_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF")
MAX_MESSAGE_CHARS = 63206
MIN_SCHEDULE_S = 10 * 60
LONG_LIVED_TOKEN_S = 5183944
# UNVERIFIED: whether a photo caption identical to the previous post also triggers 506.
DUPLICATE_CHECK_INCLUDES_PHOTOS = True
# UNVERIFIED (A4): whether post insights carry `paging`; omitted so SDKs that follow
# `next` until it disappears cannot loop forever on a lifetime metric.
INSIGHTS_INCLUDE_PAGING = False
# Graph fills these only when the post has them; the sandbox never has them.
ABSENT_POST_FIELDS = frozenset(
    {
        "story", "message_tags", "place", "parent_id", "properties", "call_to_action",
        "targeting", "feed_targeting", "backdated_time", "event", "coordinates", "actions",
        "icon", "story_tags", "with_tags", "admin_creator", "application", "child_attachments",
        "expanded_height", "expanded_width", "height", "width", "instagram_eligibility",
        "multi_share_end_card", "multi_share_optimized", "promotable_id", "video_buying_eligibility",
    }
)
PAGE_TASKS = ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"]
PAGE_SCOPES = [
    "pages_show_list", "pages_read_engagement", "pages_read_user_engagement",
    "pages_manage_posts", "pages_manage_engagement", "read_insights",
]
INSIGHTS_PERIODS = ("day", "week", "days_28", "month", "lifetime", "total_over_range")
REACTION_TYPES = ("like", "love", "wow", "haha", "sorry", "anger", "care")
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2, 368, *THROTTLE_CODES})
DEFAULT_REGAIN_MINUTES = 5
ERROR_MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "(#4) Application request limit reached",
    10: "(#10) Application does not have permission for this action",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    100: "(#100) Invalid parameter",
    102: "Session key invalid or no longer valid",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) If posting to a page, requires both pages_read_engagement and "
    "pages_manage_posts as an admin with sufficient administrative permission",
    341: "(#341) Application limit reached",
    368: "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
    506: "(#506) Duplicate status message",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    # UNVERIFIED wording (A6).
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try "
    "again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
}
TOKEN_MESSAGES = {
    458: "Error validating access token: The user has not authorized application "
    f"{SANDBOX_APP_ID}.",
    459: "Error validating access token: You cannot access the app till you log in to "
    "www.facebook.com and follow the instructions given.",
    460: "Error validating access token: The session has been invalidated because the user "
    "changed their password or Facebook has changed the session for security reasons.",
    463: "Error validating access token: Session has expired.",
    464: "Error validating access token: Sessions for the user are not allowed because the "
    "user is not a confirmed user.",
    467: "Error validating access token: The session is invalid because the user logged out.",
}
TOKEN_STATE_SUBCODES = {"revoked": 460, "expired": 463, "invalid": 467}
METRICS: dict[str, tuple[str, str]] = {
    "post_media_view": ("Media views", "The number of times your post was on screen."),
    "post_total_media_view_unique": (
        "Media viewers", "The number of people who saw your post at least once."
    ),
    "post_clicks": ("Post clicks", "The number of times people clicked on your post."),
    "post_clicks_by_type": ("Post clicks by type", "Clicks on your post, by type."),
    "post_reactions_by_type_total": (
        "Total post reactions by type", "The number of reactions to your post, by type."
    ),
    "post_activity_by_action_type": (
        "Post activity by action type", "Stories about your post, by action type."
    ),
    "post_video_views": ("Video views", "The number of times your video was viewed."),
    **{
        f"post_reactions_{kind}_total": (
            f"Total {kind} reactions", f"The number of {kind} reactions to your post."
        )
        for kind in ("like", "love", "wow", "haha", "sorry", "anger")
    },
}
TIME_UNITS = {
    "sec": 1, "second": 1, "min": 60, "minute": 60, "hour": 3600, "day": 86400,
    "week": 7 * 86400, "fortnight": 14 * 86400,
}
RELATIVE_TERM = re.compile(
    r"([+-]?)\s*(\d+)\s*(sec|second|min|minute|hour|day|week|fortnight|month|year)s?\b"
)


class GraphError(Exception):
    """What Graph would answer instead of a result."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        subcode: int | None = None,
        status: int | None = None,
        error_type: str = "OAuthException",
        user_title: str | None = None,
        user_msg: str | None = None,
    ) -> None:
        self.code = code
        self.message = message or ERROR_MESSAGES.get(code, f"(#{code}) Unknown error")
        super().__init__(self.message)
        self.subcode = subcode
        self.status = status
        self.error_type = error_type
        self.user_title = user_title
        self.user_msg = user_msg

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["is_transient"] = self.code in TRANSIENT_CODES
        if self.user_title is not None:
            error["error_user_title"] = self.user_title
        if self.user_msg is not None:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = fb_trace_id()
        return {"error": error}

    def http_status(self) -> int:
        if self.status is not None:
            return self.status
        return 500 if self.code in (1, 2) else 400


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def no_such_object(object_id: str) -> GraphError:
    return GraphError(
        100,
        f"(#100) Unsupported get request. Object with ID '{object_id}' does not exist, cannot "
        "be loaded due to missing permissions, or does not support this operation.",
        subcode=33,
        error_type="GraphMethodException",
    )


def fb_time(timestamp: float) -> str:
    """Graph's timestamp style: ``2026-03-01T02:00:00+0000``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _add_months(moment: datetime, months: int) -> datetime:
    # PHP strtotime overflows day-of-month (Jan 31 + 1 month = Mar 3); mimic that.
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    overflow = max(0, moment.day - last_day)
    return moment.replace(year=year, month=month, day=min(moment.day, last_day)) + timedelta(
        days=overflow
    )


def parse_when(raw: Any, now: float) -> int:
    """A time as Graph accepts it: UNIX seconds, ISO 8601, or a strtotime relative string."""
    text = as_str(raw)
    if text is None or not text.strip():
        raise ValueError("empty time")
    text = text.strip()
    if re.fullmatch(r"\d{9,11}", text):
        return int(text)
    iso = text.replace("Z", "+00:00")
    if re.fullmatch(r"[+-]\d{4}", iso[-5:]) and ":" not in iso[-5:] and "T" in iso:
        iso = iso[:-2] + ":" + iso[-2:]  # "+0700" → "+07:00"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        pass
    else:
        # Naive times: strtotime would use the server zone; the sandbox's is UTC.
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp())
    lowered = text.lower()
    base = datetime.fromtimestamp(now, UTC)
    if lowered == "now":
        return int(now)
    if lowered in ("tomorrow", "midnight tomorrow"):
        midnight = base.replace(hour=0, minute=0, second=0, microsecond=0)
        return int((midnight + timedelta(days=1)).timestamp())
    terms = RELATIVE_TERM.findall(lowered)
    leftover = RELATIVE_TERM.sub("", lowered).replace("and", "").strip()
    if not terms or leftover:
        raise ValueError(f"cannot parse time {text!r}")
    moment = base
    for sign, amount, unit in terms:
        count = -int(amount) if sign == "-" else int(amount)
        if unit == "month":
            moment = _add_months(moment, count)
        elif unit == "year":
            moment = _add_months(moment, 12 * count)
        else:
            moment += timedelta(seconds=count * TIME_UNITS[unit])
    return int(moment.timestamp())


@dataclass
class FieldSpec:
    """One entry of ``fields=``: ``name.mod(arg).mod(arg){subfields}``."""

    name: str
    modifiers: dict[str, str]
    subfields: list[FieldSpec] | None = None

    @property
    def key(self) -> str:
        return self.modifiers.get("as") or self.name

    def flag(self, modifier: str) -> bool:
        value = self.modifiers.get(modifier)
        return value is not None and value.strip().lower() not in ("false", "0", "")


def parse_fields(text: str) -> list[FieldSpec]:
    """Parse Graph field expansion; raise :class:`GraphError` (100) on bad syntax."""
    position = 0

    def fail(reason: str) -> GraphError:
        return GraphError(100, f"(#100) Syntax error in fields near position {position}: {reason}")

    def read_name() -> str:
        nonlocal position
        start = position
        while position < len(text) and (text[position].isalnum() or text[position] in "_"):
            position += 1
        if start == position:
            raise fail("expected a field name")
        return text[start:position]

    def read_balanced(opening: str, closing: str) -> str:
        nonlocal position
        depth, start = 0, position
        while position < len(text):
            char = text[position]
            if char == opening:
                depth += 1
            elif char == closing:
                depth -= 1
                if depth == 0:
                    position += 1
                    return text[start + 1 : position - 1]
            position += 1
        raise fail(f"missing '{closing}'")

    def read_list(stop: str | None) -> list[FieldSpec]:
        nonlocal position
        specs: list[FieldSpec] = []
        while True:
            while position < len(text) and text[position] in " \n\t":
                position += 1
            if stop is not None and position < len(text) and text[position] == stop:
                return specs
            if position >= len(text):
                if stop is not None:
                    raise fail(f"missing '{stop}'")
                return specs
            name = read_name()
            spec = FieldSpec(name, {})
            while position < len(text) and text[position] in ".{":
                if text[position] == ".":
                    position += 1
                    modifier = read_name()
                    if position >= len(text) or text[position] != "(":
                        raise fail(f"expected '(' after .{modifier}")
                    spec.modifiers[modifier] = read_balanced("(", ")").strip()
                else:
                    position += 1
                    spec.subfields = read_list("}")
                    position += 1  # the closing brace
            specs.append(spec)
            while position < len(text) and text[position] in " \n\t":
                position += 1
            if position < len(text) and text[position] == ",":
                position += 1
                continue
            if position >= len(text) or (stop is not None and text[position] == stop):
                if position >= len(text) and stop is not None:
                    raise fail(f"missing '{stop}'")
                return specs
            raise fail(f"unexpected {text[position]!r}")

    return read_list(None)


def _select(item: dict[str, Any], subfields: list[FieldSpec] | None) -> dict[str, Any]:
    if not subfields:
        return item
    wanted = {spec.name for spec in subfields}
    return {key: value for key, value in item.items() if key in wanted}


def _encode_cursor(post: FbPost) -> str:
    raw = f"{post.created_time!r}:{post.post_number}"  # repr round-trips the float exactly
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, number = base64.urlsafe_b64decode(padded).decode().split(":")
        return float(created), int(number)
    except (ValueError, UnicodeDecodeError):
        raise GraphError(100, "(#100) Invalid cursor") from None


def _sort_key(post: FbPost) -> tuple[float, int]:
    return post.created_time, int(post.post_number)


Handler = Callable[[ApiRequest, dict[str, str]], ApiResponse]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: tuple[str, ...]
    handler: Handler
    needs_token: bool = True

    def match(self, method: str, segments: tuple[str, ...]) -> dict[str, str] | None:
        if method != self.method or len(segments) != len(self.pattern):
            return None
        found: dict[str, str] = {}
        for want, got in zip(self.pattern, segments, strict=True):
            if want.startswith("{"):
                found[want[1:-1]] = got
            elif want != got:
                return None
        return found


FB_COUNTERS = ("views", "reach", "comments", "shares", "clicks")


def _photo_entry(photo: FbPhoto, base_url: str) -> dict[str, Any]:
    return {
        "id": photo.id,
        "url": f"{base_url}/_sandbox/media/fb-{photo.id}",
        "source_url": photo.source_url,
        "width": photo.width,
        "height": photo.height,
        "format": photo.format,
        "bytes": photo.size,
        "caption": photo.caption,
        "published": photo.published,
        "post_id": photo.post_id,
        "created_time": fb_time(photo.created_time),
    }


def _post_entry(post: FbPost, data: StateData, base_url: str) -> dict[str, Any]:
    photos = [
        _photo_entry(data.fb_photos[i], base_url) for i in post.photo_ids if i in data.fb_photos
    ]
    return {
        "id": post.id,
        "message": post.message,
        "link": post.link,
        "photo": photos[0] if photos else None,
        "photos": photos,
        "created_time": fb_time(post.created_time),
        "updated_time": fb_time(post.updated_time),
        "is_published": post.is_published,
        "scheduled_publish_time": post.scheduled_publish_time,
        "unpublished_content_type": post.unpublished_content_type,
        "is_hidden": post.is_hidden,
        "is_pinned": post.is_pinned,
        "permalink_url": f"{PERMALINK_BASE}/{post.page_id}/posts/{post.post_number}",
        "views": post.views,
        "reach": post.reach,
        "reactions": sum(post.reactions.values()),
        "reactions_by_type": dict(post.reactions),
        "comments": post.comments,
        "shares": post.shares,
        "clicks": post.clicks,
        "deleted_time": fb_time(post.deleted_time) if post.deleted_time else None,
    }


class FacebookApi:
    """The Graph API emulation; one instance per sandbox app."""

    name: ClassVar[str] = "facebook"
    # Graph answers every path no other platform claims (its routes start with a version).
    catch_all: ClassVar[bool] = True
    engagement_key: ClassVar[str] = "post_id"

    @staticmethod
    def owns(req: ApiRequest) -> bool:
        return True

    @staticmethod
    def token_owner(token: str) -> str | None:
        return None

    @staticmethod
    def state_section(data: StateData, base_url: str) -> dict[str, Any]:
        pages: dict[str, dict[str, Any]] = {}

        def page(page_id: str) -> dict[str, Any]:
            return pages.setdefault(page_id, {
                "name": f"Sandbox Page {page_id}", "posts": [], "deleted_posts": [],
                "photos": [],
            })

        for page_id in data.fb_pages:
            page(page_id)
        for post in data.fb_posts.values():
            bucket = "deleted_posts" if post.deleted_time else "posts"
            page(post.page_id)[bucket].append(_post_entry(post, data, base_url))
        for photo in data.fb_photos.values():
            if photo.deleted_time is None:
                page(photo.page_id)["photos"].append(_photo_entry(photo, base_url))
        for page_id, section in pages.items():
            section["videos"] = FacebookMedia.state_videos(data, page_id)
        return {"pages": pages}

    @staticmethod
    def apply_engagement(data: StateData, payload: dict[str, Any], combine: Combine) -> dict[str, Any]:
        if "page_id" in payload and "post_id" not in payload:  # a Page's own audience
            from scheduler.channels.facebook.insights_emulator import apply_page_engagement

            return apply_page_engagement(data, payload, combine)
        post_id = str(payload.get("post_id", ""))
        post = data.fb_posts.get(post_id)
        photo = data.fb_photos.get(post_id)
        if post is None and photo is not None and photo.post_id:
            post = data.fb_posts.get(photo.post_id)
        if post is None:
            raise ControlError(f"no Facebook post {post_id!r} in the sandbox", 404)
        for name in FB_COUNTERS:
            if name in payload:
                setattr(post, name, combine(getattr(post, name), counter_value(name, payload[name])))
        if "reactions" in payload:
            raw = payload["reactions"]
            given = raw if isinstance(raw, dict) else {"like": raw}
            reactions = dict(post.reactions) if payload.get("mode", "set") == "add" else {}
            for kind, count in given.items():
                reactions[str(kind).lower()] = combine(
                    reactions.get(str(kind).lower(), 0), counter_value(f"reactions.{kind}", count)
                )
            post.reactions = {kind: n for kind, n in reactions.items() if n}
        return {"platform": "facebook", **_post_entry(post, data, "")}

    def __init__(self, state: SandboxState, settings: SandboxSettings) -> None:
        self.state = state
        self.settings = settings
        login = FacebookLoginEmulator(state, lambda code, text, sub: GraphError(code, text, subcode=sub))
        fallbacks = GraphFallbacks(
            oauth_access_token=self.oauth_access_token, accounts=self.accounts, debug_token=self.debug_token,
            request_token=self.request_token, all_scopes=PAGE_SCOPES,
        )
        # Videos and Reels (media_emulator.py), ahead of the generic node routes.
        self.media = FacebookMedia(self)
        media_routes = [_Route(method, path, handler) for method, path, handler in self.media.routes()]
        self.routes = [
            *media_routes,
            *(_Route(m, p, h, needs_token=t) for m, p, h, t in login_routes(login, fallbacks)),
            _Route("GET", ("oauth", "access_token"), self.oauth_access_token, needs_token=False),
            _Route("GET", ("debug_token",), self.debug_token),
            _Route("GET", ("{node}", "insights", "{metric}"), self.insights),
            _Route("GET", ("{node}", "{edge}"), self.get_edge),
            _Route("GET", ("{node}",), self.get_node),
            _Route("POST", ("{node}", "feed"), self.publish_feed),
            _Route("POST", ("{node}", "photos"), self.publish_photo),
            _Route("POST", ("{node}",), self.edit_post),
            _Route("DELETE", ("{node}",), self.delete_node),
        ]

    # -- plumbing shared with the dispatcher ------------------------------------------------

    def handle(self, req: ApiRequest) -> ApiResponse:
        try:
            if req.body_error:
                raise GraphError(100, f"(#100) {req.body_error}")
            segments = req.route_segments
            for route in self.routes:
                found = route.match(req.method, segments)
                if found is None:
                    continue
                if route.needs_token:
                    self._check_token(req)
                self._publish_due_posts()
                return route.handler(req, found)
            raise GraphError(
                2500, f"Unknown path components: /{'/'.join(segments)}", status=400
            )
        except ParamError as exc:
            return self.error_response(GraphError(100, f"(#100) {exc.message}"))
        except GraphError as exc:
            return self.error_response(exc)

    def error_response(self, error: GraphError) -> ApiResponse:
        return ApiResponse(error.http_status(), error.body())

    def request_token(self, req: ApiRequest) -> str | None:
        token = as_str(req.params.get("access_token"))
        if token:
            return token
        authorization = req.headers.get("authorization", "")
        # UNVERIFIED (A0): Graph is said to take a Bearer header too; cheap to accept.
        if authorization.lower().startswith(("bearer ", "oauth ")):
            return authorization.split(None, 1)[1].strip() or None
        return None

    def fault_response(self, fault: Fault, req: ApiRequest) -> ApiResponse:
        if fault.body is not None:
            return ApiResponse(fault.status or 500, fault.body, media_type="text/html")
        spec = dict(fault.error or {})
        status = fault.status or 400
        code = int(spec.pop("code", 2 if status >= 500 else 100))
        subcode = spec.pop("error_subcode", spec.pop("subcode", None))
        message = spec.pop("message", None)
        if message is None and code == 190:
            message = TOKEN_MESSAGES.get(int(subcode) if subcode else 0, ERROR_MESSAGES[190])
        error = GraphError(code, message, subcode=subcode, status=fault.status)
        body = error.body()
        body["error"].update(spec)  # any other key given (type, is_transient, error_data…)
        # The fault's own headers are applied on top of these by the dispatcher.
        return ApiResponse(error.http_status(), body, self._throttle_headers(code, req))

    def finish(self, resp: ApiResponse, req: ApiRequest) -> ApiResponse:
        """Headers Graph puts on every response."""
        resp.headers.setdefault("facebook-api-version", req.version or DEFAULT_VERSION)
        resp.headers.setdefault(
            "X-App-Usage", _compact({"call_count": 1, "total_time": 1, "total_cputime": 1})
        )
        resp.headers.setdefault("X-Business-Use-Case-Usage", _compact(self._buc(req, 1, 0)))
        if isinstance(resp.body, dict) and isinstance(resp.body.get("error"), dict):
            trace = resp.body["error"].get("fbtrace_id")
            if trace:
                resp.headers.setdefault("x-fb-trace-id", str(trace))
        return resp

    def _page_of_request(self, req: ApiRequest) -> str:
        segments = req.route_segments
        if segments:
            head = segments[0].split("_", 1)[0]
            if head.isdigit():
                return head
        return FB_DEFAULT_PAGE_ID

    def _buc(self, req: ApiRequest, percent: int, regain_minutes: int) -> dict[str, Any]:
        return {
            self._page_of_request(req): [
                {
                    "type": "pages",
                    "call_count": percent,
                    "total_cputime": min(percent, 100),
                    "total_time": min(percent, 100),
                    "estimated_time_to_regain_access": regain_minutes,
                }
            ]
        }

    def _throttle_headers(self, code: int, req: ApiRequest) -> dict[str, str]:
        if code not in THROTTLE_CODES:
            return {}
        full = _compact({"call_count": 100, "total_time": 100, "total_cputime": 100})
        if code in (4, 341):
            return {"X-App-Usage": full}
        if code == 32:
            return {"X-Page-Usage": full}
        return {
            "X-Business-Use-Case-Usage": _compact(self._buc(req, 100, DEFAULT_REGAIN_MINUTES))
        }

    def _check_token(self, req: ApiRequest) -> TokenRecord | None:
        token = self.request_token(req)
        if not token:
            raise GraphError(190, "An active access token must be used to query information "
                             "about the current user.")
        return self._validate_token(token)

    def _validate_token(self, token: str) -> TokenRecord | None:
        with self.state.read() as data:
            record = data.token("facebook", token)
            now = self.state.now()
            if record is None:
                return None
            state = record.state
            if state == "valid" and record.expires_time and now >= record.expires_time:
                state = "expired"
        if state == "valid":
            return record
        subcode = TOKEN_STATE_SUBCODES[state]
        message = TOKEN_MESSAGES[subcode]
        if state == "expired":
            moment = datetime.fromtimestamp(record.expires_time or now, UTC)
            message = (
                "Error validating access token: Session has expired on "
                f"{moment.strftime('%A, %d-%b-%y %H:%M:%S')} UTC. The current time is "
                f"{datetime.fromtimestamp(now, UTC).strftime('%A, %d-%b-%y %H:%M:%S')} UTC."
            )
        raise GraphError(190, message, subcode=subcode)

    def _page_for(self, node: str, req: ApiRequest) -> str:
        if node == "me":
            token = self.request_token(req)
            with self.state.read() as data:
                record = data.token("facebook", token) if token else None
            if record is not None and record.kind == "page" and record.owner:
                return record.owner
            return FB_DEFAULT_PAGE_ID
        if not node.isdigit():
            raise no_such_object(node)
        return node

    def _publish_due_posts(self) -> None:
        """Scheduled posts go live when their time comes, as on Facebook."""
        now = self.state.now()
        with self.state.read() as data:
            due = [
                post for post in data.fb_posts.values()
                if not post.is_published and post.deleted_time is None
                and post.scheduled_publish_time is not None and post.scheduled_publish_time <= now
            ]
        if not due:
            return
        with self.state.mutate():
            for post in due:
                if post.is_published or post.scheduled_publish_time is None:
                    continue
                post.is_published = True
                post.created_time = float(post.scheduled_publish_time)
                post.updated_time = float(post.scheduled_publish_time)
                post.scheduled_publish_time = None

    # -- publishing ---------------------------------------------------------------------

    def _schedule_time(self, req: ApiRequest, published: bool | None) -> int | None:
        raw = req.params.get("scheduled_publish_time")
        if raw is None or raw == "":
            return None
        if published is not False:
            raise GraphError(
                100, "(#100) Cannot specify a scheduled publish time on a published post"
            )
        now = self.state.now()
        try:
            when = parse_when(raw, now)
        except ValueError:
            raise GraphError(
                100, "(#100) Param scheduled_publish_time must be a valid time"
            ) from None
        latest = now + self.settings.facebook_schedule_max_days * 86400
        if not now + MIN_SCHEDULE_S <= when <= latest:
            # UNVERIFIED wording (A1): the code (100) is known, the message is not.
            raise GraphError(100, "(#100) The specified scheduled publish time is invalid.")
        return when

    def _check_duplicate(self, data: StateData, page_id: str, message: str | None) -> None:
        if not message:
            return
        previous = None
        for post in data.fb_posts.values():
            if post.page_id == page_id and post.deleted_time is None:
                previous = post
        if previous is not None and previous.message == message:
            raise GraphError(506, user_title="Duplicate Post")

    def publish_feed(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        page_id = self._page_for(found["node"], req)
        params = req.params
        message = as_str(params.get("message")) or None
        link = as_str(params.get("link")) or None
        published = as_bool("published", params.get("published"))
        attached = as_object_list("attached_media", params)
        if not message and not link and not attached:
            raise GraphError(100, "(#100) Missing message or attachment")
        if message and len(message) > MAX_MESSAGE_CHARS:
            raise GraphError(
                100, f"(#100) Param message must be at most {MAX_MESSAGE_CHARS} characters long"
            )
        if link and not re.match(r"^https?://[^\s/]+", link):
            raise GraphError(100, "(#100) Param link must be a valid URL")
        media_ids: list[str] = []
        for index, item in enumerate(attached):
            media_id = item.get("media_fbid") if isinstance(item, dict) else None
            if not media_id:
                raise GraphError(100, f"(#100) param attached_media[{index}] must be an object "
                                 "with a media_fbid")
            media_ids.append(str(media_id))
        scheduled = self._schedule_time(req, published)
        unpublished_type = None
        if published is False:
            unpublished_type = as_str(params.get("unpublished_content_type")) or (
                "SCHEDULED" if scheduled else "DRAFT"
            )
        with self.state.mutate() as data:
            self._check_duplicate(data, page_id, message)
            for index, media_id in enumerate(media_ids):
                photo = data.fb_photos.get(media_id)
                if (
                    photo is None or photo.deleted_time is not None
                    or photo.page_id != page_id or photo.post_id is not None
                ):
                    raise GraphError(
                        100, f"(#100) param attached_media[{index}] has an invalid media_fbid"
                    )
            now = self.state.now()
            post = FbPost(
                id=f"{page_id}_{data.next_fb_number()}",
                page_id=page_id,
                created_time=now,
                updated_time=now,
                message=message,
                link=link,
                is_published=published is not False,
                scheduled_publish_time=scheduled,
                unpublished_content_type=unpublished_type,
                photo_ids=media_ids,
            )
            data.fb_posts[post.id] = post
            for media_id in media_ids:
                data.fb_photos[media_id].post_id = post.id
            data.see_page(page_id)
        body: dict[str, Any] = {"id": post.id}
        fields = as_str(req.params.get("fields"))
        if fields:
            # Read-after-write (Graph v2.9): the created object's fields come back too.
            with self.state.read():
                body = self.render_post(post, parse_fields(fields), req)
        return ApiResponse(200, body)

    def publish_photo(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        page_id = self._page_for(found["node"], req)
        params = req.params
        published = as_bool("published", params.get("published"))
        no_story = as_bool("no_story", params.get("no_story"), False)
        caption = as_str(params.get("caption")) or as_str(params.get("message")) or None
        scheduled = self._schedule_time(req, published)
        upload = req.files.get("source")
        url = as_str(params.get("url")) or None
        try:
            if upload is not None:
                data_bytes = upload.data
                info = inspect_image(data_bytes, max_bytes=MAX_PHOTO_BYTES, formats=PHOTO_FORMATS)
            elif url:
                data_bytes, info = fetch_image(
                    url, max_bytes=MAX_PHOTO_BYTES, formats=PHOTO_FORMATS
                )
            else:
                raise GraphError(324, "(#324) Requires upload file")
        except MediaError as exc:
            # UNVERIFIED (A2): hard-reject thresholds and wording are unknown; code 100.
            messages = {
                "too_large": "(#100) The image is too large: the limit is 4 MB",
                "unreachable": f"(#100) Could not fetch the image at url: {exc.detail}",
            }
            raise GraphError(
                100,
                messages.get(
                    exc.reason,
                    "(#100) Invalid image: send a JPEG, PNG, GIF, BMP or TIFF file",
                ),
            ) from None
        makes_story = published is not False and not no_story
        with self.state.mutate() as data:
            if makes_story and DUPLICATE_CHECK_INCLUDES_PHOTOS:
                self._check_duplicate(data, page_id, caption)
            now = self.state.now()
            photo = FbPhoto(
                id=data.next_fb_number(),
                page_id=page_id,
                created_time=now,
                width=info.width,
                height=info.height,
                format=info.format,
                size=info.size,
                source_url=url if upload is None else None,
                caption=caption,
                published=published is not False,
            )
            data.fb_photos[photo.id] = photo
            self.state.media.put(f"fb-{photo.id}", info.content_type, data_bytes)
            post: FbPost | None = None
            if makes_story or scheduled is not None:
                post = FbPost(
                    id=f"{page_id}_{data.next_fb_number()}",
                    page_id=page_id,
                    created_time=now,
                    updated_time=now,
                    message=caption,
                    is_published=scheduled is None,
                    scheduled_publish_time=scheduled,
                    unpublished_content_type="SCHEDULED" if scheduled else None,
                    photo_ids=[photo.id],
                )
                data.fb_posts[post.id] = post
                photo.post_id = post.id
            data.see_page(page_id)
        # UNVERIFIED (A2): without a published story only the photo id comes back.
        if post is not None and makes_story:
            return ApiResponse(200, {"id": photo.id, "post_id": post.id})
        return ApiResponse(200, {"id": photo.id})

    def edit_post(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        node = found["node"]
        params = req.params
        message = as_str(params.get("message"))
        is_published = as_bool("is_published", params.get("is_published"))
        is_hidden = as_bool("is_hidden", params.get("is_hidden"))
        is_pinned = as_bool("is_pinned", params.get("is_pinned"))
        scheduled = None
        if params.get("scheduled_publish_time") not in (None, ""):
            scheduled = self._schedule_time(req, False)
        with self.state.mutate() as data:
            post = data.fb_posts.get(node)
            if post is None or post.deleted_time is not None:
                raise no_such_object(node)
            now = self.state.now()
            if scheduled is not None:
                if post.is_published:
                    raise GraphError(
                        100, "(#100) Cannot reschedule a post that is already published"
                    )
                post.scheduled_publish_time = scheduled
            if is_published and not post.is_published:
                post.is_published = True
                post.scheduled_publish_time = None
                post.unpublished_content_type = None
                post.created_time = now
            if message is not None:
                post.message = message
            if is_hidden is not None:
                post.is_hidden = is_hidden
            if is_pinned is not None:
                post.is_pinned = is_pinned
            post.updated_time = now
        # UNVERIFIED (A3): verified for DELETE, assumed for updates.
        return ApiResponse(200, {"success": True})

    def delete_node(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        node = found["node"]
        if node.isdigit() and self.media.delete(node):
            return ApiResponse(200, {"success": True})
        with self.state.mutate() as data:
            now = self.state.now()
            post = data.fb_posts.get(node)
            photo = data.fb_photos.get(node)
            if post is not None and post.deleted_time is None:
                post.deleted_time = now
            elif photo is not None and photo.deleted_time is None:
                photo.deleted_time = now
                story = data.fb_posts.get(photo.post_id or "")
                if story is not None and story.photo_ids == [photo.id]:
                    story.deleted_time = now
            else:
                raise GraphError(
                    100,
                    f"(#100) Unsupported delete request. Object with ID '{node}' does not "
                    "exist, cannot be loaded due to missing permissions, or does not support "
                    "this operation.",
                    subcode=33,
                    error_type="GraphMethodException",
                )
        return ApiResponse(200, {"success": True})

    # -- reading ------------------------------------------------------------------------

    def _live_post(self, data: StateData, node: str) -> FbPost:
        post = data.fb_posts.get(node)
        if post is None or post.deleted_time is not None:
            photo = data.fb_photos.get(node)
            if photo is not None and photo.deleted_time is None and photo.post_id:
                post = data.fb_posts.get(photo.post_id)
        if post is None or post.deleted_time is not None:
            raise no_such_object(node)
        return post

    def get_node(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        node = found["node"]
        video = self.media.video_node(node) if node.isdigit() else None
        if video is not None:
            return ApiResponse(200, video)
        fields_text = as_str(req.params.get("fields"))
        specs = parse_fields(fields_text) if fields_text else None
        with self.state.read() as data:
            if node == "me" or node.isdigit():
                photo = data.fb_photos.get(node)
                if photo is not None and photo.deleted_time is None:
                    return ApiResponse(200, self.render_photo(photo, specs, req))
                page_id = self._page_for(node, req)
                return ApiResponse(200, self.render_page(page_id, specs))
            post = data.fb_posts.get(node)
            if post is None or post.deleted_time is not None:
                raise no_such_object(node)
            default = [FieldSpec("created_time", {}), FieldSpec("message", {})]
            return ApiResponse(200, self.render_post(post, specs or default, req))

    def get_edge(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        node, edge = found["node"], found["edge"]
        if edge == "accounts":
            return self.accounts(req)
        if edge == "insights":
            return self.insights(req, {"node": node})
        if edge in ("feed", "posts", "published_posts", "scheduled_posts"):
            return self.list_posts(req, self._page_for(node, req), edge)
        with self.state.read() as data:
            if "_" in node or data.fb_photos.get(node) is not None:
                post = self._live_post(data, node)
                if edge in ("comments", "reactions", "likes", "sharedposts", "attachments"):
                    modifiers = {
                        key: as_str(value) or ""
                        for key, value in req.params.items()
                        if key in ("summary", "limit", "type", "filter")
                    }
                    value = self._post_field(post, FieldSpec(edge, modifiers), req)
                    return ApiResponse(200, value)
                raise GraphError(
                    100, f"(#100) Tried accessing nonexisting field ({edge}) on node type "
                    "(PagePost)"
                )
        raise GraphError(
            100, f"(#100) Tried accessing nonexisting field ({edge}) on node type (Page)"
        )

    def list_posts(self, req: ApiRequest, page_id: str, edge: str) -> ApiResponse:
        params = req.params
        limit = max(1, min(as_int("limit", params.get("limit"), 25), 100))
        include_hidden = as_bool("include_hidden", params.get("include_hidden"), False)
        fields_text = as_str(params.get("fields"))
        specs = parse_fields(fields_text) if fields_text else [
            FieldSpec("created_time", {}), FieldSpec("message", {})
        ]
        now = self.state.now()
        since = until = None
        try:
            if params.get("since") not in (None, ""):
                since = parse_when(params["since"], now)
            if params.get("until") not in (None, ""):
                until = parse_when(params["until"], now)
        except ValueError:
            raise GraphError(100, "(#100) since and until must be valid times") from None
        with self.state.read() as data:
            if edge == "scheduled_posts":
                posts = [
                    p for p in data.fb_posts.values()
                    if p.page_id == page_id and p.deleted_time is None and not p.is_published
                    and p.scheduled_publish_time is not None
                ]
            else:
                posts = [
                    p for p in data.fb_posts.values()
                    if p.page_id == page_id and p.deleted_time is None and p.is_published
                    and (include_hidden or not p.is_hidden)
                ]
            posts = [
                p for p in posts
                if (since is None or p.created_time >= since)
                and (until is None or p.created_time <= until)
            ]
            posts.sort(key=_sort_key, reverse=True)
            after, before = as_str(params.get("after")), as_str(params.get("before"))
            if after:
                mark = _decode_cursor(after)
                window = [p for p in posts if _sort_key(p) < mark][:limit]
            elif before:
                mark = _decode_cursor(before)
                window = [p for p in posts if _sort_key(p) > mark][-limit:]
            else:
                window = posts[:limit]
            items = [self.render_post(post, specs, req) for post in window]
        body: dict[str, Any] = {"data": items}
        if window:
            first, last = _encode_cursor(window[0]), _encode_cursor(window[-1])
            paging: dict[str, Any] = {"cursors": {"before": first, "after": last}}
            base_query = {
                key: as_str(value) or "" for key, value in req.query.items()
                if key not in ("after", "before")
            }
            base_query["limit"] = str(limit)
            url = f"{req.base_url}/{req.version or DEFAULT_VERSION}/{page_id}/{edge}"
            if posts and _sort_key(window[-1]) > _sort_key(posts[-1]):
                paging["next"] = f"{url}?{urlencode({**base_query, 'after': last})}"
            if posts and _sort_key(window[0]) < _sort_key(posts[0]):
                paging["previous"] = f"{url}?{urlencode({**base_query, 'before': first})}"
            body["paging"] = paging
        return ApiResponse(200, body)

    def _photo_url(self, photo: FbPhoto, req: ApiRequest) -> str:
        return f"{req.base_url}/_sandbox/media/fb-{photo.id}"

    def render_page(self, page_id: str, specs: list[FieldSpec] | None) -> dict[str, Any]:
        values: dict[str, Any] = {
            "id": page_id,
            "name": f"Sandbox Page {page_id}",
            "category": "Government Organization",
            "link": f"{PERMALINK_BASE}/{page_id}",
            "fan_count": 0,
            "followers_count": 0,
            "about": "Page emulated by the Loa sandbox",
            "is_published": True,
            "verification_status": "not_verified",
        }
        chosen = specs or [FieldSpec("name", {})]
        out: dict[str, Any] = {}
        for spec in chosen:
            if spec.name not in values:
                raise GraphError(
                    100, f"(#100) Tried accessing nonexisting field ({spec.name}) on node type "
                    "(Page)"
                )
            out[spec.key] = values[spec.name]
        out.setdefault("id", page_id)
        return out

    def render_photo(
        self, photo: FbPhoto, specs: list[FieldSpec] | None, req: ApiRequest
    ) -> dict[str, Any]:
        url = self._photo_url(photo, req)
        values: dict[str, Any] = {
            "id": photo.id,
            "created_time": fb_time(photo.created_time),
            "name": photo.caption,
            "width": photo.width,
            "height": photo.height,
            "images": [{"height": photo.height, "width": photo.width, "source": url}],
            "picture": url,
            "link": f"{PERMALINK_BASE}/photo.php?fbid={photo.id}",
            "page_story_id": photo.post_id,
            "from": {"name": f"Sandbox Page {photo.page_id}", "id": photo.page_id},
        }
        chosen = specs or [FieldSpec("created_time", {}), FieldSpec("name", {})]
        out: dict[str, Any] = {}
        for spec in chosen:
            if spec.name not in values:
                raise GraphError(
                    100, f"(#100) Tried accessing nonexisting field ({spec.name}) on node type "
                    "(Photo)"
                )
            if values[spec.name] is not None:
                out[spec.key] = values[spec.name]
        out.setdefault("id", photo.id)
        return out

    def render_post(self, post: FbPost, specs: list[FieldSpec], req: ApiRequest) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in specs:
            value = self._post_field(post, spec, req)
            if value is not None:
                out[spec.key] = value
        out.setdefault("id", post.id)
        return out

    def _photos_of(self, post: FbPost) -> list[FbPhoto]:
        with self.state.read() as data:
            return [data.fb_photos[i] for i in post.photo_ids if i in data.fb_photos]

    def _post_field(self, post: FbPost, spec: FieldSpec, req: ApiRequest) -> Any:
        name = spec.name
        photos = self._photos_of(post)
        simple: dict[str, Callable[[], Any]] = {
            "id": lambda: post.id,
            "message": lambda: post.message,
            "created_time": lambda: fb_time(post.created_time),
            "updated_time": lambda: fb_time(post.updated_time),
            "permalink_url": lambda: f"{PERMALINK_BASE}/{post.page_id}/posts/{post.post_number}",
            "is_published": lambda: post.is_published,
            "scheduled_publish_time": lambda: post.scheduled_publish_time,
            "is_hidden": lambda: post.is_hidden,
            "is_pinned": lambda: post.is_pinned,
            "is_expired": lambda: False,
            "is_popular": lambda: False,
            "is_spherical": lambda: False,
            "is_eligible_for_promotion": lambda: post.is_published,
            "is_instagram_eligible": lambda: False,
            "promotion_status": lambda: "ineligible",
            "timeline_visibility": lambda: "hidden" if post.is_hidden else "normal",
            "status_type": lambda: (
                "added_photos" if photos else "shared_story" if post.link else
                "mobile_status_update"
            ),
            "full_picture": lambda: self._photo_url(photos[0], req) if photos else None,
            "picture": lambda: self._photo_url(photos[0], req) if photos else None,
            "from": lambda: _select(
                {"name": f"Sandbox Page {post.page_id}", "id": post.page_id}, spec.subfields
            ),
            "privacy": lambda: {
                "allow": "", "deny": "", "description": "Public", "friends": "",
                "value": "EVERYONE",
            },
            "shares": lambda: {"count": post.shares} if post.shares else None,
            "attachments": lambda: self._attachments(post, photos, spec, req),
            "sharedposts": lambda: {"data": []},
            "insights": lambda: self._insights_body(
                post, as_list("metric", spec.modifiers.get("metric")) or list(METRICS),
                spec.modifiers.get("period") or "lifetime",
            ),
        }
        if name in simple:
            return simple[name]()
        if name in ("reactions", "likes", "comments"):
            return self._engagement_edge(post, spec)
        if name in ABSENT_POST_FIELDS:
            return None
        raise GraphError(
            100, f"(#100) Tried accessing nonexisting field ({name}) on node type (PagePost)"
        )

    def _engagement_edge(self, post: FbPost, spec: FieldSpec) -> dict[str, Any]:
        limit = as_int("limit", spec.modifiers.get("limit"), 25)
        if spec.name == "comments":
            total = post.comments
            data = [
                {
                    "created_time": fb_time(post.created_time),
                    "message": f"Sandbox comment {n + 1}",
                    "id": f"{post.post_number}_{n + 1}",
                }
                for n in range(min(total, limit))
            ]
            summary = {"order": "ranked", "total_count": total, "can_comment": True}
        else:
            wanted = spec.modifiers.get("type", "").lower() or None
            if spec.name == "likes":
                wanted = "like"
            counts = {
                kind: count for kind, count in post.reactions.items()
                if wanted is None or kind == wanted
            }
            total = sum(counts.values())
            # Anonymous reactors, so clients that count `data` see the same totals.
            kinds = [kind for kind, count in counts.items() for _ in range(count)][:limit]
            data = [
                {
                    "id": f"{SANDBOX_USER_ID[:-3]}{n + 1:03d}",
                    "name": f"Sandbox User {n + 1}",
                    "type": kind.upper(),
                }
                for n, kind in enumerate(kinds)
            ]
            if spec.name == "likes":
                data = [{"id": item["id"], "name": item["name"]} for item in data]
                summary = {"total_count": total, "can_like": True, "has_liked": False}
            else:
                summary = {"total_count": total, "viewer_reaction": "NONE"}
        data = [_select(item, spec.subfields) for item in data]
        body: dict[str, Any] = {"data": data}
        if spec.flag("summary"):
            body["summary"] = summary
        return body

    def _attachments(
        self, post: FbPost, photos: list[FbPhoto], spec: FieldSpec, req: ApiRequest
    ) -> dict[str, Any]:
        def photo_item(photo: FbPhoto) -> dict[str, Any]:
            url = f"{PERMALINK_BASE}/photo.php?fbid={photo.id}"
            return {
                "media": {"image": {
                    "height": photo.height, "src": self._photo_url(photo, req),
                    "width": photo.width,
                }},
                "target": {"id": photo.id, "url": url},
                "type": "photo",
                "url": url,
            }

        items: list[dict[str, Any]] = []
        if len(photos) == 1:
            items.append(photo_item(photos[0]))
        elif photos:
            album = photo_item(photos[0])
            album.update(
                type="album",
                subattachments={"data": [photo_item(photo) for photo in photos]},
            )
            items.append(album)
        elif post.link:
            items.append({
                "target": {"url": post.link},
                "title": post.link,
                "type": "share",
                "url": post.link,
                "unshimmed_url": post.link,
            })
        return {"data": [_select(item, spec.subfields) for item in items]}

    # -- insights -----------------------------------------------------------------------

    def _metric_value(self, post: FbPost, metric: str) -> Any:
        reactions = {kind: count for kind, count in post.reactions.items() if count}
        if metric == "post_media_view":
            return post.views
        if metric == "post_total_media_view_unique":
            return post.reach
        if metric == "post_clicks":
            return post.clicks
        if metric == "post_clicks_by_type":
            return {"other clicks": post.clicks} if post.clicks else {}
        if metric == "post_reactions_by_type_total":
            return reactions
        if metric == "post_activity_by_action_type":
            activity = {"share": post.shares, "like": sum(reactions.values()),
                        "comment": post.comments}
            return {kind: count for kind, count in activity.items() if count}
        if metric == "post_video_views":
            return 0
        kind = metric.removeprefix("post_reactions_").removesuffix("_total")
        return reactions.get(kind, 0)

    def _insights_body(self, post: FbPost, metrics: list[str], period: str) -> dict[str, Any]:
        if not metrics:
            raise GraphError(
                3001, "Invalid query", subcode=1504028,
                user_title="No Metric Specified",
                user_msg="No metric was specified to be fetched. Please specify one or more "
                "metrics to be fetched and try your request again.",
            )
        for metric in metrics:
            if metric not in METRICS:
                raise GraphError(100, "(#100) The value must be a valid insights metric")
        if period not in INSIGHTS_PERIODS:
            raise GraphError(
                100, f"(#100) period must be one of the following values: "
                f"{', '.join(INSIGHTS_PERIODS)}"
            )
        entries = []
        for metric in metrics:
            value: dict[str, Any] = {"value": self._metric_value(post, metric)}
            if period != "lifetime":
                value["end_time"] = fb_time(self.state.now())
            title, description = METRICS[metric]
            entries.append({
                "name": metric,
                "period": period,
                "values": [value],
                "title": title,
                "description": description,
                "id": f"{post.id}/insights/{metric}/{period}",
            })
        body: dict[str, Any] = {"data": entries}
        if INSIGHTS_INCLUDE_PAGING:
            body["paging"] = {}
        return body

    def insights(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        metrics = [found["metric"]] if "metric" in found else as_list(
            "metric", req.params.get("metric")
        )
        period = as_str(req.params.get("period")) or "lifetime"
        with self.state.read() as data:
            node = found["node"]
            page = node.isdigit() and node not in data.fb_posts and node not in data.fb_photos
        if page:  # a Page's own insights (insights_emulator.py)
            return self._page_insights(req, found["node"], metrics, period)
        with self.state.read() as data:
            post = self._live_post(data, found["node"])
            return ApiResponse(200, self._insights_body(post, metrics, period))

    def _page_insights(self, req: ApiRequest, page_id: str, metrics: list[str], period: str) -> ApiResponse:
        from scheduler.channels.facebook.insights_emulator import page_insights

        self._page_for(page_id, req)
        until = as_str(req.params.get("until"))
        end = fb_time(float(until)) if until and until.isdigit() else fb_time(self.state.now())
        with self.state.read() as data:
            try:
                return ApiResponse(200, page_insights(data, page_id, metrics, period, end))
            except LookupError:
                raise GraphError(3001, "Invalid query", subcode=1504028) from None
            except ValueError as exc:
                raise GraphError(100, f"(#100) The value must be a valid insights metric: {exc}") from None

    # -- tokens -------------------------------------------------------------------------

    def oauth_access_token(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        params = req.params
        grant = as_str(params.get("grant_type")) or ""
        client_id = as_str(params.get("client_id"))
        client_secret = as_str(params.get("client_secret"))
        if not client_id:
            raise GraphError(101, "Missing client_id parameter.")
        if not client_secret:
            raise GraphError(100, "(#100) Missing client_secret parameter.")
        if grant == "client_credentials":
            return ApiResponse(
                200, {"access_token": f"{client_id}|{client_secret}", "token_type": "bearer"}
            )
        if grant != "fb_exchange_token":
            raise GraphError(100, f"(#100) Unsupported grant_type: {grant or '(none)'}")
        short_lived = as_str(params.get("fb_exchange_token"))
        if not short_lived:
            raise GraphError(100, "(#100) Missing fb_exchange_token parameter")
        self._validate_token(short_lived)
        with self.state.mutate() as data:
            now = self.state.now()
            record = data.put_token(TokenRecord(
                platform="facebook",
                token=opaque_token("EAAG"),
                kind="user",
                issued_time=now,
                expires_time=now + LONG_LIVED_TOKEN_S,
            ))
        return ApiResponse(200, {
            "access_token": record.token,
            "token_type": "bearer",
            "expires_in": LONG_LIVED_TOKEN_S,
        })

    def accounts(self, req: ApiRequest) -> ApiResponse:
        with self.state.mutate() as data:
            pages = list(data.fb_pages) or [FB_DEFAULT_PAGE_ID]
            entries = []
            for page_id in pages:
                record = next(
                    (r for r in data.tokens.values()
                     if r.platform == "facebook" and r.kind == "page" and r.owner == page_id
                     and r.state == "valid"),
                    None,
                )
                if record is None:
                    record = data.put_token(TokenRecord(
                        platform="facebook", token=opaque_token("EAAG"), kind="page",
                        owner=page_id, issued_time=self.state.now(),
                    ))
                entries.append({
                    "access_token": record.token,
                    "category": "Government Organization",
                    "category_list": [{"id": "2235", "name": "Government Organization"}],
                    "name": f"Sandbox Page {page_id}",
                    "id": page_id,
                    "tasks": PAGE_TASKS,
                })
        cursor = base64.urlsafe_b64encode(b"0").decode().rstrip("=")
        return ApiResponse(200, {
            "data": entries, "paging": {"cursors": {"before": cursor, "after": cursor}}
        })

    def debug_token(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        input_token = as_str(req.params.get("input_token"))
        if not input_token:
            raise GraphError(100, "(#100) The parameter input_token is required")
        app_token = self.request_token(req) or ""
        app_id = app_token.split("|", 1)[0] if "|" in app_token else SANDBOX_APP_ID
        now = self.state.now()
        with self.state.read() as data:
            record = data.token("facebook", input_token)
        kind = record.kind if record else ("app" if "|" in input_token else "page")
        info: dict[str, Any] = {
            "app_id": app_id,
            "type": {"user": "USER", "app": "APP"}.get(kind, "PAGE"),
            "application": SANDBOX_APP_NAME,
            "data_access_expires_at": int(now) + 90 * 86400,
            # UNVERIFIED (A5): 0 is widely reported to mean "never expires".
            "expires_at": int(record.expires_time) if record and record.expires_time else 0,
            "is_valid": True,
            "issued_at": int(record.issued_time if record and record.issued_time else now),
            "scopes": PAGE_SCOPES,
            "user_id": SANDBOX_USER_ID,
        }
        try:
            self._validate_token(input_token)
        except GraphError as exc:
            info["is_valid"] = False
            info["error"] = {"code": exc.code, "message": exc.message, "subcode": exc.subcode}
        return ApiResponse(200, {"data": info})
