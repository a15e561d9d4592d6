"""The monthly report as a document: what the Word file and the PDF both lay out.

:func:`report_document` turns a :class:`MonthlySummary` into a :class:`ReportDocument`: the
letterhead of an administrative report under Decree 30/2020 (docs/vietnam.md: the parent
body and the issuer, "Số: …/BC-…" left for the registry, place and date, "BÁO CÁO" and the
subject line), then numbered sections whose figures are said in sentences and shown in
tables, the chart, the recipients and the signer's title. Every number in it comes from the
summary (its JSON is what the tests compare the files with); every word is a catalogue id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path

from scheduler.config import Settings
from scheduler.i18n import translate
from scheduler.i18n.formats import format_day, format_int, format_share
from scheduler.reports.charts import BarChart, Series, to_png
from scheduler.reports.queries import MonthlySummary, ReachFigures, _channel_name, summary_month

ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII")


@dataclass(frozen=True)
class DocTable:
    columns: list[str]
    rows: list[list[str]]
    total: list[str] | None = None
    # Relative widths of the columns (the first, a name, takes what the numbers leave).
    widths: list[float] | None = None


@dataclass
class Block:
    """One numbered part of the report: a heading, sentences, then tables and a chart."""

    heading: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[DocTable] = field(default_factory=list)
    chart: bytes | None = None  # PNG
    chart_caption: str | None = None
    level: int = 2  # 1: "I. …" (upper case); 2: "1. …"


@dataclass
class ReportDocument:
    """Everything the two layouts print, already worded and formatted."""

    parent_body: str
    issuer: str
    number_line: str  # "Số:      /BC-BHXH" — the number is the registry's to write
    place_date: str  # "Nghệ An, ngày 05 tháng 6 năm 2026"
    kind: str  # "BÁO CÁO"
    subject: str  # the trích yếu
    opening: str
    blocks: list[Block]
    closing: str
    recipients_heading: str
    recipients: list[str]
    signer_title: str
    national_name: str
    motto: str
    lang: str = "vi"

    def placeholders(self) -> dict[str, str]:
        """The values of the template's single-line placeholders (docs/architecture.md)."""
        return {
            "quoc_hieu": self.national_name,
            "tieu_ngu": self.motto,
            "co_quan_chu_quan": self.parent_body,
            "co_quan": self.issuer,
            "so_ky_hieu": self.number_line,
            "dia_danh_ngay": self.place_date,
            "ten_loai": self.kind,
            "trich_yeu": self.subject,
            "chuc_vu": self.signer_title,
            "noi_nhan_tieu_de": self.recipients_heading,
        }


