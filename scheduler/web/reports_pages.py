"""The share report in the console: filters, table, chart and Excel download.

Everything comes from ``scheduler.reports.queries`` (the figures) and ``scheduler.reports.exports`` (chart,
Excel, CSV) — the same functions as `loa report shares` — so the console and the command
line can never disagree.
"""

from __future__ import annotations

import importlib.util
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scheduler.errors import InputError
from scheduler.i18n import N_
from scheduler.models import utcnow
from scheduler.web.pages import Console, Ctx

if TYPE_CHECKING:
    from scheduler.reports.queries import ShareReport

DIMENSIONS = ("unit", "staff", "campaign", "channel", "day")
DOWNLOADS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "png": "image/png",
}


SUMMARY_DOWNLOADS = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
}


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/reports", console.page("reports.view")(reports_page)),
        Route("/reports/shares.{fmt}", console.page("reports.view")(report_file)),
        Route("/reports/summary", console.page("reports.view")(summary_page)),
        Route("/reports/summary.{fmt}", console.page("reports.view")(summary_file)),
    ]


# -- the monthly report ----------------------------------------------------------------------


def _summary_asked(ctx: Ctx) -> dict[str, str]:
    today = utcnow().astimezone(ctx.loa.settings.tz).date()
    previous = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    return {
        "month": ctx.query.get("month", "").strip() or f"{previous:%Y-%m}",
        "unit": ctx.query.get("unit", "").strip(),
        "campaign": ctx.query.get("campaign", "").strip(),
    }


def _summary(ctx: Ctx, asked: dict[str, str]) -> Any:
    from scheduler.reports.queries import month_period, monthly_summary

    year, number, _, as_of = month_period(asked["month"], ctx.loa.settings)
    return monthly_summary(
        ctx.loa.engine,
        ctx.loa.settings,
        year,
        number,
        as_of=as_of,
        unit=_own_unit(ctx, asked["unit"]) or None,
        campaign=asked["campaign"] or None,
        within=ctx.units,
        channels_within=ctx.scope,
    )


def _own_unit(ctx: Ctx, code: str) -> str:
    """The unit asked for, refused (403, audited) when outside the account's own units."""
    if code and ctx.units is not None:
        from sqlmodel import select

        from scheduler.models import Unit
        from scheduler.staff.units import current
        from scheduler.store import session_scope

        with session_scope(ctx.loa.engine, read_only=True) as session:
            row = session.exec(select(Unit).where(Unit.code == code)).first()
            unit_id = current(session, row).id if row is not None else None
        ctx.require(unit_id is None or unit_id in ctx.units, f"report:{code}", N_("audit_reason.other_unit"), unit=code)
    return code


