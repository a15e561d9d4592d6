"""The staff share page and tracked links: `/s/{share_token}`, `/l/{code}` and their helpers.

Pages are server-rendered Jinja (autoescape on), Vietnamese, small, and need no JavaScript;
one tiny script only adds a "copy" button. The rules of what counts live in
:mod:`scheduler.sharing.service`; this module turns HTTP requests into its calls.

Cross-site POSTs to `/s/{token}/share` are refused three ways: the URL needs the secret share
token; the form carries an HMAC token bound to the staff member and the time the page was
shown; and when the browser sends Origin (or, failing that, Referer) it must be Loa's own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from scheduler.bounds import parse_id
from scheduler.channels.base import ShareDialog
from scheduler.channels.registry import registry
from scheduler.errors import LoaError, NotFound
from scheduler.i18n import DEFAULT_LANG, N_, normalize_lang
from scheduler.i18n.formats import format_int
from scheduler.logs import Throttle
from scheduler.models import utcnow
from scheduler.render.renditions import WIDTHS, srcset
from scheduler.sharing.counting import MAX_USER_AGENT, ClickEvent, ClickReason, precheck
from scheduler.sharing.recorder import ClickRecorder
from scheduler.sharing.service import CODE_PATTERN, COPY_BUTTON, LinkTarget, SharingService, TapLimiter
from scheduler.sharing.visitors import (
    SELF_COOKIE,
    client_address,
    form_token,
    form_token_ok,
    self_cookie_staff,
    self_cookie_value,
    trusted_networks,
    visitor_hashes,
)
from scheduler.web.i18n import Translator

if TYPE_CHECKING:
    from scheduler.app import Loa

log = logging.getLogger("loa.web.sharing")
_click_losses = Throttle(log)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
SELF_COOKIE_AGE = 365 * 24 * 3600
LINK_TTL = 60.0  # a published link's permalink, cached this long (it never changes in practice)
UNPUBLISHED_TTL = 5.0  # so a link starts redirecting within seconds of its post going out
CACHE_SIZE = 20_000

BASE_CSP = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; base-uri 'none'; frame-ancestors 'none'"
PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # same-origin: the share token never leaves in a Referer, yet our own form POSTs keep
    # their Origin (no-referrer would turn it into "null" and defeat the origin check).
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}
# The answer of last resort when a tracked link fails inside Loa: plain, and never a traceback.
FAILED_LINK = (
    "<!doctype html><meta charset=utf-8><title>Loa</title>"
    "<p>Liên kết tạm thời chưa mở được. Vui lòng thử lại sau ít phút.</p>"
    "<p lang=en>This link cannot be opened just now. Please try again in a few minutes.</p>"
)
REDIRECT_HEADERS = [(b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer"), (b"content-length", b"0")]
# The last button of every share page, and the page any other platform's button leads to.
COPY_DIALOG = ShareDialog(
    button_label=N_("share.button.copy"),
    paste_title=N_("share.button.copy"),
    paste_steps=(N_("share.step_copy"), N_("share.step_paste")),
)
LANG_COOKIE = "loa_lang"  # the console's: a staff member who switched there reads share pages the same way


def share_dialogs() -> dict[str, ShareDialog]:
    """Each share button's dialog, in the order the page shows them (copying last)."""
    dialogs = {name: cls.share_dialog for name, cls in registry().items() if cls.share_dialog}
    return {**dialogs, COPY_BUTTON: COPY_DIALOG}


def share_lang(query: str | None, cookie: str | None) -> str:
    """``?lang=`` first, then the console's language cookie, else Vietnamese."""
    return normalize_lang(query) or normalize_lang(cookie) or DEFAULT_LANG


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def vn_number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def split_text(text: str, limit: int) -> tuple[str, str]:
    """The first part of a long post (cut at a line or word end) and the rest, for "Xem thêm"."""
    if len(text) <= limit:
        return text, ""
    cut = text.rfind("\n", 0, limit)
    if cut < limit // 2:
        cut = text.rfind(" ", 0, limit)
    if cut < limit // 2:
        cut = limit
    return text[:cut].rstrip(), text[cut:].strip()


def cover_renditions(public_url: str, url: str) -> dict[str, str] | None:
    """The ``srcset`` lists of a cover Loa serves itself (``/media/``, ``/assets/``), else None.

    A default cover given as another site's address is shown as it is: Loa cannot resize it.
    """
    path = url.removeprefix(public_url) if url.startswith(public_url + "/") else None
    if path is None or not path.startswith(("/media/", "/assets/")) or "?" in path:
        return None
    return {"webp": srcset(url, "webp"), "jpeg": srcset(url, "jpeg"), "src": f"{url}?w={WIDTHS[0]}&f=jpeg"}


