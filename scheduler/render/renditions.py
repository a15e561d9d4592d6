"""Smaller copies of a cover for phones: 480 and 960 px wide, WebP with a JPEG fallback.

A cover is drawn at the platform's size (1200×630, ~120 KB as JPEG). A share page shows up to
ten of them on a phone, where a 960 px WebP of the same cover is ~24 KB and a 480 px one
~11 KB. The share page lists the renditions in ``<picture>``/``srcset`` and the browser picks
the one its screen needs; a browser without WebP takes the JPEG.

Each rendition is made once, on first request, and kept on disk beside the media
(``<media_dir>/renditions/``) under a name derived from the source file's identity (path,
size, modification time), the width and the format — so a changed office image gets new
renditions, and a cover (named by its content) keeps its renditions for ever. Only the
widths and formats below exist: a request cannot ask for work of its own choosing.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

WIDTHS: tuple[int, ...] = (480, 960)
FORMATS: dict[str, str] = {"webp": "image/webp", "jpeg": "image/jpeg"}
# Chosen on the shipped layouts' covers: text stays crisp at 960 px on a phone at twice its
# CSS pixels, and ten 960 px WebP covers stay under 250 KB.
WEBP_QUALITY = 75
JPEG_QUALITY = 80
VERSION = "1"  # part of every rendition's name: changing the encoding makes new files


@dataclass(frozen=True)
class Rendition:
    path: Path
    media_type: str


class Renditions:
    """The renditions of images under a few folders, made on demand and kept in ``cache``."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @staticmethod
    def allowed(width: int, fmt: str) -> bool:
        return width in WIDTHS and fmt in FORMATS

    def get(self, source: Path, width: int, fmt: str) -> Rendition:
        """The rendition of ``source`` (a checked JPEG/PNG file), made now if it is new.

        Raises ``OSError`` when the source cannot be read as an image.
        """
        if not self.allowed(width, fmt):
            raise ValueError(f"no rendition {width} px {fmt}")
        stat = source.stat()
        identity = f"{VERSION}:{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{width}:{fmt}"
        name = hashlib.sha256(identity.encode()).hexdigest()[:32] + ("." + ("jpg" if fmt == "jpeg" else fmt))
        target = self.cache / name
        if not target.is_file():
            with self._lock(name):  # 500 phones asking at once make it once
                if not target.is_file():
                    self._make(source, target, width, fmt)
        return Rendition(target, FORMATS[fmt])

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _make(self, source: Path, target: Path, width: int, fmt: str) -> None:
        with Image.open(source) as image:
            # A JPEG is decoded at a reduced scale when that still leaves the width asked for.
            image.draft("RGB", (width, max(1, round(image.height * width / max(1, image.width)))))
            picture = image.convert("RGB")
        if picture.width > width:  # never enlarged: a small image is only re-encoded
            height = max(1, round(picture.height * width / picture.width))
            picture = picture.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        self.cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        if fmt == "webp":
            picture.save(temporary, "WEBP", quality=WEBP_QUALITY, method=4)
        else:
            picture.save(temporary, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        temporary.replace(target)  # never a half-written file at a served name


def srcset(url: str, fmt: str) -> str:
    """The ``srcset`` of one format for an image served at ``url`` (a path on Loa's own site)."""
    return ", ".join(f"{url}?w={width}&f={fmt} {width}w" for width in WIDTHS)
