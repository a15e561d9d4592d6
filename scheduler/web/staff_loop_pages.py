"""The console's "Gửi cho cán bộ": per-unit text to paste, the QR sheet, the per-staff link table."""

from __future__ import annotations

import tempfile
from pathlib import Path

from markupsafe import Markup
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scheduler.errors import NotFound
from scheduler.i18n import msg
from scheduler.sharing.service import SharingService
from scheduler.sharing.staff_loop import qr_svg, unit_messages
from scheduler.web.pages import Console, Ctx

EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/posts/{post_id:int}/staff", console.page("staff.manage")(staff_loop_page)),
        Route("/posts/{post_id:int}/staff/qr", console.page("staff.manage")(qr_sheet)),
        Route("/posts/{post_id:int}/staff/links.{fmt}", console.page("staff.manage")(links_file)),
    ]


def staff_loop_page(ctx: Ctx) -> Response:
    post_id = ctx.path_int("post_id")
    units = unit_messages(ctx.loa.settings, ctx.loa.engine, post_id, lang=ctx.lang)
    return ctx.render("console/staff_loop.html", post_id=post_id, units=units)


def qr_sheet(ctx: Ctx) -> Response:
    """A printable page: one card per staff member of a unit, their name and their share page's QR code."""
    post_id = ctx.path_int("post_id")
    units = unit_messages(ctx.loa.settings, ctx.loa.engine, post_id, lang=ctx.lang)
    wanted = ctx.query.get("unit")
    if wanted:
        units = [u for u in units if u.code == wanted]
        if not units:
            raise NotFound(msg("error.no_unit", unit=wanted))
    cards = {u.code: [(s, Markup(qr_svg(s.share_url))) for s in u.staff] for u in units}
    return ctx.render("console/staff_qr.html", post_id=post_id, units=units, cards=cards)


def links_file(ctx: Ctx) -> Response:
    post_id = ctx.path_int("post_id")
    fmt = ctx.request.path_params["fmt"]
    if fmt not in EXPORT_TYPES:
        raise NotFound(msg("error.file_not_found"))
    unit = ctx.query.get("unit") or None
    service = SharingService(ctx.loa.settings, ctx.loa.engine)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"lien-ket-bai-{post_id}.{fmt}"
        service.export_links(post_id=post_id, path=path, actor=ctx.user.username, unit_code=unit)
        data = path.read_bytes()
    name = f"lien-ket-bai-{post_id}{'-' + unit if unit else ''}.{fmt}"
    return Response(
        data,
        media_type=EXPORT_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
