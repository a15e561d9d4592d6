"""Framing a staff member's photo and drawing their personal cover, in memory, never kept.

The frame (``templates/frames/NAME.toml``) is drawn once per layout and campaign as a
transparent overlay and cached; each photo is then only decoded (a JPEG at the smallest
scale that still covers the frame, through libjpeg's DCT scaling: a 12-megapixel photo is
decoded at a quarter of its pixels), turned upright, cropped to its centre square, resized
and laid under the overlay. The photo's bytes live in the request alone.
"""

from __future__ import annotations

import io
import math
import threading
import tomllib
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scheduler.errors import InputError, LimitError, NotFound, TemplateError
from scheduler.i18n import Number, msg
from scheduler.render.fonts import FontBook

PHOTO_FORMATS = ("JPEG", "PNG", "WEBP")
# A phone photo of 12 to 50 megapixels fits; a decompression bomb does not. Checked from the
# header before a pixel is decoded.
MAX_PHOTO_PIXELS = 60_000_000
FIT_STEPS = 24


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AvatarLayout(_Model):
    size: int = Field(default=1080, ge=320, le=2048)
    ring_color: str = "#0054A6"
    ring_width: float = Field(default=0.05, ge=0, le=0.2)
    band_color: str = "#E31B23"
    band_text_color: str = "#FFFFFF"
    band_top: float = Field(default=0.70, ge=0.5, le=0.9)
    band_height: float = Field(default=0.15, ge=0.05, le=0.3)
    band_text: str = "{theme}"
    font: str = "sans"
    weight: str = "bold"


class CoverLayout(_Model):
    width: int = Field(default=1640, ge=400, le=4000)
    height: int = Field(default=624, ge=150, le=2000)
    background: str = "#0054A6"
    accent: str = "#E31B23"
    text_color: str = "#FFFFFF"
    title: str = "{name}"
    subtitle: str = "{theme}"
    footer: str = "{full_name} · {unit}"
    font: str = "sans"


class FrameLayout(_Model):
    title: str = ""
    avatar: AvatarLayout = Field(default_factory=AvatarLayout)
    cover: CoverLayout = Field(default_factory=CoverLayout)


@dataclass(frozen=True)
class CampaignWords:
    name: str
    theme: str


def load_layout(templates_dir: Path, name: str = "default") -> FrameLayout:
    path = templates_dir / "frames" / f"{name}.toml"
    if not path.is_file():
        raise NotFound(msg("error.no_frame_layout", name=name), hint=msg("hint.frame_layout_file", path=str(path)))
    try:
        return FrameLayout.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError) as exc:
        raise TemplateError(msg("error.frame_layout_invalid", path=str(path), reason=str(exc)[:300])) from None


def _words(template: str, values: dict[str, str]) -> str:
    try:
        return template.format_map(values).strip()
    except (KeyError, ValueError, IndexError):
        return template


_FONT_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def _font_book(assets_dir: str) -> FontBook:
    return FontBook(Path(assets_dir))


def _font(assets_dir: Path, spec: str, weight: str, size: int) -> ImageFont.FreeTypeFont:
    book = _font_book(str(assets_dir))
    where = msg("where.frame_layout")
    with _FONT_LOCK:
        return book.font(book.resolve(spec, weight, where=where), size, where=where)


