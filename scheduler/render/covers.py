"""Cover images: a layout (``templates/covers/NAME.toml``) and variables → JPEG or PNG bytes.

The contract the rest of Loa relies on:

* every text is NFC-normalised, wrapped at word boundaries by measured width and drawn at the
  largest size within the box's ``size_min``–``size_max`` at which it fits; it is never cut,
  never drawn outside its box, and boxes never overlap nor leave the safe margins (checked
  when the layout is read);
* a text that cannot fit at ``size_min`` raises :class:`~scheduler.errors.TextDoesNotFit`
  naming layout, box and canvas; a character the font cannot draw raises
  :class:`~scheduler.errors.TemplateError` — both before anything is queued, via :meth:`check`;
* output is RGB, without metadata, within ``max_bytes`` when given (see :func:`max_bytes_for`).

The layout format is described in :mod:`scheduler.render.layouts`, fonts in
:mod:`scheduler.render.fonts`, image safety in :mod:`scheduler.render.images`.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps

from scheduler.errors import InputError, NotFound, TemplateError, Text, TextDoesNotFit
from scheduler.i18n import msg
from scheduler.render.fonts import FontBook, FontSource, asset_path, describe_characters
from scheduler.render.images import encode, normalise_format, open_image
from scheduler.render.layouts import (
    LAYOUT_SUFFIX,
    NAME_PATTERN,
    RGBA,
    Background,
    Layout,
    Logo,
    PlacedBox,
    Rect,
    Shape,
    TargetLayout,
    load_layout,
    parse_colour,
)
from scheduler.render.messages import _undefined_name, nfc

# Names a layout's text can use besides the caller's variables.
PROVIDED = frozenset({"campaign", "target"})
# Fitted texts remembered per renderer (least recently used dropped first).
_FITTED_CACHE = 512
# Encoded covers kept for reuse (~120 KB each at Facebook size).
RENDERED_KEPT = 32
# Shapes are drawn this many times larger and scaled down, for smooth (anti-aliased) edges.
_SUPERSAMPLE = 4


def default_target() -> str:
    """The cover target drawn when none is named: the first one a registered platform declares."""
    from scheduler.channels.registry import cover_targets

    return next(iter(cover_targets()))


def max_bytes_for(target: str, fmt: str = "jpeg") -> int:
    """The largest file the platform behind ``target`` takes in ``fmt`` (the platform declares it)."""
    from scheduler.channels.registry import cover_targets

    declared = cover_targets()
    if target not in declared:
        raise InputError(
            msg("error.unknown_cover_target", target=target),
            hint=msg("hint.one_of", choices=", ".join(declared)),
            field="target",
        )
    return declared[target][0].max_bytes(normalise_format(fmt))


@dataclass(frozen=True)
class DrawnLine:
    text: str
    x: int
    baseline: int


@dataclass(frozen=True)
class DrawnText:
    """One box's text as it will be drawn: font, size, lines and their positions."""

    box: str
    font: ImageFont.FreeTypeFont
    size: int
    color: RGBA
    lines: tuple[DrawnLine, ...]
    panel: tuple[Rect, RGBA, int] | None


@dataclass(frozen=True)
class CoverPlan:
    """Everything a cover is drawn from; :meth:`CoverRenderer.render` draws and encodes it."""

    target: TargetLayout
    base: Image.Image
    texts: tuple[DrawnText, ...]


@dataclass
class _Cached:
    stamp: tuple[int, int]
    layout: Layout


@dataclass(frozen=True)
class _Remembered:
    # The resolved layout it was fitted for: a reloaded layout file makes it stale.
    layout: TargetLayout
    text: DrawnText


