"""The sandbox's own control API under ``/_sandbox`` (docs/platforms.md C); not part of any platform.

| route | body / answer |
|---|---|
| ``GET /_sandbox/state`` | everything received, grouped by Page and OA |
| ``GET/POST/DELETE /_sandbox/faults`` | list / queue (one fault or a list) / clear |
| ``POST /_sandbox/engagement`` | set or add counters of a post or article |
| ``GET/POST /_sandbox/tokens`` | list / set ``{"platform", "token", "state"}`` |
| ``GET/POST /_sandbox/clock`` | ``{"advance_s": N}`` or ``{"offset_s": N}`` shifts sandbox time |
| ``POST /_sandbox/reset`` | forget everything, faults included |
| ``PUT/GET /_sandbox/files/{name}`` | host any bytes at a URL (e.g. a cover for Zalo to fetch) |
| ``GET /_sandbox/media/{key}`` | the images platforms received (``full_picture`` points here) |
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from scheduler.channels.facebook.emulator import PERMALINK_BASE, fb_time
from scheduler.channels.zalo.emulator import article_link, owner_of
from scheduler.sandbox.faults import FaultQueue, FaultSpecError, immediate_token_changes
from scheduler.sandbox.state import (
    TOKEN_STATES,
    FbPhoto,
    FbPost,
    SandboxState,
    StateData,
    TokenRecord,
)

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
FB_COUNTERS = ("views", "reach", "comments", "shares", "clicks")
ZALO_COUNTERS = {"total_view": "total_view", "views": "total_view",
                 "total_share": "total_share", "shares": "total_share"}


class ControlError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _problem(error: ControlError) -> JSONResponse:
    return JSONResponse({"error": error.message}, status_code=error.status)


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise ControlError("the body must be JSON") from None


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


def render_state(state: SandboxState, base_url: str) -> dict[str, Any]:
    """The shape documented in docs/platforms.md C, plus extra keys for debugging."""
    with state.read() as data:
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
        return {
            "facebook": {"pages": pages},
            "zalo": {"oas": oas, "oauth": {"requests": list(data.zalo_oauth_log)}},
            "tokens": [dataclasses.asdict(record) for record in data.tokens.values()],
            "clock": {"now": state.now(), "offset_s": data.clock_offset_s},
            "requests": list(state.requests),
        }


def _counter(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(f"{name} must be an integer")
    return value


def apply_engagement(state: SandboxState, payload: Any) -> dict[str, Any]:
    """Set (``mode: set``, default) or grow (``mode: add``) a post's or article's counters."""
    if not isinstance(payload, dict):
        raise ControlError("the body must be a JSON object")
    mode = payload.get("mode", "set")
    if mode not in ("set", "add"):
        raise ControlError("mode must be set or add")
    platform = payload.get("platform") or (
        "facebook" if "post_id" in payload else "zalo" if "article_id" in payload else None
    )

    def combine(old: int, new: int) -> int:
        return max(0, old + new) if mode == "add" else max(0, new)

    with state.mutate() as data:
        if platform == "facebook":
            post_id = str(payload.get("post_id", ""))
            post = data.fb_posts.get(post_id)
            photo = data.fb_photos.get(post_id)
            if post is None and photo is not None and photo.post_id:
                post = data.fb_posts.get(photo.post_id)
            if post is None:
                raise ControlError(f"no Facebook post {post_id!r} in the sandbox", 404)
            for name in FB_COUNTERS:
                if name in payload:
                    setattr(post, name, combine(getattr(post, name), _counter(name, payload[name])))
            if "reactions" in payload:
                raw = payload["reactions"]
                given = raw if isinstance(raw, dict) else {"like": raw}
                reactions = dict(post.reactions) if mode == "add" else {}
                for kind, count in given.items():
                    reactions[str(kind).lower()] = combine(
                        reactions.get(str(kind).lower(), 0), _counter(f"reactions.{kind}", count)
                    )
                post.reactions = {kind: n for kind, n in reactions.items() if n}
            return {"platform": "facebook", **_post_entry(post, data, "")}
        if platform == "zalo":
            article_id = str(payload.get("article_id") or payload.get("id") or "")
            article = data.zalo_articles.get(article_id)
            if article is None:
                raise ControlError(f"no Zalo article {article_id!r} in the sandbox", 404)
            for key, attribute in ZALO_COUNTERS.items():
                if key in payload:
                    setattr(article, attribute, combine(
                        getattr(article, attribute), _counter(key, payload[key])
                    ))
            return {
                "platform": "zalo", "article_id": article.id,
                "total_view": article.total_view, "total_share": article.total_share,
            }
    raise ControlError("platform must be facebook (with post_id) or zalo (with article_id)")


def set_token_state(
    state: SandboxState, platform: str | None, token: str, new_state: str
) -> dict[str, Any]:
    if new_state not in TOKEN_STATES:
        raise ControlError(f"state must be one of {list(TOKEN_STATES)}")
    platforms = [platform] if platform else ["facebook", "zalo"]
    if any(p not in ("facebook", "zalo") for p in platforms):
        raise ControlError("platform must be facebook or zalo")
    with state.mutate() as data:
        records = []
        for name in platforms:
            record = data.token(name, token) or data.put_token(TokenRecord(
                platform=name, token=token,
                owner=owner_of(token) if name == "zalo" else None,
            ))
            record.state = new_state
            records.append(dataclasses.asdict(record))
    return {"tokens": records}


def routes(state: SandboxState, faults: FaultQueue) -> list[BaseRoute]:
    """The control routes, to mount at ``/_sandbox``."""

    async def get_state(request: Request) -> Response:
        base_url = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse(render_state(state, base_url))

    async def fault_queue(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"faults": faults.list()})
        if request.method == "DELETE":
            return JSONResponse({"cleared": faults.clear()})
        try:
            payload = await _json(request)
            specs = payload if isinstance(payload, list) else [payload]
            parsed = [faults.parse(spec) for spec in specs]
            changes = [change for spec in specs for change in immediate_token_changes(spec)]
        except FaultSpecError as exc:
            return _problem(ControlError(str(exc)))
        except ControlError as exc:
            return _problem(exc)
        for platform, token, new_state in changes:
            set_token_state(state, platform, token, new_state)
        queued = faults.add([fault for fault in parsed if fault is not None])
        return JSONResponse({"queued": [fault.describe() for fault in queued],
                             "tokens_changed": len(changes)})

    async def engagement(request: Request) -> Response:
        try:
            return JSONResponse(apply_engagement(state, await _json(request)))
        except ControlError as exc:
            return _problem(exc)

    async def tokens(request: Request) -> Response:
        if request.method == "GET":
            with state.read() as data:
                return JSONResponse({"tokens": [dataclasses.asdict(r) for r in data.tokens.values()]})
        try:
            payload = await _json(request)
            if not isinstance(payload, dict) or not isinstance(payload.get("token"), str) \
                    or not payload["token"]:
                raise ControlError('send {"platform", "token", "state"}')
            return JSONResponse(set_token_state(
                state, payload.get("platform"), payload["token"], payload.get("state", "revoked")
            ))
        except ControlError as exc:
            return _problem(exc)

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                payload = await _json(request)
                if not isinstance(payload, dict):
                    raise ControlError('send {"advance_s": N} or {"offset_s": N}')
                with state.mutate() as data:
                    if "offset_s" in payload:
                        data.clock_offset_s = float(payload["offset_s"])
                    if "advance_s" in payload:
                        data.clock_offset_s += float(payload["advance_s"])
            except (ControlError, TypeError, ValueError) as exc:
                message = exc.message if isinstance(exc, ControlError) else str(exc)
                return _problem(ControlError(message))
        with state.read() as data:
            return JSONResponse({"now": state.now(), "offset_s": data.clock_offset_s})

    async def reset(request: Request) -> Response:
        state.reset()
        faults.clear()
        return JSONResponse({"reset": True})

    async def files(request: Request) -> Response:
        name = request.path_params["name"]
        if not FILE_NAME.match(name):
            return _problem(ControlError("file names are letters, digits, '.', '_' and '-'"))
        if request.method == "PUT":
            content_type = request.headers.get("content-type", "application/octet-stream")
            state.media.put(f"file-{name}", content_type, await request.body())
            return JSONResponse({"url": f"{request.url.scheme}://{request.url.netloc}"
                                        f"/_sandbox/files/{name}"})
        return _media_response(state, f"file-{name}")

    async def media(request: Request) -> Response:
        key = request.path_params["key"]
        if not FILE_NAME.match(key) or key.startswith("file-"):
            return _problem(ControlError("no such media", 404))
        return _media_response(state, key)

    return [
        Route("/state", get_state, methods=["GET"]),
        Route("/faults", fault_queue, methods=["GET", "POST", "DELETE"]),
        Route("/engagement", engagement, methods=["POST"]),
        Route("/tokens", tokens, methods=["GET", "POST"]),
        Route("/clock", clock, methods=["GET", "POST"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/files/{name}", files, methods=["GET", "PUT"]),
        Route("/media/{key}", media, methods=["GET"]),
    ]


def _media_response(state: SandboxState, key: str) -> Response:
    item = state.media.get(key)
    if item is None:
        return _problem(ControlError("no such media", 404))
    content_type, data = item
    return Response(data, media_type=content_type)