def _choices(ctx: Ctx) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The units and campaigns the filters offer (code or slug, name)."""
    from sqlmodel import col, select

    from scheduler.models import Campaign, Unit
    from scheduler.store import session_scope

    with session_scope(ctx.loa.engine, read_only=True) as session:
        within = ctx.units  # a unit's account is offered its own units only
        units = [
            (u.code, u.name)
            for u in session.exec(select(Unit).order_by(col(Unit.name)))
            if within is None or u.id in within
        ]
        campaigns = [(c.slug, c.name) for c in session.exec(select(Campaign).order_by(col(Campaign.id)))]
    return units, campaigns


def summary_page(ctx: Ctx) -> Response:
    from scheduler.reports.charts import to_svg
    from scheduler.reports.document import summary_bar_chart
    from scheduler.reports.exports import summary_grids
    from scheduler.reports.queries import summary_text

    asked = _summary_asked(ctx)
    units, campaigns = _choices(ctx)
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"summary": None, "paragraphs": [], "grids": [], "chart": ""}
    try:
        with ctx.loa.heavy.slot():
            summary = _summary(ctx, asked)
            data = {
                "summary": summary.as_json(ctx.lang),
                "paragraphs": [p for p in summary_text(summary, ctx.lang).split("\n\n") if p.strip()],
                "grids": [_shown_grid(g, ctx.lang) for g in summary_grids(summary, ctx.lang)[2:]],
                "chart": to_svg(summary_bar_chart(summary, ctx.loa.settings, ctx.lang)) if summary.units else "",
            }
    except InputError as exc:
        errors[exc.field or "month"] = ctx.error_text(exc)
    query = urlencode({k: v for k, v in asked.items() if v})
    return ctx.render(
        "console/summary.html",
        status=400 if errors else 200,
        asked=asked,
        errors=errors,
        units=units,
        campaigns=campaigns,
        query=query,
        **data,
    )


def _shown_grid(grid: Any, lang: str) -> dict[str, Any]:
    """A summary sheet with every cell worded as the files word it (the key figures and the words are shown above)."""
    from scheduler.reports.exports import shown_cell

    kinds = [c.kind for c in grid.columns]
    return {
        "title": grid.title,
        "headers": [(c.header, c.kind in ("int", "percent")) for c in grid.columns],
        "rows": [[shown_cell(v, k, lang) for v, k in zip(row, kinds, strict=True)] for row in grid.rows],
        "totals": [shown_cell(v, k, lang) for v, k in zip(grid.totals, kinds, strict=True)] if grid.totals else None,
    }


def summary_file(ctx: Ctx) -> Response:
    from scheduler.reports.document import render_report, summary_chart
    from scheduler.reports.exports import summary_xlsx

    fmt = ctx.request.path_params["fmt"]
    if fmt not in SUMMARY_DOWNLOADS:
        return ctx.render("console/error.html", status=404, title=ctx.t("error.not_found"), message="")
    asked = _summary_asked(ctx)
    try:
        with ctx.loa.heavy.slot():
            summary = _summary(ctx, asked)
            if fmt == "xlsx":
                body = summary_xlsx(summary, ctx.lang)
            elif fmt == "png":
                body = summary_chart(summary, ctx.loa.settings, ctx.lang)
            else:
                today = utcnow().astimezone(ctx.loa.settings.tz).date()
                body = render_report(summary, ctx.loa.settings, fmt, issued_on=today, lang=ctx.lang)
    except InputError as exc:
        title = ctx.t("summary_page.title")
        return ctx.render("console/error.html", status=400, title=title, message=ctx.error_text(exc))
    name = f"bao-cao-thang_{summary.year:04d}-{summary.month:02d}.{fmt}"
    disposition = "inline" if fmt == "png" else f'attachment; filename="{name}"'
    return Response(body, media_type=SUMMARY_DOWNLOADS[fmt], headers={"Content-Disposition": disposition})


def _available() -> bool:
    """Whether the reports room is in this tree (the console is built before and after it)."""
    rooms = ("scheduler.reports.queries", "scheduler.reports.exports")
    return all(importlib.util.find_spec(name) is not None for name in rooms)


def _asked(ctx: Ctx) -> dict[str, str]:
    today = utcnow().astimezone(ctx.loa.settings.tz).date()
    first = today.replace(day=1)
    return {
        "from": ctx.query.get("from", "").strip() or first.strftime("%d/%m/%Y"),
        "to": ctx.query.get("to", "").strip() or today.strftime("%d/%m/%Y"),
        "by": ctx.query.get("by", "unit") if ctx.query.get("by", "unit") in DIMENSIONS else "unit",
    }


def _report(ctx: Ctx, asked: dict[str, str]) -> ShareReport:
    from scheduler.reports.queries import EVERYTHING, Period, Scope, parse_dimension, share_report

    period = Period.parse(asked["from"], asked["to"], ctx.loa.settings.tz)
    # A unit's account: its units' staff and channels only; the province and admins see all.
    scope = Scope(unit_ids=ctx.units) if ctx.units is not None else EVERYTHING
    return share_report(
        ctx.loa.engine, ctx.loa.settings, period, parse_dimension(asked["by"]), scope, channels=ctx.scope
    )


def reports_page(ctx: Ctx) -> Response:
    if not _available():
        return ctx.render(
            "console/reports.html", available=False, asked={}, errors={}, report=None, dimensions=DIMENSIONS, presets=[]
        )
    asked = _asked(ctx)
    errors: dict[str, str] = {}
    report: dict[str, Any] | None = None
    try:
        with ctx.loa.heavy.slot():
            built = _report(ctx, asked)
        report = built.as_json()
        report["max"] = max([r["shares"] for r in report["rows"]] + [r["clicks"] for r in report["rows"]] + [1])
    except InputError as exc:
        errors[exc.field or "from"] = ctx.error_text(exc)
    return ctx.render(
        "console/reports.html",
        status=400 if errors else 200,
        available=True,
        asked=asked,
        errors=errors,
        report=report,
        dimensions=DIMENSIONS,
        presets=_presets(ctx),
    )


def _presets(ctx: Ctx) -> list[tuple[str, dict[str, str]]]:
    today = utcnow().astimezone(ctx.loa.settings.tz).date()
    this_month = today.replace(day=1)
    last_month_end = this_month - timedelta(days=1)
    last_month = last_month_end.replace(day=1)

    def span(first: date, last: date) -> dict[str, str]:
        return {"from": first.strftime("%d/%m/%Y"), "to": last.strftime("%d/%m/%Y")}

    return [
        ("reports.this_month", span(this_month, today)),
        ("reports.last_month", span(last_month, last_month_end)),
        ("reports.last_30", span(today - timedelta(days=29), today)),
    ]


def report_file(ctx: Ctx) -> Response:
    from scheduler.reports import exports

    fmt = ctx.request.path_params["fmt"]
    if fmt not in DOWNLOADS or not _available():
        return ctx.render("console/error.html", status=404, title=ctx.t("error.not_found"), message="")
    asked = _asked(ctx)
    try:
        # Files and charts are the heavy part of reports: one slot each (scheduler.bounds).
        with ctx.loa.heavy.slot():
            report = _report(ctx, asked)
            if fmt == "xlsx":
                body: bytes = exports.share_xlsx(report, ctx.lang)
            elif fmt == "csv":
                body = exports.to_csv(exports.share_grid(report, ctx.lang)).encode("utf-8-sig")
            else:
                body = exports.share_chart(report, ctx.lang, max_bars=ctx.loa.settings.limits.chart_max_bars)
    except InputError as exc:
        return ctx.render("console/error.html", status=400, title=ctx.t("reports.title"), message=ctx.error_text(exc))
    name = f"bao-cao-chia-se_{report.by.value}_{report.period.start}_{report.period.end}.{fmt}"
    disposition = "inline" if fmt == "png" else f'attachment; filename="{name}"'
    return Response(body, media_type=DOWNLOADS[fmt], headers={"Content-Disposition": disposition})
