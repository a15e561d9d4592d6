"""The machinery every console page shares: who is asking, may they, CSRF, rendering, headers.

A page is a plain (synchronous) function of a :class:`Ctx`, wrapped by :meth:`Console.page`,
which — before the function runs — loads the server-side session, sends anonymous visitors
to the login page, checks the role's permission (a refusal is a 403 and an audit entry) and,
for every POST, the session's CSRF token. The function runs in a worker thread because the
store is synchronous. Every response gets the security headers (CSP without inline script).
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scheduler.auth import AuthUser, SessionInfo, csrf_ok, load_session, new_anonymous_session, record_forbidden
from scheduler.bounds import DEFAULT_UPLOAD_MIB, parse_id
from scheduler.channels.registry import registry
from scheduler.errors import Busy, InputError, LoaError, NotFound
from scheduler.i18n import N_, msg, render_stored, translate
from scheduler.i18n.formats import format_day, format_int
from scheduler.web.i18n import LANGS, STATUS_CLASS, Translator, translate_error

if TYPE_CHECKING:
    from scheduler.app import Loa
    from scheduler.config import Settings

log = logging.getLogger("loa.web")

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
LANG_COOKIE = "loa_lang"
MAX_FORM_BYTES = DEFAULT_UPLOAD_MIB * 1024 * 1024  # the default of [limits] upload_mib

# No inline script anywhere; styles only from our own files (no style="" attributes either).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def security_headers(response: Response, *, https: bool, cache: bool = False) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    if not cache and "cache-control" not in headers:
        # Pages show people's posts and figures: never keep them in a shared or disk cache.
        headers["Cache-Control"] = "no-store"
    return response


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to return to after login; anything else (//evil, https://…) falls back."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value:
        return default
    return value


_PATH_OBJECTS = {
    "post_id": N_("error.no_such_post"),
    "publication_id": N_("error.no_such_publication"),
    "staff_id": N_("error.no_such_staff"),
}
_NO_SUCH_OBJECT = N_("error.no_such_object")


class Forbidden(Exception):
    """Raised by a page that finds, on the data, that this user may not do this."""

    def __init__(self, what: str, reason: str, details: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.what = what
        self.reason = reason  # an audit_reason.… id: the audit page words it for its reader
        self.details = details or {}


@dataclass
class Ctx:
    """One request as a page sees it."""

    request: Request
    console: Console
    session: SessionInfo | None
    lang: str
    form: dict[str, str] = field(default_factory=dict)
    form_lists: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, UploadFile] = field(default_factory=dict)
    csrf_valid: bool = True
    # Upload bodies read before the page runs (pages are synchronous).
    file_bytes: dict[str, bytes] = field(default_factory=dict)

    @property
    def loa(self) -> Loa:
        return self.console.loa

    @property
    def user(self) -> AuthUser:
        assert self.session is not None and self.session.user is not None
        return self.session.user

    @property
    def signed_in(self) -> bool:
        return self.session is not None and self.session.user is not None

    @property
    def t(self) -> Translator:
        return Translator(self.lang)

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query_params

    def path_int(self, name: str) -> int:
        number = parse_id(self.request.path_params.get(name))
        if number is None:
            # One id per kind of path parameter (post_id → error.no_such_post), named in _PATH_OBJECTS;
            # a number past what a database column holds names nothing either.
            raise NotFound(msg(_PATH_OBJECTS.get(name, _NO_SUCH_OBJECT), value=self.request.path_params.get(name)))
        return number

    def error_text(self, exc: LoaError) -> str:
        return translate_error(exc, self.lang)

    def require(self, allowed: bool, what: str, reason: str, **details: str) -> None:
        """Refuse (403, audited) unless ``allowed``; ``reason`` is an ``audit_reason.…`` id."""
        if not allowed:
            raise Forbidden(what, reason, details)

    @property
    def scope(self) -> frozenset[str] | None:
        """The channels this account acts for (its unit's and those below); None: all."""
        if "_scope" not in self.__dict__:
            from scheduler.auth import channel_scope

            self.__dict__["_scope"] = channel_scope(self.loa.engine, self.user)
        scope: frozenset[str] | None = self.__dict__["_scope"]
        return scope

    @property
    def units(self) -> frozenset[int] | None:
        """The units this account acts for (its own and those below); None: all."""
        if "_units" not in self.__dict__:
            from scheduler.auth import unit_scope

            self.__dict__["_units"] = unit_scope(self.loa.engine, self.user)[0]
        units: frozenset[int] | None = self.__dict__["_units"]
        return units

    def require_channels(self, channels: Iterable[str], what: str) -> None:
        """Refuse (403, audited) a channel outside the account's unit."""
        scope = self.scope
        if scope is None:
            return
        outside = sorted(set(channels) - scope)
        if outside:
            raise Forbidden(what, N_("audit_reason.other_unit"), {"channels": ", ".join(outside)})

    def require_post(self, post: Mapping[str, Any]) -> None:
        """Refuse (403, audited) a post none of whose channels belongs to the account's unit."""
        scope = self.scope
        if scope is not None and not any(p["channel"] in scope for p in post["publications"]):
            raise Forbidden(f"post:{post['id']}", N_("audit_reason.other_unit"),
                            {"channels": ", ".join(sorted({p["channel"] for p in post["publications"]}))})  # fmt: skip

    def redirect(self, url: str, **params: str) -> Response:
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        return RedirectResponse(url, status_code=303)

    def render(self, template: str, status: int = 200, **data: Any) -> Response:
        return self.console.render(self, template, status=status, **data)


Page = Callable[[Ctx], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


class Console:
    """Per-app state of the console: the Loa, the Jinja environment, cookie settings."""

    def __init__(self, loa: Loa) -> None:
        self.loa = loa
        self.https = loa.settings.public_url.startswith("https://")
        # The __Host- prefix needs Secure, so it is only used when the console is served over https.
        self.session_cookie = "__Host-loa_session" if self.https else "loa_session"
        self.env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # `platforms`: what a page shows differently per platform is the publisher's class data.
        self.env.globals.update(
            status_class=STATUS_CLASS, quote=quote, urlencode=urlencode, json=json, platforms=registry()
        )

    # -- rendering -------------------------------------------------------------------------

    def render(self, ctx: Ctx, template: str, *, status: int = 200, **data: Any) -> Response:
        settings = self.loa.settings
        t = ctx.t

        def local(value: str | datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
            if value is None or value == "":
                return "—"
            moment = datetime.fromisoformat(value) if isinstance(value, str) else value
            return moment.astimezone(settings.tz).strftime(fmt)

        def day(value: date | None) -> str:
            return format_day(value, ctx.lang)

        def num(value: int | None) -> str:
            return format_int(value, ctx.lang)

        def reason(value: str | None) -> str:
            # A stored reason (ids and parameters) in the page's language; older plain text as it is.
            return render_stored(ctx.lang, value, separator=" — ") or ""

        nav = self._nav(ctx) if ctx.signed_in else []
        context = {
            "_": t,
            "t": t,
            "lang": ctx.lang,
            "langs": LANGS,
            "user": ctx.session.user if ctx.session else None,
            "csrf_token": ctx.session.csrf_token if ctx.session else "",
            "path": ctx.request.url.path,
            "here": self._here(ctx),
            "nav": nav,
            "local": local,
            "day": day,
            "num": num,
            "reason": reason,
            "channel_names": {c.id: c.name for c in settings.channels},
            "notice": t.notice(ctx.query.get("done")),
            "stale": ctx.query.get("stale") == "1",
            **data,
        }
        html = self.env.get_template(template).render(context)
        return HTMLResponse(html, status_code=status)

    @staticmethod
    def _here(ctx: Ctx) -> str:
        """This page's address without the language switch, for the other language's link."""
        params = [(k, v) for k, v in ctx.request.query_params.multi_items() if k not in {"lang", "done", "stale"}]
        return ctx.request.url.path + ("?" + urlencode(params) if params else "")

    def _nav(self, ctx: Ctx) -> list[tuple[str, str, bool]]:
        user = ctx.user
        items: list[tuple[str, str, str]] = [("/", "nav.dashboard", "dashboard.view")]
        items += [
            ("/compose", "nav.compose", "posts.compose"),
            ("/queue", "nav.queue", "posts.view"),
            ("/calendar", "nav.calendar", "posts.view"),
            ("/channels", "nav.channels", "channels.view"),
            ("/library", "nav.library", "posts.compose"),
            ("/templates", "nav.templates", "templates.manage"),
            ("/campaigns", "nav.campaigns", "campaigns.manage"),
        ]
        if self.has_sharing():
            items.append(("/staff", "nav.staff", "staff.view"))
        items.append(("/reports", "nav.reports", "reports.view"))
        items.append(("/reports/summary", "nav.summary", "reports.view"))
        items += [("/users", "nav.users", "users.manage"), ("/audit", "nav.audit", "audit.view")]
        items.append(("/alerts", "nav.alerts", "alerts.own"))
        path = ctx.request.url.path
        entries = [
            (href, ctx.t(label), path == href or (href != "/" and path.startswith(href + "/")))
            for href, label, permission in items
            if user.can(permission)
        ]
        unread = self._unread(user.id) if path != "/alerts" else 0
        if unread:
            entries = [(h, f"{label} ({unread})" if h == "/alerts" else label, a) for h, label, a in entries]
        return entries

    def _unread(self, user_id: int) -> int:
        """The user's notices not yet seen, shown beside "Thông báo" (one indexed count)."""
        from sqlalchemy import func
        from sqlmodel import col, select

        from scheduler.models import Outbox
        from scheduler.store import session_scope

        with session_scope(self.loa.engine, read_only=True) as session:
            count = session.exec(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.user_id == user_id, Outbox.kind == "console", col(Outbox.read_at).is_(None))
            ).one()
        return int(count)

    @staticmethod
    def has_sharing() -> bool:
        """Whether the staff-sharing room is in this tree (the console links to it when it is)."""
        return importlib.util.find_spec("scheduler.sharing.service") is not None

    # -- the wrapper every page goes through -------------------------------------------------

    def page(
        self,
        permission: str | None,
        *,
        login: bool = True,
        csrf: Literal["strict", "page"] = "strict",
    ) -> Callable[[Page], Endpoint]:
        """Wrap a page: session, login, permission, CSRF on POST, headers.

        ``csrf="page"`` lets the page itself answer a stale token (the compose form keeps
        what was typed); otherwise a stale token returns the person to where they were.
        """

        def wrap(handler: Page) -> Endpoint:
            async def endpoint(request: Request) -> Response:
                response = await self._serve(request, handler, permission=permission, login=login, csrf=csrf)
                return security_headers(response, https=self.https)

            endpoint.__name__ = handler.__name__
            return endpoint

        return wrap

    async def _serve(
        self, request: Request, handler: Page, *, permission: str | None, login: bool, csrf: str
    ) -> Response:
        engine = self.loa.engine
        lang, set_lang = self._language(request)
        cookie = request.cookies.get(self.session_cookie)
        session = await run_in_threadpool(load_session, engine, cookie)
        new_cookie: str | None = None
        if session is None and not login:
            # The login form needs a CSRF token before anyone is known: an anonymous session.
            new_cookie, session = await run_in_threadpool(
                new_anonymous_session, engine, ip=client_ip(request, self.loa.settings)
            )
        ctx = Ctx(request=request, console=self, session=session, lang=lang)
        unsafe = request.method not in {"GET", "HEAD"}
        if login and not ctx.signed_in:
            # After a POST with an expired session, come back to the page the form was on.
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            params = {"next": _referer_path(request) if unsafe else back}
            if cookie:
                params["expired"] = "1"
            response: Response = RedirectResponse("/login?" + urlencode(params), status_code=303)
            return self._finish(response, lang=set_lang, cookie=None, clear=bool(cookie))
        if permission is not None and not ctx.user.can(permission):
            await run_in_threadpool(
                record_forbidden,
                engine,
                ctx.user,
                what=f"{request.method} {request.url.path}",
                details={"permission": permission},
            )
            return self._finish(self._forbidden(ctx), lang=set_lang, cookie=new_cookie)
        if unsafe:
            try:
                upload = self.loa.settings.limits.upload_bytes
                form = await request.form(max_files=4, max_fields=400, max_part_size=upload)
            except Exception:  # a malformed or oversized body is the sender's fault, never a 500
                refused = HTMLResponse(translate(lang, "error.bad_request"), status_code=400)
                return self._finish(refused, lang=set_lang, cookie=new_cookie)
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    ctx.files[key] = value
                    ctx.file_bytes[key] = await value.read(upload + 1)
                else:
                    ctx.form_lists.setdefault(key, []).append(value)
                    ctx.form.setdefault(key, value)
            ctx.csrf_valid = csrf_ok(session, ctx.form.get("csrf_token"))
            if not ctx.csrf_valid:
                who = session.user.username if session and session.user else "anonymous"
                await run_in_threadpool(
                    record_forbidden,
                    engine,
                    session.user if session else None,
                    what=f"{request.method} {request.url.path}",
                    details={"reason": N_("audit_reason.stale_csrf"), "who": who},
                )
                if csrf == "strict":
                    back = safe_next(ctx.form.get("back"), _stale_fallback(request) if login else "/login")
                    return self._finish(ctx.redirect(back, stale="1"), lang=set_lang, cookie=new_cookie)
        try:
            response = await run_in_threadpool(handler, ctx)
        except Forbidden as exc:
            await run_in_threadpool(
                record_forbidden,
                engine,
                ctx.session.user if ctx.session else None,
                what=exc.what,
                details={"reason": exc.reason, **exc.details, "path": request.url.path},
            )
            response = self._forbidden(ctx)
        except NotFound as exc:
            response = self.render(
                ctx, "console/error.html", status=404, title=ctx.t("error.not_found"), message=ctx.error_text(exc)
            )
        except InputError as exc:
            # Bad input a page did not place beside a field is still the sender's, never a 500.
            response = self.render(
                ctx, "console/error.html", status=400, title=ctx.t("error.bad_request"), message=ctx.error_text(exc)
            )
        except Busy as exc:
            response = self.render(
                ctx, "console/error.html", status=503, title=ctx.t("error.busy_title"), message=ctx.error_text(exc)
            )
            response.headers["Retry-After"] = str(exc.retry_after)
        return self._finish(response, lang=set_lang, cookie=new_cookie)

    def _forbidden(self, ctx: Ctx) -> Response:
        return self.render(
            ctx, "console/error.html", status=403, title=ctx.t("error.forbidden"), message=ctx.t("error.forbidden_text")
        )

    def _language(self, request: Request) -> tuple[str, str | None]:
        asked = request.query_params.get("lang")
        if asked in LANGS:
            return asked, asked
        stored = request.cookies.get(LANG_COOKIE)
        return (stored if stored in LANGS else "vi"), None

    def _finish(self, response: Response, *, lang: str | None, cookie: str | None, clear: bool = False) -> Response:
        if lang:
            response.set_cookie(
                LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax", secure=self.https
            )
        if cookie:
            self.set_session_cookie(response, cookie)
        elif clear:
            response.delete_cookie(self.session_cookie, path="/", secure=self.https, httponly=True, samesite="lax")
        return response

    def set_session_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(self.session_cookie, value, path="/", httponly=True, samesite="lax", secure=self.https)


def _stale_fallback(request: Request) -> str:
    """Where a refused form goes back to: its own page when that answers GET, else the page it was on.

    A POST-only address (``/logout``, ``/posts/1/cancel``) would otherwise end on a bare 405.
    """
    route = request.scope.get("route")
    if route is not None and "GET" in (getattr(route, "methods", None) or ()):
        return request.url.path
    return _referer_path(request)


def _referer_path(request: Request) -> str:
    """The same-origin page a form was posted from ('/' when unknown or foreign)."""
    from urllib.parse import urlsplit

    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))


def client_ip(request: Request, settings: Settings) -> str:
    """The client's address for login throttling: the peer, or behind a proxy listed in
    `web.trusted_proxies` the address that proxy saw (the same rule as tracked links)."""
    from scheduler.sharing.visitors import client_address, trusted_networks

    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), trusted_networks(settings)) or "unknown"