def templates_environment(tz: Any) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = vn_number
    env.filters["split_text"] = split_text
    env.filters["local_time"] = lambda moment: moment.astimezone(tz).strftime("%d/%m/%Y %H:%M")
    return env


class RawEndpoint:
    """An ASGI callable Starlette routes to as it is (a plain function would be wrapped as a
    request → response endpoint)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class LinkCache:
    """Code → target, so a viral link costs one lookup a minute instead of one per visitor.

    Only existing links are kept; staff deactivation is not cached here (the click writer
    reads it), so it takes effect at once."""

    def __init__(self, resolve: Callable[[str], LinkTarget | None]) -> None:
        self._resolve = resolve
        self._entries: dict[str, tuple[float, LinkTarget]] = {}

    def peek(self, code: str) -> LinkTarget | None:
        """The cached target, without a coroutine: the hot path's common case."""
        hit = self._entries.get(code)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    async def get(self, code: str) -> LinkTarget | None:
        if not CODE_PATTERN.match(code):
            return None
        now = time.monotonic()
        hit = self._entries.get(code)
        if hit is not None and hit[0] > now:
            return hit[1]
        target = await run_in_threadpool(self._resolve, code)
        if target is not None:
            if len(self._entries) >= CACHE_SIZE:
                self._entries.clear()
            ttl = LINK_TTL if target.destination is not None else UNPUBLISHED_TTL
            self._entries[code] = (now + ttl, target)
        return target