def place_and_date(place: str, day: date, lang: str = "vi") -> str:
    """ "Nghệ An, ngày 05 tháng 6 năm 2026": days below 10 and months 1 and 2 take a leading
    zero (Decree 30/2020, Appendix I), other months do not."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return translate(lang, "report.place_date", place=place, day=f"{day.day:02d}", month=month, year=day.year)


def _reach_cells(figures: ReachFigures, n: Callable[[int | None], str]) -> list[str]:
    return [n(figures.publications), n(figures.views), n(figures.reach), n(figures.reactions), n(figures.comments)]


def report_document(
    summary: MonthlySummary,
    settings: Settings,
    *,
    issued_on: date,
    chart: bytes | None = None,
    lang: str = "vi",
) -> ReportDocument:
    t = partial(translate, lang)

    def n(value: int | None) -> str:
        return "–" if value is None else format_int(value, lang)

    office = settings.reports
    month = summary_month(summary)
    period = summary.period
    posts = summary.posts
    totals = summary.shares.totals
    blocks: list[Block] = []
    dates = {"start": format_day(period.start, lang), "end": format_day(period.end, lang)}
    empty = posts.publications == 0 and totals.shares == 0 and totals.clicks == 0

    results = Block(t("report.section_results"), level=1)
    blocks.append(results)
    if empty:
        results.paragraphs.append(t("report.nothing_this_month", month=month, **dates))
    # 1. Publications, views and reach per channel.
    published = Block(t("report.section_posts"))
    sentence = t("report.posts_sentence", month=month, n=n(posts.publications), **dates)
    parts = [
        t("report.channel_part", channel=_channel_name(c, lang), n=n(c.figures.publications))
        for c in summary.channels
        if c.figures.publications
    ]
    if parts:
        sentence += " " + t("report.posts_by_channel", parts="; ".join(parts))
    if posts.views is not None or posts.reach is not None:
        sentence += " " + t("report.reach_sentence", views=n(posts.views), reach=n(posts.reach))
    published.paragraphs.append(sentence)
    if summary.as_of:
        published.paragraphs.append(t("report.as_of", day=format_day(summary.as_of, lang)))
    if not empty:
        published.tables.append(
            DocTable(
                columns=[
                    t("report.col.number"),
                    t("report.col.channel"),
                    t("report.col.posts"),
                    t("report.col.views"),
                    t("report.col.reach"),
                    t("report.col.reactions"),
                    t("report.col.comments"),
                ],
                rows=[
                    [str(k), _channel_name(c, lang), *_reach_cells(c.figures, n)]
                    for k, c in enumerate(summary.channels, start=1)
                ],
                total=["", t("report.col.total"), *_reach_cells(posts, n)],
                widths=[0.9, 4.0, 1.2, 1.4, 1.5, 1.3, 1.4],
            )
        )
    blocks.append(published)

    # 2. Staff shares and clicks by unit, with the chart.
    staff = Block(t("report.section_staff"))
    staff.paragraphs.append(
        t(
            "report.staff_sentence",
            shares=n(totals.shares),
            button=n(totals.button),
            self_report=n(totals.self_report),
            clicks=n(totals.clicks),
            sharing=n(summary.staff_sharing),
            staff=n(summary.staff),
            share=format_share(summary.staff_sharing, summary.staff, lang),
        )
    )
    if summary.units and not empty:
        leader = max(summary.units, key=lambda u: (u.row.shares, u.row.clicks))
        if leader.row.shares:
            staff.paragraphs.append(
                t(
                    "report.staff_leader",
                    unit=leader.row.label,
                    shares=n(leader.row.shares),
                    clicks=n(leader.row.clicks),
                )
            )
        staff.tables.append(
            DocTable(
                columns=[
                    t("report.col.number"),
                    t("report.col.unit"),
                    t("report.col.staff"),
                    t("report.col.sharing"),
                    t("report.col.participation"),
                    t("report.col.shares"),
                    t("report.col.clicks"),
                ],
                rows=[
                    [
                        str(k),
                        u.row.label,
                        n(u.staff),
                        n(u.sharing),
                        format_share(u.sharing, u.staff, lang),
                        n(u.row.shares),
                        n(u.row.clicks),
                    ]
                    for k, u in enumerate(summary.units, start=1)
                ],
                total=[
                    "",
                    t("report.col.total"),
                    n(summary.staff),
                    n(summary.staff_sharing),
                    format_share(summary.staff_sharing, summary.staff, lang),
                    n(totals.shares),
                    n(totals.clicks),
                ],
                widths=[0.9, 3.8, 1.1, 1.3, 1.4, 1.4, 1.5],
            )
        )
        if chart:
            staff.chart = chart
            staff.chart_caption = t("report.chart_caption", month=month)
    blocks.append(staff)

    # The channels' own audience, where the platforms gave it.
    if summary.audience:
        audience = Block(t("report.section_audience"))
        audience.paragraphs.append(t("report.audience_sentence"))
        audience.tables.append(
            DocTable(
                columns=[
                    t("report.col.number"),
                    t("report.col.channel"),
                    t("report.col.followers"),
                    t("report.col.page_views"),
                    t("report.col.page_reach"),
                ],
                rows=[
                    [str(k), a.label, n(a.followers), n(a.views), n(a.reach)]
                    for k, a in enumerate(summary.audience, start=1)
                ],
                widths=[0.9, 4.6, 1.8, 1.8, 1.8],
            )
        )
        blocks.append(audience)

    # 3. The best posts of the month.
    if summary.best:
        best = Block(t("report.section_best"))
        best.paragraphs.append(t("report.best_sentence", n=len(summary.best)))
        best.tables.append(
            DocTable(
                columns=[
                    t("report.col.number"),
                    t("report.col.post"),
                    t("report.col.channel"),
                    t("report.col.published"),
                    t("report.col.views"),
                    t("report.col.reach"),
                ],
                rows=[
                    [str(k), b.title, b.label, format_day(b.published_on, lang), n(b.views), n(b.reach)]
                    for k, b in enumerate(summary.best, start=1)
                ],
                widths=[0.9, 3.6, 2.8, 1.9, 1.3, 1.5],
            )
        )
        blocks.append(best)

    # 4. Campaigns inside the month.
    if summary.campaigns:
        campaigns = Block(t("report.section_campaigns"))
        for c in summary.campaigns:
            campaigns.paragraphs.append(
                t(
                    "report.campaign_sentence",
                    name=c.name,
                    start=format_day(c.period.start, lang),
                    end=format_day(c.period.end, lang),
                    posts=n(c.figures.publications),
                    views=n(c.figures.views),
                    shares=n(c.shares),
                    clicks=n(c.clicks),
                )
            )
        blocks.append(campaigns)

    # 5. The campaign kit: staff who put its avatar frame or cover on their own profile.
    for kit in summary.kit:
        total = kit.totals
        block = Block(t("report.section_kit", name=kit.name))
        block.paragraphs.append(
            t(
                "report.kit_sentence",
                name=kit.name,
                any=n(total.any),
                staff=n(total.staff),
                share=format_share(total.any, total.staff, lang),
                avatar=n(total.avatar),
                cover=n(total.cover),
            )
        )
        block.tables.append(
            DocTable(
                columns=[
                    t("report.col.number"),
                    t("report.col.unit"),
                    t("report.col.staff"),
                    t("report.col.kit_avatar"),
                    t("report.col.kit_cover"),
                    t("report.col.kit_any"),
                ],
                rows=[
                    [str(k), u.unit, n(u.staff), n(u.avatar), n(u.cover), n(u.any)]
                    for k, u in enumerate(kit.units, start=1)
                ],
                total=["", t("report.col.total"), n(total.staff), n(total.avatar), n(total.cover), n(total.any)],
                widths=[0.9, 4.4, 1.3, 1.6, 1.6, 1.6],
            )
        )
        blocks.append(block)

    number = 0
    for block in blocks:
        if block.level == 1:
            continue
        number += 1
        block.heading = f"{number}. {block.heading}"
    results.heading = f"{ROMAN[0]}. {results.heading}"
    return ReportDocument(
        parent_body=office.parent_body.upper(),
        issuer=office.issuer.upper(),
        number_line=t("report.number_line", code=office.issuer_code),
        place_date=place_and_date(office.place, issued_on, lang),
        kind=t("report.kind"),
        subject=t("report.subject", month=month),
        opening=t("report.opening", issuer=office.issuer_in_text, month=month),
        blocks=blocks,
        closing=t("report.closing", issuer=office.issuer_in_text, month=month),
        recipients_heading=t("report.recipients"),
        recipients=[f"- {r};" if not r.endswith((";", ".")) else f"- {r}" for r in office.recipients],
        signer_title=office.signer_title.upper(),
        national_name=t("report.national_name"),
        motto=t("report.motto"),
        lang=lang,
    )


def template_path(settings: Settings) -> Path | None:
    """The office's Word template, if one is configured (relative to the config file)."""
    name = settings.reports.template
    if not name:
        return None
    path = Path(name)
    return path if path.is_absolute() else settings.base_dir / path