class CoverRenderer:
    """Renders cover layouts from ``templates_dir/covers`` with images and fonts from ``assets_dir``.

    Built explicitly; fonts, layouts and decoded images are cached per renderer (layouts and
    images are re-read when their file changes). Safe to share between threads.
    """

    def __init__(self, templates_dir: Path, assets_dir: Path, *, text_engine: str | None = None) -> None:
        self.folder = templates_dir / "covers"
        self.assets_dir = assets_dir
        self.fonts = FontBook(assets_dir, engine=text_engine)
        self.env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, finalize=nfc)
        self._layouts: dict[str, _Cached] = {}
        self._templates: dict[str, Any] = {}
        self._images: dict[tuple[Path, int, int], Image.Image] = {}
        self._bases: dict[tuple[str, str, tuple[tuple[str, int, int], ...]], Image.Image] = {}
        self._fitted: OrderedDict[tuple[str, str, str, str], _Remembered] = OrderedDict()
        # FreeType faces are not safe to use from two threads at once; encoding runs outside.
        self._lock = threading.RLock()
        self._variables_of: dict[str, frozenset[str]] = {}
        self._rendered: OrderedDict[tuple[Any, ...], tuple[TargetLayout, Image.Image, bytes]] = OrderedDict()

    # -- what is there -----------------------------------------------------------------

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob(f"*{LAYOUT_SUFFIX}") if NAME_PATTERN.match(p.stem))

    def targets(self, layout: str) -> list[str]:
        return self._layout(layout).targets

    def variables(self, layout: str) -> list[str]:
        """Variables the layout's texts read that the caller must give (or that have a default)."""
        found: set[str] = set()
        with self._lock:
            parsed = self._layout(layout)
            for target in parsed.per_target.values():
                for placed in target.boxes:
                    found |= self._box_variables(parsed.name, placed)
        return sorted(found)

    def describe(self, layout: str) -> dict[str, Any]:
        """Name, title, description, targets with sizes and variables: for listings and forms."""
        parsed = self._layout(layout)
        return {
            "name": parsed.name,
            "title": parsed.title,
            "description": parsed.description,
            "targets": {t: list(tl.size) for t, tl in parsed.per_target.items()},
            "variables": self.variables(layout),
        }

    # -- rendering ---------------------------------------------------------------------

    def render(
        self,
        layout: str,
        variables: Mapping[str, str],
        *,
        target: str | None = None,
        campaign: Mapping[str, str] | None = None,
        fmt: str = "jpeg",
        max_bytes: int | None = None,
    ) -> bytes:
        """The cover as JPEG or PNG bytes (RGB, no metadata, at most ``max_bytes`` if given).

        The last few covers are kept by what they are drawn from (the fitted texts on their
        background): a preview redrawn while the message is typed, or the post saved after
        its preview, reuses the bytes instead of drawing and encoding them again.
        """
        normalise_format(fmt)
        with self._lock:
            plan = self.plan(layout, variables, target=target, campaign=campaign)
            key = (id(plan.target), id(plan.base), plan.texts, fmt, max_bytes)
            kept = self._rendered.get(key)
            # The entry holds its layout and background, so their ids cannot be reused meanwhile.
            if kept is not None and kept[0] is plan.target and kept[1] is plan.base:
                self._rendered.move_to_end(key)
                return kept[2]
            image = draw(plan)
        data = encode(image, fmt, max_bytes=max_bytes)
        with self._lock:
            self._rendered[key] = (plan.target, plan.base, data)
            while len(self._rendered) > RENDERED_KEPT:
                self._rendered.popitem(last=False)
        return data

    def image(
        self,
        layout: str,
        variables: Mapping[str, str],
        *,
        target: str | None = None,
        campaign: Mapping[str, str] | None = None,
    ) -> Image.Image:
        """The cover as a Pillow RGB image (for previews and tests)."""
        with self._lock:
            return draw(self.plan(layout, variables, target=target, campaign=campaign))

    def check(
        self,
        layout: str,
        variables: Mapping[str, str],
        *,
        targets: Sequence[str],
        campaign: Mapping[str, str] | None = None,
    ) -> None:
        """Raise what :meth:`render` would raise for any of ``targets``; draws and writes nothing."""
        with self._lock:
            for target in targets:
                self.plan(layout, variables, target=target, campaign=campaign)

    def plan(
        self,
        layout: str,
        variables: Mapping[str, str],
        *,
        target: str | None = None,
        campaign: Mapping[str, str] | None = None,
    ) -> CoverPlan:
        """Texts fitted and placed, on the target's (cached) background (default: the first declared)."""
        target = target or default_target()
        with self._lock:
            parsed = self._layout(layout)
            resolved = parsed.per_target.get(target)
            if resolved is None:
                raise InputError(
                    msg("error.layout_has_no_target", layout=layout, target=target),
                    hint=msg("hint.layout_targets", targets=", ".join(parsed.targets), target=target),
                    field="target",
                )
            context: dict[str, Any] = nfc({str(k): v for k, v in variables.items()})
            context.update(campaign=nfc(dict(campaign or {})), target=target)
            texts = []
            for placed in resolved.boxes:
                text = self._text(parsed.name, placed, context)
                if text:
                    texts.append(self._fitted_text(resolved, placed, text))
                elif not placed.spec.optional:
                    field = self._field(parsed.name, placed)
                    raise TemplateError(
                        msg("error.cover_box_empty", layout=layout, box=placed.spec.name),
                        hint=msg("hint.give_value", field=field, uses=", ".join(self.variables(layout))),
                        field=field,
                    )
            return CoverPlan(resolved, self._base(parsed, resolved), tuple(texts))

    # -- layouts and their texts ---------------------------------------------------------

    def _layout(self, name: str) -> Layout:
        path = self.folder / f"{name}{LAYOUT_SUFFIX}"
        if not NAME_PATTERN.match(name) or not path.is_file():
            known = ", ".join(self.names())
            hint = msg("hint.known_layouts", known=known) if known else msg("hint.no_layouts", folder=str(self.folder))
            raise NotFound(msg("error.unknown_layout", layout=name), hint=hint, field="cover")
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._layouts.get(name)
            if cached is None or cached.stamp != stamp:
                cached = _Cached(stamp, load_layout(name, path))
                for target in cached.layout.per_target.values():
                    for placed in target.boxes:
                        self._template(name, placed)  # syntax errors surface when the layout is read
                self._layouts[name] = cached
                self._bases = {key: base for key, base in self._bases.items() if key[0] != name}
            return cached.layout

    def _template(self, layout: str, placed: PlacedBox) -> Any:
        source = placed.spec.text
        template = self._templates.get(source)
        if template is None:
            try:
                template = self.env.from_string(source)
            except TemplateSyntaxError as exc:
                raise TemplateError(
                    msg("error.cover_box_syntax", layout=layout, box=placed.spec.name, reason=exc.message),
                    hint=msg("hint.cover_box_syntax"),
                    field="cover",
                ) from None
            self._templates[source] = template
        return template

    def _box_variables(self, layout: str, placed: PlacedBox) -> set[str]:
        self._template(layout, placed)
        source = placed.spec.text
        # Parsed once per text: every compose preview asks the form's fields of its layout.
        names = self._variables_of.get(source)
        if names is None:
            names = self._variables_of[source] = frozenset(meta.find_undeclared_variables(self.env.parse(source)))
        return set(names) - PROVIDED

    def _field(self, layout: str, placed: PlacedBox) -> str:
        names = self._box_variables(layout, placed)
        return next(iter(names)) if len(names) == 1 else placed.spec.name

    def _text(self, layout: str, placed: PlacedBox, context: Mapping[str, Any]) -> str:
        box = placed.spec
        try:
            raw = self._template(layout, placed).render(context)
        except UndefinedError as exc:
            missing = _undefined_name(str(exc))
            uses = ", ".join(self.variables(layout))
            raise TemplateError(
                msg("error.cover_box_needs_variable", layout=layout, box=box.name, variable=missing),
                hint=msg("hint.add_var_layout", variable=missing, uses=uses)
                if uses
                else msg("hint.add_var_none", variable=missing),
                field=missing,
            ) from None
        except SecurityError as exc:
            raise TemplateError(
                msg("error.cover_box_unsafe", layout=layout, box=box.name, reason=str(exc)),
                hint=msg("hint.cover_only_formats"),
            ) from None
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise TemplateError(
                msg("error.cover_box_failed", layout=layout, box=box.name, reason=str(exc)),
                hint=msg("hint.check_variables"),
            ) from None
        lines = (" ".join(line.split()) for line in nfc(raw).replace("\r\n", "\n").split("\n"))
        text = "\n".join(line for line in lines if line)
        if box.case == "upper":
            text = nfc(text.upper())
        return str(text)

    # -- fitting -------------------------------------------------------------------------

    def _fitted_text(self, target: TargetLayout, placed: PlacedBox, text: str) -> DrawnText:
        """Fitted texts are remembered: fixed texts (organisation, campaign) and repeated
        subtitles are fitted once per layout and canvas, not once per cover."""
        key = (target.layout, target.target, placed.spec.name, text)
        drawn = self._fitted.get(key)
        if drawn is not None and drawn.layout is target:
            self._fitted.move_to_end(key)
            return drawn.text
        fitted = self._fit(target, placed, text)
        self._fitted[key] = _Remembered(target, fitted)
        if len(self._fitted) > _FITTED_CACHE:
            self._fitted.popitem(last=False)
        return fitted

    def _fit(self, target: TargetLayout, placed: PlacedBox, text: str) -> DrawnText:
        box = placed.spec
        where = msg("where.cover_box", layout=target.layout, box=box.name)
        source = self.fonts.resolve(box.font, box.weight, where=where)
        missing = self.fonts.missing_glyphs(source, text)
        if missing:
            raise TemplateError(
                msg("error.font_lacks_glyphs", where=where, font=source.label, characters=describe_characters(missing)),
                hint=msg("hint.remove_characters"),
                field=self._field(target.layout, placed),
            )

        def font_at(size: int) -> ImageFont.FreeTypeFont:
            return self.fonts.font(source, size, where=where)

        paragraphs = [line.split(" ") for line in text.split("\n")]
        fitted = _largest_fit(
            paragraphs, box.size_min, box.size_max, font_at, placed, _scaled_widths(font_at, box.size_max)
        )
        if fitted is None:
            # Estimated widths must never refuse a text that fits: decide with exact ones.
            fitted = _largest_fit(paragraphs, box.size_min, box.size_max, font_at, placed, _exact_widths(font_at))
        if fitted is None:
            raise self._too_long(target, placed, text, paragraphs, font_at)
        return _place(placed, fitted, parse_colour(box.color))

    def _too_long(
        self,
        target: TargetLayout,
        placed: PlacedBox,
        text: str,
        paragraphs: list[list[str]],
        font_at: Callable[[int], ImageFont.FreeTypeFont],
    ) -> TextDoesNotFit:
        box = placed.spec
        field = self._field(target.layout, placed)
        where = msg("where.box_of_layout_at", box=box.name, layout=target.layout, size=target.label)
        inner_width = _inner(placed, box.size_min).width
        font = font_at(box.size_min)
        too_wide = [w for words in paragraphs for w in words if _ink_width(font, w) > inner_width]
        if too_wide:
            return TextDoesNotFit(
                msg("error.word_too_wide", field=field, word=too_wide[0], where=where, size=box.size_min),
                hint=msg("hint.split_word"),
                field=field,
                layout=target.layout,
                box=box.name,
                target=target.target,
                excess=len(too_wide[0]),
            )
        # The longest run of whole words that does fit says roughly how much to cut.
        words = [w for words in paragraphs for w in words]
        low, high = 0, len(words)
        while low < high:
            middle = (low + high + 1) // 2
            if _fits_at([words[:middle]], placed, box.size_min, font_at, _exact_widths(font_at)) is not None:
                low = middle
            else:
                high = middle - 1
        excess = max(1, len(text) - len(" ".join(words[:low])))
        return TextDoesNotFit(
            msg("error.text_too_long", field=field, where=where, excess=excess),
            hint=msg("hint.box_holds", length=len(text), holds=len(text) - excess),
            field=field,
            layout=target.layout,
            box=box.name,
            target=target.target,
            excess=excess,
        )

    # -- backgrounds ---------------------------------------------------------------------

    def _base(self, layout: Layout, target: TargetLayout) -> Image.Image:
        # Keyed by the asset files' stamps too: an office replacing its background or logo
        # sees the new one without restarting Loa.
        key = (layout.name, target.target, self._asset_stamps(target))
        base = self._bases.get(key)
        if base is None:
            base = self._draw_base(target)
            self._bases = {k: v for k, v in self._bases.items() if k[:2] != key[:2]}
            self._bases[key] = base
        return base

    def _asset_stamps(self, target: TargetLayout) -> tuple[tuple[str, int, int], ...]:
        references = [target.background.image, target.logo[0].image if target.logo else None]
        stamps = []
        for reference in references:
            if reference is None:
                continue
            try:
                stat = (self.assets_dir / reference.removeprefix("assets:")).stat()
            except OSError:
                stamps.append((reference, 0, 0))  # reported properly when the base is drawn
                continue
            stamps.append((reference, stat.st_mtime_ns, stat.st_size))
        return tuple(stamps)

    def _draw_base(self, target: TargetLayout) -> Image.Image:
        where = msg("where.cover_layout", layout=target.layout)
        canvas = _background(target.size, target.background, lambda name: self._asset_image(name, where, "image"))
        for shape, rect in target.shapes:
            _draw_shape(canvas, shape, rect)
        if target.logo is not None:
            logo, rect = target.logo
            _paste_logo(canvas, self._asset_image(logo.image, where, "logo"), logo, rect)
        return canvas.convert("RGB")

    def _asset_image(self, reference: str, where: Text, what: str) -> Image.Image:
        path = asset_path(self.assets_dir, reference.removeprefix("assets:"), where=where, what=what)
        stat = path.stat()
        key = (path, stat.st_mtime_ns, stat.st_size)
        image = self._images.get(key)
        if image is None:
            image = open_image(path, where=where)
            self._images = {k: v for k, v in self._images.items() if k[0] != path}
            self._images[key] = image
        return image


