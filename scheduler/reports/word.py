"""The monthly report as a Word file in the Decree 30/2020 layout, from a template the office can edit.

The template is an ordinary ``.docx`` with placeholders written ``{{name}}`` (a list in
docs/architecture.md, "The monthly report"): single-line ones are replaced where they
stand and keep the formatting of the text around them; ``{{noi_dung}}`` (the body: the
opening, the numbered sections, their tables and the chart, the closing) and
``{{noi_nhan}}`` (one line per recipient) must each be alone in a paragraph, which they
replace. Loa's own layout is built in code (:func:`default_template`) and written out by
`loa report template -o FILE` for an office to start from. A template without one of the
placeholders, or with a name Loa does not know, is refused with the name.

Layout (docs/vietnam.md): A4 portrait, margins 20/20/30/15 mm (top, bottom, left, right),
Times New Roman; the national name 13 bold, the motto 14 bold and underlined; the parent
body 13, the issuer 13 bold with a short line under it; "Số:" 13; place and date 14
italic; "BÁO CÁO" and the subject 14 bold, centred; body 14, justified, first lines
indented 1,27 cm, 6 pt between paragraphs; "Nơi nhận:" 12 bold italic and its list 11;
the signer's title 14 bold; page numbers 14, centred in the top margin, from page 2.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from scheduler.errors import InputError
from scheduler.i18n import msg
from scheduler.reports.document import Block, DocTable, ReportDocument

FONT = "Times New Roman"
PAGE = (Mm(210), Mm(297))
MARGINS = {"top": Mm(20), "bottom": Mm(20), "left": Mm(30), "right": Mm(15)}
TEXT_WIDTH_CM = 16.5  # 210 mm less the left and right margins
BODY_PT = 14
FIRST_LINE = Cm(1.27)

# The single-line placeholders (ReportDocument.placeholders) and the two block ones.
BODY = "noi_dung"
RECIPIENTS = "noi_nhan"
SINGLE = (
    "quoc_hieu",
    "tieu_ngu",
    "co_quan_chu_quan",
    "co_quan",
    "so_ky_hieu",
    "dia_danh_ngay",
    "ten_loai",
    "trich_yeu",
    "chuc_vu",
    "noi_nhan_tieu_de",
)
PLACEHOLDERS = (*SINGLE, BODY, RECIPIENTS)
TOKEN = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


# -- building blocks -------------------------------------------------------------------------


def _font(run: Any, size: float, *, bold: bool = False, italic: bool = False, underline: bool = False) -> None:
    run.font.name = FONT
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.italic = italic
    run.font.underline = underline
    # Word picks a font per script: name it for every one, so Vietnamese never falls back.
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attribute), FONT)


def _paragraph(
    container: Any,
    text: str,
    size: float = BODY_PT,
    *,
    bold: bool = False,
    italic: bool = False,
    underline: bool = False,
    align: Any = WD_ALIGN_PARAGRAPH.CENTER,
    first_line: Any = None,
    after: float = 0,
) -> Paragraph:
    paragraph: Paragraph = container.add_paragraph()
    paragraph.alignment = align
    fmt = paragraph.paragraph_format
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(after)
    fmt.line_spacing = 1.0
    if first_line is not None:
        fmt.first_line_indent = first_line
    if text:
        _font(paragraph.add_run(text), size, bold=bold, italic=italic, underline=underline)
    return paragraph


def _short_rule(paragraph: Paragraph, indent_cm: float) -> None:
    """A line under the text above it, shorter than the column (the rule under the issuer and the subject)."""
    fmt = paragraph.paragraph_format
    fmt.left_indent = Cm(indent_cm)
    fmt.right_indent = Cm(indent_cm)
    properties = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    top = OxmlElement("w:top")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        top.set(qn(key), value)
    borders.append(top)
    properties.append(borders)


def _no_borders(table: Table) -> None:
    properties = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{side}")
        element.set(qn("w:val"), "nil")
        borders.append(element)
    properties.append(borders)


def _clear(cell: _Cell) -> _Cell:
    """A new cell holds one empty paragraph; the layout adds its own."""
    for paragraph in list(cell.paragraphs):
        paragraph._p.getparent().remove(paragraph._p)
    return cell


def _page_number_header(document: DocxDocument) -> None:
    section = document.sections[0]
    section.different_first_page_header_footer = True  # no number on page 1
    header = section.header
    paragraph = header.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = paragraph.add_run()
    _font(run, BODY_PT)
    for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "2"), ("end", None)):
        if kind:
            field = OxmlElement("w:fldChar")
            field.set(qn("w:fldCharType"), kind)
            run._element.append(field)
        elif text == " PAGE ":
            instruction = OxmlElement("w:instrText")
            instruction.set(qn("xml:space"), "preserve")
            instruction.text = text
            run._element.append(instruction)
        else:
            shown = OxmlElement("w:t")
            shown.text = text
            run._element.append(shown)


def default_template() -> DocxDocument:
    """Loa's own layout of an administrative report, with the placeholders in place."""
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = PAGE
    section.top_margin, section.bottom_margin = MARGINS["top"], MARGINS["bottom"]
    section.left_margin, section.right_margin = MARGINS["left"], MARGINS["right"]
    section.header_distance = Mm(10)
    normal = document.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(BODY_PT)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)
    _page_number_header(document)

    # Letterhead: the issuing body on the left, the national name and motto on the right.
    head = document.add_table(rows=1, cols=2)
    _no_borders(head)
    head.alignment = WD_TABLE_ALIGNMENT.CENTER
    left, right = (_clear(cell) for cell in head.rows[0].cells)
    left.width, right.width = Cm(6.6), Cm(9.9)
    _paragraph(left, "{{co_quan_chu_quan}}", 13)
    _paragraph(left, "{{co_quan}}", 13, bold=True)
    _short_rule(_paragraph(left, "", 6), 2.0)
    _paragraph(left, "{{so_ky_hieu}}", 13)
    _paragraph(right, "{{quoc_hieu}}", 13, bold=True)
    _paragraph(right, "{{tieu_ngu}}", 14, bold=True, underline=True)
    _paragraph(right, "", 6)
    _paragraph(right, "{{dia_danh_ngay}}", 14, italic=True)

    _paragraph(document, "", 12)
    _paragraph(document, "{{ten_loai}}", 14, bold=True)
    _paragraph(document, "{{trich_yeu}}", 14, bold=True)
    _short_rule(_paragraph(document, "", 6, after=6), 6.0)
    _paragraph(document, "{{noi_dung}}", align=WD_ALIGN_PARAGRAPH.JUSTIFY, first_line=FIRST_LINE)

    # Recipients on the left, the signer's title (and room to sign) on the right.
    foot = document.add_table(rows=1, cols=2)
    _no_borders(foot)
    left, right = (_clear(cell) for cell in foot.rows[0].cells)
    left.width, right.width = Cm(8.0), Cm(8.5)
    _paragraph(left, "{{noi_nhan_tieu_de}}", 12, bold=True, italic=True, align=WD_ALIGN_PARAGRAPH.LEFT)
    _paragraph(left, "{{noi_nhan}}", 11, align=WD_ALIGN_PARAGRAPH.LEFT)
    _paragraph(right, "{{chuc_vu}}", 14, bold=True)
    for _ in range(4):
        _paragraph(right, "", 14)  # the signature, the seal and the signer's name are written by hand
    return document


