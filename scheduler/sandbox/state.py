"""Everything the sandbox has received, behind one lock, optionally saved to a JSON file.

Mutations go through :meth:`SandboxState.mutate`, which saves the file atomically when the
block ends, so a killed sandbox restarts with exactly what its clients saw acknowledged.
Uploaded image bytes live next to the state file (``<state>.media/``), not inside it.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import secrets
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

# The Page and OA that unknown tokens belong to (the ids of the shipped demo config).
FB_DEFAULT_PAGE_ID = "100000000000001"
ZALO_DEFAULT_OA_ID = "579745863508352884"

TOKEN_STATES = ("valid", "revoked", "expired", "invalid")
REQUEST_LOG_SIZE = 500
STATE_FORMAT = 1


@dataclass
class FbPhoto:
    id: str
    page_id: str
    created_time: float
    width: int
    height: int
    format: str
    size: int
    source_url: str | None = None  # the `url` Facebook was asked to fetch
    caption: str | None = None
    published: bool = True
    post_id: str | None = None
    deleted_time: float | None = None


@dataclass
class FbPost:
    id: str
    page_id: str
    created_time: float
    updated_time: float
    message: str | None = None
    link: str | None = None
    is_published: bool = True
    scheduled_publish_time: int | None = None
    unpublished_content_type: str | None = None
    photo_ids: list[str] = field(default_factory=list)
    is_hidden: bool = False
    is_pinned: bool = False
    views: int = 0
    reach: int = 0
    reactions: dict[str, int] = field(default_factory=dict)  # by type: like, love, …
    comments: int = 0
    shares: int = 0
    clicks: int = 0
    deleted_time: float | None = None

    @property
    def post_number(self) -> str:
        return self.id.split("_", 1)[1]


@dataclass
class ZaloArticle:
    id: str
    oa_id: str
    type: str
    title: str
    create_date: int  # ms since epoch, as Zalo reports it
    update_date: int
    description: str = ""
    author: str = ""
    cover: dict[str, Any] | None = None
    body: list[Any] = field(default_factory=list)
    status: str = "show"
    comment: str = "show"
    video_id: str | None = None
    avatar: str | None = None
    total_view: int = 0
    total_share: int = 0
    removed_time: float | None = None


@dataclass
class ZaloJob:
    """An accepted create/update: what ``article/verify`` will report for its token."""

    token: str
    oa_id: str
    kind: str  # create | update
    created_time: float
    polls_left: int
    article_id: str | None = None
    error_code: int | None = None
    error_message: str | None = None


@dataclass
class ZaloBroadcast:
    message_id: str
    oa_id: str
    created_time: float
    article_ids: list[str]
    target: dict[str, Any]
    request: dict[str, Any]


@dataclass
class ZaloAttachment:
    id: str
    oa_id: str
    created_time: float
    format: str
    size: int
    width: int
    height: int


@dataclass
class TokenRecord:
    platform: str
    token: str
    state: str = "valid"
    kind: str = "access"  # access | refresh | page | user | code
    owner: str | None = None  # Page id / OA id
    issued_time: float | None = None  # None: seen, not issued by the sandbox
    expires_time: float | None = None
    used_time: float | None = None  # single-use tokens (Zalo refresh token, auth code)
    challenge: str | None = None  # an authorisation code's PKCE code_challenge


@dataclass
class StateData:
    fb_posts: dict[str, FbPost] = field(default_factory=dict)
    fb_photos: dict[str, FbPhoto] = field(default_factory=dict)
    fb_pages: list[str] = field(default_factory=list)
    zalo_oas: list[str] = field(default_factory=list)
    zalo_articles: dict[str, ZaloArticle] = field(default_factory=dict)
    zalo_jobs: dict[str, ZaloJob] = field(default_factory=dict)
    zalo_broadcasts: list[ZaloBroadcast] = field(default_factory=list)
    zalo_attachments: dict[str, ZaloAttachment] = field(default_factory=dict)
    zalo_oauth_log: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, TokenRecord] = field(default_factory=dict)
    # What a person granted on a login/consent page: grant id → its app, pages and scopes.
    login_grants: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A Page's or OA's own audience figures, "platform:account" → name → value (each platform's
    # audience emulator reads and sets its own names).
    audience: dict[str, dict[str, int]] = field(default_factory=dict)
    fb_sequence: int = 0
    clock_offset_s: float = 0.0
    # Uploads and videos of the media emulators (plain JSON objects keyed "<kind>:<id>").
    media_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def token(self, platform: str, token: str) -> TokenRecord | None:
        return self.tokens.get(f"{platform}:{token}")

    def put_token(self, record: TokenRecord) -> TokenRecord:
        self.tokens[f"{record.platform}:{record.token}"] = record
        return record

    def see_page(self, page_id: str) -> None:
        if page_id not in self.fb_pages:
            self.fb_pages.append(page_id)

    def see_oa(self, oa_id: str) -> None:
        if oa_id not in self.zalo_oas:
            self.zalo_oas.append(oa_id)

    def next_fb_number(self) -> str:
        """A large numeric id, unique within this sandbox, growing like Graph ids do."""
        if self.fb_sequence == 0:
            self.fb_sequence = 1_100_000_000_000_000 + secrets.randbelow(10**14)
        self.fb_sequence += 1 + secrets.randbelow(997)
        return str(self.fb_sequence)


_T = TypeVar("_T")


def _build(cls: type[_T], raw: dict[str, Any]) -> _T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{key: value for key, value in raw.items() if key in names})


def _to_json(data: StateData) -> dict[str, Any]:
    return {"format": STATE_FORMAT, **dataclasses.asdict(data)}


def _from_json(raw: dict[str, Any]) -> StateData:
    return StateData(
        fb_posts={k: _build(FbPost, v) for k, v in raw.get("fb_posts", {}).items()},
        fb_photos={k: _build(FbPhoto, v) for k, v in raw.get("fb_photos", {}).items()},
        fb_pages=list(raw.get("fb_pages", [])),
        zalo_oas=list(raw.get("zalo_oas", [])),
        zalo_articles={k: _build(ZaloArticle, v) for k, v in raw.get("zalo_articles", {}).items()},
        zalo_jobs={k: _build(ZaloJob, v) for k, v in raw.get("zalo_jobs", {}).items()},
        zalo_broadcasts=[_build(ZaloBroadcast, v) for v in raw.get("zalo_broadcasts", [])],
        zalo_attachments={
            k: _build(ZaloAttachment, v) for k, v in raw.get("zalo_attachments", {}).items()
        },
        zalo_oauth_log=list(raw.get("zalo_oauth_log", [])),
        tokens={k: _build(TokenRecord, v) for k, v in raw.get("tokens", {}).items()},
        login_grants={str(k): dict(v) for k, v in raw.get("login_grants", {}).items()},
        audience={k: dict(v) for k, v in raw.get("audience", {}).items()},
        fb_sequence=int(raw.get("fb_sequence", 0)),
        clock_offset_s=float(raw.get("clock_offset_s", 0.0)),
        media_jobs=dict(raw.get("media_jobs", {})),
    )


def atomic_write(path: Path, payload: bytes) -> None:
    """Write via a temporary file in the same folder, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