# -- text fitting (pure functions of fonts and geometry) ---------------------------------


@dataclass(frozen=True)
class _Fitted:
    font: ImageFont.FreeTypeFont
    size: int
    lines: tuple[str, ...]
    # Ink extents of each line relative to its origin on the baseline: (x0, top, x1, bottom).
    boxes: tuple[tuple[float, float, float, float], ...]
    pitch: float
    top: float
    bottom: float


def _inner(placed: PlacedBox, size: int) -> Rect:
    """The area text may use: the box, less the panel's padding at this size."""
    if placed.spec.panel is None:
        return placed.rect
    return placed.rect.inset(math.ceil(placed.spec.panel_padding * size))


Widths = Callable[[int], Callable[[str], float]]


def _exact_widths(font_at: Callable[[int], ImageFont.FreeTypeFont]) -> Widths:
    """Word widths measured at each size: exact, one FreeType call per word and size."""

    def at(size: int) -> Callable[[str], float]:
        font, cache = font_at(size), dict[str, float]()

        def width(word: str) -> float:
            value = cache.get(word)
            if value is None:
                value = cache[word] = font.getlength(word)
            return value

        return width

    return at


def _scaled_widths(font_at: Callable[[int], ImageFont.FreeTypeFont], reference: int) -> Widths:
    """Word widths measured once, at ``reference``, and scaled to other sizes.

    Hinting makes real widths differ by a pixel or so; the ink of every line is measured
    at the chosen size anyway, so an estimate only decides where lines break.
    """
    font, cache = font_at(reference), dict[str, float]()

    def at(size: int) -> Callable[[str], float]:
        scale = size / reference

        def width(word: str) -> float:
            value = cache.get(word)
            if value is None:
                value = cache[word] = font.getlength(word)
            return value * scale

        return width

    return at


