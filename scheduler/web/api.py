"""The console's JSON API (`/api/…`) and its OpenAPI document.

Authenticated by ``Authorization: Bearer`` with a token from `loa user token`, or by the
console's session cookie — then every unsafe method also needs the session's CSRF token in
``X-CSRF-Token``, so another site cannot make a logged-in browser call it. Roles are the
console's (``scheduler.auth.PERMISSIONS``); a refusal is a 403 with an audit entry. Bad input
is a 400 naming the field, with the CLI's message; nothing is stored.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from scheduler.auth import AuthUser, csrf_ok, load_session, may_manage_post, record_forbidden, user_for_token
from scheduler.errors import InputError, LoaError, NotFound
from scheduler.posts.requests import PostRequest, parse_when
from scheduler.render.messages import nfc
from scheduler.web.pages import security_headers

if TYPE_CHECKING:
    from scheduler.app import Loa

MAX_BODY = 256 * 1024
SESSION_COOKIES = ("loa_session", "__Host-loa_session")


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, hint: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint
        self.field = field


@dataclass
class Call:
    request: Request
    loa: Loa
    user: AuthUser
    body: dict[str, Any]

    def forbid(self, what: str, reason: str) -> ApiError:
        record_forbidden(self.loa.engine, self.user, what=what, details={"reason": reason, "via": "api"})
        return ApiError(403, "your account may not do this", hint=reason)


Handler = Callable[[Call], Response]


def api_routes(loa: Loa) -> list[BaseRoute]:
    https = loa.settings.public_url.startswith("https://")

    def endpoint(handler: Handler, permission: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            try:
                user = await _authenticate(loa, request)
                if not user.can(permission):
                    await run_in_threadpool(
                        record_forbidden,
                        loa.engine,
                        user,
                        what=f"{request.method} {request.url.path}",
                        details={"permission": permission, "via": "api"},
                    )
                    raise ApiError(403, "your account may not do this", hint=f"needs the permission {permission}")
                body = await _json_body(request) if request.method == "POST" else {}
                response = await run_in_threadpool(handler, Call(request, loa, user, body))
            except ApiError as exc:
                response = _error(exc)
            return security_headers(response, https=https)

        serve.__name__ = handler.__name__
        return serve

    async def openapi(request: Request) -> Response:
        return security_headers(JSONResponse(openapi_document(loa)), https=https, cache=True)

    return [
        Route("/api/openapi.json", openapi, methods=["GET"]),
        Route("/api/posts", endpoint(list_posts, "posts.view"), methods=["GET"]),
        Route("/api/posts", endpoint(create_post, "posts.compose"), methods=["POST"]),
        Route("/api/posts/{post_id:int}", endpoint(get_post, "posts.view"), methods=["GET"]),
        Route("/api/posts/{post_id:int}/approve", endpoint(approve_post, "posts.approve"), methods=["POST"]),
        Route("/api/posts/{post_id:int}/cancel", endpoint(cancel_post, "posts.manage"), methods=["POST"]),
        Route("/api/reports/shares", endpoint(share_report, "reports.view"), methods=["GET"]),
    ]


async def _authenticate(loa: Loa, request: Request) -> AuthUser:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        user = (
            await run_in_threadpool(user_for_token, loa.engine, token.strip()) if scheme.lower() == "bearer" else None
        )
        if user is None:
            raise ApiError(401, "the bearer token is not valid", hint="create one with `loa user token USERNAME`")
        return user
    cookie = next((request.cookies[name] for name in SESSION_COOKIES if name in request.cookies), None)
    session = await run_in_threadpool(load_session, loa.engine, cookie) if cookie else None
    if session is None or session.user is None:
        raise ApiError(401, "log in, or send Authorization: Bearer TOKEN", hint="`loa user token USERNAME` makes one")
    if request.method not in {"GET", "HEAD", "OPTIONS"} and not csrf_ok(session, request.headers.get("x-csrf-token")):
        await run_in_threadpool(
            record_forbidden,
            loa.engine,
            session.user,
            what=f"{request.method} {request.url.path}",
            details={"reason": "missing or stale X-CSRF-Token", "via": "api"},
        )
        raise ApiError(403, "a call with the session cookie needs the session's X-CSRF-Token header")
    return session.user


async def _json_body(request: Request) -> dict[str, Any]:
    if "application/json" not in request.headers.get("content-type", ""):
        raise ApiError(415, "send the body as JSON", hint="Content-Type: application/json")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"the body is larger than {MAX_BODY // 1024} KiB")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _error(exc: ApiError) -> Response:
    payload = {"error": {"message": exc.message, "hint": exc.hint, "field": exc.field}}
    headers = {"WWW-Authenticate": 'Bearer realm="loa"'} if exc.status == 401 else None
    return JSONResponse(payload, status_code=exc.status, headers=headers)


def _input_error(exc: LoaError, *, status: int = 400) -> ApiError:
    return ApiError(status, exc.message, hint=exc.hint, field=getattr(exc, "field", None))


def _post_or_404(call: Call) -> dict[str, Any]:
    try:
        return call.loa.posts.show(int(call.request.path_params["post_id"]))
    except NotFound as exc:
        raise _input_error(exc, status=404) from None


# -- handlers --------------------------------------------------------------------------------


def list_posts(call: Call) -> Response:
    query = call.request.query_params
    limit_text = query.get("limit", "200")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        raise ApiError(400, f"limit {limit_text!r} must be a whole number from 1 to 1000", field="limit")
    try:
        posts = call.loa.posts.list(
            status=query.get("status") or None,
            campaign=query.get("campaign") or None,
            channel=query.get("channel") or None,
            limit=int(limit_text),
        )
    except InputError as exc:
        raise _input_error(exc) from None
    return JSONResponse({"posts": posts})


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string", field=name)
    return nfc(value.strip()) or None


def _post_request(call: Call) -> PostRequest:
    """The body of `POST /api/posts`: the fields of `loa post add`, as JSON."""
    body = call.body
    known = {"template", "channels", "channel", "variables", "var", "at", "now", "cover", "campaign", "link", "draft"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ApiError(
            400, f"unknown field(s): {', '.join(unknown)}", hint=f"known: {', '.join(sorted(known))}", field=unknown[0]
        )
    template = _text(body, "template")
    if template is None:
        raise ApiError(400, "template is required", hint="the name of a message template", field="template")
    channels = body.get("channels", body.get("channel", []))
    if isinstance(channels, str):
        channels = [channels]
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise ApiError(400, "channels must be a list of channel ids", field="channels")
    variables = body.get("variables", {})
    if not isinstance(variables, dict):
        raise ApiError(400, "variables must be an object of name → text", field="variables")
    for pair in body.get("var", []) if isinstance(body.get("var", []), list) else [None]:
        if not isinstance(pair, str) or "=" not in pair:
            raise ApiError(400, "var must be a list of 'K=V' strings, as --var takes", field="var")
        key, _, value = pair.partition("=")
        variables[key.strip()] = value
    clean_vars: dict[str, str] = {}
    for key, value in variables.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ApiError(400, f"variable {key!r} must be text", field=str(key))
        clean_vars[nfc(str(key))] = nfc(str(value))
    at_text = _text(body, "at")
    now = body.get("now", False)
    draft = body.get("draft", False)
    if not isinstance(now, bool) or not isinstance(draft, bool):
        raise ApiError(
            400, "now and draft must be true or false", field="now" if not isinstance(now, bool) else "draft"
        )
    if (at_text is None) == (not now):
        raise ApiError(
            400, "give exactly one of at and now", hint='"at": "2026-05-06T08:00" or "now": true', field="at"
        )
    try:
        at = parse_when(at_text, call.loa.settings) if at_text else None
    except InputError as exc:
        raise _input_error(exc) from None
    return PostRequest(
        template=template,
        channels=[c.strip() for c in channels],
        variables=clean_vars,
        at=at,
        campaign=_text(body, "campaign"),
        link=_text(body, "link"),
        cover=_text(body, "cover"),
        created_by=call.user.username,
        draft=draft,
    )


def create_post(call: Call) -> Response:
    request = _post_request(call)
    try:
        post_id = call.loa.posts.add(request)
    except InputError as exc:
        raise _input_error(exc) from None
    return JSONResponse(call.loa.posts.show(post_id), status_code=201, headers={"Location": f"/api/posts/{post_id}"})


def get_post(call: Call) -> Response:
    return JSONResponse(_post_or_404(call))


def approve_post(call: Call) -> Response:
    post = _post_or_404(call)
    channels = call.body.get("channels")
    if channels is not None and (not isinstance(channels, list) or not all(isinstance(c, str) for c in channels)):
        raise ApiError(400, "channels must be a list of channel ids", field="channels")
    if post["created_by"] == call.user.username:
        # Separation of duties: the author never approves their own post.
        raise call.forbid(f"post:{post['id']}", "the author of a post cannot approve it")
    try:
        shown = call.loa.posts.approve(post["id"], actor=call.user.username, channels=channels)
    except InputError as exc:
        raise _input_error(exc, status=409 if exc.field is None else 400) from None
    return JSONResponse(shown)


def cancel_post(call: Call) -> Response:
    post = _post_or_404(call)
    if not may_manage_post(call.user, post["created_by"]):
        raise call.forbid(
            f"post:{post['id']}", f"only its author or an admin may cancel a post by {post['created_by']}"
        )
    try:
        shown = call.loa.posts.cancel(post["id"], actor=call.user.username)
    except InputError as exc:
        raise _input_error(exc, status=409) from None
    return JSONResponse(shown)


def share_report(call: Call) -> Response:
    try:
        from scheduler.reports.queries import Period, parse_dimension
        from scheduler.reports.queries import share_report as build
    except ImportError:
        raise ApiError(501, "the share report is not available in this version of Loa") from None
    query = call.request.query_params
    missing = [name for name in ("from", "to") if not query.get(name)]
    if missing:
        raise ApiError(400, f"{missing[0]} is required", hint="from=2026-05-01&to=2026-05-31", field=missing[0])
    try:
        period = Period.parse(query["from"], query["to"], call.loa.settings.tz)
        report = build(call.loa.engine, call.loa.settings, period, parse_dimension(query.get("by", "unit")))
    except InputError as exc:
        raise _input_error(exc) from None
    return JSONResponse(report.as_json())


# -- the OpenAPI document ---------------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("Error"), "Bad input: the message names the field and the fix; nothing was stored"),
    "401": _json(_ref("Error"), "No valid bearer token or session"),
    "403": _json(_ref("Error"), "The account's role may not do this (recorded in the audit log), or no X-CSRF-Token"),
}
_POST_ID = {"name": "post_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def openapi_document(loa: Loa) -> dict[str, Any]:
    """OpenAPI 3.1 for every `/api/…` route (tests check the two lists agree)."""
    statuses = [
        "draft",
        "pending_approval",
        "scheduled",
        "publishing",
        "published",
        "unknown",
        "failed",
        "blocked",
        "missed",
        "cancelled",
    ]
    metrics = {name: {"type": "integer"} for name in ("views", "reach", "reactions", "comments", "shares")}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Loa console API",
            "version": "1",
            "description": "Queue, read, approve and cancel posts; read the share report. Times are ISO 8601; "
            "a time without an offset is local time in the configured zone. Authenticate with "
            "`Authorization: Bearer TOKEN` (`loa user token USERNAME`) or the console session cookie plus "
            "an `X-CSRF-Token` header on POST.",
        },
        "servers": [{"url": loa.settings.public_url}],
        "security": [{"bearer": []}, {"session": [], "csrf": []}],
        "components": {
            "securitySchemes": {
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
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "message": {"type": "string"},
                                "hint": {"type": ["string", "null"]},
                                "field": {"type": ["string", "null"]},
                            },
                            "required": ["message"],
                        }
                    },
                },
                "Metrics": {"type": "object", "properties": metrics},
                "Publication": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "channel": {"type": "string"},
                        "platform": {"type": "string", "enum": ["facebook", "zalo"]},
                        "status": {"type": "string", "enum": statuses},
                        "text": {"type": "string"},
                        "title": {"type": ["string", "null"]},
                        "description": {"type": ["string", "null"]},
                        "cover": {"type": ["string", "null"]},
                        "attempts": {"type": "integer"},
                        "remote_id": {"type": ["string", "null"]},
                        "permalink": {"type": ["string", "null"]},
                        "published_at": {"type": ["string", "null"], "format": "date-time"},
                        "error": {"type": ["string", "null"]},
                        "metrics": _ref("Metrics"),
                    },
                },
                "Post": {
                    "type": "object",
                    "description": "The shape of `loa post show --json`.",
                    "properties": {
                        "id": {"type": "integer"},
                        "status": {"type": "string", "enum": statuses},
                        "scheduled_at": {"type": "string", "format": "date-time"},
                        "text": {"type": "string"},
                        "template": {"type": "string"},
                        "variables": {"type": "object", "additionalProperties": {"type": "string"}},
                        "campaign": {"type": ["string", "null"]},
                        "link": {"type": ["string", "null"]},
                        "cover_layout": {"type": ["string", "null"]},
                        "created_by": {"type": "string"},
                        "publications": {"type": "array", "items": _ref("Publication")},
                    },
                },
                "NewPost": {
                    "type": "object",
                    "description": "The fields of `loa post add`; exactly one of `at` and `now`.",
                    "properties": {
                        "template": {"type": "string"},
                        "channels": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        "variables": {"type": "object", "additionalProperties": {"type": "string"}},
                        "var": {"type": "array", "items": {"type": "string"}, "description": "K=V, as --var"},
                        "at": {"type": "string", "examples": ["2026-05-06T08:00", "2026-05-06T08:00+07:00"]},
                        "now": {"type": "boolean"},
                        "cover": {"type": "string", "description": "cover layout"},
                        "campaign": {"type": "string", "description": "campaign slug"},
                        "link": {"type": "string", "format": "uri"},
                        "draft": {"type": "boolean", "description": "save without queueing"},
                    },
                    "required": ["template", "channels"],
                },
                "ShareReport": {
                    "type": "object",
                    "description": "The shape of `loa report shares --format json`.",
                    "properties": {
                        "from": {"type": "string", "format": "date"},
                        "to": {"type": "string", "format": "date"},
                        "by": {"type": "string", "enum": ["staff", "unit", "campaign", "channel", "day"]},
                        "rows": {"type": "array", "items": {"type": "object"}},
                        "totals": {"type": "object"},
                    },
                },
            },
        },
        "paths": {
            "/api/posts": {
                "get": {
                    "summary": "Posts, newest first (roles: admin, editor, approver)",
                    "operationId": "listPosts",
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"type": "string", "enum": statuses}},
                        {"name": "campaign", "in": "query", "schema": {"type": "string"}},
                        {"name": "channel", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    ],
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"posts": {"type": "array", "items": _ref("Post")}}},
                            "The posts",
                        ),
                        **_ERRORS,
                    },
                },
                "post": {
                    "summary": "Queue a post, as `loa post add` (roles: admin, editor)",
                    "operationId": "createPost",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewPost")}}},
                    "responses": {"201": _json(_ref("Post"), "The queued post"), **_ERRORS},
                },
            },
            "/api/posts/{post_id}": {
                "get": {
                    "summary": "One post, as `loa post show --json`",
                    "operationId": "getPost",
                    "parameters": [_POST_ID],
                    "responses": {
                        "200": _json(_ref("Post"), "The post"),
                        "404": _json(_ref("Error"), "No such post"),
                        **_ERRORS,
                    },
                },
            },
            "/api/posts/{post_id}/approve": {
                "post": {
                    "summary": "Approve what waits for approval (roles: admin, approver; never the author)",
                    "operationId": "approvePost",
                    "parameters": [_POST_ID],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"channels": {"type": "array", "items": {"type": "string"}}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(_ref("Post"), "The post after approval"),
                        "404": _json(_ref("Error"), "No such post"),
                        "409": _json(_ref("Error"), "Nothing waits for approval"),
                        **_ERRORS,
                    },
                },
            },
            "/api/posts/{post_id}/cancel": {
                "post": {
                    "summary": "Cancel what has not gone out (roles: admin; editor for own posts)",
                    "operationId": "cancelPost",
                    "parameters": [_POST_ID],
                    "responses": {
                        "200": _json(_ref("Post"), "The post after cancelling"),
                        "404": _json(_ref("Error"), "No such post"),
                        "409": _json(_ref("Error"), "Nothing left to cancel"),
                        **_ERRORS,
                    },
                },
            },
            "/api/reports/shares": {
                "get": {
                    "summary": "Staff shares and clicks, as `loa report shares --format json`",
                    "operationId": "shareReport",
                    "parameters": [
                        {
                            "name": "from",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "first day, YYYY-MM-DD or dd/mm/yyyy",
                        },
                        {"name": "to", "in": "query", "required": True, "schema": {"type": "string"}},
                        {
                            "name": "by",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": ["staff", "unit", "campaign", "channel", "day"],
                                "default": "unit",
                            },
                        },
                    ],
                    "responses": {
                        "200": _json(_ref("ShareReport"), "The report"),
                        "501": _json(_ref("Error"), "Reports are not available"),
                        **_ERRORS,
                    },
                },
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
                },
            },
        },
    }
