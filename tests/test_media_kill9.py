"""A real `loa publish-due` killed with SIGKILL mid-album and mid-upload: afterwards there is
exactly one post, with every photo (or the whole video), and what was staged twice is on
record — never two posts, never a silent orphan."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.posts.requests import PostRequest
from tests.mp4 import write_mp4
from tests.test_faults import later, loa_process, publication, wait_for_status
from tests.test_media_posts import COLOURS, dominant, near, photo
from tests.test_publishing import PAGE, dispatcher, fault, page_posts, state

FB = "fb-bhxh-nghean"


@pytest.fixture
def app(config_path: Path) -> Loa:
    loa = Loa(load_settings(config_path))
    loa.init()
    return loa


def steps(config: Path) -> dict[str, str]:
    with sqlite3.connect(config.parent / "posts.db") as db:
        return dict(db.execute("SELECT step, value FROM publishstep").fetchall())


def wait_until(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_kill_9_mid_album_leaves_one_post_with_every_photo(
    app: Loa,
    sandbox: Any,
    config_path: Path,
    tmp_path: Path,
) -> None:
    items = app.media.add([photo(tmp_path, f"anh-{i}.jpg", colour) for i, colour in enumerate(COLOURS)])
    post_id = app.posts.add(PostRequest(template="", text="Album", channels=[FB], media=[m["id"] for m in items]))
    # Every photo after the third waits on the platform: the process dies in the middle.
    fault(sandbox, platform="facebook", route="POST /{page}/photos", skip=3, times=2, delay_s=2.5)
    process = loa_process(config_path, "publish-due")
    wait_until(lambda: len(state(sandbox)["facebook"]["pages"].get(PAGE, {}).get("photos", [])) >= 3)
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert page_posts(sandbox) == []
    assert publication(app, post_id)["status"] == "publishing"
    time.sleep(3.5)  # the delayed uploads finish on the platform; their replies go nowhere
    # The lease holder is gone: noticed, looked for (absent), published again from the record.
    dispatcher(app, clock=lambda: later(1)).run_once()
    dispatcher(app, clock=lambda: later(2)).run_once()
    wait_for_status(app, post_id, "published")
    (post,) = page_posts(sandbox)
    assert len(post["photos"]) == 5
    for staged, colour in zip(post["photos"], COLOURS, strict=True):
        import requests

        assert near(dominant(requests.get(staged["url"], timeout=5).content), colour)
    unattached = [p for p in state(sandbox)["facebook"]["pages"][PAGE]["photos"] if p["post_id"] is None]
    recorded = [k for k in steps(config_path) if k.startswith("orphan:")]
    assert len(recorded) >= len(unattached) > 0  # staged twice, and said so


def test_kill_9_mid_upload_resumes_the_same_video(
    app: Loa,
    sandbox: Any,
    config_path: Path,
    tmp_path: Path,
) -> None:
    clip = write_mp4(tmp_path / "clip.mp4", seconds=40.0, width=1280, height=720, payload=12 * 1024 * 1024)
    (item,) = app.media.add([clip])
    post_id = app.posts.add(PostRequest(template="", text="Phóng sự", channels=[FB], media=[item["id"]]))
    # start, then one chunk pass; the second chunk waits: the process dies during it.
    fault(sandbox, platform="facebook", route="POST /{page}/videos", skip=2, times=1, delay_s=3.0)
    process = loa_process(config_path, "publish-due")
    wait_until(lambda: "video:offset" in steps(config_path))
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert page_posts(sandbox) == []
    time.sleep(3.5)
    dispatcher(app, clock=lambda: later(1)).run_once()
    dispatcher(app, clock=lambda: later(2)).run_once()
    wait_for_status(app, post_id, "published")
    (video,) = state(sandbox)["facebook"]["pages"][PAGE]["videos"]  # one upload session, resumed
    assert video["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert len(page_posts(sandbox)) == 1
