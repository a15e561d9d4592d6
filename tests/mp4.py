"""Small real MP4 files for tests: the boxes a phone writes (ftyp, moov with mvhd and a
video track's tkhd, mdat), the payload random so hashes tell copies apart."""

from __future__ import annotations

import os
import struct
from pathlib import Path


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def mp4_bytes(*, seconds: float, width: int, height: int, payload: int = 64 * 1024, brand: bytes = b"isom") -> bytes:
    timescale = 1000
    mvhd = struct.pack(">B3sIIII", 0, b"\0\0\0", 0, 0, timescale, int(seconds * timescale)) + b"\0" * 80
    tkhd = (
        struct.pack(">B3sIIIII", 0, b"\0\0\x07", 0, 0, 1, 0, int(seconds * timescale))
        + b"\0" * 8 + b"\0" * 8 + b"\0" * 36
        + struct.pack(">II", width << 16, height << 16)
    )  # fmt: skip
    trak = _box(b"trak", _box(b"tkhd", tkhd))
    moov = _box(b"moov", _box(b"mvhd", mvhd) + trak)
    ftyp = _box(b"ftyp", brand + b"\0\0\x02\0" + b"isomiso2mp41")
    return ftyp + moov + _box(b"mdat", os.urandom(payload))


def write_mp4(path: Path, **kwargs: object) -> Path:
    path.write_bytes(mp4_bytes(**kwargs))  # type: ignore[arg-type]
    return path