def chart_colours(summary: MonthlySummary, settings: Settings) -> list[str]:
    """The narrowed campaign's colours, else the one campaign running the whole month, else the office's."""
    campaigns = {c.slug: c for c in settings.campaigns}
    chosen = campaigns.get(summary.campaign_slug or "")
    if chosen is None:
        whole = [c for c in summary.campaigns if c.period == summary.period]
        chosen = campaigns.get(whole[0].slug) if len(whole) == 1 else None
    colours = (chosen.colours if chosen else []) or settings.reports.colours
    return (colours + settings.reports.colours)[:2]


def summary_bar_chart(summary: MonthlySummary, settings: Settings, lang: str = "vi") -> BarChart:
    """Each unit's shares and link clicks in the month."""
    t = partial(translate, lang)
    shares, clicks = chart_colours(summary, settings)
    return BarChart(
        title=t("report.chart_title", month=summary_month(summary)),
        series=[Series(t("report.col.shares"), shares), Series(t("report.col.clicks"), clicks)],
        rows=[(u.row.label, [u.row.shares, u.row.clicks]) for u in summary.units],
        lang=lang,
    )


def summary_chart(summary: MonthlySummary, settings: Settings, lang: str = "vi") -> bytes:
    """The chart the report carries, as PNG."""
    return to_png(summary_bar_chart(summary, settings, lang))


def render_report(
    summary: MonthlySummary, settings: Settings, fmt: str, *, issued_on: date, lang: str = "vi"
) -> bytes:
    """The month's report as ``docx`` or ``pdf`` bytes."""
    chart = summary_chart(summary, settings, lang)
    document = report_document(summary, settings, issued_on=issued_on, chart=chart, lang=lang)
    if fmt == "pdf":
        from scheduler.reports.pdf import render_pdf

        return render_pdf(document)
    from scheduler.reports.word import render_docx

    return render_docx(document, template_path(settings))
