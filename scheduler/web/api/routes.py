"""The operations of the API, and the FastAPI app that serves them and documents them.

No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations,
which name dependencies defined in :func:`create_api`.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Path, Query
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduler.auth import may_manage_post
from scheduler.errors import InputError, NotFound
from scheduler.i18n import N_, msg
from scheduler.posts.requests import PlatformText as PlatformWords
from scheduler.posts.requests import PostRequest, parse_when
from scheduler.render.messages import nfc
from scheduler.web.api.calls import Call, caller, json_body, json_object
from scheduler.web.api.errors import ApiError, install_handlers, refuse
from scheduler.web.api.models import (
    BODY_MODELS,
    Approval,
    Error,
    MediaList,
    NewPost,
    Post,
    PostChanges,
    PostList,
    PostQuery,
    QueuedPost,
    ShareQuery,
    ShareReport,
)
from scheduler.web.pages import security_headers

if TYPE_CHECKING:
    from scheduler.app import Loa

PREFIX = "/api"
DESCRIPTION = (
    "Queue, read, approve and cancel posts; read the share report. Times are ISO 8601; a time without an "
    "offset is local time in the configured zone. Authenticate with `Authorization: Bearer TOKEN` "
    "(`loa user token USERNAME`) or the console session cookie plus an `X-CSRF-Token` header on POST."
)
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "a token from `loa user token`"},
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "loa_session",
        "description": "the console's session (`__Host-loa_session` over https)",
    },
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "the session's CSRF token; required on POST with a session",
    },
}


def _refusals(*specific: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """The error answers of an operation: the usual ones, ``specific`` ones, any other 4xx."""
    described: dict[int | str, str] = {
        400: "Bad input: the message names the field and the fix; nothing was stored",
        401: "No valid bearer token or session",
        403: "The account's role may not do this (recorded in the audit log), or no X-CSRF-Token",
    }
    for more in specific:
        for status, text in more.items():
            described[status] = text
    # Declaring 4XX also keeps FastAPI from documenting its own 422, which this API never sends.
    described["4XX"] = "Any other refusal, in the same shape"
    return {status: {"model": Error, "description": text} for status, text in described.items()}


BODY_REFUSALS = {413: "The body is too large", 415: "The body is not JSON"}
NO_POST = {404: "No such post"}
UPLOAD_REFUSALS = {
    413: "The upload is larger than [media] max_video_mib, or its length is not given",
    415: "The body is not multipart/form-data",
}
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "alt": {"type": "string", "description": "a description for readers who cannot see it"},
                    },
                }
            }
        },
    }
}
BUSY = {503: "Heavy work is at its limit in this process (see Retry-After): try again in a few seconds"}


def _request_body(model: type[BaseModel], *, required: bool) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}


class LoaApi(FastAPI):
    """FastAPI, documenting its routes under the prefix it is mounted at."""

    def openapi(self) -> dict[str, Any]:
        if not self.openapi_schema:
            document = get_openapi(
                title=self.title,
                version=self.version,
                openapi_version=self.openapi_version,
                description=self.description,
                routes=self.routes,
                servers=self.servers,
            )
            document["paths"] = {PREFIX + path: item for path, item in document["paths"].items()}
            components = document.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            for model in BODY_MODELS:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            components["securitySchemes"] = SECURITY_SCHEMES
            document["security"] = [{"bearer": []}, {"session": [], "csrf": []}]
            self.openapi_schema = document
        return self.openapi_schema


class HeadAsGet:
    """HEAD answered as GET without the body, as Starlette's own routes do (FastAPI's do not)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def create_api(loa: "Loa") -> FastAPI:
    """The API of one Loa, to mount at ``/api``; nothing global."""
    https = loa.settings.public_url.startswith("https://")
    api = LoaApi(
        title="Loa console API",
        version="1",
        description=DESCRIPTION,
        servers=[{"url": loa.settings.public_url}],
        # The document is one of the routes (below); the interactive pages would load assets
        # from a CDN, which the console's CSP forbids.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # A trailing slash is no route (a documented 404), not a redirect built from the Host header.
        redirect_slashes=False,
    )
    api.state.loa = loa
    install_handlers(api)
    api.add_middleware(HeadAsGet)

    @api.middleware("http")
    async def secure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        return security_headers(response, https=https, cache=request.url.path.endswith("/openapi.json"))

    viewer = Annotated[Call, Depends(caller("posts.view"))]
    composer = Annotated[Call, Depends(caller("posts.compose"))]
    approver = Annotated[Call, Depends(caller("posts.approve"))]
    manager = Annotated[Call, Depends(caller("posts.manage"))]
    reader = Annotated[Call, Depends(caller("reports.view"))]
    post_path = "/posts/{post_id:int}"  # a path that is not a number is no route: 404
    # Bounded so a huge number is bad input, not a database overflow.
    post_id_type = Annotated[int, Path(ge=1, le=2**63 - 1)]

    @api.get(
        "/openapi.json",
        operation_id="openapi",
        summary="This document",
        response_model=None,
        responses={200: {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
        openapi_extra={"security": []},
    )
    async def openapi(request: Request) -> Response:
        return JSONResponse(api.openapi())

    @api.get(
        "/posts",
        operation_id="listPosts",
        summary="Posts, newest first (roles: admin, editor, approver)",
        response_model=PostList,
        response_description="The posts",
        responses=_refusals(),
    )
    def list_posts(call: viewer, query: Annotated[PostQuery, Query()]) -> dict[str, Any]:
        return {"posts": _list_posts(call, query)}

    @api.post(
        "/posts",
        operation_id="createPost",
        summary="Queue a post, as `loa post add` (roles: admin, editor)",
        status_code=201,
        response_model=QueuedPost,
        response_description="The queued post",
        responses=_refusals(BODY_REFUSALS),
        openapi_extra=_request_body(NewPost, required=True),
    )
    def create_post(call: composer, body: Annotated[NewPost, Depends(json_body(NewPost))], response: Response) -> Any:
        try:
            request = _post_request(call, body)
            # An editor of a unit queues for that unit's channels only.
            call.require_channels(list(request.channels), "POST /api/posts")
            prepared = call.loa.posts.prepare(request)
            (post_id,) = call.loa.posts.store([prepared])
        except InputError as exc:
            raise ApiError(400, exc) from None
        response.headers["Location"] = f"{PREFIX}/posts/{post_id}"
        shown = call.loa.posts.show(post_id, lang=call.lang)
        shown["warnings"] = [w.render(call.lang) for w in prepared.warnings]
        return shown

    @api.patch(
        post_path,
        operation_id="editPost",
        summary="Change a post not yet claimed, as `loa post edit` (roles: admin; editor for own posts)",
        response_model=Post,
        response_description="The post after the change",
        responses=_refusals(NO_POST, {409: "Being published or its outcome unknown"}, BODY_REFUSALS),
        openapi_extra=_request_body(PostChanges, required=True),
    )
    def edit_post(
        call: composer, post_id: post_id_type, body: Annotated[PostChanges, Depends(json_body(PostChanges))]
    ) -> Any:
        post = _post_or_404(call, post_id)
        if not may_manage_post(call.user, post["created_by"]):
            raise call.forbid(f"post:{post_id}", N_("audit_reason.edit_not_author"), author=post["created_by"])
        changes = _changes(call, body)
        if body.channels is not None:
            call.require_channels(list(body.channels), f"post:{post_id}")  # moved to another unit's channel
        try:
            call.loa.posts.edit(post_id, changes, actor=call.user.username)
        except InputError as exc:
            raise ApiError(409 if exc.field is None else 400, exc) from None
        return call.loa.posts.show(post_id, lang=call.lang)

    @api.get(
        "/media",
        operation_id="listMedia",
        summary="The media library, newest first (roles: admin, editor, approver)",
        response_model=MediaList,
        response_description="The library",
        responses=_refusals(),
    )
    def list_media(call: viewer, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
        return {"media": call.loa.media.list(limit=limit)}

    @api.post(
        "/media",
        operation_id="addMedia",
        summary="Put photos or videos in the library, as `loa media add` (multipart `file`; roles: admin, editor)",
        status_code=201,
        response_model=MediaList,
        response_description="What was stored (an item already there is answered as it is)",
        responses=_refusals(UPLOAD_REFUSALS),
        openapi_extra=UPLOAD_BODY,
    )
    async def add_media(call: composer, request: Request) -> Any:
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise refuse(415, msg("error.api_send_multipart"), hint=msg("hint.api_send_multipart"))
        # One request carries at most the largest video the library takes (several photos fit in it).
        limit = call.loa.settings.media.max_video_bytes + 1024 * 1024
        declared = request.headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > limit:
            # Refused before a byte is read: a file's size is known before it is sent.
            raise refuse(
                413,
                msg("error.api_upload_too_large", mib=limit // (1024 * 1024)),
                hint=msg("hint.media_too_big", key="media.max_video_mib"),
            )
        form = await request.form()
        files = [f for f in form.getlist("file") if not isinstance(f, str)]
        alt = form.get("alt")
        if not files:
            raise refuse(400, msg("error.api_required", name="file"), field="file")
        try:
            added = await run_in_threadpool(_add_uploads, call, files, alt if isinstance(alt, str) else "")
        except InputError as exc:
            raise ApiError(400, exc) from None
        finally:
            await form.close()
        return {"media": added}

    @api.get(
        post_path,
        operation_id="getPost",
        summary="One post, as `loa post show --json`",
        response_model=Post,
        response_description="The post",
        responses=_refusals(NO_POST),
    )
    def get_post(call: viewer, post_id: post_id_type) -> Any:
        return _post_or_404(call, post_id)

    @api.post(
        post_path + "/approve",
        operation_id="approvePost",
        summary="Approve what waits for approval (roles: admin, approver; never the author)",
        response_model=Post,
        response_description="The post after approval",
        responses=_refusals(NO_POST, {409: "Nothing waits for approval"}, BODY_REFUSALS),
        openapi_extra=_request_body(Approval, required=False),
    )
    def approve_post(
        call: approver, post_id: post_id_type, body: Annotated[Approval, Depends(json_body(Approval))]
    ) -> Any:
        post = _post_or_404(call, post_id)
        if post["created_by"] == call.user.username:
            # Separation of duties: the author never approves their own post.
            raise call.forbid(f"post:{post_id}", N_("audit_reason.own_post"))
        channels = body.channels
        if call.scope is not None:
            # An approver of a unit approves its own channels' publications; the rest wait for others.
            channels = [c for c in (channels or [p["channel"] for p in post["publications"]]) if c in call.scope]
            call.require_channels(list(body.channels or []), f"post:{post_id}")
        try:
            call.loa.posts.approve(post_id, actor=call.user.username, channels=channels)
        except InputError as exc:
            raise ApiError(409 if exc.field is None else 400, exc) from None
        # Read back in the caller's language (its publications' stored reasons are worded).
        return call.loa.posts.show(post_id, lang=call.lang)

    @api.post(
        post_path + "/cancel",
        operation_id="cancelPost",
        summary="Cancel what has not gone out (roles: admin; editor for own posts)",
        response_model=Post,
        response_description="The post after cancelling",
        responses=_refusals(NO_POST, {409: "Nothing left to cancel"}, BODY_REFUSALS),
    )
    def cancel_post(
        call: manager, post_id: post_id_type, _body: Annotated[dict[str, Any], Depends(json_object)]
    ) -> Any:
        post = _post_or_404(call, post_id)
        if not may_manage_post(call.user, post["created_by"]):
            raise call.forbid(f"post:{post_id}", N_("audit_reason.cancel_not_author"), author=post["created_by"])
        try:
            call.loa.posts.cancel(post_id, actor=call.user.username)
        except InputError as exc:
            raise ApiError(409, exc) from None
        return call.loa.posts.show(post_id, lang=call.lang)

    @api.get(
        "/reports/shares",
        operation_id="shareReport",
        summary="Staff shares and clicks, as `loa report shares --format json`",
        response_model=ShareReport,
        response_description="The report",
        responses=_refusals({501: "Reports are not available"}, BUSY),
    )
    def share_report(call: reader, query: Annotated[ShareQuery, Query()]) -> Any:
        try:
            from scheduler.reports.queries import Period, parse_dimension
            from scheduler.reports.queries import share_report as build
        except ImportError:
            raise refuse(501, msg("error.api_no_share_report")) from None
        try:
            period = Period.parse(query.from_, query.to, call.loa.settings.tz)
            with call.loa.heavy.slot():
                report = build(call.loa.engine, call.loa.settings, period, parse_dimension(query.by))
        except InputError as exc:
            raise ApiError(400, exc) from None
        return report.as_json()

    return api


def _list_posts(call: Call, query: PostQuery) -> list[dict[str, Any]]:
    try:
        return call.loa.posts.list(
            within=call.scope,
            status=query.status.value if query.status else None,
            campaign=query.campaign,
            channel=query.channel,
            limit=query.limit,
            lang=call.lang,
        )
    except InputError as exc:
        raise ApiError(400, exc) from None


def _post_or_404(call: Call, post_id: int) -> dict[str, Any]:
    try:
        post = call.loa.posts.show(post_id, lang=call.lang)
    except NotFound as exc:
        raise ApiError(404, exc) from None
    scope = call.scope
    if scope is not None and not any(p["channel"] in scope for p in post["publications"]):
        channels = ", ".join(sorted({p["channel"] for p in post["publications"]}))
        raise call.forbid(f"post:{post_id}", N_("audit_reason.other_unit"), channels=channels)
    return post


def _text(value: str | None) -> str | None:
    return (nfc(value.strip()) or None) if value is not None else None


def _add_uploads(call: Call, files: list[Any], alt: str) -> list[dict[str, Any]]:
    """Every uploaded file spooled to disk, then all added as `loa media add` adds them."""
    import shutil
    import tempfile
    from pathlib import Path as FilePath

    with tempfile.TemporaryDirectory(prefix="loa-upload-") as folder:
        paths: list[FilePath] = []
        names: list[str] = []
        for index, upload in enumerate(files):
            path = FilePath(folder) / f"upload-{index}"
            upload.file.seek(0)
            with path.open("wb") as sink:
                shutil.copyfileobj(upload.file, sink, 1024 * 1024)
            paths.append(path)
            names.append(upload.filename or path.name)
        return call.loa.media.add(paths, alt=alt, actor=call.user.username, names=names)


def _post_request(call: Call, body: NewPost) -> PostRequest:
    """`POST /api/posts` as `loa post add` takes it."""
    template = _text(body.template)
    if template is None and body.text is None:
        raise refuse(
            400, msg("error.api_required", name="template"), hint=msg("api.must_be.template"), field="template"
        )
    channels = body.channels if body.channels is not None else (body.channel or [])
    if isinstance(channels, str):
        channels = [channels]
    variables = {nfc(str(key)): nfc(str(value)) for key, value in body.variables.items()}
    for pair in body.var:
        if "=" not in pair:
            raise refuse(400, msg("error.api_must_be", name="var", rule=msg("api.must_be.var")), field="var")
        key, _, value = pair.partition("=")
        variables[nfc(key.strip())] = nfc(value)
    at_text = _text(body.at)
    if (at_text is None) == (not body.now):
        raise refuse(400, msg("error.api_at_or_now"), hint=msg("hint.api_at_or_now"), field="at")
    try:
        at = parse_when(at_text, call.loa.settings) if at_text else None
    except InputError as exc:
        raise ApiError(400, exc) from None
    return PostRequest(
        template=template or "",
        channels=[c.strip() for c in channels],
        variables=variables,
        at=at,
        campaign=_text(body.campaign),
        link=_text(body.link),
        cover=_text(body.cover),
        created_by=call.user.username,
        draft=body.draft,
        text=body.text,
        title=_text(body.title),
        description=_text(body.description),
        overrides=_overrides(body.overrides),
        media=list(body.media),
        reel=body.reel,
    )


def _overrides(given: Mapping[str, Any] | None) -> dict[str, PlatformWords]:
    return {
        name.strip(): PlatformWords(text=own.text, title=_text(own.title), description=_text(own.description))
        for name, own in (given or {}).items()
    }


def _changes(call: Call, body: PostChanges) -> dict[str, Any]:
    """`PATCH /api/posts/{id}` as `loa post edit` takes it: only the fields given."""
    changes: dict[str, Any] = {}
    if body.text is not None:
        changes.update(text=body.text, template="", variables={})
    for name in ("title", "description", "link"):
        if getattr(body, name) is not None:
            changes[name] = _text(getattr(body, name))
    if body.overrides is not None:
        changes["overrides"] = _overrides(body.overrides)
    if body.media is not None:
        changes["media"] = list(body.media)
    if body.channels is not None:
        changes["channels"] = [c.strip() for c in body.channels]
    at_text = _text(body.at)
    if at_text is not None:
        try:
            changes["at"] = parse_when(at_text, call.loa.settings)
        except InputError as exc:
            raise ApiError(400, exc) from None
    return changes
