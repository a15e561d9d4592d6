"""`loa metrics …` and `loa report …`: thin commands over scheduler.metrics.collector, .reports and .exports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from scheduler.cli.support import (
    JsonOption,
    check_output,
    cli_scope,
    out,
    print_json,
    ready,
    require_post,
    require_unit,
    unit_within,
    write_output,
)
from scheduler.errors import InputError
from scheduler.i18n import N_, msg, process_lang, process_text, status_label
from scheduler.i18n.formats import format_int

metrics_app = typer.Typer(
    help="Counters from the platforms: views, reach, reactions, comments, shares.", no_args_is_help=True
)
report_app = typer.Typer(help="Reports: staff shares and clicks, the monthly summary.", no_args_is_help=True)

SHARE_FORMATS = ("table", "json", "csv", "xlsx", "png")
SUMMARY_FORMATS = ("text", "json", "xlsx", "docx", "pdf")
BINARY_FORMATS = {"xlsx", "png", "docx", "pdf"}
_SUFFIX_FORMATS = {
    ".json": "json",
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".png": "png",
    ".txt": "table",
    ".docx": "docx",
    ".pdf": "pdf",
}
_BY_SLUG = {"staff": "can-bo", "unit": "don-vi", "campaign": "chien-dich", "channel": "kenh", "day": "ngay"}

WIDE = 240  # columns for a table that is not shown on a terminal
OutputOption = Annotated[Path | None, typer.Option("--output", "-o", help="write to this file instead of stdout")]


# -- metrics -------------------------------------------------------------------------------


@metrics_app.command("collect")
def metrics_collect(
    ctx: typer.Context,
    as_json: JsonOption = False,
    due_only: Annotated[
        bool, typer.Option("--due-only", help="only what the polling schedule says is due (cron-friendly)")
    ] = False,
    post: Annotated[
        int | None, typer.Option("--post", help="only this post's publications, whatever their age")
    ] = None,
) -> None:
    """Pull views/reach/reactions/comments/shares of recent publications now."""
    from scheduler.metrics.collector import MetricsCollector

    loa = ready(ctx)
    if post is not None:
        loa.posts.show(post)  # NotFound (exit 2) before any call to a platform
    report = MetricsCollector(loa.settings, loa.engine, loa.vault).run_once(only_due=due_only, post_id=post)
    if as_json:
        print_json(report.as_json())
        return
    counts = report.counts()
    lang = process_lang()
    collected, errors, skipped = (format_int(counts[k], lang) for k in ("collected", "errors", "skipped"))
    out.print(process_text("cli.metrics_collected", collected=collected, errors=errors, skipped=skipped))
    for error in report.errors:
        line = process_text(
            "cli.metrics_error", publication=error["publication"], channel=error["channel"], reason=error["reason"]
        )
        out.print("  " + line, markup=False)
    for pause in report.paused_channels:
        line = process_text(
            "cli.metrics_paused", channel=pause["channel"], until=pause["until"] or "—", reason=pause["reason"]
        )
        out.print("  " + line, markup=False)


@metrics_app.command("audience")
def metrics_audience(
    ctx: typer.Context,
    day: Annotated[
        str | None, typer.Option("--day", help="the local day, YYYY-MM-DD or dd/mm/yyyy; default yesterday")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Each channel's own audience for one day: followers, the Page's views and reach."""
    from scheduler.formatting import parse_date
    from scheduler.metrics.audience import collect_audience

    loa = ready(ctx)
    asked = parse_date(day, field="day") if day else None
    results = collect_audience(loa.settings, loa.engine, loa.vault, day=asked)
    if as_json:
        print_json({"audience": [r.as_json() for r in results]})
        return
    lang = process_lang()

    def shown(value: int | None) -> str:
        return "–" if value is None else format_int(value, lang)

    for r in results:
        if r.error:
            out.print(process_text("cli.audience_error", channel=r.channel, reason=r.error), markup=False)
        else:
            line = process_text(
                "cli.audience_line",
                channel=r.channel,
                day=r.day.strftime("%d/%m/%Y"),
                followers=shown(r.followers),
                views=shown(r.views),
                reach=shown(r.reach),
            )
            out.print(line, markup=False)