def _largest_fit(
    paragraphs: list[list[str]],
    size_min: int,
    size_max: int,
    font_at: Callable[[int], ImageFont.FreeTypeFont],
    placed: PlacedBox,
    widths: Widths,
) -> _Fitted | None:
    best = _fits_at(paragraphs, placed, size_max, font_at, widths)
    if best is not None:
        return best
    # Fitting is monotone in the size for all practical texts; every candidate kept is verified.
    low, high = size_min, size_max - 1
    while low <= high:
        middle = (low + high) // 2
        fitted = _fits_at(paragraphs, placed, middle, font_at, widths)
        if fitted is not None:
            best, low = fitted, middle + 1
        else:
            high = middle - 1
    return best


def _fits_at(
    paragraphs: list[list[str]],
    placed: PlacedBox,
    size: int,
    font_at: Callable[[int], ImageFont.FreeTypeFont],
    widths: Widths,
) -> _Fitted | None:
    box = placed.spec
    inner = _inner(placed, size)
    if inner.width <= 0 or inner.height <= 0:
        return None
    font = font_at(size)
    width_of = widths(size)
    space = width_of(" ")
    ascent, descent = font.getmetrics()
    pitch = size * box.line_spacing
    limit = float(inner.width)
    for _attempt in range(3):
        lines = _wrap(paragraphs, limit, width_of, space)
        if lines is None or (box.max_lines is not None and len(lines) > box.max_lines):
            return None
        # The font's ascent and descent bound the height from below: too tall already, stop.
        if (len(lines) - 1) * pitch + ascent + descent > inner.height:
            return None
        if box.balance and len(lines) > 1:
            lines = _balance(paragraphs, lines, limit, width_of, space)
        fitted = _measure(font, size, lines, box.line_spacing)
        # Word widths summed can differ from the shaped line by kerning; the ink decides.
        overflow = max(b[2] - min(0.0, b[0]) for b in fitted.boxes) - inner.width
        if overflow > 0:
            limit -= overflow + 1
            continue
        return fitted if fitted.bottom - fitted.top <= inner.height else None
    return None


