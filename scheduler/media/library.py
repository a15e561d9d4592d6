"""The media library: photos and videos checked by content, cleaned, stored once by hash.

A photo is opened by Pillow (HEIC through pillow-heif), its size and pixel count refused
past the ``[media]`` caps before any pixel is decoded, turned upright by its EXIF
orientation and written again without its metadata (so no location leaves the office), at
``publish_edge_px`` on its long edge, with a thumbnail beside it. A video is recognised by its
boxes (``checks.read_video``) and copied as it is, in chunks, never held in memory.

Several files given at once are all checked before any is stored: one bad file and nothing
of that call is kept. The same content added twice is the same row.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import shutil
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import col, select

from scheduler.audit import record
from scheduler.config import Settings
from scheduler.errors import InputError, NotFound
from scheduler.i18n import N_, msg
from scheduler.media.checks import PHOTO_FORMATS, read_video, refuse, sniff_kind, too_big
from scheduler.models import MediaItem, MediaKind, PostMedia, utcnow
from scheduler.render.messages import nfc
from scheduler.store import session_scope

if TYPE_CHECKING:
    from scheduler.channels.base import MediaFile

THUMBNAIL_EDGE = 320
MAX_ALT_CHARS = 1000
_CHUNK = 1024 * 1024


@dataclass
class _Checked:
    """One file that passed every check, ready to be written."""

    name: str
    sha256: str
    kind: MediaKind
    content_type: str
    width: int
    height: int
    size: int
    suffix: str
    duration_s: float | None = None
    image: bytes | None = None  # the cleaned photo
    thumbnail: bytes | None = None
    source: Path | None = None  # a video, copied as it is
    existing: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _register_heif() -> None:
    # On first use only: nothing at import time, and most commands never open a photo.
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def publish_ceiling() -> int:
    """The largest photo every registered platform takes."""
    from scheduler.channels.registry import registry

    return min(cls.max_image_bytes for cls in registry().values())


def _encoded(image: Any, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def describe(item: MediaItem) -> dict[str, Any]:
    """The shape of `loa media add --json` (one entry of `media`)."""
    return {
        "id": item.id,
        "kind": item.kind.value,
        "sha256": item.sha256,
        "width": item.width,
        "height": item.height,
        "duration_s": item.duration_s,
        "bytes": item.bytes,
        "alt": item.alt,
        "content_type": item.content_type,
        "file": item.file,
        "thumbnail": item.thumbnail,
        "name": item.original_name,
        "created_at": item.created_at.isoformat(),
    }


class MediaLibrary:
    """Adds, lists and removes library items; built explicitly from settings and an engine."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    @property
    def folder(self) -> Path:
        return self.settings.media_path

    # -- adding ---------------------------------------------------------------------------

    def add(
        self, files: Sequence[Path], *, alt: str = "", actor: str = "cli", names: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Check every file, then store them all in one transaction (or none of them)."""
        alt = nfc(alt.strip())
        if len(alt) > MAX_ALT_CHARS:
            raise InputError(msg("error.alt_too_long", limit=MAX_ALT_CHARS), field="alt")
        shown = list(names) if names is not None else [path.name for path in files]
        checked = [self.check(path, name) for path, name in zip(files, shown, strict=True)]
        with session_scope(self.engine, read_only=True) as session:
            for item in checked:
                row = session.exec(select(MediaItem).where(MediaItem.sha256 == item.sha256)).first()
                item.existing = row.id if row is not None else None
        written: list[Path] = []
        try:
            rows = self._write(checked, alt, actor, written)
        except BaseException:
            for path in written:  # nothing of a refused call stays behind
                path.unlink(missing_ok=True)
            raise
        return rows

    def _write(self, checked: list[_Checked], alt: str, actor: str, written: list[Path]) -> list[dict[str, Any]]:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        ids: list[int] = []
        with session_scope(self.engine) as session:
            for item in checked:
                if item.existing is not None:
                    ids.append(item.existing)
                    continue
                stem = item.sha256[:32]
                file_name = f"{stem}{item.suffix}"
                self._put(file_name, item, written)
                thumbnail = None
                if item.thumbnail is not None:
                    thumbnail = f"{stem}-thumb.jpg"
                    self._put_bytes(thumbnail, item.thumbnail, written)
                row = MediaItem(
                    sha256=item.sha256,
                    kind=item.kind,
                    content_type=item.content_type,
                    file=file_name,
                    thumbnail=thumbnail,
                    width=item.width,
                    height=item.height,
                    duration_s=item.duration_s,
                    bytes=item.size,
                    alt=alt,
                    original_name=nfc(item.name)[:255],
                    created_at=utcnow(),
                    created_by=actor,
                )
                session.add(row)
                session.flush()
                assert row.id is not None
                record(session, actor=actor, action="media.add", object=f"media:{row.id}")
                ids.append(row.id)
        with session_scope(self.engine, read_only=True) as session:
            rows = {r.id: r for r in session.exec(select(MediaItem).where(col(MediaItem.id).in_(ids)))}
            return [describe(rows[i]) for i in ids]

    def _put(self, name: str, item: _Checked, written: list[Path]) -> None:
        if item.image is not None:
            self._put_bytes(name, item.image, written)
            return
        assert item.source is not None
        target = self.folder / name
        if target.exists():
            return
        temporary = target.with_name(target.name + ".part")
        written.append(temporary)
        with item.source.open("rb") as source, temporary.open("wb") as sink:
            shutil.copyfileobj(source, sink, _CHUNK)  # a video is streamed, never read whole
        temporary.replace(target)
        written.append(target)

    def _put_bytes(self, name: str, data: bytes, written: list[Path]) -> None:
        target = self.folder / name
        if target.exists():
            return
        temporary = target.with_name(target.name + ".part")
        written.append(temporary)
        temporary.write_bytes(data)
        temporary.replace(target)  # never a half-written file at a served name
        written.append(target)

    def check(self, path: Path, name: str | None = None) -> _Checked:
        """Everything about one file, refused with its name and the limit it broke."""
        name = name or path.name
        try:
            size = path.stat().st_size
            with path.open("rb") as handle:
                head = handle.read(32)
        except OSError as exc:
            raise InputError(
                msg("error.media_unreadable", file=name, reason=exc.strerror or str(exc)), field="file"
            ) from None
        kind = sniff_kind(head)
        if kind is None:
            raise refuse(name, N_("reason.media_unknown_kind"))
        media = self.settings.media
        if kind == "video":
            if size > media.max_video_bytes:
                raise too_big(name, size, media.max_video_bytes, "media.max_video_mib")
            facts = read_video(path, name)
            return _Checked(
                name=name,
                sha256=_digest(path),
                kind=MediaKind.video,
                content_type=facts.content_type,
                width=facts.width,
                height=facts.height,
                size=size,
                suffix=".mov" if facts.content_type == "video/quicktime" else ".mp4",
                duration_s=round(facts.duration_s, 3),
                source=path,
            )
        if size > media.max_photo_bytes:
            raise too_big(name, size, media.max_photo_bytes, "media.max_photo_mib")
        return self._photo(path, name, size)

    def _photo(self, path: Path, name: str, size: int) -> _Checked:
        from PIL import Image, ImageOps

        media = self.settings.media
        _register_heif()
        try:
            with Image.open(path) as opened:
                image_format = opened.format or ""
                if image_format not in PHOTO_FORMATS:
                    raise refuse(name, N_("reason.media_unknown_kind"))
                width, height = opened.size
                limit = media.max_photo_megapixels * 1_000_000
                if width * height > limit:
                    # Refused from the header: the pixels of a bomb are never decoded.
                    raise refuse(
                        name, N_("reason.media_too_many_pixels"), width=width, height=height,
                        limit=media.max_photo_megapixels,
                    )  # fmt: skip
                edge = media.publish_edge_px
                if image_format == "JPEG":
                    # Decode at the nearest scale above the edge: a 12 MP photo is not expanded whole.
                    opened.draft("RGB", (edge, edge))
                upright = ImageOps.exif_transpose(opened)
                upright.load()
        except InputError:
            raise
        except Image.DecompressionBombError:
            # Past twice Pillow's own ceiling: refused while reading the header, as it should be.
            raise refuse(name, N_("reason.media_bomb"), limit=media.max_photo_megapixels) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise refuse(name, N_("reason.media_unreadable_photo"), reason=str(exc)[:120]) from None
        keeps_alpha = upright.mode in ("RGBA", "LA") or (upright.mode == "P" and "transparency" in upright.info)
        publish = upright.convert("RGBA" if keeps_alpha else "RGB")
        if max(publish.size) > edge:
            publish.thumbnail((edge, edge), Image.Resampling.LANCZOS)
        # Written again from the pixels: no EXIF (location, camera serial) goes with it. The
        # copy must fit every platform's photo bytes (Zalo's 1 MB is the smallest).
        ceiling = publish_ceiling()
        if keeps_alpha:
            data = _encoded(publish, "PNG")
            suffix, content_type = ".png", "image/png"
        else:
            data = b""
            for quality in (88, 80, 72, 64):
                data = _encoded(publish, "JPEG", quality=quality)
                if len(data) <= ceiling:
                    break
            suffix, content_type = ".jpg", "image/jpeg"
        while len(data) > ceiling and max(publish.size) > THUMBNAIL_EDGE * 2:
            publish.thumbnail((max(publish.size) * 3 // 4,) * 2, Image.Resampling.LANCZOS)
            data = _encoded(publish, "PNG") if keeps_alpha else _encoded(publish, "JPEG", quality=72)
        thumb = publish.convert("RGB")
        thumb.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.BILINEAR)
        small = io.BytesIO()
        thumb.save(small, "JPEG", quality=80)
        return _Checked(
            name=name,
            sha256=_digest(path),
            kind=MediaKind.photo,
            content_type=content_type,
            width=publish.width,
            height=publish.height,
            size=len(data),
            suffix=suffix,
            image=data,
            thumbnail=small.getvalue(),
        )

    def add_upload(self, stream: Any, name: str, *, alt: str = "", actor: str = "cli") -> list[dict[str, Any]]:
        """One uploaded file (a file object), spooled to disk and added as :meth:`add` does."""
        with tempfile.TemporaryDirectory(prefix="loa-upload-") as folder:
            path = Path(folder) / "upload"
            with path.open("wb") as sink:
                shutil.copyfileobj(stream, sink, _CHUNK)
            return self.add([path], alt=alt, actor=actor, names=[name])

    # -- reading and changing -------------------------------------------------------------

    def list(self, *, limit: int = 200) -> list[dict[str, Any]]:
        with session_scope(self.engine, read_only=True) as session:
            rows = session.exec(select(MediaItem).order_by(col(MediaItem.id).desc()).limit(limit))
            return [describe(row) for row in rows]

    def items(self, ids: Sequence[int]) -> builtins.list[MediaItem]:
        """The library rows of ``ids`` in that order; an unknown id is refused by number."""
        if not ids:
            return []
        with session_scope(self.engine, read_only=True) as session:
            rows = {r.id: r for r in session.exec(select(MediaItem).where(col(MediaItem.id).in_(list(ids))))}
        missing = [i for i in ids if i not in rows]
        if missing:
            raise NotFound(msg("error.no_media", media=missing[0]), hint=msg("hint.see_media_list"), field="media")
        return [rows[i] for i in ids]

    def set_alt(self, media_id: int, alt: str, *, actor: str = "cli") -> dict[str, Any]:
        alt = nfc(alt.strip())
        if len(alt) > MAX_ALT_CHARS:
            raise InputError(msg("error.alt_too_long", limit=MAX_ALT_CHARS), field="alt")
        with session_scope(self.engine) as session:
            row = session.get(MediaItem, media_id)
            if row is None:
                raise NotFound(msg("error.no_media", media=media_id), hint=msg("hint.see_media_list"))
            row.alt = alt
            session.add(row)
            record(session, actor=actor, action="media.alt", object=f"media:{media_id}")
            return describe(row)

    def delete(self, media_id: int, *, actor: str = "cli") -> None:
        """Remove an item no post uses; one that a post shows is refused, naming the post."""
        with session_scope(self.engine) as session:
            row = session.get(MediaItem, media_id)
            if row is None:
                raise NotFound(msg("error.no_media", media=media_id), hint=msg("hint.see_media_list"))
            use = session.exec(select(PostMedia).where(PostMedia.media_id == media_id)).first()
            if use is not None:
                raise InputError(
                    msg("error.media_in_use", media=media_id, post=use.post_id), hint=msg("hint.media_in_use")
                )
            files = [row.file, row.thumbnail]
            session.delete(row)
            record(session, actor=actor, action="media.delete", object=f"media:{media_id}")
        for name in files:
            if name:
                (self.folder / name).unlink(missing_ok=True)


def as_file(item: MediaItem, settings: Settings) -> MediaFile:
    """A library row as a publisher receives it: its stored file and public address."""
    from urllib.parse import quote

    from scheduler.channels.base import MediaFile

    return MediaFile(
        kind=item.kind.value,
        path=settings.media_path / item.file,
        url=f"{settings.public_url}/media/{quote(item.file)}",
        content_type=item.content_type,
        width=item.width,
        height=item.height,
        size=item.bytes,
        sha256=item.sha256,
        duration_s=item.duration_s,
        alt=item.alt,
    )


def publication_media(engine: Engine, settings: Settings, publication_id: int) -> tuple[MediaFile, ...]:
    """What one publication shows, in order: read when it is published."""
    from scheduler.models import Publication

    with session_scope(engine, read_only=True) as session:
        rows = session.exec(
            select(MediaItem)
            .join(PostMedia, col(PostMedia.media_id) == col(MediaItem.id))
            .join(Publication, col(Publication.post_id) == col(PostMedia.post_id))
            .where(Publication.id == publication_id)
            .order_by(col(PostMedia.position))
        )
        return tuple(as_file(row, settings) for row in rows)


def publications_media(
    engine: Engine, settings: Settings, publication_ids: Collection[int]
) -> dict[int, tuple[MediaFile, ...]]:
    """:func:`publication_media` for a whole claim at once: one query, not one per publication.

    Every id asked for is in the answer (a post without media has an empty tuple).
    """
    from scheduler.models import Publication

    found: dict[int, list[MediaFile]] = {publication_id: [] for publication_id in publication_ids}
    if not found:
        return {}
    with session_scope(engine, read_only=True) as session:
        rows = session.exec(
            select(col(Publication.id), MediaItem)
            .join(PostMedia, col(PostMedia.media_id) == col(MediaItem.id))
            .join(Publication, col(Publication.post_id) == col(PostMedia.post_id))
            .where(col(Publication.id).in_(list(found)))
            .order_by(col(Publication.id), col(PostMedia.position))
        )
        for publication_id, row in rows:
            found[int(publication_id or 0)].append(as_file(row, settings))
    return {publication_id: tuple(files) for publication_id, files in found.items()}
