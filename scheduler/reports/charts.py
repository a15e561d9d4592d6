"""Bar charts people can read on a phone: SVG in the console's pages, PNG in the files.

One layout, two renderers. :func:`layout` places everything on a canvas 360 units wide (a
phone's width in CSS pixels): each row's name on its own lines above its bars, wrapped at
word boundaries rather than cut, the bars below it at the full width, every bar's value
written at its end in Vietnamese numbers (1.076), the legend at the top. :func:`to_svg`
writes it as SVG (scaled to its container, so 360 px is its natural size and wider screens
only enlarge it); :func:`to_png` draws the same boxes with Pillow at three times the size,
for the Word file, the PDF and downloads. Colours are the campaign's (``colours`` in its
``[[campaigns]]`` entry) or the office's (``[reports] colours``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw, ImageFont

from scheduler.i18n.formats import format_int
from scheduler.render.fonts import bundled_font, fontconfig_font

WIDTH = 360.0
PAD = 10.0
NAME_SIZE = 13.0
VALUE_SIZE = 12.0
TITLE_SIZE = 14.0
BAR = 14.0
BAR_GAP = 3.0
ROW_GAP = 12.0
LINE = 16.0
VALUE_ROOM = 58.0  # room kept right of the longest bar for its value
TEXT = "#1F2933"
MUTED = "#52606D"
GRID = "#D9E2EC"


@dataclass(frozen=True)
class Series:
    label: str
    colour: str


@dataclass(frozen=True)
class BarChart:
    title: str
    series: list[Series]
    rows: list[tuple[str, list[int]]]  # a row's name and one value per series
    lang: str = "vi"


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float
    colour: str = TEXT
    bold: bool = False
    anchor: str = "start"  # start | end


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    colour: str


@dataclass(frozen=True)
class Placed:
    height: float
    texts: list[Text]
    rects: list[Rect]
    description: str  # what a screen reader says


def _measure(size: float, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    weight = "bold" if bold else "regular"
    path = bundled_font(weight) or fontconfig_font("sans-serif", weight)
    return ImageFont.truetype(str(path), int(size * 10)) if path else ImageFont.load_default()


def wrap(text: str, width: float, size: float, *, bold: bool = False) -> list[str]:
    """Lines of at most ``width`` units at ``size``, broken between words (a word longer than the line stays whole)."""
    font = _measure(size, bold)

    def length(words: str) -> float:
        return font.getlength(words) / 10

    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and length(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines or [""]


def layout(chart: BarChart) -> Placed:
    texts: list[Text] = []
    rects: list[Rect] = []
    y = PAD
    for line in wrap(chart.title, WIDTH - 2 * PAD, TITLE_SIZE, bold=True):
        y += LINE + 2
        texts.append(Text(PAD, y, line, TITLE_SIZE, bold=True))
    y += 8
    x = PAD
    for series in chart.series:  # the legend: a swatch and the series' name
        rects.append(Rect(x, y + 2, 12, 12, series.colour))
        texts.append(Text(x + 16, y + 12, series.label, VALUE_SIZE, MUTED))
        x += 16 + _measure(VALUE_SIZE).getlength(series.label) / 10 + 18
    y += 14 + ROW_GAP
    top = max([v for _, values in chart.rows for v in values] + [1])
    span = WIDTH - 2 * PAD - VALUE_ROOM
    described = []
    for name, values in chart.rows:
        for line in wrap(name, WIDTH - 2 * PAD, NAME_SIZE):
            y += LINE
            texts.append(Text(PAD, y, line, NAME_SIZE))
        y += 4
        for series, value in zip(chart.series, values, strict=True):
            length = span * value / top
            rects.append(Rect(PAD, y, max(length, 1.5), BAR, series.colour))
            shown = format_int(value, chart.lang)
            texts.append(Text(PAD + max(length, 1.5) + 4, y + BAR - 3, shown, VALUE_SIZE, MUTED))
            y += BAR + BAR_GAP
        pairs = zip(chart.series, values, strict=True)
        described.append(f"{name}: " + ", ".join(f"{s.label} {format_int(v, chart.lang)}" for s, v in pairs))
        y += ROW_GAP
    rects.insert(0, Rect(PAD, y - ROW_GAP / 2, WIDTH - 2 * PAD, 1, GRID))
    return Placed(height=y + PAD, texts=texts, rects=rects, description="; ".join(described))


def to_svg(chart: BarChart) -> str:
    placed = layout(chart)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:g} {placed.height:g}" width="100%" '
        f'role="img" aria-label="{escape(chart.title, {chr(34): "&quot;"})}" class="bar-chart" '
        # A presentation attribute, not a style attribute: the console's CSP refuses inline styles,
        # and the names were wrapped to this font's widths. The width limit is in console.css.
        'font-family="\'DejaVu Sans\',Roboto,Arial,sans-serif">',
        f"<title>{escape(chart.title)}</title><desc>{escape(placed.description)}</desc>",
    ]
    for r in placed.rects:
        parts.append(
            f'<rect x="{r.x:.1f}" y="{r.y:.1f}" width="{r.w:.1f}" height="{r.h:.1f}" fill="{r.colour}" rx="2"/>'
        )
    for t in placed.texts:
        weight = ' font-weight="bold"' if t.bold else ""
        anchor = ' text-anchor="end"' if t.anchor == "end" else ""
        parts.append(
            f'<text x="{t.x:.1f}" y="{t.y:.1f}" font-size="{t.size:g}" fill="{t.colour}"{weight}{anchor}>'
            f"{escape(t.text)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def to_png(chart: BarChart, scale: float = 3.0) -> bytes:
    """The same layout drawn by Pillow (DejaVu Sans: every Vietnamese letter)."""
    placed = layout(chart)
    image = Image.new("RGB", (int(WIDTH * scale), int(placed.height * scale)), "white")
    draw = ImageDraw.Draw(image)
    for r in placed.rects:
        draw.rectangle(
            [r.x * scale, r.y * scale, (r.x + r.w) * scale, (r.y + r.h) * scale], fill=r.colour
        )
    regular = bundled_font("regular") or fontconfig_font("sans-serif", "regular")
    bold = bundled_font("bold") or regular
    fonts: dict[tuple[float, bool], ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}
    for t in placed.texts:
        key = (t.size, t.bold)
        if key not in fonts:
            path = bold if t.bold else regular
            fonts[key] = ImageFont.truetype(str(path), int(t.size * scale)) if path else ImageFont.load_default()
        anchor = "ls" if t.anchor == "start" else "rs"
        draw.text((t.x * scale, t.y * scale), t.text, fill=t.colour, font=fonts[key], anchor=anchor)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
