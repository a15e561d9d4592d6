"""Who calls, and what they send: authentication, roles, the bounded JSON body."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from scheduler.auth import AuthUser, csrf_ok, load_session, record_forbidden, user_for_token
from scheduler.bounds import DEFAULT_REQUEST_BODY_KIB, MAX_JSON_DEPTH, json_depth_ok, lone_surrogate
from scheduler.i18n import DEFAULT_LANG, N_, msg
from scheduler.web.api.errors import ApiError, invalid_input, refuse, request_lang

if TYPE_CHECKING:
    from scheduler.app import Loa

MAX_BODY = DEFAULT_REQUEST_BODY_KIB * 1024  # the default of [limits] request_body_kib
SESSION_COOKIES = ("loa_session", "__Host-loa_session")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Body = TypeVar("Body", bound=BaseModel)


@dataclass
class Call:
    """One authenticated call: the Loa it reaches and the account making it."""

    loa: Loa
    user: AuthUser
    lang: str = DEFAULT_LANG  # the caller's, for the stored reasons an answer words

    @property
    def scope(self) -> frozenset[str] | None:
        """The channels this account acts for (its unit's and those below); None: all."""
        if "_scope" not in self.__dict__:
            from scheduler.auth import channel_scope

            self.__dict__["_scope"] = channel_scope(self.loa.engine, self.user)
        scope: frozenset[str] | None = self.__dict__["_scope"]
        return scope

    def require_channels(self, channels: list[str], what: str) -> None:
        """403 (audited) for a channel outside the account's unit."""
        if self.scope is not None and set(channels) - self.scope:
            outside = ", ".join(sorted(set(channels) - self.scope))
            raise self.forbid(what, N_("audit_reason.other_unit"), channels=outside)

    def forbid(self, what: str, reason: str, **details: str) -> ApiError:
        """A 403, audited; ``reason`` is an ``audit_reason.…`` id, stored as such and shown as the hint."""
        record_forbidden(self.loa.engine, self.user, what=what, details={"reason": reason, **details, "via": "api"})
        return refuse(403, msg("error.account_may_not"), hint=msg(reason))


def loa_of(request: Request) -> Loa:
    return cast("Loa", request.app.state.loa)


def caller(permission: str) -> Callable[[Request], Awaitable[Call]]:
    """A dependency: the call's account, which must have ``permission`` (else 403, audited)."""

    async def authorised(request: Request) -> Call:
        loa = loa_of(request)
        user = await authenticate(loa, request)
        if not user.can(permission):
            await run_in_threadpool(
                record_forbidden,
                loa.engine,
                user,
                what=f"{request.method} {request.url.path}",
                details={"permission": permission, "via": "api"},
            )
            raise refuse(403, msg("error.account_may_not"), hint=msg("hint.needs_permission", permission=permission))
        return Call(loa, user, request_lang(request))

    return authorised


async def authenticate(loa: Loa, request: Request) -> AuthUser:
    """The bearer token's account, or the session's (with its CSRF token on unsafe methods)."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        user = (
            await run_in_threadpool(user_for_token, loa.engine, token.strip()) if scheme.lower() == "bearer" else None
        )
        if user is None:
            raise refuse(401, msg("error.bearer_invalid"), hint=msg("hint.create_token"))
        return user
    cookie = next((request.cookies[name] for name in SESSION_COOKIES if name in request.cookies), None)
    session = await run_in_threadpool(load_session, loa.engine, cookie) if cookie else None
    if session is None or session.user is None:
        raise refuse(401, msg("error.api_log_in"), hint=msg("hint.token_makes_one"))
    if request.method not in SAFE_METHODS and not csrf_ok(session, request.headers.get("x-csrf-token")):
        await run_in_threadpool(
            record_forbidden,
            loa.engine,
            session.user,
            what=f"{request.method} {request.url.path}",
            details={"reason": N_("audit_reason.api_csrf"), "via": "api"},
        )
        raise refuse(403, msg("error.api_csrf"))
    return session.user


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, read no further than ``[limits] request_body_kib``; no body is ``{}``.

    Operations whose body is optional (approve) or absent (cancel) are documented so: a call
    sending nothing needs no Content-Type.
    """
    limit = loa_of(request).settings.limits.request_body_bytes
    too_large = refuse(413, msg("error.api_body_too_large", kib=limit // 1024))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large  # refused before a byte of it is read
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise too_large
    if not raw.strip():
        return {}
    if "application/json" not in request.headers.get("content-type", ""):
        raise refuse(415, msg("error.api_send_json"), hint=msg("hint.content_type_json"))
    try:
        body = json.loads(raw)
        nested = json_depth_ok(body)
    except ValueError as exc:
        raise refuse(400, msg("error.api_bad_json", reason=str(exc))) from None
    except RecursionError:  # nested past what the parser itself takes
        nested = False
    if not nested:
        raise refuse(400, msg("error.json_too_deep", limit=MAX_JSON_DEPTH), hint=msg("hint.json_flat"))
    if not isinstance(body, dict):
        raise refuse(400, msg("error.api_body_not_object"))
    if lone_surrogate(body) is not None:
        # "\ud800" is valid JSON but no text: it could be neither stored nor shown.
        raise refuse(400, msg("error.json_lone_surrogate"), hint=msg("hint.json_utf8"))
    return body


def json_body(model: type[Body]) -> Callable[[Request], Awaitable[Body]]:
    """A dependency: the body read as ``model``, a 400 naming the field otherwise.

    The API reads bodies itself rather than through FastAPI so that the caller is
    authenticated, and the size bounded, before any of the body is parsed.
    """
    known = sorted(field.alias or name for name, field in model.model_fields.items())

    async def parse(request: Request) -> Body:
        raw = await json_object(request)
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise invalid_input(exc.errors(), known=known) from None

    return parse