class MediaStore:
    """Image bytes by key: in memory, mirrored to a folder when the state is persistent."""

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder
        self._items: dict[str, tuple[str, bytes]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, content_type: str, data: bytes) -> None:
        with self._lock:
            self._items[key] = (content_type, data)
            if self._folder is not None:
                atomic_write(self._folder / key, data)
                atomic_write(self._folder / f"{key}.type", content_type.encode())

    def get(self, key: str) -> tuple[str, bytes] | None:
        with self._lock:
            if key in self._items:
                return self._items[key]
            if self._folder is None or "/" in key or key.startswith("."):
                return None
            data_path, type_path = self._folder / key, self._folder / f"{key}.type"
            if not data_path.is_file():
                return None
            content_type = (
                type_path.read_text() if type_path.is_file() else "application/octet-stream"
            )
            item = (content_type, data_path.read_bytes())
            self._items[key] = item
            return item

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            if self._folder is not None and self._folder.is_dir():
                for child in self._folder.iterdir():
                    with contextlib.suppress(OSError):
                        child.unlink()


class SandboxState:
    """The sandbox's memory. Hold ``lock`` (via ``read``/``mutate``) for every access."""

    def __init__(self, state_file: Path | None = None) -> None:
        self.state_file = state_file
        self.lock = threading.RLock()
        self.data = StateData()
        media_folder = state_file.with_name(state_file.name + ".media") if state_file else None
        self.media = MediaStore(media_folder)
        # Kept in memory only: it grows on every read and is a debugging aid, not state.
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        if state_file is not None and state_file.exists():
            self.data = self._load(state_file)

    @staticmethod
    def _load(path: Path) -> StateData:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"sandbox state file {path} is unreadable ({exc}); delete it to start afresh"
            ) from None
        if not isinstance(raw, dict):
            raise ValueError(f"sandbox state file {path} is not a JSON object; delete it")
        return _from_json(raw)

    def now(self) -> float:
        """Sandbox time: wall clock plus the offset set through the control API."""
        return time.time() + self.data.clock_offset_s

    @contextlib.contextmanager
    def read(self) -> Iterator[StateData]:
        with self.lock:
            yield self.data

    @contextlib.contextmanager
    def mutate(self) -> Iterator[StateData]:
        with self.lock:
            try:
                yield self.data
            finally:
                # Saved even when the block failed halfway: the file must mirror memory.
                self.save()

    def save(self) -> None:
        with self.lock:
            if self.state_file is None:
                return
            payload = json.dumps(_to_json(self.data), ensure_ascii=False, indent=1)
            atomic_write(self.state_file, payload.encode("utf-8"))

    def reset(self) -> None:
        with self.lock:
            self.data = StateData()
            self.requests.clear()
            self.media.clear()
            self.save()

    def log_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)


# Id and token formats (docs/platforms.md A0 and B0).


def zalo_article_id() -> str:
    return secrets.token_hex(10)


def zalo_attachment_id() -> str:
    return secrets.token_hex(10)


def zalo_message_id() -> str:
    return secrets.token_hex(16)


def zalo_create_token() -> str:
    """Base64 with ``+``, ``/`` and ``=`` like Zalo's article tokens."""
    return base64.b64encode(secrets.token_bytes(60)).decode("ascii")


def opaque_token(prefix: str = "", nbytes: int = 48) -> str:
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode().rstrip("=")


def fb_trace_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(8)).decode().rstrip("=")
