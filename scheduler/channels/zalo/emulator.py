"""Zalo OA API subset and its OAuth v4 token endpoint (docs/platforms.md B0–B5 and C).

OA errors are HTTP 200 with ``{"error": code, "message": text}``; OAuth errors use the
``error_name``/``error_reason``/``error_description`` shape. Tokens: any non-empty token is
accepted the first time it is seen; ``oa:{OA_ID}:…`` tokens belong to that OA, others to
:data:`ZALO_DEFAULT_OA_ID`; tokens issued by a refresh belong to the refresh token's OA.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from scheduler.channels.zalo.login_emulator import ZaloLoginEmulator
from scheduler.channels.zalo.media_emulator import ZaloMedia
from scheduler.config import SandboxSettings
from scheduler.sandbox.control import ControlError, counter_value
from scheduler.sandbox.emulator import Combine
from scheduler.sandbox.faults import Fault
from scheduler.sandbox.media import MediaError, fetch_image, inspect_image
from scheduler.sandbox.state import (
    ZALO_DEFAULT_OA_ID,
    SandboxState,
    StateData,
    TokenRecord,
    ZaloArticle,
    ZaloAttachment,
    ZaloBroadcast,
    ZaloJob,
    opaque_token,
    zalo_article_id,
    zalo_attachment_id,
    zalo_create_token,
    zalo_message_id,
)
from scheduler.sandbox.wire import ApiRequest, ApiResponse, ParamError, as_int, as_str

OA_VERSIONS = ("v2.0", "v3.0")
OA_SECTIONS = ("oa", "article")
ACCESS_TOKEN_LIFETIME_S = 90000  # 25 h, sent as the string "90000" (B1)
REFRESH_TOKEN_LIFETIME_S = 90 * 86400  # "3 months" (B1)
# UNVERIFIED (B1): what happens to the previous access token after a refresh.
REFRESH_REVOKES_OLD_ACCESS_TOKEN = False
# UNVERIFIED OAuth error numbers (B1; -14020 is the value docs/reliability.md §3.3 cites).
OAUTH_INVALID_REFRESH_TOKEN = -14020
OAUTH_INVALID_CODE = -14019
OAUTH_INVALID_APP_ID = -14001
OAUTH_INVALID_SECRET_KEY = -14002
OAUTH_INVALID_GRANT_TYPE = -14003
OAUTH_REF_DOC = "https://developers.zalo.me/docs/official-account"
# UNVERIFIED (B3): the public URL of an article.
ARTICLE_LINK_TEMPLATE = "https://zalo.me/s/{oa_id}/{article_id}"
TITLE_MAX_CHARS = 150  # field reports say exactly 150 was refused once; the message says 1..150
DESCRIPTION_MAX_CHARS = 300
# UNVERIFIED (B3): whether Zalo refuses an article without a description; Loa always
# sends one (docs/platforms.md B3), so the sandbox is strict.
DESCRIPTION_REQUIRED = True
AUTHOR_MAX_CHARS = 50
IMAGE_MAX_BYTES = 1024 * 1024
IMAGE_FORMATS = ("JPEG", "PNG")
SLICE_MAX_LIMIT = 10
BROADCAST_MAX_ARTICLES = 5
TARGET_KEYS = ("ages", "gender", "locations", "cities", "platform")
MESSAGES = {
    0: "Success",
    -32: "Your application reached limit call api",
    -100: "attachment_id was expired",
    -200: "Upload media failed",
    -201: "Parameter is invalid",
    -204: "OA has been disabled or deleted",
    -205: "OA does not exist",
    -209: "API is not support",
    -210: "Parameter exceeds allowable limit",
    -211: "Out of quota",
    -212: "App has not registered this api",
    -213: "User has not followed OA",
    -214: "Article is being processed",
    -216: "Access token is invalid",
    -217: "User has blocked invitation from OA",
    -218: "Out of quota receive",
    -219: "App is removed or disabled",
    -220: "access_token is expired or removed",
    -221: "OA needs to be verified",
    -223: "OA has not authorized this API",
    -224: "OA needs to upgrade package",
    -234: "Cannot send promotional messages at night",
    -240: "MessageV2 API has been shut down",
    -242: "Invalid appsecret_proof",
}
OAUTH_MESSAGES = {
    OAUTH_INVALID_REFRESH_TOKEN: ("Invalid refresh token", "Refresh token is invalid"),
    OAUTH_INVALID_CODE: ("Invalid authorization code", "Authorization code is invalid"),
    OAUTH_INVALID_APP_ID: ("Invalid app id", "app_id is invalid"),
    OAUTH_INVALID_SECRET_KEY: ("Invalid secret key", "secret_key is invalid"),
    OAUTH_INVALID_GRANT_TYPE: ("Invalid grant type", "grant_type is invalid"),
}
OWNED_TOKEN = re.compile(r"^oa:(\d+):")
SAFE_URL = re.compile(r"^https?://[!-~]+$")  # printable ASCII only: Zalo wants it encoded


class ZaloError(Exception):
    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, "Unknown error")
        super().__init__(self.message)


def envelope(data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {} if data is None else {"data": data}
    body.update(error=0, message="Success")
    return body


def error_body(code: int, message: str | None = None) -> dict[str, Any]:
    return {"error": code, "message": message or MESSAGES.get(code, "Unknown error")}


def oauth_error_body(code: int, description: str | None = None) -> dict[str, Any]:
    name, reason = OAUTH_MESSAGES.get(code, ("Unknown error", "Unknown error"))
    return {
        "error_name": name,
        "error_reason": reason,
        "ref_doc": OAUTH_REF_DOC,
        "error_description": description or reason,
        "error": code,
    }


def owner_of(token: str) -> str:
    match = OWNED_TOKEN.match(token)
    return match.group(1) if match else ZALO_DEFAULT_OA_ID


def article_link(article: ZaloArticle) -> str:
    return ARTICLE_LINK_TEMPLATE.format(oa_id=article.oa_id, article_id=article.id)


Handler = Callable[[ApiRequest, str], ApiResponse]


@dataclass(frozen=True)
class _Route:
    method: str
    path: tuple[str, ...]
    handler: Handler


ZALO_COUNTERS = {"total_view": "total_view", "views": "total_view",
                 "total_share": "total_share", "shares": "total_share"}


class ZaloApi:
    """The Zalo OA emulation; one instance per sandbox app."""

    name: ClassVar[str] = "zalo"
    catch_all: ClassVar[bool] = False
    engagement_key: ClassVar[str] = "article_id"

    @staticmethod
    def token_owner(token: str) -> str | None:
        return owner_of(token)

    @staticmethod
    def state_section(data: StateData, base_url: str) -> dict[str, Any]:
        oas: dict[str, dict[str, Any]] = {}

        def oa(oa_id: str) -> dict[str, Any]:
            return oas.setdefault(oa_id, {
                "articles": [], "removed_articles": [], "broadcasts": [], "attachments": [],
                "pending": [],
            })

        for oa_id in data.zalo_oas:
            oa(oa_id)
        for article in data.zalo_articles.values():
            entry = {
                **dataclasses.asdict(article),
                "link": article_link(article),
            }
            bucket = "removed_articles" if article.removed_time else "articles"
            oa(article.oa_id)[bucket].append(entry)
        for broadcast in data.zalo_broadcasts:
            oa(broadcast.oa_id)["broadcasts"].append(dataclasses.asdict(broadcast))
        for attachment in data.zalo_attachments.values():
            oa(attachment.oa_id)["attachments"].append({
                **dataclasses.asdict(attachment),
                "url": f"{base_url}/_sandbox/media/zalo-{attachment.id}",
            })
        for job in data.zalo_jobs.values():
            if job.polls_left > 0 or job.error_code is not None:
                oa(job.oa_id)["pending"].append(dataclasses.asdict(job))
        for oa_id, section in oas.items():
            section["videos"] = ZaloMedia.state_videos(data, oa_id)
        return {"oas": oas, "oauth": {"requests": list(data.zalo_oauth_log)}}

    @staticmethod
    def apply_engagement(data: StateData, payload: dict[str, Any], combine: Combine) -> dict[str, Any]:
        if "oa_id" in payload and "article_id" not in payload:  # the OA's own audience
            from scheduler.channels.zalo.audience_emulator import apply_oa_engagement

            return apply_oa_engagement(data, payload, combine)
        article_id = str(payload.get("article_id") or payload.get("id") or "")
        article = data.zalo_articles.get(article_id)
        if article is None:
            raise ControlError(f"no Zalo article {article_id!r} in the sandbox", 404)
        for key, attribute in ZALO_COUNTERS.items():
            if key in payload:
                setattr(article, attribute, combine(
                    getattr(article, attribute), counter_value(key, payload[key])
                ))
        return {
            "platform": "zalo", "article_id": article.id,
            "total_view": article.total_view, "total_share": article.total_share,
        }

    def __init__(self, state: SandboxState, settings: SandboxSettings) -> None:
        self.login = ZaloLoginEmulator(state)
        self.state = state
        self.settings = settings
        self.media = ZaloMedia(self)
        self.routes = [
            _Route("POST", ("oa", "upload", "image"), self.upload_image),
            _Route("GET", ("oa", "getoa"), self.get_oa),
            _Route("POST", ("oa", "message"), self.broadcast),
            _Route("POST", ("article", "create"), self.create_article),
            _Route("POST", ("article", "update"), self.update_article),
            _Route("POST", ("article", "verify"), self.verify_article),
            _Route("POST", ("article", "remove"), self.remove_article),
            _Route("GET", ("article", "getdetail"), self.get_detail),
            _Route("GET", ("article", "getslice"), self.get_slice),
            # Article videos (media_emulator.py).
            *(_Route(method, path, handler) for method, path, handler in self.media.routes()),
        ]

    @staticmethod
    def is_oauth(req: ApiRequest) -> bool:
        return req.segments[:2] == ("v4", "oa")

    @staticmethod
    def owns(req: ApiRequest) -> bool:
        segments = req.segments
        if segments[:2] == ("v4", "oa"):
            return True
        return len(segments) >= 2 and segments[0] in OA_VERSIONS and segments[1] in OA_SECTIONS

    # -- plumbing shared with the dispatcher ------------------------------------------------

    def handle(self, req: ApiRequest) -> ApiResponse:
        if self.is_oauth(req):
            if self.login.owns(req):
                return self.login.handle(req)
            if req.segments == ("v4", "oa", "access_token") and req.method == "POST":
                refusal = self.login.pkce_refusal(req)
                if refusal is not None:
                    return ApiResponse(200, oauth_error_body(refusal, "code_verifier is invalid"))
                return self.oauth_token(req)
            return ApiResponse(404, {"error": 404, "message": "Not found"})
        try:
            path = req.segments[1:]
            route = next(
                (r for r in self.routes if r.path == path and r.method == req.method), None
            )
            if route is None:
                raise ZaloError(-209)
            oa_id = self._authorize(req)
            if req.body_error:
                raise ZaloError(-201, "Request body is invalid")
            return route.handler(req, oa_id)
        except ParamError as exc:
            return ApiResponse(200, error_body(-201, exc.message))
        except ZaloError as exc:
            return ApiResponse(200, error_body(exc.code, exc.message))

    def request_token(self, req: ApiRequest) -> str | None:
        if self.is_oauth(req):
            return as_str(req.params.get("refresh_token")) or None
        # The header is literally `access_token` (B0); some old clients use the query.
        return req.headers.get("access_token") or as_str(req.query.get("access_token")) or None

    def fault_response(self, fault: Fault, req: ApiRequest) -> ApiResponse:
        if fault.body is not None:
            return ApiResponse(fault.status or 500, fault.body, media_type="text/html")
        spec = dict(fault.error or {})
        raw_code = spec.pop("error", spec.pop("code", None))
        if raw_code is None:
            if fault.status is not None and fault.status >= 500:
                return ApiResponse(fault.status, "Internal Server Error", media_type="text/plain")
            raw_code = -201
        code = int(raw_code)
        if self.is_oauth(req):
            body = oauth_error_body(code, spec.pop("error_description", None))
        else:
            body = error_body(code, spec.pop("message", None))
        body.update(spec)
        return ApiResponse(fault.status or 200, body)

    def finish(self, resp: ApiResponse, req: ApiRequest) -> ApiResponse:
        return resp

    # -- tokens -------------------------------------------------------------------------

    def _authorize(self, req: ApiRequest) -> str:
        token = self.request_token(req)
        if not token:
            raise ZaloError(-216)
        now = self.state.now()
        with self.state.read() as data:
            record = data.token("zalo", token)
        if record is None:
            with self.state.mutate() as data:
                record = data.token("zalo", token) or data.put_token(
                    TokenRecord(platform="zalo", token=token, kind="access", owner=owner_of(token))
                )
                data.see_oa(record.owner or ZALO_DEFAULT_OA_ID)
        if record.state == "invalid":
            raise ZaloError(-216)
        if record.state in ("revoked", "expired"):
            raise ZaloError(-220)
        if record.expires_time is not None and now >= record.expires_time:
            raise ZaloError(-220)
        return record.owner or owner_of(token)

    def oauth_token(self, req: ApiRequest) -> ApiResponse:
        params = req.params
        grant = as_str(params.get("grant_type")) or ""
        app_id = as_str(params.get("app_id")) or ""
        presented = as_str(params.get("refresh_token" if grant == "refresh_token" else "code"))
        with self.state.mutate() as data:
            now = self.state.now()
            entry: dict[str, Any] = {
                "time": now, "grant_type": grant, "app_id": app_id, "token": presented,
            }
            data.zalo_oauth_log.append(entry)
            code = self._oauth_refusal(req, data, grant, app_id, presented, now)
            if code is not None:
                entry["error"] = code
                return ApiResponse(200, oauth_error_body(code))
            assert presented is not None
            used = data.token("zalo", presented)
            assert used is not None
            used.used_time = now
            owner = used.owner or owner_of(presented)
            if REFRESH_REVOKES_OLD_ACCESS_TOKEN:
                for record in data.tokens.values():
                    if record.platform == "zalo" and record.kind == "access" \
                            and record.owner == owner and record.state == "valid":
                        record.state = "revoked"
            access = data.put_token(TokenRecord(
                platform="zalo", token=opaque_token(), kind="access", owner=owner,
                issued_time=now, expires_time=now + ACCESS_TOKEN_LIFETIME_S,
            ))
            refresh = data.put_token(TokenRecord(
                platform="zalo", token=opaque_token(), kind="refresh", owner=owner,
                issued_time=now, expires_time=now + REFRESH_TOKEN_LIFETIME_S,
            ))
            data.see_oa(owner)
            entry.update(error=0, oa_id=owner, issued_refresh_token=refresh.token)
        return ApiResponse(200, {
            "access_token": access.token,
            "refresh_token": refresh.token,
            "expires_in": str(ACCESS_TOKEN_LIFETIME_S),
        })

    def _oauth_refusal(
        self, req: ApiRequest, data: StateData, grant: str, app_id: str,
        presented: str | None, now: float,
    ) -> int | None:
        """The OAuth error code for this request, or None; registers an unseen token."""
        if not req.headers.get("secret_key"):
            return OAUTH_INVALID_SECRET_KEY
        if not app_id:
            return OAUTH_INVALID_APP_ID
        if grant not in ("refresh_token", "authorization_code"):
            return OAUTH_INVALID_GRANT_TYPE
        refusal = OAUTH_INVALID_REFRESH_TOKEN if grant == "refresh_token" else OAUTH_INVALID_CODE
        if not presented:
            return refusal
        record = data.token("zalo", presented)
        if record is None:
            # Single-use from the first time the sandbox sees it (docs/platforms.md C).
            record = data.put_token(TokenRecord(
                platform="zalo", token=presented,
                kind="refresh" if grant == "refresh_token" else "code",
                owner=owner_of(presented),
            ))
        expired = record.expires_time is not None and now >= record.expires_time
        if record.used_time is not None or record.state != "valid" or expired:
            return refusal
        if record.kind not in ("refresh", "code"):
            return refusal
        return None

    # -- media and articles -------------------------------------------------------------

    def _json_object(self, req: ApiRequest) -> dict[str, Any]:
        body = req.json_body
        if isinstance(body, dict):
            return body
        if req.params:
            return dict(req.params)
        raise ZaloError(-201, "Request body is invalid")

    def upload_image(self, req: ApiRequest, oa_id: str) -> ApiResponse:
        upload = req.files.get("file")
        if upload is None or not upload.data:
            raise ZaloError(-201, "file is invalid")
        try:
            info = inspect_image(upload.data, max_bytes=IMAGE_MAX_BYTES, formats=IMAGE_FORMATS)
        except MediaError as exc:
            # UNVERIFIED (B2): the codes and texts for these refusals.
            if exc.reason == "too_large":
                raise ZaloError(-210, "The size of file exceeds the limit (1MB)") from None
            raise ZaloError(-201, "file type is invalid, only jpg and png are supported") from None
        with self.state.mutate() as data:
            attachment = ZaloAttachment(
                id=zalo_attachment_id(), oa_id=oa_id, created_time=self.state.now(),
                format=info.format, size=info.size, width=info.width, height=info.height,
            )
            data.zalo_attachments[attachment.id] = attachment
            data.see_oa(oa_id)
            self.state.media.put(f"zalo-{attachment.id}", info.content_type, upload.data)
        return ApiResponse(200, envelope({"attachment_id": attachment.id}))

    def get_oa(self, req: ApiRequest, oa_id: str) -> ApiResponse:
        from scheduler.channels.zalo.audience_emulator import follower_count

        with self.state.read() as data:
            followers = follower_count(data, oa_id)
        return ApiResponse(200, envelope({
            "oa_id": oa_id,
            "name": self.login.oa_name(oa_id) or f"Sandbox OA {oa_id}",
            "description": "Official Account emulated by the Loa sandbox",
            "avatar": "",
            "cover": "",
            "is_verified": True,
            "num_follower": followers,
        }))

    def _validate_article(self, payload: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Normalised article fields and the media URLs Zalo would fetch."""
        kind = payload.get("type", "normal")
        if kind not in ("normal", "video"):
            raise ZaloError(-201, "type accept only 2 value normal and video.")
        title = payload.get("title")
        if not isinstance(title, str) or not 1 <= len(title) <= TITLE_MAX_CHARS:
            raise ZaloError(-201, f"title allow 1 to {TITLE_MAX_CHARS} characters")
        description = payload.get("description", "")
        shortest = 1 if DESCRIPTION_REQUIRED else 0
        if not isinstance(description, str) or not shortest <= len(description) <= DESCRIPTION_MAX_CHARS:
            raise ZaloError(
                -201, f"description allow {shortest} to {DESCRIPTION_MAX_CHARS} characters"
            )
        author = payload.get("author", "")
        if not isinstance(author, str) or len(author) > AUTHOR_MAX_CHARS:
            raise ZaloError(-201, f"author allow 0 to {AUTHOR_MAX_CHARS} characters")
        status = payload.get("status", "show")
        if status not in ("show", "hide"):
            raise ZaloError(-201, "status value is invalid")
        comment = payload.get("comment", "show")
        if comment not in ("show", "hide"):
            raise ZaloError(-201, "comment value is invalid")
        fields: dict[str, Any] = {
            "type": kind, "title": title, "description": description, "author": author,
            "status": status, "comment": comment,
        }
        urls: list[str] = []
        if kind == "video":
            video_id, avatar = payload.get("video_id"), payload.get("avatar")
            if not isinstance(video_id, str) or not video_id:
                raise ZaloError(-201, "video_id value is invalid")
            if not isinstance(avatar, str) or not SAFE_URL.match(avatar):
                raise ZaloError(-201, "avatar value is invalid")
            fields.update(video_id=video_id, avatar=avatar, cover=None, body=[])
            return fields, [avatar]
        cover = payload.get("cover")
        if not isinstance(cover, dict):
            raise ZaloError(-201, "cover value is invalid")
        cover_type = cover.get("cover_type")
        if cover_type == "photo":
            photo_url = cover.get("photo_url")
            if not isinstance(photo_url, str) or not photo_url:
                raise ZaloError(-201, "cover value is invalid")
            if not SAFE_URL.match(photo_url):
                raise ZaloError(-201, "photo_url value is invalid")
            urls.append(photo_url)
        elif cover_type == "video":
            if not isinstance(cover.get("video_id"), str) or not cover.get("video_id"):
                raise ZaloError(-201, "cover value is invalid")
            if cover.get("cover_view", "horizontal") not in ("horizontal", "vertical", "square"):
                raise ZaloError(-201, "cover_view value is invalid")
        else:
            raise ZaloError(-201, "cover value is invalid")
        body = payload.get("body")
        if not isinstance(body, list) or not body:
            raise ZaloError(-201, "body value is invalid")
        for item in body:
            urls.extend(self._body_item_urls(item))
        fields.update(cover=dict(cover), body=list(body))
        return fields, urls

    @staticmethod
    def _body_item_urls(item: Any) -> list[str]:
        if not isinstance(item, dict):
            raise ZaloError(-201, "body value is invalid")
        kind = item.get("type")
        if kind == "text":
            if not isinstance(item.get("content"), str) or not item["content"]:
                raise ZaloError(-201, "body value is invalid")
            return []
        if kind == "image":
            url = item.get("url")
            if not isinstance(url, str) or not SAFE_URL.match(url):
                raise ZaloError(-201, "url of image in body is invalid")
            return [url]
        if kind == "video":
            if not item.get("url") and not item.get("video_id"):
                raise ZaloError(-201, "body value is invalid")
            return []
        if kind == "product":
            if not item.get("id"):
                raise ZaloError(-201, "body value is invalid")
            return []
        raise ZaloError(-201, "body value is invalid")

    @staticmethod
    def _media_failure(urls: list[str]) -> tuple[int, str] | None:
        """Fetch like Zalo does while processing; any failure surfaces later at verify."""
        for url in urls:
            try:
                fetch_image(url, max_bytes=IMAGE_MAX_BYTES, formats=IMAGE_FORMATS)
            except MediaError:
                return -200, MESSAGES[-200]
        return None

    def create_article(self, req: ApiRequest, oa_id: str) -> ApiResponse:
        fields, urls = self._validate_article(self._json_object(req))
        # Fetched outside the lock: the URL may point back at this very sandbox.
        failure = self._media_failure(urls)
        with self.state.mutate() as data:
            now = self.state.now()
            job = ZaloJob(
                token=zalo_create_token(), oa_id=oa_id, kind="create", created_time=now,
                polls_left=self.settings.zalo_verify_pending_polls,
            )
            if failure is not None:
                job.error_code, job.error_message = failure
            else:
                # Zalo finishes processing whether or not anyone polls verify, so the
                # article exists from here on (a lost create reply still leaves it listed).
                millis = int(now * 1000)
                article = ZaloArticle(
                    id=zalo_article_id(), oa_id=oa_id, create_date=millis, update_date=millis,
                    **fields,
                )
                data.zalo_articles[article.id] = article
                job.article_id = article.id
            data.zalo_jobs[job.token] = job
            data.see_oa(oa_id)
        return ApiResponse(200, envelope({"token": job.token}))

    def _article(self, data: StateData, oa_id: str, article_id: Any) -> ZaloArticle:
        article = data.zalo_articles.get(str(article_id)) if article_id else None
        if article is None or article.oa_id != oa_id or article.removed_time is not None:
            # UNVERIFIED: the code and text for an unknown article id.
            raise ZaloError(-201, "article id is invalid")
        return article

    def update_article(self, req: ApiRequest, oa_id: str) -> ApiResponse:
        payload = self._json_object(req)
        with self.state.read() as data:
            self._article(data, oa_id, payload.get("id"))
        fields, urls = self._validate_article(payload)
        failure = self._media_failure(urls)
        with self.state.mutate() as data:
            article = self._article(data, oa_id, payload.get("id"))
            now = self.state.now()
            job = ZaloJob(
                token=zalo_create_token(), oa_id=oa_id, kind="update", created_time=now,
                polls_left=self.settings.zalo_verify_pending_polls, article_id=article.id,
            )
            if failure is not None:
                job.error_code, job.error_message = failure
            else:
                for key, value in fields.items():
                    setattr(article, key, value)
                article.update_date = int(now * 1000)
            data.zalo_jobs[job.token] = job
        # UNVERIFIED (B3): assumed to answer like create.
        return ApiResponse(200, envelope({"token": job.token}))

    def verify_article(self, req: ApiRequest, oa_id: str) -> ApiResponse:
        payload = self._json_object(req)
        token = as_str(payload.get("token"))
        with self.state.mutate() as data:
            job = data.zalo_jobs.get(token or "")
            if job is None or job.oa_id != oa_id:
                raise ZaloError(-201, "token is invalid")
            if job.polls_left > 0:
                job.polls_left -= 1
                raise ZaloError(-214)
            if job.error_code is not None:
                raise ZaloError(job.error_code, job.error_message)
            return ApiResponse(200, envelope({"id": job.article_id}))

    def remove_article(self, req: ApiRequest, oa_id: str) -> ApiResponse:
        payload = self._json_object(req)
        with self.state.mutate() as data:
            article = self._article(data, oa_id, payload.get("id"))
            article.removed_time = self.state.now()
        return ApiResponse(200, envelope())

    def _detail(self, article: ZaloArticle) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "id": article.id,
            "type": article.type,
            "title": article.title,
            "author": article.author,
            "description": article.description,
            "status": article.status,
            "comment": article.comment,
            "cover": article.cover,
            "body": article.body,
            "total_view": article.total_view,
            "total_share": article.total_share,
            "create_date": article.create_date,
            "update_date": article.update_date,
            "link": article_link(article),
        }
        if article.type == "video":
            detail.update(video_id=article.video_id, avatar=article.avatar)
            del detail["cover"], detail["body"]
        return detail

    def get_detail(self, req: ApiRequest, oa_id: str) -> ApiResponse:
        with self.state.read() as data:
            article = self._article(data, oa_id, as_str(req.params.get("id")))
            return ApiResponse(200, envelope(self._detail(article)))

    def get_slice(self, req: ApiRequest, oa_id: str) -> ApiResponse:
        offset = as_int("offset", req.params.get("offset"), 0)
        limit = as_int("limit", req.params.get("limit"), SLICE_MAX_LIMIT)
        kind = as_str(req.params.get("type")) or "normal"
        if limit > SLICE_MAX_LIMIT:
            raise ZaloError(-201, f"maximum limit is {SLICE_MAX_LIMIT}")
        if limit < 1 or offset < 0:
            raise ZaloError(-201, "offset or limit is invalid")
        if kind not in ("normal", "video"):
            raise ZaloError(-201, "type accept only 2 value normal and video.")
        with self.state.read() as data:
            articles = [
                a for a in data.zalo_articles.values()
                if a.oa_id == oa_id and a.type == kind and a.removed_time is None
            ]
        articles.sort(key=lambda a: (a.create_date, a.id), reverse=True)
        medias = [
            {
                "id": a.id,
                "type": a.type,
                "title": a.title,
                "status": a.status,
                "thumb": (a.cover or {}).get("photo_url") or a.avatar or "",
                "total_view": a.total_view,
                "total_share": a.total_share,
                "create_date": a.create_date,
                "update_date": a.update_date,
                "link": article_link(a),
            }
            for a in articles[offset : offset + limit]
        ]
        # UNVERIFIED (B3): item keys beyond id/title/total_view/total_share, and `total`.
        return ApiResponse(200, envelope({"medias": medias, "total": len(articles)}))

    def broadcast(self, req: ApiRequest, oa_id: str) -> ApiResponse:
        payload = self._json_object(req)
        recipient = payload.get("recipient", {})
        if not isinstance(recipient, dict):
            raise ZaloError(-201, "recipient value is invalid")
        target = recipient.get("target", {})
        if not isinstance(target, dict):
            raise ZaloError(-201, "target value is invalid")
        for key, value in target.items():
            # Zalo's SDK sends ints, other gateways strings (B4); both are accepted.
            if key not in TARGET_KEYS or isinstance(value, bool) \
                    or not isinstance(value, int | str):
                raise ZaloError(-201, f"target.{key} value is invalid")
        message = payload.get("message")
        attachment = message.get("attachment") if isinstance(message, dict) else None
        inner = attachment.get("payload") if isinstance(attachment, dict) else None
        if (
            not isinstance(attachment, dict) or attachment.get("type") != "template"
            or not isinstance(inner, dict) or inner.get("template_type") != "media"
        ):
            raise ZaloError(-201, "message value is invalid")
        elements = inner.get("elements")
        if not isinstance(elements, list) or not elements:
            raise ZaloError(-201, "elements value is invalid")
        if len(elements) > BROADCAST_MAX_ARTICLES:
            raise ZaloError(-201, f"elements allow max {BROADCAST_MAX_ARTICLES} articles")
        with self.state.mutate() as data:
            article_ids = []
            for element in elements:
                if not isinstance(element, dict) or element.get("media_type") != "article":
                    raise ZaloError(-201, "media_type value is invalid")
                article = self._article(data, oa_id, element.get("attachment_id"))
                article_ids.append(article.id)
            record = ZaloBroadcast(
                message_id=zalo_message_id(), oa_id=oa_id, created_time=self.state.now(),
                article_ids=article_ids, target=dict(target), request=payload,
            )
            data.zalo_broadcasts.append(record)
            data.see_oa(oa_id)
        return ApiResponse(200, envelope({"message_id": record.message_id}))