def _wrap(
    paragraphs: list[list[str]], limit: float, width_of: Callable[[str], float], space: float
) -> list[str] | None:
    """Greedy wrap at spaces; ``None`` when a single word is wider than ``limit``."""
    lines: list[str] = []
    for words in paragraphs:
        current: list[str] = []
        used = 0.0
        for word in words:
            width = width_of(word)
            if width > limit:
                return None
            if current and used + space + width > limit:
                lines.append(" ".join(current))
                current, used = [word], width
            else:
                used = width if not current else used + space + width
                current.append(word)
        if current:
            lines.append(" ".join(current))
    return lines


def _balance(
    paragraphs: list[list[str]], lines: list[str], limit: float, width_of: Callable[[str], float], space: float
) -> list[str]:
    """The narrowest wrap with no more lines than ``lines``: evens out a short last line."""
    count = len(lines)
    low = max(width_of(w) for words in paragraphs for w in words)
    high = limit
    best = lines
    for _step in range(14):
        if high - low < 1:
            break
        middle = (low + high) / 2
        trial = _wrap(paragraphs, middle, width_of, space)
        if trial is not None and len(trial) <= count:
            best, high = trial, middle
        else:
            low = middle
    return best


def _measure(font: ImageFont.FreeTypeFont, size: int, lines: list[str], line_spacing: float) -> _Fitted:
    ascent, descent = font.getmetrics()
    pitch = size * line_spacing
    boxes = tuple(tuple(float(v) for v in font.getbbox(line, anchor="ls")) for line in lines)
    # Stacked marks on capitals (Ễ, Ữ) rise above the font's ascent: the ink bounds count too.
    top = min(-float(ascent), *(i * pitch + b[1] for i, b in enumerate(boxes)))
    bottom = max((len(lines) - 1) * pitch + descent, *(i * pitch + b[3] for i, b in enumerate(boxes)))
    return _Fitted(font, size, tuple(lines), boxes, pitch, top, bottom)  # type: ignore[arg-type]


