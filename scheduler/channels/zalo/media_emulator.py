"""The sandbox's Zalo article video calls (docs/platforms.md D4): ``upload_video/preparevideo``
takes the file and answers a token; ``upload_video/verify`` (the token in a header) answers
``status`` 3 (processing) for the first ``zalo_verify_pending_polls`` reads, then 1 (usable)
with the ``video_id`` a ``type: video`` article names. Videos live in the state's
``media_jobs``; their bytes are hashed and kept in a folder, never in the state.
"""

from __future__ import annotations

import hashlib
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.sandbox.wire import ApiRequest, ApiResponse

if TYPE_CHECKING:
    from scheduler.channels.zalo.emulator import ZaloApi

# UNVERIFIED (D4): Zalo's ceiling for an article video (50 MB in the SDK's documentation).
VIDEO_MAX_BYTES = 50 * 1024 * 1024
# D4: verify's status codes (1 usable, 2 locked, 3 processing, 4 error, 5 deleted).
USABLE, PROCESSING = 1, 3


def _error(code: int, message: str) -> Exception:
    from scheduler.channels.zalo.emulator import ZaloError

    return ZaloError(code, message)


class ZaloMedia:
    """Video handlers of one Zalo emulator."""

    def __init__(self, api: ZaloApi) -> None:
        self.api = api
        self.state = api.state
        self._folder: Path | None = None

    def routes(self) -> list[tuple[str, tuple[str, ...], Callable[[ApiRequest, str], ApiResponse]]]:
        return [
            ("POST", ("article", "upload_video", "preparevideo"), self.prepare),
            ("GET", ("article", "upload_video", "verify"), self.verify),
        ]

    @property
    def folder(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="loa-sandbox-zalo-videos-"))
        return self._folder

    def prepare(self, req: ApiRequest, oa_id: str) -> ApiResponse:
        from scheduler.channels.zalo.emulator import envelope

        upload = req.files.get("file")
        if upload is None or not upload.data:
            raise _error(-201, "file is invalid")
        if len(upload.data) > VIDEO_MAX_BYTES:
            raise _error(-210, "The size of file exceeds the limit (50MB)")
        if upload.data[4:8] != b"ftyp":
            raise _error(-201, "file type is invalid, only mp4 is supported")
        token = secrets.token_hex(16)
        (self.folder / token).write_bytes(upload.data)
        with self.state.mutate() as data:
            data.media_jobs[f"zv:{token}"] = {
                "kind": "zalo_video", "oa_id": oa_id, "token": token, "video_id": None,
                "size": len(upload.data), "sha256": hashlib.sha256(upload.data).hexdigest(),
                "reads": 0, "status": PROCESSING, "name": upload.filename,
            }  # fmt: skip
            data.see_oa(oa_id)
        return ApiResponse(200, envelope({"token": token}))

    def verify(self, req: ApiRequest, oa_id: str) -> ApiResponse:
        from scheduler.channels.zalo.emulator import envelope

        token = req.headers.get("token", "")
        with self.state.mutate() as data:
            job = data.media_jobs.get(f"zv:{token}")
            if job is None or job["oa_id"] != oa_id:
                raise _error(-201, "token is invalid")
            if job["status"] == PROCESSING:
                job["reads"] += 1
                if job["reads"] > self.api.settings.zalo_verify_pending_polls:
                    job["status"] = USABLE
                    job["video_id"] = secrets.token_hex(12)
            answer: dict[str, Any] = {
                "status": job["status"],
                "convert_percent": 100 if job["status"] == USABLE else 40,
                "video_id": job["video_id"] or "",
            }
        return ApiResponse(200, envelope(answer))

    @staticmethod
    def usable(data: Any, oa_id: str, video_id: str) -> bool:
        return any(
            job.get("kind") == "zalo_video" and job["oa_id"] == oa_id and job["video_id"] == video_id
            for job in data.media_jobs.values()
        )

    @staticmethod
    def state_videos(data: Any, oa_id: str) -> list[dict[str, Any]]:
        """The OA's uploaded videos for ``/_sandbox/state``."""
        return [
            {key: job.get(key) for key in ("token", "video_id", "size", "sha256", "status", "name")}
            for job in data.media_jobs.values()
            if job.get("kind") == "zalo_video" and job.get("oa_id") == oa_id
        ]