def sharing_routes(loa: Loa) -> list[BaseRoute]:
    """The routes of share pages and tracked links, built for one Loa (nothing global)."""
    settings = loa.settings
    service = SharingService(settings, loa.engine)
    recorder = ClickRecorder(
        loa.engine,
        dedupe=timedelta(hours=settings.sharing.dedupe_hours),
        per_address=settings.sharing.max_clicks_per_address,
    )
    taps = TapLimiter(settings.sharing.max_taps_per_minute)
    cache = LinkCache(service.resolve)
    trusted = trusted_networks(settings)
    env = templates_environment(settings.tz)
    env.filters["renditions"] = lambda url: cover_renditions(settings.public_url, url)
    secure_cookie = settings.public_url.startswith("https://")
    public = urlsplit(settings.public_url)
    public_origin = f"{public.scheme}://{public.netloc}"
    dialogs = share_dialogs()
    buttons = [(name, dialog.button_label) for name, dialog in dialogs.items()]
    # The account a platform's share plugin is shown for: the first configured channel of it.
    accounts: dict[str, str] = {}
    for channel in settings.channels:
        accounts.setdefault(channel.platform, channel.external_id)
    form_actions = " ".join(["'self'", *(d.form_action for d in dialogs.values() if d.form_action)])

    def page(
        name: str,
        *,
        status: int = 200,
        csp: str | None = None,
        headers: dict[str, str] | None = None,
        lang: str = DEFAULT_LANG,
        **context: Any,
    ) -> HTMLResponse:
        words = Translator(lang)
        body = env.get_template(name).render(_=words, lang=lang, num=lambda n: format_int(n, lang), **context)
        policy = csp or (
            f"{BASE_CSP}; script-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; "
            f"form-action {form_actions}"
        )
        return HTMLResponse(
            body, status_code=status, headers={**PAGE_HEADERS, "Content-Security-Policy": policy, **(headers or {})}
        )

    def message(status: int, title: str, text: str, lang: str = DEFAULT_LANG) -> HTMLResponse:
        """A short page from two catalogue ids (title and text)."""
        return page("share_message.html", status=status, title=title, text=text, lang=lang)

    def not_found(lang: str = DEFAULT_LANG) -> HTMLResponse:
        # The same answer for a token or code that never existed and one that no longer
        # works: a visitor learns nothing about which exist.
        return message(404, N_("share.not_found"), N_("share.not_found_text"), lang)

    def lang_of(request: Request) -> str:
        return share_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))

    def same_origin(request: Request) -> bool:
        allowed = {public_origin, f"{request.url.scheme}://{request.headers.get('host', '')}"}
        origin = request.headers.get("origin")
        if origin is not None:
            return origin in allowed
        referer = request.headers.get("referer")
        if referer:
            return any(referer == o or referer.startswith(o + "/") for o in allowed)
        return True  # an old browser sends neither: the form token must still be right

    def push_key() -> str | None:
        from scheduler.alerts.push import vapid_public_key

        return vapid_public_key(loa.engine)

    # -- GET /s/{token} ----------------------------------------------------------------

    def share_page(request: Request) -> Response:
        token = request.path_params["token"]
        lang = lang_of(request)
        staff = service.staff_by_token(token)
        if staff is None or staff.id is None:
            return not_found(lang)
        data = service.share_page(staff)
        response = page(
            "share_page.html",
            lang=lang,
            data=data,
            token=token,
            form_token=form_token(service.keys, staff.id),
            buttons=buttons,
            push_key=push_key(),
        )
        # Marks this browser as the staff member's own: their clicks on their own links from
        # it are not counted. Path /l/ so it goes nowhere else; Lax so it rides the top-level
        # navigation from Facebook or Zalo to the link.
        response.set_cookie(
            SELF_COOKIE,
            self_cookie_value(service.keys, staff.id),
            max_age=SELF_COOKIE_AGE,
            path="/l/",
            httponly=True,
            samesite="lax",
            secure=secure_cookie,
        )
        return response

    # -- POST /s/{token}/share ---------------------------------------------------------

    async def share_tap(request: Request) -> Response:
        token = request.path_params["token"]
        lang = lang_of(request)
        staff = await run_in_threadpool(service.staff_by_token, token)
        if staff is None or staff.id is None:
            return not_found(lang)
        if not same_origin(request):
            return message(403, N_("share.refused"), N_("share.refused_text"), lang)
        form = await request.form(max_files=0, max_fields=10)
        raw_token = form.get("t")
        if not isinstance(raw_token, str) or not form_token_ok(service.keys, staff.id, raw_token):
            return message(403, N_("share.stale"), N_("share.open_again"), lang)
        platform = form.get("platform")
        publication = parse_id(form.get("publication"))
        if platform not in dialogs or publication is None:
            return message(400, N_("share.bad_request"), N_("share.open_again"), lang)
        # Decided here, on the event loop's one thread, so concurrent taps cannot race past it.
        wait = taps.wait(staff.id)
        if wait:
            response = message(429, N_("share.too_many_taps"), N_("share.too_many_taps_text"), lang)
            response.headers["Retry-After"] = str(wait)
            return response
        try:
            code, _stored = await run_in_threadpool(
                service.record_tap, staff_id=staff.id, publication_id=publication, platform=str(platform)
            )
        except NotFound:
            return not_found(lang)
        headers = {**PAGE_HEADERS}
        tracked = service.link_url(code)
        if platform == COPY_BUTTON and "application/json" in request.headers.get("accept", ""):
            # One tap: the page's script copies the link it is given; the tap is recorded above.
            return JSONResponse({"link": tracked}, headers={"Cache-Control": "no-store"})
        sharer = dialogs[str(platform)].sharer_url
        if sharer:
            return RedirectResponse(sharer + quote(tracked, safe=""), status_code=303, headers=headers)
        return RedirectResponse(f"/l/{code}/share?via={platform}", status_code=303, headers=headers)

    # -- GET /l/{code}/share: the link to paste (and Zalo's plugin) --------------------

    async def link_share_page(request: Request) -> Response:
        lang = lang_of(request)
        target = await cache.get(request.path_params["code"])
        if target is None:
            return not_found(lang)
        asked = dialogs.get(request.query_params.get("via") or COPY_BUTTON)
        # Only a platform whose button leads here has its own page; anything else is "copy".
        dialog = asked if asked and asked.paste_title and not asked.sharer_url else COPY_DIALOG
        via = next(name for name, d in dialogs.items() if d is dialog)
        link = service.link_url(target.code)
        account = accounts.get(via)
        # The configuration key predates other plugins; it switches every platform's plugin.
        plugin = None
        if dialog.plugin_markup and account and settings.sharing.zalo_plugin:
            plugin = Markup(dialog.plugin_markup.format(link=escape(link), account=escape(account)))
        csp = None
        if plugin:
            # Only this page, whose URL holds nothing secret, loads the platform's script.
            csp = f"{BASE_CSP}; {dialog.plugin_csp}; form-action 'self'"
        return page(
            "share_link.html",
            lang=lang,
            csp=csp,
            target=target,
            link=link,
            title=dialog.paste_title,
            steps=list(dialog.paste_steps),
            plugin=plugin,
            plugin_intro=dialog.plugin_intro if plugin else None,
            plugin_script=dialog.plugin_script if plugin else None,
        )

    # -- GET|HEAD /l/{code}: the tracked link ------------------------------------------

    async def tracked_link(scope: Scope, receive: Receive, send: Send) -> None:
        # Whatever goes wrong inside (a bad row, a bug, the database gone), a visitor gets a
        # plain page and the log the traceback: a tracked link never answers a bare 500.
        try:
            await answer_link(scope, receive, send)
        except Exception as exc:
            code = scope.get("path_params", {}).get("code")
            # Throttled like lost clicks: a bad row fails every visitor of its link.
            if _click_losses.log(logging.ERROR, "link", "tracked link %r failed: %r", code, exc):
                log.error("tracked link %r: the failure", code, exc_info=exc)
            if scope.get("loa_started"):
                return  # the answer is half sent: nothing more can be said on this request
            try:
                failed: Response = message(503, N_("share.link_failed"), N_("share.link_failed_text"))
            except Exception:
                failed = HTMLResponse(FAILED_LINK, status_code=503)
            failed.headers["Retry-After"] = "60"
            failed.headers["Cache-Control"] = "no-store"
            await failed(scope, receive, send)

    async def answer_link(scope: Scope, receive: Receive, send: Send) -> None:
        # The hottest path Loa has (a viral post): a bare ASGI endpoint that reads the few
        # headers it needs straight from the scope and sends a prebuilt 302, without
        # Starlette's Request and Response objects.
        code = scope["path_params"]["code"]
        target = cache.peek(code) or await cache.get(code)
        if target is None:
            await not_found()(scope, receive, send)
            return
        agent = forwarded = cookie = ""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                agent = value.decode("latin-1")[:MAX_USER_AGENT]
            elif name == b"cookie":
                cookie = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
        keys = service.keys
        self_click = SELF_COOKIE in cookie and self_cookie_staff(keys, _cookie(cookie, SELF_COOKIE)) == target.staff_id
        reason = precheck(
            method=scope["method"],
            user_agent=agent,
            is_crawler=service.is_crawler,
            published=target.destination is not None,
            self_click=self_click,
        )
        client = scope.get("client")
        address = (
            client_address(client[0] if client else None, forwarded, trusted)
            if trusted
            else (client[0] if client else "")
        )
        visitor, address_key = visitor_hashes(keys, address, agent)
        event = ClickEvent(target.share_link_id, utcnow(), visitor, agent or None, reason, address_key)
        try:
            await recorder.record(event)
        except LoaError as exc:
            # The visitor still reaches the post; the click is lost and the log says so.
            # Once per half minute with a count: a locked or full database fails every click.
            _click_losses.log(logging.ERROR, "click", "click on %s not recorded: %s", target.code, exc)
        except Exception as exc:  # a bug in the writer: the visitor still reaches the post
            if _click_losses.log(logging.ERROR, "click-bug", "click on %s not recorded: %r", target.code, exc):
                log.error("click on %s: the failure", target.code, exc_info=exc)
        if reason is ClickReason.crawler or (reason is ClickReason.head and service.is_crawler(agent)):
            # Link previews read the Open Graph tags; a person never sees this page.
            response: Response = page(
                "share_og.html", target=target, url=service.link_url(target.code), headers={"X-Robots-Tag": "all"}
            )
        elif target.destination is None:
            response = message(200, N_("share.not_yet_published"), N_("share.not_yet_published_text"))
        else:
            location = target.destination.encode("ascii")  # safe_destination made it ASCII
            scope["loa_started"] = True
            await send(
                {
                    "type": "http.response.start",
                    "status": 302,
                    "headers": [(b"location", location), *REDIRECT_HEADERS],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        scope["loa_started"] = True
        await response(scope, receive, send)

    async def not_found_route(request: Request) -> Response:
        return not_found()

    def static(name: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return FileResponse(
                STATIC / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
            )

        return serve

    return [
        # First: the router tries routes in order, and this one takes nearly all the traffic.
        Route("/l/{code}", RawEndpoint(tracked_link), methods=["GET", "HEAD"]),
        Route("/s/{token}", share_page, methods=["GET"]),
        Route("/s/{token}/share", share_tap, methods=["POST"]),
        Route("/l/{code}/share", link_share_page, methods=["GET"]),
        # Explicit, so the router's trailing-slash redirect (built from the Host header)
        # never answers for these paths.
        Route("/l/{code}/", not_found_route, methods=["GET", "HEAD"]),
        Route("/s/{token}/", not_found_route, methods=["GET", "HEAD"]),
        Route("/static/share/share.css", static("share.css", "text/css; charset=utf-8"), methods=["GET"]),
        Route("/static/share/share.js", static("share.js", "text/javascript; charset=utf-8"), methods=["GET"]),
    ]


__all__ = ["sharing_routes"]
