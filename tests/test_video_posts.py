"""Video posts through real HTTP to the sandbox: the Page video uploaded in chunks and
resumed after a lost reply, a Reel for a short vertical clip, the Zalo video article, and the
faults of each step (processing error, verify pending then failed)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import Cli
from tests.mp4 import write_mp4
from tests.test_publishing import OA, PAGE, articles, fault, page_posts, state

FB, ZALO = "fb-bhxh-nghean", "zalo-bhxh-nghean"
TEXT = "Phóng sự: BHXH tỉnh Nghệ An ra quân tuyên truyền tại chợ Vinh"


def videos(sandbox: Any) -> list[dict[str, Any]]:
    return list(state(sandbox)["facebook"]["pages"].get(PAGE, {}).get("videos", []))


def zalo_videos(sandbox: Any) -> list[dict[str, Any]]:
    return list(state(sandbox)["zalo"]["oas"].get(OA, {}).get("videos", []))


def queue_video(loa: Cli, path: Path, *channels: str) -> dict[str, Any]:
    (item,) = loa("media", "add", str(path), "--json").json()["media"]
    assert item["kind"] == "video"
    added = loa(
        "post", "add", "--text", TEXT, "--media", str(item["id"]),
        *[a for c in channels for a in ("--channel", c)], "--now", "--json",
    )  # fmt: skip
    assert added.code == 0, added.stderr
    return dict(added.json())


def retry_now(config: Path) -> None:
    with sqlite3.connect(config.parent / "posts.db") as db:
        db.execute("UPDATE publication SET next_attempt_at = NULL")


def test_a_page_video_arrives_whole_and_a_zalo_video_article_names_it(
    loa: Cli, sandbox: Any, config_path: Path, tmp_path: Path
) -> None:
    clip = write_mp4(tmp_path / "phong-su.mp4", seconds=42.0, width=1920, height=1080, payload=9 * 1024 * 1024)
    digest = hashlib.sha256(clip.read_bytes()).hexdigest()
    queue_video(loa, clip, FB, ZALO)
    published = loa("publish-due", "--json").json()
    assert published["counts"]["published"] == 2, published
    (video,) = videos(sandbox)
    assert video["kind"] == "video" and video["status"] == "ready" and video["sha256"] == digest
    (post,) = page_posts(sandbox)
    assert post["id"] == video["post_id"] and post["message"] == TEXT
    (uploaded,) = zalo_videos(sandbox)
    assert uploaded["sha256"] == digest
    (article,) = articles(sandbox)
    assert article["type"] == "video" and article["video_id"] == uploaded["video_id"]


def test_a_lost_reply_mid_upload_resumes_at_the_recorded_offset(
    loa: Cli, sandbox: Any, config_path: Path, tmp_path: Path
) -> None:
    clip = write_mp4(tmp_path / "clip.mp4", seconds=30.0, width=1280, height=720, payload=10 * 1024 * 1024)
    shown = queue_video(loa, clip, FB)
    # The second chunk is taken, then its reply is lost (as if Loa were killed there).
    fault(sandbox, platform="facebook", route="POST /{page}/videos", skip=2, drop_after_commit=True)
    first = loa("publish-due", "--json").json()
    assert first["counts"].get("published", 0) == 0
    with sqlite3.connect(config_path.parent / "posts.db") as db:
        offset = db.execute("SELECT value FROM publishstep WHERE step = 'video:offset'").fetchone()[0]
    assert int(offset) == 4 * 1024 * 1024  # the first chunk is on record, the second is not
    retry_now(config_path)
    assert loa("publish-due", "--json").json()["counts"]["published"] == 1
    (video,) = videos(sandbox)  # one upload session, resumed: never a second video
    assert video["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert len(page_posts(sandbox)) == 1
    assert loa("post", "show", str(shown["id"]), "--json").json()["publications"][0]["status"] == "published"


def test_a_processing_error_fails_the_post_and_removes_the_video(
    loa: Cli, sandbox: Any, config_path: Path, tmp_path: Path
) -> None:
    clip = write_mp4(tmp_path / "loi.mp4", seconds=20.0, width=1280, height=720)
    shown = queue_video(loa, clip, FB)
    answer = json.dumps({"id": "0", "status": {"video_status": "error", "processing_progress": 0}})
    fault(sandbox, platform="facebook", route="GET /{node}", status=200, body=answer)
    loa("publish-due")
    (publication,) = loa("post", "show", str(shown["id"]), "--json").json()["publications"]
    assert publication["status"] == "failed" and publication["error"]
    (video,) = videos(sandbox)
    assert video["deleted"] and page_posts(sandbox) == []


def test_a_short_vertical_clip_goes_out_as_a_reel(loa: Cli, sandbox: Any, config_path: Path, tmp_path: Path) -> None:
    clip = write_mp4(tmp_path / "reel.mp4", seconds=15.0, width=1080, height=1920)
    queue_video(loa, clip, FB)
    assert loa("publish-due", "--json").json()["counts"]["published"] == 1
    (video,) = videos(sandbox)
    assert video["kind"] == "reel" and video["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    (post,) = page_posts(sandbox)
    assert post["message"] == TEXT


def test_the_thirty_first_reel_of_the_day_is_refused_in_loas_queue(loa: Cli, config_path: Path, tmp_path: Path) -> None:
    ids = []
    for i in range(31):
        clip = write_mp4(tmp_path / f"reel-{i}.mp4", seconds=10.0, width=1080, height=1920, payload=1024)
        ids.append(loa("media", "add", str(clip), "--json").json()["media"][0]["id"])
    for i, media_id in enumerate(ids[:30]):
        queued = loa("post", "add", "--text", f"Reel {i}", "--media", str(media_id), "--channel", FB,
                     "--at", f"2026-12-30T{8 + i // 6:02d}:{(i % 6) * 10:02d}")  # fmt: skip
        assert queued.code == 0, queued.stderr
    refused = loa("post", "add", "--text", "Reel 31", "--media", str(ids[30]), "--channel", FB,
                  "--at", "2026-12-30T20:00")  # fmt: skip
    assert refused.code == 2 and "30" in refused.stderr and FB in refused.stderr


def test_zalo_verify_pending_then_failed_fails_the_post_without_an_article(
    loa: Cli, sandbox: Any, config_path: Path, tmp_path: Path
) -> None:
    clip = write_mp4(tmp_path / "zalo.mp4", seconds=25.0, width=1280, height=720)
    shown = queue_video(loa, clip, ZALO)
    failed = json.dumps({"error": 0, "message": "Success", "data": {"status": 4, "convert_percent": 0}})
    # The first verify answers "processing" as the sandbox does; the second, "error".
    fault(sandbox, platform="zalo", route="GET /v2.0/article/upload_video/verify", skip=1, status=200, body=failed)
    loa("publish-due")
    (publication,) = loa("post", "show", str(shown["id"]), "--json").json()["publications"]
    assert publication["status"] == "failed" and publication["error"]
    assert articles(sandbox) == []


def test_a_video_too_long_for_a_reel_is_refused_naming_the_file_and_the_limit(
    loa: Cli, config_path: Path, tmp_path: Path
) -> None:
    clip = write_mp4(tmp_path / "dai-qua.mp4", seconds=120.0, width=1080, height=1920, payload=1024)
    (item,) = loa("media", "add", str(clip), "--json").json()["media"]
    refused = loa("post", "add", "--text", TEXT, "--media", str(item["id"]), "--reel", "--channel", FB, "--now")
    assert refused.code == 2 and "dai-qua.mp4" in refused.stderr and "90" in refused.stderr
    assert "Traceback" not in refused.stderr
    with sqlite3.connect(config_path.parent / "posts.db") as db:
        assert db.execute("SELECT count(*) FROM post").fetchone()[0] == 0