def _fit_lines(
    draw: ImageDraw.ImageDraw, text: str, width: int, height: int, font_at: Any
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest size at which ``text`` fits ``width`` × ``height`` on one or two lines."""
    words = text.split()
    size = height
    while size > 8:
        font = font_at(size)
        candidates = [[text]]
        if len(words) > 1:
            best = min(
                range(1, len(words)),
                key=lambda i: abs(len(" ".join(words[:i])) - len(" ".join(words[i:]))),
            )
            candidates.append([" ".join(words[:best]), " ".join(words[best:])])
        for lines in candidates:
            line_height = font.size * 1.15
            if line_height * len(lines) <= height and all(draw.textlength(line, font=font) <= width for line in lines):
                return font, lines
        size = int(size * 0.92)
    return font_at(8), [text]


@lru_cache(maxsize=16)
def _overlay(templates_dir: str, assets_dir: str, layout_name: str, name: str, theme: str) -> Image.Image:
    """The frame as a transparent RGBA image: ring and band, everything inside the circle."""
    layout = load_layout(Path(templates_dir), layout_name).avatar
    side = layout.size
    scale = 2  # drawn at twice the size and reduced: smooth circle edges without a slow filter
    big = side * scale
    overlay = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    ring = round(layout.ring_width * big)
    band = Image.new("L", (big, big), 0)
    band_draw = ImageDraw.Draw(band)
    top, height = round(layout.band_top * big), round(layout.band_height * big)
    band_draw.rectangle([0, top, big, top + height], fill=255)
    circle = Image.new("L", (big, big), 0)
    ImageDraw.Draw(circle).ellipse([0, 0, big - 1, big - 1], fill=255)
    from PIL import ImageChops

    band_mask = ImageChops.multiply(band, circle)
    overlay.paste(Image.new("RGBA", (big, big), layout.band_color), (0, 0), band_mask)
    if ring:
        draw.ellipse([0, 0, big - 1, big - 1], outline=layout.ring_color, width=ring)
    text = _words(layout.band_text, {"name": name, "theme": theme})
    if text:
        # The chord of the circle at the band's lower edge bounds the text's width.
        r = big / 2
        dy = max(abs(top - r), abs(top + height - r))
        chord = 2 * math.sqrt(max(r * r - dy * dy, 0))
        width, inner = int(chord * 0.86) - 2 * ring, int(height * 0.82)

        def font_at(size: int) -> ImageFont.FreeTypeFont:
            return _font(Path(assets_dir), layout.font, layout.weight, size)

        font, lines = _fit_lines(draw, text, width, inner, font_at)
        line_height = font.size * 1.15
        y = top + (height - line_height * len(lines)) / 2
        for line in lines:
            draw.text((big / 2, y + line_height / 2), line, font=font, fill=layout.band_text_color, anchor="mm")
            y += line_height
    return overlay.resize((side, side), Image.Resampling.LANCZOS)


def _open_photo(data: bytes, target: int) -> Image.Image:
    """The upright photo, decoded no larger than needed; InputError for anything else."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in PHOTO_FORMATS:
                raise InputError(
                    msg("error.photo_kind", kind=image.format or "?"), hint=msg("hint.photo_kinds"), field="photo"
                )
            width, height = image.size
            if width * height > MAX_PHOTO_PIXELS:
                raise LimitError(
                    msg(
                        "error.photo_too_many_pixels",
                        megapixels=Number(width * height / 1e6, 0),
                        limit=Number(MAX_PHOTO_PIXELS / 1e6, 0),
                    ),
                    hint=msg("hint.photo_smaller"),
                    field="photo",
                )
            if image.format == "JPEG":
                # libjpeg scales while decoding (1/2, 1/4, 1/8): the short side stays ≥ target.
                image.draft("RGB", (target, target))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard fired while reading the header: far past any phone's photo.
        raise LimitError(
            msg("error.photo_bomb", limit=Number(MAX_PHOTO_PIXELS / 1e6, 0)),
            hint=msg("hint.photo_smaller"),
            field="photo",
        ) from None
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
    ):
        raise InputError(msg("error.photo_unreadable"), hint=msg("hint.photo_kinds"), field="photo") from None
    upright: Image.Image = ImageOps.exif_transpose(image) or image
    return upright.convert("RGB")


def frame_avatar(
    data: bytes, *, templates_dir: Path, assets_dir: Path, campaign: CampaignWords, layout: str = "default"
) -> bytes:
    """The photo in the campaign frame, as a square JPEG."""
    side = load_layout(templates_dir, layout).avatar.size
    photo = _open_photo(data, side)
    width, height = photo.size
    short = min(width, height)
    left, top = (width - short) // 2, (height - short) // 2
    square: Image.Image = photo.crop((left, top, left + short, top + short))
    if short != side:
        factor = short // side
        if factor >= 2:  # a cheap box reduction first, the fine filter over the last step only
            square = square.reduce(factor)
        square = square.resize(
            (side, side), Image.Resampling.LANCZOS if square.width > side else Image.Resampling.BICUBIC
        )
    overlay = _overlay(str(templates_dir), str(assets_dir), layout, campaign.name, campaign.theme)
    square.paste(overlay, (0, 0), overlay)
    out = io.BytesIO()
    square.save(out, "JPEG", quality=88, optimize=False, progressive=False)
    return out.getvalue()


def personal_cover(
    *,
    templates_dir: Path,
    assets_dir: Path,
    campaign: CampaignWords,
    full_name: str,
    unit: str,
    layout: str = "default",
) -> bytes:
    """A profile cover sized for Facebook: the campaign's theme, the staff member and their unit."""
    spec = load_layout(templates_dir, layout).cover
    image = Image.new("RGB", (spec.width, spec.height), spec.background)
    draw = ImageDraw.Draw(image)
    w, h = spec.width, spec.height
    draw.rectangle([0, int(h * 0.86), w, h], fill=spec.accent)
    values = {"name": campaign.name, "theme": campaign.theme, "full_name": full_name, "unit": unit}
    # Facebook covers crop the sides on phones: text stays in the middle 70 %.
    margin = int(w * 0.15)
    boxes = (
        (_words(spec.title, values), int(h * 0.10), int(h * 0.36), "bold"),
        (_words(spec.subtitle, values), int(h * 0.50), int(h * 0.22), "regular"),
        (_words(spec.footer, values), int(h * 0.87), int(h * 0.11), "bold"),
    )
    for text, top, height, weight in boxes:
        if not text:
            continue

        def font_at(size: int, weight: str = weight) -> ImageFont.FreeTypeFont:
            return _font(assets_dir, spec.font, weight, size)

        font, lines = _fit_lines(draw, text, w - 2 * margin, height, font_at)
        line_height = font.size * 1.15
        y = top + (height - line_height * len(lines)) / 2
        for line in lines:
            draw.text((w / 2, y + line_height / 2), line, font=font, fill=spec.text_color, anchor="mm")
            y += line_height
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()
