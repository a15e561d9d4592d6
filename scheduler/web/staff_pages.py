"""Staff and units in the console: list, import, deactivate — through ``scheduler.sharing.service``.

The page appears only when the sharing room is in the tree; every rule (what an import
accepts, what deactivating stops) is the sharing service's, the same as `loa staff …`.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scheduler.errors import InputError
from scheduler.i18n import msg
from scheduler.web.pages import Console, Ctx

if TYPE_CHECKING:
    from scheduler.sharing.service import SharingService

UPLOAD_SUFFIXES = {".csv", ".xlsx"}


def routes(console: Console) -> list[BaseRoute]:
    if not console.has_sharing():
        return []
    return [
        Route("/staff", console.page("staff.view")(staff_page)),
        Route("/staff/import", console.page("staff.manage")(staff_import), methods=["POST"]),
        Route("/staff/{staff_id:int}/{action}", console.page("staff.manage")(staff_action), methods=["POST"]),
    ]


def _service(ctx: Ctx) -> SharingService:
    from scheduler.sharing.service import SharingService

    return SharingService(ctx.loa.settings, ctx.loa.engine)


def _view(
    ctx: Ctx, *, errors: dict[str, str] | None = None, summary: dict[str, Any] | None = None, status: int = 200
) -> Response:
    show_all = ctx.query.get("all") == "1"
    rows = _service(ctx).list_staff(include_inactive=show_all)
    unit = ctx.query.get("unit", "")
    units = sorted({r["unit"] for r in rows})
    shown = [r for r in rows if not unit or r["unit"] == unit]
    return ctx.render(
        "console/staff.html",
        status=status,
        staff=shown,
        units=units,
        unit=unit,
        show_all=show_all,
        total=len(rows),
        errors=errors or {},
        summary=summary,
    )


def staff_page(ctx: Ctx) -> Response:
    return _view(ctx)


def staff_import(ctx: Ctx) -> Response:
    upload = ctx.files.get("file")
    data = ctx.file_bytes.get("file", b"")
    try:
        if upload is None or not upload.filename or not data:
            raise InputError(msg("error.choose_staff_file"), field="file")
        # Only the base name, in safe characters: messages name the person's own file.
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(upload.filename).name).strip("-.") or "danh-sach"
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise InputError(msg("error.not_csv_or_xlsx", name=name), hint=msg("hint.save_as_csv"), field="file")
        if len(data) > ctx.loa.settings.limits.upload_bytes:
            raise InputError(
                msg("error.file_too_large", name=name, megabytes=ctx.loa.settings.limits.upload_mib),
                hint=msg("hint.split_file"),
                field="file",
            )
        with tempfile.TemporaryDirectory(prefix="loa-staff-") as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            with ctx.loa.heavy.slot():  # reading a spreadsheet is heavy work (scheduler.bounds)
                summary = _service(ctx).import_staff(path, actor=ctx.user.username)
    except InputError as exc:
        return _view(ctx, errors={"file": ctx.error_text(exc)}, status=400)
    return _view(ctx, summary=summary.as_json())


def staff_action(ctx: Ctx) -> Response:
    staff_id = ctx.path_int("staff_id")
    action = ctx.request.path_params["action"]
    if action not in {"deactivate", "activate"}:
        return _view(ctx, status=404)
    try:
        _service(ctx).set_active(str(staff_id), action == "activate", actor=ctx.user.username)
    except InputError as exc:
        return _view(ctx, errors={"form": ctx.error_text(exc)}, status=400)
    return ctx.redirect(
        "/staff?all=1" if action == "activate" else "/staff",
        done="staff_activated" if action == "activate" else "staff_deactivated",
    )
