"""Reports out of Loa: Rich table, CSV, XLSX, PNG chart (JSON is the reports' own ``as_json``).

Every format is drawn from one :class:`Grid` (columns, rows, totals row) built once per
report, so the formats cannot disagree: a total in the chart's title is the same number as
the one in the spreadsheet's last row.

Spreadsheets are opened in Excel by people who did not write them: text that begins with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return could run as a formula. CSV cells get
a leading apostrophe; XLSX cells are stored as text with Excel's own "quote prefix" (what
typing ``'=…`` does), so the value a person reads is unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any, Literal

from rich.table import Table

from scheduler.bounds import DEFAULT_CHART_MAX_BARS, check_bars
from scheduler.i18n import N_, translate
from scheduler.i18n.formats import format_day, format_int, format_share
from scheduler.reports.queries import (
    Dimension,
    MonthlySummary,
    ReachFigures,
    ShareReport,
    ShareRow,
    combine,
    summary_month,
    summary_text,
)

Kind = Literal["text", "id", "int", "date", "percent"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """Text that Excel would read as a formula, made inert with a leading apostrophe."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind
    width: int | None = None  # fixed width (characters); else fitted to the content


@dataclass(frozen=True)
class Grid:
    """A report as a table: what every format renders."""

    title: str
    subtitle: str
    sheet: str  # XLSX sheet name (≤ 31 characters)
    columns: list[Column]
    rows: list[list[Any]]
    totals: list[Any] | None
    lang: str = "vi"  # numbers and dates laid out for this reader (1.076 / 1,076)


# -- share report --------------------------------------------------------------------------

# The share report speaks the reader's language (Vietnamese unless asked); its words are
# catalogue ids, export.* (headers) and export.by.* (what a row is).
_KEY_HEADERS = {
    Dimension.staff: (N_("export.col.staff_id"), N_("export.col.staff_name")),
    Dimension.unit: (N_("export.col.unit_id"), N_("export.col.unit")),
    Dimension.campaign: (N_("export.col.campaign_id"), N_("export.col.campaign")),
    Dimension.channel: (N_("export.col.channel_id"), N_("export.col.channel")),
}
_BY_WORDS = {
    Dimension.staff: N_("export.by.staff"),
    Dimension.unit: N_("export.by.unit"),
    Dimension.campaign: N_("export.by.campaign"),
    Dimension.channel: N_("export.by.channel"),
    Dimension.day: N_("export.by.day"),
}
_COUNT_HEADERS = (
    N_("export.col.shares"),
    N_("export.col.button"),
    N_("export.col.self_report"),
    N_("export.col.clicks"),
)


def _count_columns(lang: str) -> list[Column]:
    return [Column(translate(lang, header), "int") for header in _COUNT_HEADERS]


def _counts(row: ShareRow) -> list[int]:
    return [row.shares, row.button, row.self_report, row.clicks]


def share_grid(report: ShareReport, lang: str = "vi") -> Grid:
    by = report.by
    period = report.period
    columns = [Column(translate(lang, "export.col.number"), "int", 6)]
    if by is Dimension.day:
        columns.append(Column(translate(lang, "export.col.day"), "date", 12))
    else:
        code, name = _KEY_HEADERS[by]
        kind: Kind = "id" if by is Dimension.staff else "text"
        columns += [Column(translate(lang, code), kind), Column(translate(lang, name), "text")]
        if by is Dimension.staff:
            columns.append(Column(translate(lang, "export.col.unit"), "text"))
    count_columns = _count_columns(lang)
    columns += count_columns
    rows: list[list[Any]] = []
    for n, row in enumerate(report.rows, start=1):
        if by is Dimension.day:
            cells: list[Any] = [n, row.day]
        else:
            # The row for shares outside every campaign has no key: its name is the reader's.
            label = (
                translate(lang, "export.outside_campaigns")
                if by is Dimension.campaign and row.key is None
                else row.label
            )
            cells = [n, row.key, label] + ([row.unit] if by is Dimension.staff else [])
        rows.append(cells + _counts(row))
    lead = len(columns) - len(count_columns)
    totals = [None, translate(lang, "export.total")] + [None] * (lead - 2) + _counts_of_totals(report)
    by_words = translate(lang, _BY_WORDS[by])
    start, end = format_day(period.start, lang), format_day(period.end, lang)
    return Grid(
        lang=lang,
        title=translate(lang, "export.share_title", by=by_words).upper(),
        subtitle=translate(lang, "export.period", start=start, end=end),
        sheet=translate(lang, "export.share_sheet", by=by_words)[:31],
        columns=columns,
        rows=rows,
        totals=totals,
    )


