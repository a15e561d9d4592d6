"""The monthly report as a PDF: the same :class:`ReportDocument` as the Word file, drawn
with reportlab in the same layout (A4, the Decree 30/2020 margins and sizes, page numbers
from page 2).

Times New Roman is not free to ship; Liberation Serif has its metrics and full Vietnamese
coverage and comes from Debian's ``fonts-liberation2`` (installed by the Makefile and
``.ci/run``), found through fontconfig. DejaVu Serif (``fonts-dejavu-core``) is the
fallback. No font file ships with Loa; with neither installed the PDF is refused with the
package to install. The PDF always uses Loa's own layout (an office's Word template shapes
the ``.docx`` only). Imported only when a PDF is asked for (reportlab is large).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm, mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import HRFlowable

from scheduler.errors import InputError
from scheduler.i18n import msg
from scheduler.render.fonts import fontconfig_font
from scheduler.reports.document import Block, DocTable, ReportDocument
from scheduler.reports.word import TEXT_WIDTH_CM

FAMILIES = ("Liberation Serif", "DejaVu Serif")
# Debian's file names for the four faces of each family.
FACES = {
    "Liberation Serif": {
        "regular": "LiberationSerif-Regular.ttf",
        "bold": "LiberationSerif-Bold.ttf",
        "italic": "LiberationSerif-Italic.ttf",
        "bolditalic": "LiberationSerif-BoldItalic.ttf",
    },
    "DejaVu Serif": {
        "regular": "DejaVuSerif.ttf",
        "bold": "DejaVuSerif-Bold.ttf",
        "italic": "DejaVuSerif-Italic.ttf",
        "bolditalic": "DejaVuSerif-BoldItalic.ttf",
    },
}


@dataclass(frozen=True)
class SerifFonts:
    family: str
    files: dict[str, Path]


def find_fonts() -> SerifFonts:
    """The four faces of the first serif family installed, found through fontconfig."""
    for family in FAMILIES:
        regular = fontconfig_font(family, "regular")
        if regular is None or regular.name != FACES[family]["regular"]:
            continue  # fontconfig offered a substitute: not this family
        files = {face: regular.with_name(name) for face, name in FACES[family].items()}
        if all(path.is_file() for path in files.values()):
            return SerifFonts(family, files)
    raise InputError(
        msg("error.report_font_missing", fonts=", ".join(FAMILIES)),
        hint=msg("hint.report_font_install", package="fonts-liberation2"),
    )


def _register(fonts: SerifFonts) -> str:
    name = "Loa" + fonts.family.replace(" ", "")
    if f"{name}-regular" not in pdfmetrics.getRegisteredFontNames():
        for face, path in fonts.files.items():
            pdfmetrics.registerFont(TTFont(f"{name}-{face}", str(path)))
        pdfmetrics.registerFontFamily(
            name,
            normal=f"{name}-regular",
            bold=f"{name}-bold",
            italic=f"{name}-italic",
            boldItalic=f"{name}-bolditalic",
        )
    return name


class _Faces:
    def __init__(self, family: str) -> None:
        self.regular, self.bold, self.italic, self.bold_italic = (
            f"{family}-{face}" for face in ("regular", "bold", "italic", "bolditalic")
        )
        self._count = 0

    def style(self, size: float, font: str | None = None, align: int = TA_CENTER, **extra: Any) -> ParagraphStyle:
        self._count += 1
        return ParagraphStyle(
            f"loa{self._count}",
            fontName=font or self.regular,
            fontSize=size,
            leading=size * 1.2,
            alignment=align,
            **extra,
        )


def _p(text: str, style: ParagraphStyle, *, underline: bool = False) -> Paragraph:
    # Runs of spaces are meant ("Số:        /BC-…" leaves room for the number): kept, not collapsed.
    shown = re.sub(r" {2,}", lambda m: "\u00a0" * len(m.group(0)), escape(text))
    return Paragraph(f"<u>{shown}</u>" if underline else shown, style)


def _rule(width: float) -> Flowable:
    """A short centred line: under the issuer and under the subject."""
    return HRFlowable(width=width, thickness=0.6, color=colors.black, spaceBefore=1, spaceAfter=3, hAlign="CENTER")


def render_pdf(report: ReportDocument) -> bytes:
    faces = _Faces(_register(find_fonts()))
    body = faces.style(14, align=TA_JUSTIFY, firstLineIndent=1.27 * cm, spaceAfter=6)
    flow: list[Flowable] = []
    head_left = [
        _p(report.parent_body, faces.style(13)),
        _p(report.issuer, faces.style(13, faces.bold)),
        _rule(2.4 * cm),
        _p(report.number_line, faces.style(13)),
    ]
    head_right = [
        _p(report.national_name, faces.style(13, faces.bold)),
        _p(report.motto, faces.style(14, faces.bold), underline=True),
        Spacer(1, 6),
        _p(report.place_date, faces.style(14, faces.italic)),
    ]
    frame = TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
    head = Table([[head_left, head_right]], colWidths=[6.6 * cm, 9.9 * cm])
    head.setStyle(frame)
    flow += [head, Spacer(1, 14)]
    flow += [_p(report.kind, faces.style(14, faces.bold)), _p(report.subject, faces.style(14, faces.bold))]
    flow += [_rule(4.0 * cm), Spacer(1, 6), _p(report.opening, body)]
    for block in report.blocks:
        flow += _block(block, body, faces)
    flow += [_p(report.closing, body), Spacer(1, 12)]
    recipients = [_p(report.recipients_heading, faces.style(12, faces.bold_italic, TA_LEFT))]
    recipients += [_p(line, faces.style(11, align=TA_LEFT)) for line in report.recipients]
    foot = Table([[recipients, [_p(report.signer_title, faces.style(14, faces.bold))]]], colWidths=[8.0 * cm, 8.5 * cm])
    foot.setStyle(frame)
    flow.append(foot)

    def page_number(canvas: Any, document: Any) -> None:  # pages 2 on, centred over the text, in the top margin
        canvas.saveState()
        canvas.setFont(faces.regular, 14)
        canvas.drawCentredString(30 * mm + TEXT_WIDTH_CM * cm / 2, A4[1] - 13 * mm, str(document.page))
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        leftMargin=30 * mm,
        rightMargin=15 * mm,
        title=report.subject,
        author=report.issuer,
    )
    document.build(flow, onLaterPages=page_number)
    return buffer.getvalue()


def _block(block: Block, body: ParagraphStyle, faces: _Faces) -> list[Flowable]:
    heading = block.heading.upper() if block.level == 1 else block.heading
    found: list[Flowable] = [_p(heading, ParagraphStyle(f"{body.name}h", parent=body, fontName=faces.bold))]
    found += [_p(text, body) for text in block.paragraphs]
    for spec in block.tables:
        found += [_table(spec, faces), Spacer(1, 8)]
    if block.chart:
        width, height = ImageReader(io.BytesIO(block.chart)).getSize()
        shown = 11 * cm
        found.append(Image(io.BytesIO(block.chart), width=shown, height=shown * height / width))
        if block.chart_caption:
            found.append(_p(block.chart_caption, faces.style(12, faces.italic)))
        found.append(Spacer(1, 6))
    return found


def _table(spec: DocTable, faces: _Faces) -> Table:
    widths = spec.widths or [1.0] * len(spec.columns)
    scale = TEXT_WIDTH_CM * cm / sum(widths)
    rows = [spec.columns, *spec.rows] + ([spec.total] if spec.total else [])
    last = len(rows) - 1
    cells = []
    for r, values in enumerate(rows):
        strong = r == 0 or (spec.total is not None and r == last)
        font = faces.bold if strong else faces.regular
        cells.append(
            [
                _p(value, faces.style(12, font, TA_CENTER if r == 0 or c == 0 else (TA_LEFT if c == 1 else TA_RIGHT)))
                for c, value in enumerate(values)
            ]
        )
    table = Table(cells, colWidths=[w * scale for w in widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table
