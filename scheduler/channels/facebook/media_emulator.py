"""The sandbox's Graph video calls (docs/platforms.md D3): a Page video by chunked upload,
processing polled on the video node, and Reels (start → upload to ``upload_url`` → finish).

Chunks are appended to a file per upload session, never held whole; a chunk sent again at an
offset already received is taken again (a client resuming after a lost reply), one past the
received bytes is refused. Processing answers ``processing`` for the first status read, then
``ready``, when the video's post appears on the Page. Videos live in the state's
``media_jobs`` (plain JSON, so a persistent sandbox keeps them).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.sandbox.state import FbPost, StateData
from scheduler.sandbox.wire import ApiRequest, ApiResponse, as_int, as_str

if TYPE_CHECKING:
    from scheduler.channels.facebook.emulator import FacebookApi

# The chunk the sandbox asks for next; Graph chooses its own (UNVERIFIED: its sizes).
CHUNK_BYTES = 4 * 1024 * 1024
# Status reads answered "processing" before a video is ready.
PROCESSING_READS = 1
# Reels: docs/platforms.md D3 (3–90 s, 30 per Page per rolling 24 h).
REELS_PER_DAY = 30


def _error(code: int, message: str, *, subcode: int | None = None) -> Exception:
    from scheduler.channels.facebook.emulator import GraphError

    return GraphError(code, message, subcode=subcode)


class FacebookMedia:
    """Video handlers of one Graph emulator (its state, its folder of uploaded bytes)."""

    def __init__(self, api: FacebookApi) -> None:
        self.api = api
        self.state = api.state
        self._folder: Path | None = None

    def routes(self) -> list[tuple[str, tuple[str, ...], Callable[[ApiRequest, dict[str, str]], ApiResponse]]]:
        return [
            ("POST", ("{node}", "videos"), self.videos),
            ("POST", ("{node}", "video_reels"), self.reels),
            ("POST", ("video-upload", "{version}", "{video}"), self.reel_bytes),
        ]

    @property
    def folder(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="loa-sandbox-videos-"))
        return self._folder

    # -- Page videos: upload_phase start / transfer / finish ------------------------------------

    def videos(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        page_id = self.api._page_for(found["node"], req)
        phase = as_str(req.params.get("upload_phase"))
        if phase == "start":
            size = as_int("file_size", req.params.get("file_size"), 0)
            if not size or size <= 0:
                raise _error(100, "(#100) file_size is required for upload_phase=start")
            with self.state.mutate() as data:
                video_id = data.next_fb_number()
                session = data.next_fb_number()
                data.media_jobs[f"fbv:{video_id}"] = {
                    "kind": "video", "page_id": page_id, "video_id": video_id, "session": session,
                    "size": size, "received": 0, "status": "uploading", "reads": 0, "post_id": None,
                    "description": None, "title": None, "deleted": False,
                }  # fmt: skip
                data.see_page(page_id)
            (self.folder / video_id).write_bytes(b"")
            return ApiResponse(
                200,
                {
                    "video_id": video_id,
                    "upload_session_id": session,
                    "start_offset": "0",
                    "end_offset": str(min(size, CHUNK_BYTES)),
                },
            )
        job = self._session(as_str(req.params.get("upload_session_id")))
        if phase == "transfer":
            offset = as_int("start_offset", req.params.get("start_offset"), 0)
            chunk = req.files.get("video_file_chunk")
            if chunk is None:
                raise _error(100, "(#100) video_file_chunk is required for upload_phase=transfer")
            received = self._write(job, offset, chunk.data)
            return ApiResponse(
                200, {"start_offset": str(received), "end_offset": str(min(job["size"], received + CHUNK_BYTES))}
            )
        if phase == "finish":
            if job["received"] != job["size"]:
                raise _error(6001, "(#6001) The video file is incomplete", subcode=1363019)
            with self.state.mutate() as data:
                stored = data.media_jobs[f"fbv:{job['video_id']}"]
                if stored["status"] == "uploading":
                    stored.update(
                        status="processing",
                        description=as_str(req.params.get("description")) or None,
                        title=as_str(req.params.get("title")) or None,
                        sha256=self._digest(job["video_id"]),
                    )
            return ApiResponse(200, {"success": True})
        raise _error(100, "(#100) upload_phase must be start, transfer or finish")

    def _session(self, session: str | None) -> dict[str, Any]:
        with self.state.read() as data:
            for job in data.media_jobs.values():
                if job.get("session") == session and job.get("kind") in ("video", "reel") and not job["deleted"]:
                    return dict(job)
        raise _error(100, "(#100) Invalid upload_session_id", subcode=1363030)

    def _write(self, job: dict[str, Any], offset: int, data_bytes: bytes) -> int:
        if offset > job["received"] or offset < 0:
            raise _error(6001, f"(#6001) start_offset must be at most {job['received']}", subcode=1363037)
        if offset + len(data_bytes) > job["size"]:
            raise _error(6001, "(#6001) The chunk runs past file_size", subcode=1363037)
        path = self.folder / job["video_id"]
        with path.open("r+b") as handle:
            handle.truncate(offset)  # a chunk sent again replaces what came after its offset
            handle.seek(offset)
            handle.write(data_bytes)
        received = offset + len(data_bytes)
        with self.state.mutate() as data:
            data.media_jobs[self._key(job)]["received"] = received
        return received

    @staticmethod
    def _key(job: dict[str, Any]) -> str:
        return f"{'fbr' if job['kind'] == 'reel' else 'fbv'}:{job['video_id']}"

    def _digest(self, video_id: str) -> str:
        digest = hashlib.sha256()
        with (self.folder / video_id).open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        return digest.hexdigest()

    # -- Reels: start → bytes to upload_url → finish ----------------------------------------

    def reels(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        page_id = self.api._page_for(found["node"], req)
        phase = as_str(req.params.get("upload_phase"))
        if phase == "start":
            with self.state.mutate() as data:
                day_ago = self.state.now() - 24 * 3600
                recent = [
                    j for j in data.media_jobs.values()
                    if j.get("kind") == "reel" and j["page_id"] == page_id and j.get("published_at", 0) > day_ago
                ]  # fmt: skip
                if len(recent) >= REELS_PER_DAY:
                    raise _error(4, "(#4) Application request limit reached: 30 reels per Page in 24 hours")
                video_id = data.next_fb_number()
                data.media_jobs[f"fbr:{video_id}"] = {
                    "kind": "reel", "page_id": page_id, "video_id": video_id, "session": None, "size": 0,
                    "received": 0, "status": "uploading", "reads": 0, "post_id": None, "description": None,
                    "title": None, "deleted": False,
                }  # fmt: skip
            (self.folder / video_id).write_bytes(b"")
            version = req.version or "v25.0"
            return ApiResponse(
                200, {"video_id": video_id, "upload_url": f"{req.base_url}/video-upload/{version}/{video_id}"}
            )
        if phase == "finish":
            video_id = as_str(req.params.get("video_id")) or ""
            with self.state.mutate() as data:
                job = data.media_jobs.get(f"fbr:{video_id}")
                if job is None or job["deleted"] or job["received"] == 0 or job["received"] != job["size"]:
                    raise _error(100, "(#100) The video has not been uploaded", subcode=1363019)
                if job["status"] == "uploading":
                    job.update(
                        status="processing",
                        description=as_str(req.params.get("description")) or None,
                        sha256=self._digest(video_id),
                        published_at=self.state.now(),
                    )
            return ApiResponse(200, {"success": True})
        raise _error(100, "(#100) upload_phase must be start or finish")

    def reel_bytes(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        """rupload: the bytes in the body, ``offset`` and ``file_size`` headers (D3)."""
        video_id = found["video"]
        with self.state.read() as data:
            job = dict(data.media_jobs.get(f"fbr:{video_id}") or {})
        if not job or job["deleted"]:
            raise _error(100, "(#100) Unknown video id")
        try:
            offset = int(req.headers.get("offset", ""))
            size = int(req.headers.get("file_size", ""))
        except ValueError:
            raise _error(100, "(#100) offset and file_size headers are required") from None
        with self.state.mutate() as data:
            data.media_jobs[f"fbr:{video_id}"]["size"] = size
        job["size"] = size
        self._write(job, offset, req.raw_body)
        return ApiResponse(200, {"success": True})

    # -- reading a video ------------------------------------------------------------------

    def video_node(self, node: str) -> dict[str, Any] | None:
        """The video's status answer (reading it moves processing on), or None if not a video."""
        with self.state.mutate() as data:
            job = data.media_jobs.get(f"fbv:{node}") or data.media_jobs.get(f"fbr:{node}")
            if job is None or job["deleted"]:
                return None
            if job["status"] == "processing":
                job["reads"] += 1
                if job["reads"] > PROCESSING_READS:
                    job["status"] = "ready"
                    job["post_id"] = self._post(data, job)
            answer: dict[str, Any] = {
                "id": job["video_id"],
                "status": {
                    "video_status": job["status"] if job["status"] != "uploading" else "upload_in_progress",
                    "processing_progress": 100 if job["status"] == "ready" else 50,
                },
            }
            if job["post_id"]:
                answer["post_id"] = job["post_id"]
                reel = job["kind"] == "reel"
                answer["permalink_url"] = (
                    f"https://www.facebook.com/reel/{job['video_id']}"
                    if reel
                    else f"https://www.facebook.com/{job['page_id']}/videos/{job['video_id']}"
                )
            return answer

    def _post(self, data: StateData, job: dict[str, Any]) -> str:
        now = self.state.now()
        post = FbPost(
            id=f"{job['page_id']}_{data.next_fb_number()}",
            page_id=job["page_id"],
            created_time=now,
            updated_time=now,
            message=job["description"],
        )
        data.fb_posts[post.id] = post
        return post.id

    def delete(self, node: str) -> bool:
        with self.state.mutate() as data:
            job = data.media_jobs.get(f"fbv:{node}") or data.media_jobs.get(f"fbr:{node}")
            if job is None or job["deleted"]:
                return False
            job["deleted"] = True
            post = data.fb_posts.get(job["post_id"] or "")
            if post is not None:
                post.deleted_time = self.state.now()
        return True

    @staticmethod
    def state_videos(data: StateData, page_id: str) -> list[dict[str, Any]]:
        """The Page's videos and reels for ``/_sandbox/state``."""
        return [
            {key: job.get(key) for key in ("kind", "video_id", "size", "received", "status", "post_id",
                                            "description", "sha256", "deleted")}
            for job in data.media_jobs.values()
            if job.get("kind") in ("video", "reel") and job.get("page_id") == page_id
        ]  # fmt: skip
