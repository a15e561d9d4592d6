"""The share page as an app on the phone: its manifest, icons drawn by Loa, the service worker
(an offline shell and Web Push) and the push subscription endpoint."""

from __future__ import annotations

import io
import json
from functools import lru_cache
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from scheduler.alerts.push import subscribe
from scheduler.errors import InputError
from scheduler.i18n import translate
from scheduler.sharing.service import SharingService
from scheduler.sharing.visitors import form_token_ok
from scheduler.web.sharing import STATIC, share_lang

if TYPE_CHECKING:
    from scheduler.app import Loa

BLUE, RED, WHITE = (0, 84, 166), (227, 27, 35), (255, 255, 255)
ICON_SIZES = (192, 512)
MAX_SUBSCRIPTION_BYTES = 8 * 1024


@lru_cache(maxsize=4)
def icon_png(size: int) -> bytes:
    """Loa's icon, drawn here (no image file ships): a megaphone on the campaign blue, maskable-safe."""
    scale = 4
    big = size * scale
    image = Image.new("RGB", (big, big), BLUE)
    draw = ImageDraw.Draw(image)
    # The drawing keeps to the middle 60 %: a maskable icon may be cropped to a circle.
    unit = big / 10
    draw.polygon(
        [(3.0 * unit, 4.2 * unit), (6.4 * unit, 2.6 * unit), (6.4 * unit, 7.4 * unit), (3.0 * unit, 5.8 * unit)],
        fill=WHITE,
    )
    draw.rectangle([2.2 * unit, 4.2 * unit, 3.0 * unit, 5.8 * unit], fill=WHITE)
    draw.rectangle([3.2 * unit, 5.8 * unit, 3.9 * unit, 7.2 * unit], fill=WHITE)
    for radius in (1.0, 1.6):
        box = [
            6.6 * unit - radius * unit,
            5.0 * unit - radius * unit,
            6.6 * unit + radius * unit,
            5.0 * unit + radius * unit,
        ]
        draw.arc(box, start=-40, end=40, fill=RED, width=int(0.35 * unit))
    out = io.BytesIO()
    image.resize((size, size), Image.Resampling.LANCZOS).save(out, "PNG", optimize=True)
    return out.getvalue()


def share_app_routes(loa: Loa) -> list[BaseRoute]:
    service = SharingService(loa.settings, loa.engine)

    def manifest(request: Request) -> Response:
        token = request.path_params["token"]
        staff = service.staff_by_token(token)
        if staff is None:
            return Response(status_code=404)
        lang = share_lang(request.query_params.get("lang"), request.cookies.get("loa_lang"))
        document = {
            "name": translate(lang, "app.share_name"),
            "short_name": "Loa",
            "description": translate(lang, "app.description"),
            "lang": lang,
            "start_url": f"/s/{token}",
            "scope": f"/s/{token}",
            "id": f"/s/{token}",
            "display": "standalone",
            "background_color": "#ffffff",
            "theme_color": "#0054A6",
            "icons": [
                {
                    "src": f"/static/share/icon-{size}.png",
                    "sizes": f"{size}x{size}",
                    "type": "image/png",
                    "purpose": "any maskable",
                }
                for size in ICON_SIZES
            ],
        }
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        return Response(body, media_type="application/manifest+json", headers={"Cache-Control": "no-cache"})

    def worker(request: Request) -> Response:
        token = request.path_params["token"]
        if service.staff_by_token(token) is None:
            return Response(status_code=404)
        # Served under the page's path so its scope can be the page itself (without the slash).
        return FileResponse(
            STATIC / "share-sw.js",
            media_type="text/javascript; charset=utf-8",
            headers={"Service-Worker-Allowed": f"/s/{token}", "Cache-Control": "no-cache"},
        )

    def icon(request: Request) -> Response:
        size = int(request.path_params["size"])
        if size not in ICON_SIZES:
            return Response(status_code=404)
        return Response(icon_png(size), media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})

    async def push_subscribe(request: Request) -> Response:
        staff = await run_in_threadpool(service.staff_by_token, request.path_params["token"])
        if staff is None or staff.id is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        origin = request.headers.get("origin")
        public = loa.settings.public_url
        if origin is not None and origin != public and origin != f"{request.url.scheme}://{request.url.netloc}":
            return JSONResponse({"error": "cross_site"}, status_code=403)
        raw = await request.body()
        if len(raw) > MAX_SUBSCRIPTION_BYTES:
            return JSONResponse({"error": "too_large"}, status_code=413)
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"error": "not_json"}, status_code=400)
        token = document.get("t") if isinstance(document, dict) else None
        if not isinstance(token, str) or not form_token_ok(service.keys, staff.id, token):
            return JSONResponse({"error": "stale"}, status_code=403)
        try:
            await run_in_threadpool(subscribe, loa.engine, staff_id=staff.id, info=document.get("subscription"))
        except InputError:
            return JSONResponse({"error": "bad_subscription"}, status_code=400)
        return JSONResponse({"ok": True}, status_code=201)

    return [
        Route("/s/{token}/manifest.webmanifest", manifest, methods=["GET"]),
        Route("/s/{token}/sw.js", worker, methods=["GET"]),
        Route("/s/{token}/push", push_subscribe, methods=["POST"]),
        Route("/static/share/icon-{size:int}.png", icon, methods=["GET"]),
    ]