def _ink_width(font: ImageFont.FreeTypeFont, text: str) -> float:
    x0, _top, x1, _bottom = font.getbbox(text, anchor="ls")
    return float(x1 - min(0, x0))


def _place(placed: PlacedBox, fitted: _Fitted, color: RGBA) -> DrawnText:
    box = placed.spec
    inner = _inner(placed, fitted.size)
    height = fitted.bottom - fitted.top
    if box.valign == "top":
        first = math.ceil(inner.y0 - fitted.top)
    elif box.valign == "bottom":
        first = math.floor(inner.y1 - fitted.bottom)
    else:
        first = round(inner.y0 + (inner.height - height) / 2 - fitted.top)
        first = min(max(first, math.ceil(inner.y0 - fitted.top)), math.floor(inner.y1 - fitted.bottom))
    lines = []
    for index, (line, (x0, _top, x1, _bottom)) in enumerate(zip(fitted.lines, fitted.boxes, strict=True)):
        lowest, highest = math.ceil(inner.x0 - min(0.0, x0)), math.floor(inner.x1 - x1)
        if box.align == "left":
            x = lowest
        elif box.align == "right":
            x = highest
        else:
            x = min(max(round((inner.x0 + inner.x1) / 2 - (x0 + x1) / 2), lowest), highest)
        lines.append(DrawnLine(line, x, first + round(index * fitted.pitch)))
    panel = None
    if box.panel is not None:
        pad = math.ceil(box.panel_padding * fitted.size)
        left = min(ln.x + min(0.0, b[0]) for ln, b in zip(lines, fitted.boxes, strict=True))
        right = max(ln.x + b[2] for ln, b in zip(lines, fitted.boxes, strict=True))
        rect = Rect(
            max(placed.rect.x0, math.floor(left) - pad),
            max(placed.rect.y0, math.floor(first + fitted.top) - pad),
            min(placed.rect.x1, math.ceil(right) + pad),
            min(placed.rect.y1, math.ceil(first + fitted.bottom) + pad),
        )
        panel = (rect, parse_colour(box.panel), round(box.panel_radius * fitted.size))
    return DrawnText(box.name, fitted.font, fitted.size, color, tuple(lines), panel)