@metrics_app.command("show")
def metrics_show(
    ctx: typer.Context, post_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonOption = False
) -> None:
    """A post's snapshots over time and the metrics calls that failed, with their reasons."""
    from rich.table import Table

    from scheduler.cli.support import local_time
    from scheduler.metrics.history import METRIC_NAMES, metrics_history

    loa = ready(ctx)
    loa.posts.show(post_id)  # NotFound → exit 2
    require_post(ctx, loa, post_id, f"post:{post_id}")
    history = metrics_history(loa.engine, post_id)
    lang = process_lang()
    columns = (
        N_("cli.col.at"),
        N_("cli.col.views"),
        N_("cli.col.reach"),
        N_("cli.col.reactions"),
        N_("cli.col.comments"),
        N_("cli.col.shares"),
    )
    if as_json:
        print_json(history)
        return
    for publication in history["publications"]:
        status = status_label(lang, publication["status"])
        title = process_text(
            "cli.metrics_title", channel=publication["channel"], publication=publication["id"], status=status
        )
        table = Table(*(process_text(c) for c in columns), title=title)
        for snap in publication["snapshots"]:
            table.add_row(
                local_time(snap["at"], loa.settings), *(format_int(snap[name], lang) for name in METRIC_NAMES)
            )
        out.print(table)
        for error in publication["errors"]:
            at = local_time(error["at"], loa.settings)
            out.print("  " + process_text("cli.metrics_error_at", at=at, reason=error["reason"]), markup=False)


# -- reports -------------------------------------------------------------------------------


def _format(value: str | None, output: Path | None, allowed: tuple[str, ...], default: str) -> str:
    """The format asked for, else the one the output file's suffix names, else the default."""
    if value is None:
        guessed = _SUFFIX_FORMATS.get(output.suffix.lower()) if output else None
        if guessed == "table" and "text" in allowed:
            guessed = "text"
        return guessed if guessed in allowed else default
    chosen = value.strip().lower()
    if chosen not in allowed:
        raise InputError(
            msg("error.format_not_known", format=value),
            hint=msg("hint.one_of", choices=", ".join(allowed)),
            field="format",
        )
    return chosen


def _emit(data: bytes | str, output: Path | None, what: str) -> None:
    if output is None:
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        return
    write_output(output, data)
    out.print(process_text("cli.written", what=process_text(what), file=str(output)), markup=False)


