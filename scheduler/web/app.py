"""The ASGI app of `loa run`: health, public assets (Zalo fetches covers from here)."""

from __future__ import annotations

import hmac
import os
import re
import secrets
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy.exc import OperationalError
from sqlmodel import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduler import __version__
from scheduler.bounds import BodyLimit
from scheduler.errors import StoreError
from scheduler.i18n import process_lang, process_text, render_stored, translate
from scheduler.logs import REQUEST_ID
from scheduler.models import ChannelState, ChannelStatus, SchedulerTick
from scheduler.render.renditions import Renditions
from scheduler.store import outage_of, session_scope
from scheduler.web.api import PREFIX, create_api
from scheduler.web.campaign_kit import kit_routes
from scheduler.web.console import console_routes
from scheduler.web.outage import outage_page, storage_health
from scheduler.web.proxy import ProxyWatch
from scheduler.web.share_app import share_app_routes
from scheduler.web.sharing import sharing_routes

if TYPE_CHECKING:
    from scheduler.app import Loa

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]
REQUEST_ID_FORM = re.compile(rb"[A-Za-z0-9._-]{1,64}")
PUBLIC_IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


def create_app(loa: Loa, *, lifespan: Lifespan | None = None) -> Starlette:
    """Build the web app for one Loa (settings, database, services); nothing global."""
    settings, engine = loa.settings, loa.engine
    stale_after = 3 * settings.publishing.tick_seconds + 60

    async def healthz(request: Request) -> Response:
        # This process's own engine, and nothing else: another process's tick (a cron
        # `loa publish-due`, another worker) says nothing about whether this one works.
        own = loa.publishing_engine
        body: dict[str, object] = {
            "service": "loa",  # `loa doctor` tells Loa's answer from another server's by it
            "version": __version__,
            "database": "ok",
            "last_tick_age_seconds": None,
            "channels_needing_attention": [],
            "role": own.role if own is not None else None,
            "instance": own.instance if own is not None else None,
            "clock": "ok",
        }
        problems: list[str] = []
        try:
            with session_scope(engine, read_only=True) as session:
                tick = session.get(SchedulerTick, (own.role, own.instance)) if own is not None else None
                attention = [
                    {"id": s.id, "status": s.status.value, "last_error": render_stored(process_lang(), s.last_error)}
                    for s in session.exec(select(ChannelState).where(ChannelState.status != ChannelStatus.ok))
                ]
        except (OperationalError, Exception) as exc:  # any store failure makes the check red
            body["database"] = f"error: {outage_of(exc) or type(exc).__name__}"
            return JSONResponse(body | {"status": "unhealthy"}, status_code=503)
        body["channels_needing_attention"] = attention
        storage = await run_in_threadpool(storage_health, engine)
        body.update(storage)
        if storage["database"] != "ok":
            problems.append(str(storage.get("database_error") or storage["database"]))
        if own is None:
            problems.append(process_text("health.no_engine"))
        elif tick is None:
            problems.append(process_text("health.no_pass_yet"))
        else:
            age = (own.clock.now() - tick.at).total_seconds()
            body["last_tick_age_seconds"] = round(age, 1)
            if age < 0:  # a tick from the future: the clock went back, and "fresh" would be a guess
                problems.append(process_text("health.tick_in_future", seconds=round(-age)))
            elif age > stale_after:
                problems.append(process_text("health.tick_stale", seconds=round(age), limit=stale_after))
        if own is not None and (jump := own.clock.pending) is not None:
            body["clock"] = process_text(
                "health.clock_jump_unconfirmed",
                seconds=round(jump.by.total_seconds()),
                confirm=round(own.clock.confirm_after),
            )
            problems.append(str(body["clock"]))
        if problems:
            body["scheduler"] = "; ".join(problems)
        body["status"] = "unhealthy" if problems else "ok"
        return JSONResponse(body, status_code=503 if problems else 200)

    renditions = Renditions(settings.media_path / "renditions")

    metrics_token = os.environ.get(settings.web.metrics_token_env or "") if settings.web.metrics_token_env else None

    async def metrics(request: Request) -> Response:
        # Loopback callers that came through no proxy (the host's own Prometheus), or the
        # bearer token: the figures name platforms and volumes an outsider has no need of.
        from scheduler.operations.metrics import CONTENT_TYPE, operations_metrics

        if not metrics_allowed(request, metrics_token):
            return PlainTextResponse(translate(process_lang(), "error.metrics_refused"), status_code=403)
        page = await run_in_threadpool(operations_metrics().exposition, engine)
        return Response(page, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    # Plain functions: Starlette runs them in its thread pool, so making a rendition (tens of
    # milliseconds, once per cover and size) never holds the event loop.
    def asset(request: Request) -> Response:
        return _public_image(settings.assets_path, request.path_params["name"], request, renditions)

    def media(request: Request) -> Response:
        return _public_image(
            settings.media_path, request.path_params["name"], request, renditions, named_by_content=True
        )

    # Each room of the web app contributes its own routes.
    routes: list[BaseRoute] = [
        *sharing_routes(loa),  # first: /l/{code} is the hottest path (routes are tried in order)
        *kit_routes(loa),
        *share_app_routes(loa),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/assets/{name:path}", asset),
        Route("/media/{name}", media),
        *console_routes(loa),
    ]
    api = create_api(loa)
    # ApiPaths sends every /api/… path to the API; the mount lists it among the routes and
    # answers the bare prefix.
    routes.append(Mount(PREFIX, app=api))
    limits = settings.limits
    middleware = [
        # Every body is bounded before any of it is parsed; the API words its own 413 (its
        # bound is the same setting).
        Middleware(
            BodyLimit,
            body_bytes=limits.request_body_bytes,
            upload_bytes=limits.upload_bytes,
            own_prefixes=(PREFIX,),
            photo_bytes=limits.photo_bytes,
            photo_suffixes=("/kit/avatar",),
        ),
        Middleware(ApiPaths, api=api),
    ]
    # A database that refuses service (locked past the busy timeout, disk full) is a 503 with
    # its reason on every page, not an "Internal Server Error".
    handlers = {StoreError: outage_page, OperationalError: outage_page}
    app = Starlette(lifespan=lifespan, routes=routes, middleware=middleware, exception_handlers=handlers)
    relative_slash_redirects(app.router)
    watch = ProxyWatch(app.build_middleware_stack(), settings=settings)
    link = next(r.app for r in routes if isinstance(r, Route) and r.path == "/l/{code}")
    # The request id outside everything but tracked links, which log only their rare failures.
    app.middleware_stack = TrackedLinks(RequestIds(watch), link=link, watch=watch)
    return app


class TrackedLinks:
    """``GET|HEAD /l/{code}`` straight to its raw endpoint, ahead of every other layer.

    A viral post's clicks are most of what the server answers: each middleware layer and the
    router's pattern matching cost them a few microseconds, and the endpoint answers every
    outcome itself (its last-resort page included), bounds no body and needs no session.
    Everything else goes through ``watch`` and the whole stack.
    """

    def __init__(self, app: ASGIApp, *, link: ASGIApp, watch: ProxyWatch) -> None:
        self.app = app
        self.link = link
        self.watch = watch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            if path.startswith("/l/") and len(path) > 3 and "/" not in path[3:]:
                self.watch.notice(scope)
                scope["path_params"] = {"code": path[3:]}
                await self.link(scope, receive, send)
                return
        await self.app(scope, receive, send)


def metrics_allowed(request: Request, token: str | None) -> bool:
    """The bearer token when one is set; else a loopback peer carrying no forwarded header."""
    offered = request.headers.get("authorization", "")
    if token and hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
        return True
    forwarded = any(name in request.headers for name in ("x-forwarded-for", "forwarded", "x-real-ip"))
    peer = request.client.host if request.client else ""
    return not forwarded and peer in ("127.0.0.1", "::1")


def relative_slash_redirects(router: Router) -> None:
    """``/queue/`` → ``/queue`` with a relative Location.

    Starlette's own redirect builds an absolute URL from the Host header the client sent,
    which a cache or a careless proxy may then hand to others; a path alone names no host.
    """
    fallback = router.default
    router.redirect_slashes = False

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path != "/" and not path.startswith("//"):
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            if other and not other.startswith("//"):
                candidate = {**scope, "path": other}
                if any(route.matches(candidate)[0] is not Match.NONE for route in router.routes):
                    query = scope.get("query_string", b"").decode("latin-1")
                    location = quote(other) + (f"?{query}" if query else "")
                    await RedirectResponse(location, status_code=307)(scope, receive, send)
                    return
        await fallback(scope, receive, send)

    router.default = default


class RequestIds:
    """Each request gets an id (the proxy's ``X-Request-ID`` when it sent a sane one), sent back
    in the same header and carried by the log lines written while answering it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"), b"")
        request_id = given.decode("latin-1") if REQUEST_ID_FORM.fullmatch(given) else secrets.token_hex(8)
        token = REQUEST_ID.set(request_id)

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            REQUEST_ID.reset(token)


class ApiPaths:
    """Every path under the API's prefix goes to the API, which answers in its JSON shape.

    The mount's pattern does not match every path (a newline in it), and the outer router's
    plain-text 404 is not what the API documents.
    """

    def __init__(self, app: ASGIApp, *, api: ASGIApp) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(PREFIX + "/"):
            root = scope.get("root_path", "")
            await self.api({**scope, "app_root_path": scope.get("app_root_path", root), "root_path": root + PREFIX},
                           receive, send)  # fmt: skip
            return
        await self.app(scope, receive, send)


def _public_image(
    folder: Path,
    name: str,
    request: Request | None = None,
    renditions: Renditions | None = None,
    *,
    named_by_content: bool = False,
) -> Response:
    """A JPEG/PNG from one folder, never a path outside it (Zalo fetches covers here).

    ``?w=480|960&f=webp|jpeg`` asks for a smaller rendition of it (share pages on phones);
    any other width or format is not found, so a request cannot ask for work of its choosing.
    """
    missing = PlainTextResponse(translate("vi", "error.file_not_found"), status_code=404)
    if any(ord(c) < 32 for c in name):
        return missing  # no file is named so; a NUL would make the path calls raise
    try:
        root = folder.resolve()
        path = (root / name).resolve()
        is_file = path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, or one it refuses
        return missing
    suffix = Path(name).suffix.lower()
    if root not in path.parents or suffix not in PUBLIC_IMAGE_TYPES or not is_file:
        return missing
    query = request.query_params if request is not None else {}
    if renditions is not None and ("w" in query or "f" in query):
        width, fmt = query.get("w", ""), query.get("f", "")
        if not width.isdigit() or not renditions.allowed(int(width), fmt):
            return missing
        try:
            rendition = renditions.get(path, int(width), fmt)
        except OSError:  # not an image Pillow can read: nothing to make smaller
            return missing
        # A cover is named by its content: what is at its address never changes.
        cache = "public, max-age=31536000, immutable" if named_by_content else "public, max-age=3600"
        return FileResponse(rendition.path, media_type=rendition.media_type, headers={"Cache-Control": cache})
    return FileResponse(path, media_type=PUBLIC_IMAGE_TYPES[suffix], headers={"Cache-Control": "public, max-age=3600"})