def _counts_of_totals(report: ShareReport) -> list[int]:
    t = report.totals
    return [t.shares, t.button, t.self_report, t.clicks]


# -- renderers -----------------------------------------------------------------------------


def _shown(value: Any, kind: Kind, lang: str = "vi") -> str:
    """A cell as a person reads it, in the grid's language."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):  # a rate, kept as (part, whole) so no format rounds twice
        part, whole = value
        return format_share(part, whole, lang)
    if kind == "int":
        return format_int(int(value), lang)
    if isinstance(value, date):
        return format_day(value, lang)
    return str(value)


def shown_cell(value: Any, kind: Kind, lang: str = "vi") -> str:
    """A cell as every format shows it to a reader (the console's tables too)."""
    return "" if value is None else _shown(value, kind, lang)


def rich_table(grid: Grid) -> Table:
    """The terminal view: numbers in the grid's language, totals in the footer."""
    table = Table(title=f"{grid.title}\n{grid.subtitle}", show_footer=grid.totals is not None)
    totals = grid.totals or [None] * len(grid.columns)
    for column, total in zip(grid.columns, totals, strict=True):
        numeric = column.kind in ("int", "percent")
        table.add_column(
            column.header,
            justify="right" if numeric else "left",
            footer=_shown(total, column.kind, grid.lang),
            no_wrap=numeric,
        )
    for row in grid.rows:
        table.add_row(*(_shown(value, column.kind, grid.lang) for value, column in zip(row, grid.columns, strict=True)))
    return table


def to_csv(grid: Grid) -> str:
    """Header, rows, totals row; numbers bare (Excel reads them as numbers), dates ISO."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_safe(c.header) for c in grid.columns])
    for row in [*grid.rows, *([grid.totals] if grid.totals else [])]:
        writer.writerow([_csv_cell(value, column.kind) for value, column in zip(row, grid.columns, strict=True)])
    return buffer.getvalue()


def _csv_cell(value: Any, kind: Kind) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return csv_safe(value)
    if isinstance(value, tuple):
        part, whole = value
        return "" if whole == 0 else f"{part * 100 / whole:.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return value


def to_xlsx(grids: Sequence[Grid], *, title: str) -> bytes:
    """One sheet per grid: title rows, bold frozen header, numbers and dates typed, totals row."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.worksheets[0])  # the default empty sheet; each grid brings its own
    book.properties.title = title
    book.properties.creator = "Loa"
    for grid in grids:
        _write_sheet(book.create_sheet(grid.sheet), grid)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


HEADER_ROW = 4  # rows 1–2: title and period; 3: blank; 4: header


def _write_sheet(sheet: Any, grid: Grid) -> None:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    sheet["A1"] = grid.title
    sheet["A1"].font = Font(bold=True, size=13)
    sheet["A2"] = grid.subtitle
    sheet["A2"].font = Font(italic=True)
    widths = [max(len(c.header), 4) for c in grid.columns]
    for index, column in enumerate(grid.columns, start=1):
        cell = sheet.cell(row=HEADER_ROW, column=index)
        _set_text(cell, column.header)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = border
    body = [*grid.rows, *([grid.totals] if grid.totals else [])]
    for offset, row in enumerate(body, start=1):
        is_total = grid.totals is not None and offset == len(body)
        for index, (value, column) in enumerate(zip(row, grid.columns, strict=True), start=1):
            cell = sheet.cell(row=HEADER_ROW + offset, column=index)
            _put(cell, value, column.kind)
            cell.border = border
            if is_total:
                cell.font = Font(bold=True)
            widths[index - 1] = max(widths[index - 1], len(_shown(value, column.kind, grid.lang)))
    for index, column in enumerate(grid.columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width or min(60, widths[index - 1] + 2)
    sheet.freeze_panes = sheet.cell(row=HEADER_ROW + 1, column=1).coordinate
    last_data = HEADER_ROW + len(grid.rows)
    if grid.rows:
        sheet.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(grid.columns))}{last_data}"
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"