def write_template(path: Path) -> None:
    default_template().save(str(path))


# -- filling a template ----------------------------------------------------------------------


def _all_paragraphs(document: DocxDocument) -> Iterator[Paragraph]:
    def walk(container: Any) -> Iterator[Paragraph]:
        yield from container.paragraphs
        for table in getattr(container, "tables", []):
            for row in table.rows:
                for cell in row.cells:
                    yield from walk(cell)

    yield from walk(document)
    for section in document.sections:
        for part in (section.header, section.first_page_header, section.footer, section.first_page_footer):
            yield from walk(part)


def _replace_in(paragraph: Paragraph, values: dict[str, str]) -> None:
    """Every ``{{name}}`` of the paragraph replaced, in the run that holds it (so its
    formatting stays); a token Word split across runs is joined into its first run."""
    for run in paragraph.runs:
        if "{{" in run.text:
            run.text = TOKEN.sub(lambda m: values[m.group(1)], run.text)
    if TOKEN.search(paragraph.text):
        runs = paragraph.runs
        joined = TOKEN.sub(lambda m: values[m.group(1)], paragraph.text)
        runs[0].text = joined
        for run in runs[1:]:
            run.text = ""


def _body_elements(scratch: DocxDocument, report: ReportDocument) -> list[Any]:
    """The body built at the end of a scratch document; its XML elements, in order."""
    body = scratch.element.body
    before = list(body)  # held, so that lxml keeps the same element objects
    justify = WD_ALIGN_PARAGRAPH.JUSTIFY
    _paragraph(scratch, report.opening, align=justify, first_line=FIRST_LINE, after=6)
    for block in report.blocks:
        _block(scratch, block)
    _paragraph(scratch, report.closing, align=justify, first_line=FIRST_LINE, after=6)
    # New elements go in before the section properties, which stay where they are.
    return [e for e in body if not any(e is old for old in before) and e.tag != qn("w:sectPr")]