# -- drawing -----------------------------------------------------------------------------


def draw(plan: CoverPlan) -> Image.Image:
    """The plan drawn on a copy of its background: an RGB image."""
    canvas = plan.base.copy()
    pen = ImageDraw.Draw(canvas)
    for text in plan.texts:
        if text.panel is not None:
            rect, colour, radius = text.panel
            if colour[3] == 255:
                pen.rounded_rectangle((rect.x0, rect.y0, rect.x1 - 1, rect.y1 - 1), radius=radius, fill=colour[:3])
            else:
                _blend_panel(canvas, rect, colour, radius)
                pen = ImageDraw.Draw(canvas)
        for line in text.lines:
            pen.text((line.x, line.baseline), line.text, font=text.font, fill=text.color[:3], anchor="ls")
    return canvas


def _blend_panel(canvas: Image.Image, rect: Rect, colour: RGBA, radius: int) -> None:
    region = canvas.crop((rect.x0, rect.y0, rect.x1, rect.y1)).convert("RGBA")
    layer = Image.new("RGBA", region.size, (0, 0, 0, 0))
    ImageDraw.Draw(layer).rounded_rectangle((0, 0, region.width - 1, region.height - 1), radius=radius, fill=colour)
    canvas.paste(Image.alpha_composite(region, layer).convert("RGB"), (rect.x0, rect.y0))


def _background(size: tuple[int, int], spec: Background, load: Callable[[str], Image.Image]) -> Image.Image:
    if spec.gradient:
        canvas = _gradient(size, [parse_colour(c) for c in spec.gradient], spec.angle)
    else:
        canvas = Image.new("RGBA", size, parse_colour(spec.color) if spec.color else (255, 255, 255, 255))
    if spec.image:
        # Cover-fit: fill the canvas, crop what sticks out, keep the centre.
        picture = ImageOps.fit(load(spec.image), size, Image.Resampling.LANCZOS, centering=(0.5, 0.5))
        canvas = Image.alpha_composite(canvas, picture)
    if spec.overlay:
        canvas = Image.alpha_composite(canvas, Image.new("RGBA", size, parse_colour(spec.overlay)))
    return canvas


def _gradient(size: tuple[int, int], stops: list[RGBA], angle: float) -> Image.Image:
    """A linear gradient through ``stops`` at ``angle`` degrees (0 = left→right, 90 = top→bottom)."""
    width, height = size
    theta = math.radians(angle)
    dx, dy = math.cos(theta), math.sin(theta)
    span = abs(width * dx) + abs(height * dy) or 1.0
    # The position along the gradient, 0…255, is a sum of a horizontal and a vertical ramp;
    # 256 steps are finer than the 8-bit colours they map to, so no banding is added.
    across = _ramp(width, dx, span)
    down = _ramp(height, dy, span)
    position = ImageChops.add(across.resize(size), down.transpose(Image.Transpose.ROTATE_270).resize(size))
    palette = [_interpolate(stops, i / 255) for i in range(256)]
    bands = [position.point([colour[channel] for colour in palette]) for channel in range(4)]
    return Image.merge("RGBA", bands)


