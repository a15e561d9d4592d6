"""Raster images in and out: opening untrusted image files safely, encoding covers.

Asset images (backgrounds, logos) are files an office drops into ``assets/``; they may be huge,
truncated, another format under a ``.jpg`` name, or a web page saved by mistake. They are
opened with a size cap, a pixel cap checked before decoding (decompression bombs), the
decompression-bomb warning raised as an error, and an allow-list of formats.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from scheduler.errors import InputError, LimitError, Text
from scheduler.i18n import Number, msg

# Formats an office's camera, phone or design tool produces; FITS, PSD, EPS … are refused.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
MAX_FILE_BYTES = 25 * 1024 * 1024
# 40 megapixels: a modern phone photo fits, a 20000×20000 bomb does not. Checked from the
# header before any pixel is decoded, whatever Image.MAX_IMAGE_PIXELS is set to elsewhere.
MAX_PIXELS = 40_000_000

JPEG_STEPS: Sequence[tuple[int, int]] = (
    # (quality, subsampling): 4:4:4 first because chroma subsampling blurs the edges of
    # coloured text; then smaller files at the cost of slight softness.
    (90, 0),
    (85, 0),
    (80, 0),
    (80, 2),
    (72, 2),
    (64, 2),
    (55, 2),
)


def open_image(
    path: Path, *, where: Text, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_FILE_BYTES
) -> Image.Image:
    """Decode ``path`` fully into an RGBA image, or raise :class:`InputError` naming the file."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(msg("error.image_unreadable", where=where, file=path.name, reason=str(exc.strerror))) from None
    if size > max_bytes:
        raise InputError(
            msg(
                "error.image_too_big",
                where=where,
                file=path.name,
                size=Number(size / 1e6, 1),
                limit=Number(max_bytes / 1e6, 0),
            ),
            hint=msg("hint.smaller_copy"),
        )
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a warning is not a refusal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=list(ALLOWED_FORMATS)) as image:
                if image.width * image.height > max_pixels:
                    raise InputError(
                        msg(
                            "error.image_too_many_pixels",
                            where=where,
                            file=path.name,
                            width=image.width,
                            height=image.height,
                            limit=Number(max_pixels / 1e6, 0),
                        ),
                        hint=msg("hint.smaller_copy"),
                    )
                image.load()
                # Phones store rotation as an EXIF tag; apply it so the picture stands upright.
                upright = ImageOps.exif_transpose(image)
                return upright.convert("RGBA")
    except UnidentifiedImageError:
        raise InputError(
            msg("error.not_an_image", where=where, file=path.name), hint=msg("hint.export_again_kind")
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(msg("error.image_bomb", where=where, file=path.name), hint=msg("hint.smaller_copy")) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(
            msg("error.image_damaged", where=where, file=path.name, reason=str(exc)),
            hint=msg("hint.export_image_again"),
        ) from None


def encode(image: Image.Image, fmt: str, *, max_bytes: int | None = None) -> bytes:
    """JPEG or PNG bytes of an RGB image, without metadata, within ``max_bytes`` if given."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    kind = normalise_format(fmt)
    if kind == "png":
        for optimize in (False, True):
            data = _save(image, "PNG", optimize=optimize, compress_level=6 if not optimize else 9)
            if max_bytes is None or len(data) <= max_bytes:
                return data
        raise LimitError(
            msg("error.png_too_big", size=Number(len(data) / 1e6), limit=Number((max_bytes or 0) / 1e6)),
            hint=msg("hint.use_jpeg"),
            field="cover",
        )
    for quality, subsampling in JPEG_STEPS:
        data = jpeg_bytes(image, quality=quality, subsampling=subsampling)
        if max_bytes is None or len(data) <= max_bytes:
            return data
    raise LimitError(
        msg("error.jpeg_too_big", size=Number(len(data) / 1e6), quality=quality, limit=Number((max_bytes or 0) / 1e6)),
        hint=msg("hint.plainer_background"),
        field="cover",
    )


def jpeg_bytes(image: Image.Image, *, quality: int = JPEG_STEPS[0][0], subsampling: int = JPEG_STEPS[0][1]) -> bytes:
    """The one JPEG encoding covers use (the benchmark's bare loop calls it too)."""
    return _save(image, "JPEG", quality=quality, subsampling=subsampling, optimize=True)


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    # A canvas Loa drew carries no EXIF, ICC or text chunks; nothing is passed that would add them.
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def normalise_format(fmt: str) -> str:
    kind = fmt.lower().lstrip(".")
    if kind in {"jpg", "jpeg"}:
        return "jpeg"
    if kind == "png":
        return "png"
    raise InputError(
        msg("error.unknown_image_format", format=fmt), hint=msg("hint.one_of", choices="jpg, png"), field="format"
    )