def _block(document: DocxDocument, block: Block) -> None:
    justify = WD_ALIGN_PARAGRAPH.JUSTIFY
    heading = block.heading.upper() if block.level == 1 else block.heading
    _paragraph(document, heading, bold=True, align=justify, first_line=FIRST_LINE, after=6)
    for text in block.paragraphs:
        _paragraph(document, text, align=justify, first_line=FIRST_LINE, after=6)
    for table in block.tables:
        _table(document, table)
        _paragraph(document, "", 6)
    if block.chart:
        picture = _paragraph(document, "")
        picture.add_run().add_picture(io.BytesIO(block.chart), width=Cm(11))
        if block.chart_caption:
            _paragraph(document, block.chart_caption, 12, italic=True, after=6)


def _table(document: DocxDocument, spec: DocTable) -> None:
    rows = [spec.columns, *spec.rows] + ([spec.total] if spec.total else [])
    table = document.add_table(rows=len(rows), cols=len(spec.columns))
    table.style = document.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths = spec.widths or [1.0] * len(spec.columns)
    scale = TEXT_WIDTH_CM / sum(widths)
    last = len(rows) - 1
    for r, values in enumerate(rows):
        header, total = r == 0, spec.total is not None and r == last
        for c, value in enumerate(values):
            cell = _clear(table.cell(r, c))
            cell.width = Cm(widths[c] * scale)
            # Names read left to right; numbers line up on the right; headings are centred.
            align = (
                WD_ALIGN_PARAGRAPH.CENTER
                if header or c == 0
                else (WD_ALIGN_PARAGRAPH.LEFT if c == 1 else WD_ALIGN_PARAGRAPH.RIGHT)
            )
            _paragraph(cell, value, 12, bold=header or total, align=align)
    # The heading row repeats on every page the table crosses.
    row_properties = table.rows[0]._tr.get_or_add_trPr()
    repeat = OxmlElement("w:tblHeader")
    repeat.set(qn("w:val"), "true")
    row_properties.append(repeat)


def _refuse(template: str, missing: list[str], unknown: list[str]) -> None:
    if unknown:
        raise InputError(
            msg("error.report_template_unknown", file=template, names=", ".join(f"{{{{{n}}}}}" for n in unknown)),
            hint=msg("hint.report_template_names", names=", ".join(f"{{{{{n}}}}}" for n in PLACEHOLDERS)),
            field="template",
        )
    if missing:
        raise InputError(
            msg("error.report_template_missing", file=template, names=", ".join(f"{{{{{n}}}}}" for n in missing)),
            hint=msg("hint.report_template_write", command="loa report template -o mau-bao-cao.docx"),
            field="template",
        )


def render_docx(report: ReportDocument, template: Path | None = None) -> bytes:
    """The report in the template (Loa's own when None), as the bytes of a ``.docx``."""
    if template is None:
        document = default_template()
        name = "default"
    else:
        name = str(template)
        try:
            document = Document(str(template))
        except Exception as exc:  # python-docx raises several kinds for a file that is not a .docx
            raise InputError(
                msg("error.report_template_unreadable", file=name, reason=type(exc).__name__),
                hint=msg("hint.report_template_write", command="loa report template -o mau-bao-cao.docx"),
                field="template",
            ) from None
    paragraphs = list(_all_paragraphs(document))
    found: dict[str, list[Paragraph]] = {}
    for paragraph in paragraphs:
        for match in TOKEN.finditer(paragraph.text):
            found.setdefault(match.group(1), []).append(paragraph)
    unknown = sorted(set(found) - set(PLACEHOLDERS))
    missing = [n for n in PLACEHOLDERS if n not in found]
    _refuse(name, missing, unknown)
    for block_name in (BODY, RECIPIENTS):
        for paragraph in found[block_name]:
            if paragraph.text.strip() != f"{{{{{block_name}}}}}":
                raise InputError(
                    msg("error.report_template_alone", file=name, name=f"{{{{{block_name}}}}}"),
                    field="template",
                )
    values = report.placeholders()
    for paragraph in paragraphs:
        if TOKEN.search(paragraph.text) and paragraph not in found[BODY] and paragraph not in found[RECIPIENTS]:
            _replace_in(paragraph, values)
    for anchor in found[RECIPIENTS]:
        size = anchor.runs[0].font.size if anchor.runs else None
        for line in report.recipients:
            added = anchor.insert_paragraph_before("")
            if anchor.alignment is not None:
                added.alignment = anchor.alignment
            _font(added.add_run(line), size.pt if size else 11)
        anchor._p.getparent().remove(anchor._p)
    for anchor in found[BODY]:
        for element in _body_elements(document, report):
            anchor._p.addprevious(element)
        anchor._p.getparent().remove(anchor._p)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