def _ramp(length: int, direction: float, span: float) -> Image.Image:
    """One row of ``length`` values: this axis's share of the 0…255 gradient position."""
    values = [(i + 0.5) * direction for i in range(length)]
    low = min(values)
    ramp = Image.new("L", (length, 1))
    ramp.putdata([round((v - low) / span * 255) for v in values])
    return ramp


def _interpolate(stops: list[RGBA], t: float) -> RGBA:
    position = t * (len(stops) - 1)
    index = min(int(position), len(stops) - 2)
    local = position - index
    a, b = stops[index], stops[index + 1]
    r, g, bl, al = (round(a[k] + (b[k] - a[k]) * local) for k in range(4))
    return r, g, bl, al


def _draw_shape(canvas: Image.Image, shape: Shape, rect: Rect) -> None:
    # Drawn on its own layer, larger, then scaled down: smooth edges and real transparency.
    # The layer covers only the part of the shape that is on the canvas.
    pad = shape.width + 2
    left, top = max(0, rect.x0 - pad), max(0, rect.y0 - pad)
    right, bottom = min(canvas.width, rect.x1 + pad), min(canvas.height, rect.y1 + pad)
    if left >= right or top >= bottom:
        return
    k = _SUPERSAMPLE
    layer = Image.new("RGBA", ((right - left) * k, (bottom - top) * k), (0, 0, 0, 0))
    pen = ImageDraw.Draw(layer)
    x0, y0 = (rect.x0 - left) * k, (rect.y0 - top) * k
    x1, y1 = (rect.x1 - left) * k - 1, (rect.y1 - top) * k - 1
    fill = parse_colour(shape.fill) if shape.fill else None
    outline = parse_colour(shape.outline) if shape.outline else None
    stroke = shape.width * k
    if shape.kind == "rect":
        radius = round(shape.radius * min(rect.width, rect.height) * k)
        pen.rounded_rectangle((x0, y0, x1, y1), radius=radius, fill=fill, outline=outline, width=stroke)
    elif shape.kind == "ellipse":
        pen.ellipse((x0, y0, x1, y1), fill=fill, outline=outline, width=stroke)
    else:
        points = [(x0 + px * (x1 - x0), y0 + py * (y1 - y0)) for px, py in shape.points or []]
        if shape.kind == "polygon":
            pen.polygon(points, fill=fill, outline=outline, width=stroke)
        else:
            pen.line(points, fill=outline, width=stroke, joint="curve")
    # A box filter is all anti-aliasing needs, and is far cheaper than LANCZOS on big layers.
    canvas.alpha_composite(layer.reduce(k), (left, top))


def _paste_logo(canvas: Image.Image, logo: Image.Image, spec: Logo, rect: Rect) -> None:
    scale = min(rect.width / logo.width, rect.height / logo.height)
    size = (max(1, round(logo.width * scale)), max(1, round(logo.height * scale)))
    fitted = logo.resize(size, Image.Resampling.LANCZOS)
    x = {"left": rect.x0, "center": rect.x0 + (rect.width - size[0]) // 2, "right": rect.x1 - size[0]}[spec.align]
    y = {"top": rect.y0, "middle": rect.y0 + (rect.height - size[1]) // 2, "bottom": rect.y1 - size[1]}[spec.valign]
    _composite_at(canvas, fitted, x, y)


def _composite_at(canvas: Image.Image, layer: Image.Image, left: int, top: int) -> None:
    """Alpha-composite ``layer`` onto ``canvas`` at (left, top); parts off the canvas are dropped."""
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(canvas.width, left + layer.width), min(canvas.height, top + layer.height)
    if x0 >= x1 or y0 >= y1:
        return
    piece = layer.crop((x0 - left, y0 - top, x1 - left, y1 - top))
    canvas.alpha_composite(piece, (x0, y0))


__all__ = ["CoverPlan", "CoverRenderer", "FontSource", "draw", "max_bytes_for"]