@report_app.command("shares")
def report_shares(
    ctx: typer.Context,
    from_: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD or dd/mm/yyyy (included)")],
    to: Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD or dd/mm/yyyy (included)")],
    by: Annotated[str, typer.Option("--by", help="staff, unit, campaign, channel or day")] = "unit",
    fmt: Annotated[str | None, typer.Option("--format", help="table, json, csv, xlsx or png")] = None,
    output: OutputOption = None,
) -> None:
    """Staff shares and counted clicks over a period, by staff/unit/campaign/channel/day."""
    from scheduler.reports import exports
    from scheduler.reports.queries import EVERYTHING, Period, Scope, parse_dimension, share_report

    loa = ready(ctx)
    period = Period.parse(from_, to, loa.settings.tz)
    dimension = parse_dimension(by)
    chosen = _format(fmt, output, SHARE_FORMATS, "table")
    if output is None and chosen in BINARY_FORMATS:
        output = Path(f"bao-cao-chia-se_{_BY_SLUG[dimension.value]}_{period.start}_{period.end}.{chosen}")
    if output is not None:
        check_output(output)
    within = unit_within(ctx, loa)  # --as: the account's units' staff and channels only
    scope = Scope(unit_ids=within) if within is not None else EVERYTHING
    report = share_report(loa.engine, loa.settings, period, dimension, scope, channels=cli_scope(ctx, loa))
    if chosen == "json":
        import json

        _emit(json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n", output, N_("cli.what.json_report"))
    elif chosen == "csv":
        _emit(exports.to_csv(exports.share_grid(report, process_lang())), output, N_("cli.what.csv_report"))
    elif chosen == "xlsx":
        _emit(exports.share_xlsx(report, process_lang()), output, N_("cli.what.excel_report"))
    elif chosen == "png":
        chart = exports.share_chart(report, process_lang(), max_bars=loa.settings.limits.chart_max_bars)
        _emit(chart, output, N_("cli.what.chart"))
    else:
        import io

        from rich.console import Console

        table = exports.rich_table(exports.share_grid(report, process_lang()))
        if output is None and out.is_terminal:
            out.print(table)
            return
        # Piped or written to a file: the table's natural width, never folded into 80 columns.
        console = Console(record=True, width=WIDE, file=io.StringIO())
        console.print(table)
        _emit(console.export_text(), output, N_("cli.what.table"))


@report_app.command("summary")
def report_summary(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", help="the month, YYYY-MM")],
    fmt: Annotated[str | None, typer.Option("--format", help="text, json, xlsx, docx or pdf")] = None,
    output: OutputOption = None,
    issued: Annotated[
        str | None, typer.Option("--date", help="the report's date (docx, pdf), YYYY-MM-DD or dd/mm/yyyy; today")
    ] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="only this unit's staff (its code)")] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="only this campaign's posts, inside its dates (its slug)")
    ] = None,
) -> None:
    """The monthly summary: posts, views and reach per channel and campaign, shares per unit."""
    from datetime import datetime

    from scheduler.formatting import parse_date
    from scheduler.reports import exports
    from scheduler.reports.document import render_report
    from scheduler.reports.queries import month_period, monthly_summary, summary_text

    loa = ready(ctx)
    year, number, _, as_of = month_period(month, loa.settings)
    issued_on = parse_date(issued, field="date") if issued else datetime.now(loa.settings.tz).date()
    chosen = _format(fmt, output, SUMMARY_FORMATS, "text")
    if output is None and chosen in BINARY_FORMATS:
        output = Path(f"bao-cao-thang_{year:04d}-{number:02d}.{chosen}")
    if output is not None:
        check_output(output)
    if unit is not None:
        require_unit(ctx, loa, unit, f"report:{unit}")
    summary = monthly_summary(
        loa.engine,
        loa.settings,
        year,
        number,
        as_of=as_of,
        unit=unit,
        campaign=campaign,
        within=unit_within(ctx, loa),
        channels_within=cli_scope(ctx, loa),
    )
    if chosen == "json":
        import json

        _emit(
            json.dumps(summary.as_json(process_lang()), ensure_ascii=False, indent=2) + "\n",
            output,
            N_("cli.what.json_report"),
        )
    elif chosen == "xlsx":
        _emit(exports.summary_xlsx(summary, process_lang()), output, N_("cli.what.excel_report"))
    elif chosen in ("docx", "pdf"):
        data = render_report(summary, loa.settings, chosen, issued_on=issued_on, lang=process_lang())
        _emit(data, output, N_("cli.what.word_report") if chosen == "docx" else N_("cli.what.pdf_report"))
    else:
        _emit(summary_text(summary, process_lang()), output, N_("cli.what.report"))


@report_app.command("template")
def report_template(ctx: typer.Context, output: OutputOption = None) -> None:
    """Write Loa's Word layout of the monthly report, for the office to edit (set [reports] template)."""
    import io

    from scheduler.reports.word import default_template

    target = output or Path("mau-bao-cao-thang.docx")
    check_output(target)
    buffer = io.BytesIO()
    default_template().save(buffer)
    _emit(buffer.getvalue(), target, N_("cli.what.word_template"))