def _set_text(cell: Any, text: str) -> None:
    cell.value = text
    # openpyxl would store "=…" as a formula: force text, and quote-prefix what Excel
    # would otherwise evaluate once someone edits the cell.
    cell.data_type = "s"
    if text.startswith(FORMULA_STARTS):
        cell.quotePrefix = True


def _put(cell: Any, value: Any, kind: Kind) -> None:
    if value is None:
        return
    if isinstance(value, str):
        _set_text(cell, value)
        return
    if isinstance(value, tuple):
        part, whole = value
        if whole:
            cell.value = part / whole
            cell.number_format = "0.00%"
        return
    cell.value = value
    if kind == "date":
        cell.number_format = "dd/mm/yyyy"
    elif kind == "int":
        cell.number_format = "#,##0"
    elif kind == "id":
        cell.number_format = "0"


# -- chart ---------------------------------------------------------------------------------

CHART_MAX_BARS = 25


CHART_MAX_INCHES = 40.0  # the widest chart drawn (4.400 px): more days make thinner bars, not a bigger image


def share_chart(report: ShareReport, lang: str = "vi", *, max_bars: int = DEFAULT_CHART_MAX_BARS) -> bytes:
    """PNG: shares (and clicks) per row, the busiest first; by day, a time line of bars.

    A chart by day has one group of bars per day: more than ``max_bars`` days is refused
    (``limits.chart_max_bars``); other charts show the busiest ``CHART_MAX_BARS`` rows.
    """
    if report.by is Dimension.day:
        check_bars(len(report.rows), max_bars)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    totals = report.totals
    rows = list(report.rows)
    title = translate(
        lang,
        "export.chart_title",
        by=translate(lang, _BY_WORDS[report.by]),
        start=format_day(report.period.start, lang),
        end=format_day(report.period.end, lang),
        shares=format_int(totals.shares, lang),
        clicks=format_int(totals.clicks, lang),
    )
    shares_label, clicks_label = translate(lang, "export.col.shares"), translate(lang, "export.col.clicks")
    number = FuncFormatter(lambda value, _pos: format_int(round(value), lang))
    if report.by is Dimension.day:
        figure = Figure(figsize=(min(CHART_MAX_INCHES, max(8.0, 0.32 * len(rows) + 2)), 5.0), dpi=110)
        axes = figure.add_subplot()
        positions = list(range(len(rows)))
        axes.bar([p - 0.2 for p in positions], [r.shares for r in rows], width=0.4, label=shares_label)
        axes.bar([p + 0.2 for p in positions], [r.clicks for r in rows], width=0.4, label=clicks_label)
        step = max(1, -(-len(rows) // 16))  # at most 16 date labels, or they overlap
        axes.set_xticks(positions[::step], [r.day.strftime("%d/%m") if r.day else "" for r in rows][::step])
        axes.tick_params(axis="x", labelrotation=45)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.yaxis.set_major_formatter(number)
    else:
        shown = rows[:CHART_MAX_BARS]
        if len(rows) > len(shown):
            title += "\n" + translate(lang, "export.chart_top", shown=len(shown), rows=format_int(len(rows), lang))
        height = max(3.0, 0.38 * len(shown) + 1.8)
        figure = Figure(figsize=(10.0, height), dpi=110)
        axes = figure.add_subplot()
        labels = [_short(r.label) for r in shown][::-1]
        positions = list(range(len(shown)))
        bars = axes.barh([p + 0.2 for p in positions], [r.shares for r in shown][::-1], height=0.4, label=shares_label)
        axes.barh([p - 0.2 for p in positions], [r.clicks for r in shown][::-1], height=0.4, label=clicks_label)
        axes.set_yticks(positions, labels)
        axes.bar_label(bars, labels=[format_int(r.shares, lang) for r in shown][::-1], padding=3, fontsize=8)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.xaxis.set_major_formatter(number)
    axes.set_title(title, fontsize=10)
    # Below the plot: inside it, the legend hides the bars it explains.
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8, frameon=False)
    axes.grid(axis="x" if report.by is not Dimension.day else "y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def _short(label: str, limit: int = 40) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


# -- monthly summary -----------------------------------------------------------------------


def _reach_cells(f: ReachFigures) -> list[int | None]:
    return [f.publications, f.views, f.reach, f.reactions, f.comments, f.shares]


def summary_grids(summary: MonthlySummary, lang: str = "vi") -> list[Grid]:
    """The summary's sheets: key figures, the report's words, channels, units, campaigns."""
    t = partial(translate, lang)
    month = summary_month(summary)
    period = summary.period
    subtitle = t("summary.subtitle", start=format_day(period.start, lang), end=format_day(period.end, lang))
    if summary.as_of:
        subtitle += t("summary.as_of", day=format_day(summary.as_of, lang))
    posts = summary.posts
    totals = summary.shares.totals
    total = t("export.total")
    key_figures: list[list[Any]] = [
        [t("summary.key.posts"), posts.publications],
        [t("summary.key.views"), posts.views],
        [t("summary.key.reach"), posts.reach],
        [t("summary.key.staff_shares"), totals.shares],
        [t("summary.key.button"), totals.button],
        [t("summary.key.self_report"), totals.self_report],
        [t("summary.key.clicks"), totals.clicks],
        [t("summary.key.staff_sharing"), summary.staff_sharing],
        [t("summary.key.staff"), summary.staff],
    ]
    grids = [
        Grid(
            lang=lang,
            title=t("summary.grid.key_title", month=month),
            subtitle=subtitle,
            sheet=t("summary.sheet.key")[:31],
            columns=[Column(t("summary.col.measure"), "text"), Column(t("summary.col.figure"), "int")],
            rows=[*key_figures, [t("summary.key.participation"), (summary.staff_sharing, summary.staff)]],
            totals=None,
        ),
        Grid(
            lang=lang,
            title=t("summary.grid.report_title", month=month),
            subtitle=subtitle,
            sheet=t("summary.sheet.report")[:31],
            columns=[Column(t("summary.col.content"), "text", 120)],
            rows=[[line] for line in summary_text(summary, lang).splitlines()],
            totals=None,
        ),
    ]
    reach_columns = [
        Column(t("summary.col.posts"), "int"),
        Column(t("summary.col.views"), "int"),
        Column(t("summary.col.reach"), "int"),
        Column(t("summary.col.reactions"), "int"),
        Column(t("summary.col.comments"), "int"),
        Column(t("summary.col.platform_shares"), "int"),
    ]
    channel_columns = [
        Column(t("export.col.number"), "int", 6),
        Column(t("export.col.channel_id"), "text"),
        Column(t("export.col.channel"), "text"),
        Column(t("summary.col.platform"), "text"),
        *reach_columns,
    ]
    channel_rows = [
        [n, c.channel, c.label, c.platform, *_reach_cells(c.figures)] for n, c in enumerate(summary.channels, start=1)
    ]
    grids.append(
        Grid(
            lang=lang,
            title=t("summary.grid.channels_title", month=month),
            subtitle=subtitle,
            sheet=t("summary.sheet.channels")[:31],
            columns=channel_columns,
            rows=channel_rows,
            totals=[None, total, None, None, *_reach_cells(posts)],
        )
    )
    unit_columns = [
        Column(t("export.col.number"), "int", 6),
        Column(t("export.col.unit_id"), "text"),
        Column(t("export.col.unit"), "text"),
        *_count_columns(lang),
        Column(t("summary.col.staff"), "int"),
        Column(t("summary.col.sharing"), "int"),
        Column(t("summary.col.participation"), "percent"),
    ]
    unit_rows = [
        [n, u.row.key, u.row.label, *_counts(u.row), u.staff, u.sharing, (u.sharing, u.staff)]
        for n, u in enumerate(summary.units, start=1)
    ]
    grids.append(
        Grid(
            lang=lang,
            title=t("summary.grid.units_title", month=month),
            subtitle=subtitle,
            sheet=t("summary.sheet.units")[:31],
            columns=unit_columns,
            rows=unit_rows,
            totals=[
                None,
                total,
                None,
                *_counts_of_totals(summary.shares),
                summary.staff,
                summary.staff_sharing,
                (summary.staff_sharing, summary.staff),
            ],
        )
    )
    if summary.campaigns:
        campaign_columns = [
            Column(t("export.col.number"), "int", 6),
            Column(t("export.col.campaign_id"), "text"),
            Column(t("export.col.campaign"), "text"),
            Column(t("summary.col.from"), "date", 12),
            Column(t("summary.col.to"), "date", 12),
            Column(t("summary.col.posts"), "int"),
            Column(t("summary.col.views"), "int"),
            Column(t("summary.col.reach"), "int"),
            Column(t("export.col.shares"), "int"),
            Column(t("export.col.clicks"), "int"),
        ]
        campaign_rows = [
            [
                n,
                c.slug,
                c.name,
                c.period.start,
                c.period.end,
                c.figures.publications,
                c.figures.views,
                c.figures.reach,
                c.shares,
                c.clicks,
            ]
            for n, c in enumerate(summary.campaigns, start=1)
        ]
        all_campaigns = combine(c.figures for c in summary.campaigns)
        grids.append(
            Grid(
                lang=lang,
                title=t("summary.grid.campaigns_title", month=month),
                subtitle=t("summary.campaigns_subtitle", subtitle=subtitle),
                sheet=t("summary.sheet.campaigns")[:31],
                columns=campaign_columns,
                rows=campaign_rows,
                totals=[
                    None,
                    total,
                    None,
                    None,
                    None,
                    all_campaigns.publications,
                    all_campaigns.views,
                    all_campaigns.reach,
                    sum(c.shares for c in summary.campaigns),
                    sum(c.clicks for c in summary.campaigns),
                ],
            )
        )
    for kit in summary.kit:
        kit_total = kit.totals
        grids.append(
            Grid(
                lang=lang,
                title=t("summary.grid.kit_title", name=kit.name, month=month),
                subtitle=subtitle,
                sheet=t("summary.sheet.kit", slug=kit.slug)[:31],
                columns=[
                    Column(t("export.col.number"), "int", 6),
                    Column(t("export.col.unit"), "text"),
                    Column(t("summary.col.staff"), "int"),
                    Column(t("report.col.kit_avatar"), "int"),
                    Column(t("report.col.kit_cover"), "int"),
                    Column(t("report.col.kit_any"), "int"),
                ],
                rows=[[k, u.unit, u.staff, u.avatar, u.cover, u.any] for k, u in enumerate(kit.units, start=1)],
                totals=[None, total, kit_total.staff, kit_total.avatar, kit_total.cover, kit_total.any],
            )
        )
    return grids


def summary_xlsx(summary: MonthlySummary, lang: str = "vi") -> bytes:
    return to_xlsx(
        summary_grids(summary, lang), title=translate(lang, "summary.file_title", month=summary_month(summary))
    )


def share_xlsx(report: ShareReport, lang: str = "vi") -> bytes:
    grid = share_grid(report, lang)
    return to_xlsx([grid], title=grid.title)
