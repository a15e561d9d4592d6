"""Cover layouts: ``templates/covers/NAME.toml``, read and checked into per-target geometry.

A layout is data that comms staff edit. Its parts (see ``templates/covers/default.toml``):

``[canvas]``
    ``facebook``, ``square``, ``zalo`` (the cover targets the platforms declare, see
    :func:`target_names`) = ``[width, height]`` in pixels, one per target the layout
    supports; ``safe_margin`` (fraction of the shorter side) that text and logo keep
    clear of the edges.
``[background]``
    ``color``, or ``gradient`` (two or more colours) with ``angle`` in degrees (0 = left to
    right, 90 = top to bottom), or ``image = "assets:FILE"`` (cropped to cover the canvas)
    with an optional ``overlay`` colour to keep text legible on a photo.
``[logo]`` (optional)
    ``image = "assets:FILE"`` fitted inside ``box``.
``[[shapes]]`` (optional, decoration)
    ``kind`` = rect | ellipse | polygon | line, ``box``, ``fill``, ``outline``, ``width``,
    ``radius`` (rect corners), ``points`` (polygon/line, as fractions of the shape's box).
``[[boxes]]``
    text boxes: ``name``, ``text`` (Jinja, e.g. ``"{{ title }}"``), ``font``, ``weight``,
    ``size_min``/``size_max`` (px), ``color``, ``align``, ``valign``, ``line_spacing``,
    ``case``, ``max_lines``, ``balance``, ``optional`` (may be empty), ``panel`` (a filled box
    behind the text) with ``panel_padding`` and ``panel_radius`` (in font sizes).

Geometry: ``box = [x, y, width, height]`` as fractions of the canvas width/height, or pixels
with ``units = "px"``, or fractions of the canvas's shorter side with ``units = "min"`` (keeps
circles round on every canvas). Colours are ``#RRGGBB`` or ``#RRGGBBAA``.

Any shape, box, the logo and the background may hold ``[….targets.square]`` (etc.) with keys
that replace its own for that target only, including ``hidden = true``.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from scheduler.errors import TemplateError, Text
from scheduler.i18n import Message, msg
from scheduler.i18n.validation import validation_problem

Units = Literal["relative", "px", "min"]
LAYOUT_SUFFIX = ".toml"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
_COLOUR = re.compile(r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")

RGBA = tuple[int, int, int, int]
M = TypeVar("M", bound=BaseModel)


def parse_colour(value: str) -> RGBA:
    if not _COLOUR.match(value):
        raise ValueError(msg("layout.colour"))
    digits = value[1:]
    alpha = int(digits[6:8], 16) if len(digits) == 8 else 255
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), alpha


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Placed(_Part):
    box: tuple[float, float, float, float]
    units: Units = "relative"

    @field_validator("box")
    @classmethod
    def _positive_size(cls, value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        if value[2] <= 0 or value[3] <= 0:
            raise ValueError(msg("layout.positive_size"))
        return value

    def pixels(self, width: int, height: int) -> Rect:
        x, y, w, h = self.box
        if self.units == "px":
            sx, sy = 1.0, 1.0
        elif self.units == "min":
            sx = sy = float(min(width, height))
        else:
            sx, sy = float(width), float(height)
        # Rounding the sums first keeps adjacent boxes (y + h of one = y of the next) adjacent.
        return Rect(*(round(round(v, 6) * s) for v, s in ((x, sx), (y, sy), (x + w, sx), (y + h, sy))))


def target_names() -> tuple[str, ...]:
    """The cover targets (canvas names) the registered platforms declare, in registry order."""
    from scheduler.channels.registry import cover_targets

    return tuple(cover_targets())


class Canvas(_Part):
    """``[canvas]``: the safe margin, and one size field per cover target (see :func:`canvas_model`)."""

    safe_margin: float = Field(default=0.05, ge=0, le=0.25)

    @field_validator("*")
    @classmethod
    def _size(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name != "safe_margin" and value is not None and not all(200 <= v <= 4096 for v in value):
            raise ValueError(msg("layout.canvas_size"))
        return value

    def sizes(self) -> dict[str, tuple[int, int]]:
        return {t: size for t in target_names() if (size := getattr(self, t, None)) is not None}


@functools.cache
def canvas_model() -> type[Canvas]:
    """The ``[canvas]`` model with a ``[width, height]`` field for every declared cover target."""
    fields: dict[str, Any] = {name: (tuple[int, int] | None, None) for name in target_names()}
    model: type[Canvas] = create_model("Canvas", __base__=Canvas, **fields)
    return model


class Background(_Part):
    color: str | None = None
    gradient: list[str] | None = None
    angle: float = 90
    image: str | None = None
    overlay: str | None = None

    @field_validator("color", "overlay")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        if value is not None:
            parse_colour(value)
        return value

    @field_validator("gradient")
    @classmethod
    def _stops(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if len(value) < 2:
                raise ValueError(msg("layout.gradient_two"))
            for colour in value:
                parse_colour(colour)
        return value

    @field_validator("image")
    @classmethod
    def _asset(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("assets:"):
            raise ValueError(msg("layout.asset_image"))
        return value

    @model_validator(mode="after")
    def _something(self) -> Background:
        if not (self.color or self.gradient or self.image):
            raise ValueError(msg("layout.background_needed"))
        if self.color and self.gradient:
            raise ValueError(msg("layout.colour_or_gradient"))
        return self


class Logo(_Placed):
    image: str
    align: Literal["left", "center", "right"] = "left"
    valign: Literal["top", "middle", "bottom"] = "middle"
    hidden: bool = False

    @field_validator("image")
    @classmethod
    def _asset(cls, value: str) -> str:
        if not value.startswith("assets:"):
            raise ValueError(msg("layout.asset_logo"))
        return value


class Shape(_Placed):
    kind: Literal["rect", "ellipse", "polygon", "line"]
    fill: str | None = None
    outline: str | None = None
    width: int = Field(default=0, ge=0, le=200)
    radius: float = Field(default=0, ge=0, le=0.5)
    points: list[tuple[float, float]] | None = None
    hidden: bool = False

    @field_validator("fill", "outline")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        if value is not None:
            parse_colour(value)
        return value

    @model_validator(mode="after")
    def _complete(self) -> Shape:
        if self.kind in ("polygon", "line") and (not self.points or len(self.points) < 2):
            raise ValueError(msg("layout.points_needed", kind=self.kind))
        if self.kind == "line" and not (self.outline and self.width):
            raise ValueError(msg("layout.line_needs"))
        if self.kind != "line" and not (self.fill or (self.outline and self.width)):
            raise ValueError(msg("layout.fill_or_outline"))
        return self


class TextBox(_Placed):
    name: str
    text: str
    font: str = "sans"
    weight: Literal["regular", "bold"] = "regular"
    size_min: int = Field(ge=8, le=600)
    size_max: int = Field(ge=8, le=600)
    color: str = "#FFFFFF"
    align: Literal["left", "center", "right"] = "left"
    valign: Literal["top", "middle", "bottom"] = "top"
    line_spacing: float = Field(default=1.15, ge=1.0, le=3.0)
    case: Literal["as-is", "upper"] = "as-is"
    max_lines: int | None = Field(default=None, ge=1, le=50)
    # Lines of equal length read better than one long line and a short orphan.
    balance: bool = True
    # An optional box may come out empty (nothing is drawn); any other empty box is an error.
    optional: bool = False
    panel: str | None = None
    panel_padding: float = Field(default=0.45, ge=0, le=3)
    panel_radius: float = Field(default=0.25, ge=0, le=2)
    hidden: bool = False

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(msg("layout.box_name"))
        return value

    @field_validator("color")
    @classmethod
    def _opaque(cls, value: str) -> str:
        if parse_colour(value)[3] != 255:
            raise ValueError(msg("layout.opaque_text"))
        return value

    @field_validator("panel")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        if value is not None:
            parse_colour(value)
        return value

    @model_validator(mode="after")
    def _range(self) -> TextBox:
        if self.size_min > self.size_max:
            raise ValueError(msg("layout.size_range", low=self.size_min, high=self.size_max))
        return self


@dataclass(frozen=True)
class Rect:
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def inside(self, other: Rect) -> bool:
        return self.x0 >= other.x0 and self.y0 >= other.y0 and self.x1 <= other.x1 and self.y1 <= other.y1

    def overlaps(self, other: Rect) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def inset(self, by: int) -> Rect:
        return Rect(self.x0 + by, self.y0 + by, self.x1 - by, self.y1 - by)


@dataclass(frozen=True)
class PlacedBox:
    spec: TextBox
    rect: Rect


@dataclass(frozen=True)
class TargetLayout:
    """One layout resolved for one target: pixel geometry, checked."""

    layout: str
    target: str
    size: tuple[int, int]
    safe: Rect
    background: Background
    logo: tuple[Logo, Rect] | None
    shapes: tuple[tuple[Shape, Rect], ...]
    boxes: tuple[PlacedBox, ...]

    @property
    def label(self) -> str:
        return f"{self.size[0]}×{self.size[1]}"


@dataclass(frozen=True)
class Layout:
    """A parsed layout file with every target already resolved."""

    name: str
    path: Path
    title: str
    description: str
    per_target: Mapping[str, TargetLayout]

    @property
    def targets(self) -> list[str]:
        return list(self.per_target)


class _File(_Part):
    title: str = ""
    description: str = ""
    canvas: dict[str, Any]
    background: dict[str, Any]
    logo: dict[str, Any] | None = None
    shapes: list[dict[str, Any]] = Field(default_factory=list)
    boxes: list[dict[str, Any]] = Field(min_length=1)


def load_layout(name: str, path: Path) -> Layout:
    """Parse and check a layout file; any problem is a :class:`TemplateError` naming file and key."""
    label = msg("where.layout_file", layout=name, file=path.name)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        not_toml = msg("layout.not_toml", where=label, reason=str(exc))
        raise TemplateError(not_toml, hint=msg("hint.double_quotes")) from None
    except UnicodeDecodeError:
        raise TemplateError(msg("layout.not_utf8", where=label), hint=msg("hint.save_utf8")) from None
    document = _validate(_File, raw, label, "")
    canvas = _validate(canvas_model(), document.canvas, label, "canvas")
    sizes = canvas.sizes()
    if not sizes:
        raise TemplateError(msg("layout.no_target_size", where=label), hint=msg("hint.canvas_sizes"))
    per_target = {
        target: _resolve(name, label, document, canvas, target, size) for target, size in sizes.items()
    }
    return Layout(name, path, document.title or name, document.description, per_target)


def _resolve(
    name: str, label: Message, document: _File, canvas: Canvas, target: str, size: tuple[int, int]
) -> TargetLayout:
    width, height = size
    margin = round(canvas.safe_margin * min(width, height))
    safe = Rect(margin, margin, width - margin, height - margin)
    where = msg("where.layout_at", where=label, width=width, height=height, target=target)
    background = _part(Background, document.background, target, where, "[background]")
    logo = None
    if document.logo is not None:
        logo_spec = _part(Logo, document.logo, target, where, "[logo]")
        if not logo_spec.hidden:
            rect = logo_spec.pixels(width, height)
            _check_inside(rect, safe, where, msg("layout.what_logo"))
            logo = (logo_spec, rect)
    shapes = []
    for index, raw_shape in enumerate(document.shapes):
        shape = _part(Shape, raw_shape, target, where, f"shapes[{index}]")
        if not shape.hidden:
            # Decoration may bleed off the canvas on purpose; it is not held to the margins.
            shapes.append((shape, shape.pixels(width, height)))
    boxes: list[PlacedBox] = []
    seen: set[str] = set()
    for index, raw_box in enumerate(document.boxes):
        box = _part(TextBox, raw_box, target, where, f"boxes[{index}]")
        if box.name in seen:
            raise TemplateError(msg("layout.box_twice", where=label, box=box.name), hint=msg("hint.box_own_name"))
        seen.add(box.name)
        if box.hidden:
            continue
        rect = box.pixels(width, height)
        _check_inside(rect, safe, where, msg("layout.what_box", box=box.name))
        for other in boxes:
            if rect.overlaps(other.rect):
                raise TemplateError(
                    msg("layout.boxes_overlap", where=where, first=other.spec.name, second=box.name),
                    hint=msg("hint.move_or_shrink"),
                )
        if logo is not None and rect.overlaps(logo[1]):
            raise TemplateError(msg("layout.box_over_logo", where=where, box=box.name), hint=msg("hint.move_one"))
        boxes.append(PlacedBox(box, rect))
    return TargetLayout(name, target, size, safe, background, logo, tuple(shapes), tuple(boxes))


def _part(model: type[M], raw: Mapping[str, Any], target: str, where: Text, part: str) -> M:
    return _validate(model, _for_target(raw, target, where, part), where, part)


def _for_target(raw: Mapping[str, Any], target: str, where: Text, part: str) -> dict[str, Any]:
    merged = {key: value for key, value in raw.items() if key != "targets"}
    overrides = raw.get("targets") or {}
    names = target_names()
    if not isinstance(overrides, Mapping) or any(key not in names for key in overrides):
        raise TemplateError(
            msg("layout.bad_targets", where=where, part=part, targets=", ".join(names), value=repr(overrides)),
            hint=msg("hint.target_overrides"),
        )
    merged.update(overrides.get(target) or {})
    return merged


def _validate(model: type[M], raw: Any, where: Text, part: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems: list[Message] = []
        for error in exc.errors():
            location = ".".join(str(p) for p in error["loc"])
            problem: Text = validation_problem(error)
            if error["type"] == "extra_forbidden":
                problem = msg("layout.unknown_key")
            elif error["type"] == "missing":
                problem = msg("config.required")
            named = raw.get("name") if isinstance(raw, Mapping) else None
            prefix = f"{part}{f' {named!r}' if named else ''}"
            key = f"{prefix}{'.' if prefix and location else ''}{location}"
            problems.append(msg("config.problem", key=key, problem=problem))
        raise TemplateError(
            msg("layout.invalid", where=where, problems=problems), hint=msg("hint.fix_layout_keys")
        ) from None


def _check_inside(rect: Rect, safe: Rect, where: Text, what: Message) -> None:
    if rect.width <= 0 or rect.height <= 0:
        raise TemplateError(msg("layout.no_area", where=where, what=what), hint=msg("hint.positive_size"))
    if not rect.inside(safe):
        raise TemplateError(
            msg(
                "layout.outside_safe",
                where=where,
                what=what,
                rect=f"({rect.x0},{rect.y0})–({rect.x1},{rect.y1})",
                safe=f"({safe.x0},{safe.y0})–({safe.x1},{safe.y1})",
            ),
            hint=msg("hint.move_inward"),
        )
