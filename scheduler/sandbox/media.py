"""Image checks and fetches, as both platforms do them server-side.

Both platforms fetch images by URL themselves (Facebook ``url``, Zalo ``photo_url``) and
reject what is not an image or too large; the sandbox does the same with real HTTP.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import requests
from PIL import Image, UnidentifiedImageError

FETCH_TIMEOUT_S = 5.0
CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}


class MediaError(ValueError):
    """Not an acceptable image; ``reason`` is one of unreachable, too_large, not_image, format."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: JPEG, PNG, …
    width: int
    height: int
    size: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.format, "application/octet-stream")


def inspect_image(data: bytes, *, max_bytes: int, formats: tuple[str, ...]) -> ImageInfo:
    """Decode the header and verify the file; raise :class:`MediaError` if unacceptable."""
    if len(data) > max_bytes:
        raise MediaError("too_large", f"image is {len(data)} bytes; the limit is {max_bytes}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or ""
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaError("not_image", f"not a readable image ({exc})") from None
    if image_format not in formats:
        raise MediaError("format", f"image format {image_format or 'unknown'} is not accepted")
    return ImageInfo(image_format, width, height, len(data))


def fetch_image(url: str, *, max_bytes: int, formats: tuple[str, ...]) -> tuple[bytes, ImageInfo]:
    """GET ``url`` (bounded in time and size) and inspect what came back."""
    if not url.lower().startswith(("http://", "https://")):
        raise MediaError("unreachable", f"not an http(s) URL: {url!r}")
    try:
        with requests.get(url, timeout=FETCH_TIMEOUT_S, stream=True) as response:
            if response.status_code != 200:
                raise MediaError("unreachable", f"GET {url} answered HTTP {response.status_code}")
            chunks: list[bytes] = []
            total = 0
            # Read one byte past the limit so "too large" is told apart from "exactly max".
            for chunk in response.iter_content(chunk_size=65536):
                chunks.append(chunk)
                total += len(chunk)
                if total > max_bytes:
                    raise MediaError("too_large", f"{url} is larger than {max_bytes} bytes")
    except requests.RequestException as exc:
        raise MediaError("unreachable", f"GET {url} failed: {exc}") from None
    data = b"".join(chunks)
    return data, inspect_image(data, max_bytes=max_bytes, formats=formats)
