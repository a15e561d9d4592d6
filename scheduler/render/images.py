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

from scheduler.errors import InputError, LimitError

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


def open_image(path: Path, *, where: str, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_FILE_BYTES) -> Image.Image:
    """Decode ``path`` fully into an RGBA image, or raise :class:`InputError` naming the file."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{where}: image {path.name!r} cannot be read: {exc.strerror}") from None
    if size > max_bytes:
        raise InputError(
            f"{where}: image {path.name!r} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit",
            hint="save a smaller copy (a cover needs at most about 2000 pixels across)",
        )
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a warning is not a refusal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=list(ALLOWED_FORMATS)) as image:
                if image.width * image.height > max_pixels:
                    raise InputError(
                        f"{where}: image {path.name!r} is {image.width}×{image.height} pixels, "
                        f"over the limit of {max_pixels / 1e6:.0f} megapixels",
                        hint="save a smaller copy of it (a cover needs at most about 2000 pixels across)",
                    )
                image.load()
                # Phones store rotation as an EXIF tag; apply it so the picture stands upright.
                upright = ImageOps.exif_transpose(image)
                return upright.convert("RGBA")
    except UnidentifiedImageError:
        raise InputError(
            f"{where}: {path.name!r} is not an image Loa can use (JPEG, PNG, WebP or GIF)",
            hint="the file may be a web page or another document saved with an image name; export it again",
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(
            f"{where}: image {path.name!r} is too large to decode safely (decompression bomb?)",
            hint="save a smaller copy of it",
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(
            f"{where}: image {path.name!r} is damaged or truncated ({exc})", hint="export the image again"
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
            f"the PNG cover is {len(data) / 1e6:.2f} MB, over the limit of {(max_bytes or 0) / 1e6:.2f} MB",
            hint="use JPEG for this cover, or a plainer background",
            field="cover",
        )
    for quality, subsampling in JPEG_STEPS:
        data = jpeg_bytes(image, quality=quality, subsampling=subsampling)
        if max_bytes is None or len(data) <= max_bytes:
            return data
    raise LimitError(
        f"the JPEG cover is {len(data) / 1e6:.2f} MB even at quality {quality}, over the limit of "
        f"{(max_bytes or 0) / 1e6:.2f} MB",
        hint="use a plainer or smaller background image in the layout",
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
    raise InputError(f"unknown image format {fmt!r}", hint="use jpg or png", field="format")
