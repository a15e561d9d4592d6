"""What an uploaded file really is, read from its content, never from its name.

Photos are opened with Pillow (HEIC through pillow-heif): the header gives the format and
the pixel count before any pixel is decoded, so a decompression bomb is refused unread.
Videos are recognised by their ISO base media boxes (MP4 and QuickTime MOV share them): an
``ftyp`` box first, then ``moov`` with ``mvhd`` (time scale and duration) and each track's
``tkhd`` (width and height in 16.16 fixed point). A box that runs past the end of the file is
a truncated upload.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from scheduler.errors import InputError
from scheduler.i18n import N_, Number, msg

# Pillow's format names Loa takes as photos, and the type each is stored as after cleaning.
PHOTO_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}
# Major brands of ftyp boxes seen in phone and camera videos; "qt  " is QuickTime (MOV).
VIDEO_BRANDS = {
    b"isom",
    b"iso2",
    b"iso4",
    b"iso5",
    b"iso6",
    b"mp41",
    b"mp42",
    b"avc1",
    b"M4V ",
    b"qt  ",
    b"3gp4",
    b"3gp5",
    b"MSNV",
    b"dash",
    b"hvc1",
    b"heim",
}
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta"}


@dataclass(frozen=True)
class VideoFacts:
    content_type: str  # video/mp4 or video/quicktime
    duration_s: float
    width: int
    height: int


def refuse(name: str, reason_id: str, **params: object) -> InputError:
    return InputError(
        msg("error.media_refused", file=name, reason=msg(reason_id, **params)),
        hint=msg("hint.media_kinds"),
        field="file",
    )


def sniff_kind(head: bytes) -> str | None:
    """``photo``, ``video`` or None from a file's first bytes (enough to route the checks)."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc", b"heim", b"heis"):
            return "photo"
        return "video"
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "photo"
    return None


def too_big(name: str, size: int, limit: int, key: str) -> InputError:
    return InputError(
        msg("error.media_too_big", file=name, size=Number(size / 1e6, 1), limit=Number(limit / 1e6, 0)),
        hint=msg("hint.media_too_big", key=key),
        field="file",
    )


def read_video(path: Path, name: str) -> VideoFacts:
    """Duration and frame size of an MP4/MOV file, read from its boxes; refused if truncated."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        top = _boxes(handle, 0, size, name)
        if not top or top[0][0] != b"ftyp":
            raise refuse(name, N_("reason.media_not_video"))
        handle.seek(top[0][1])
        brand = handle.read(4)
        if brand not in VIDEO_BRANDS:
            raise refuse(name, N_("reason.media_video_brand"), brand=brand.decode("latin-1").strip() or "?")
        moov = next((box for box in top if box[0] == b"moov"), None)
        if moov is None:
            raise refuse(name, N_("reason.media_truncated"))
        duration_s: float | None = None
        width = height = 0
        for kind, start, end in _walk(handle, moov[1], moov[2], name):
            handle.seek(start)
            body = handle.read(min(end - start, 256))
            if kind == b"mvhd":
                duration_s = _mvhd_duration(body)
            elif kind == b"tkhd":
                track_w, track_h = _tkhd_size(body)
                if track_w and track_h and not width:
                    width, height = track_w, track_h
    if duration_s is None or not width:
        raise refuse(name, N_("reason.media_truncated"))
    content_type = "video/quicktime" if brand == b"qt  " else "video/mp4"
    return VideoFacts(content_type=content_type, duration_s=duration_s, width=width, height=height)


def _boxes(handle: BinaryIO, start: int, end: int, name: str) -> list[tuple[bytes, int, int]]:
    """(type, body start, body end) of each box between ``start`` and ``end``."""
    found: list[tuple[bytes, int, int]] = []
    offset = start
    while offset + 8 <= end:
        handle.seek(offset)
        header = handle.read(8)
        if len(header) < 8:
            raise refuse(name, N_("reason.media_truncated"))
        length, kind = struct.unpack(">I4s", header)
        body = offset + 8
        if length == 1:
            large = handle.read(8)
            if len(large) < 8:
                raise refuse(name, N_("reason.media_truncated"))
            (length,) = struct.unpack(">Q", large)
            body = offset + 16
        elif length == 0:
            length = end - offset  # the box runs to the end of its container
        if length < body - offset or offset + length > end:
            raise refuse(name, N_("reason.media_truncated"))
        found.append((kind, body, offset + length))
        offset += length
        if len(found) > 10_000:  # a crafted file of tiny boxes: not a video anyone filmed
            raise refuse(name, N_("reason.media_not_video"))
    return found


def _walk(handle: BinaryIO, start: int, end: int, name: str, depth: int = 0) -> list[tuple[bytes, int, int]]:
    found: list[tuple[bytes, int, int]] = []
    for kind, body, box_end in _boxes(handle, start, end, name):
        found.append((kind, body, box_end))
        if kind in _CONTAINERS and depth < 6:
            found.extend(_walk(handle, body, box_end, name, depth + 1))
    return found


def _mvhd_duration(body: bytes) -> float | None:
    if not body:
        return None
    version = body[0]
    try:
        if version == 1:
            timescale, duration = struct.unpack(">IQ", body[20:32])
        else:
            timescale, duration = struct.unpack(">II", body[12:20])
    except struct.error:
        return None
    return duration / timescale if timescale else None


def _tkhd_size(body: bytes) -> tuple[int, int]:
    # Width and height close the box: at 76 in version 0, at 88 in version 1 (64-bit times).
    offset = 88 if body and body[0] == 1 else 76
    try:
        width, height = struct.unpack(">II", body[offset : offset + 8])
    except struct.error:
        return 0, 0
    return width >> 16, height >> 16
