"""The sandbox's own control API, persistence and server lifecycle."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from PIL import Image
from starlette.applications import Starlette

from scheduler.config import SandboxSettings
from scheduler.sandbox.app import create_app
from scheduler.sandbox.server import SandboxServer

PAGE = "100000000000001"
OTHER_PAGE = "100000000000002"
DEFAULT_OA = "579745863508352884"


def control(sandbox: SandboxServer, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{sandbox.url}/_sandbox/{path}", json=body, timeout=5)


def post_feed(sandbox: SandboxServer, page: str, message: str) -> requests.Response:
    return requests.post(f"{sandbox.url}/v25.0/{page}/feed",
                         data={"message": message, "access_token": "t"}, timeout=5)


def test_initial_state_shape(sandbox: SandboxServer) -> None:
    state = control(sandbox, "GET", "state").json()
    assert state["facebook"] == {"pages": {}}
    assert state["zalo"]["oas"] == {}


def test_state_lists_posts_articles_and_broadcasts(sandbox: SandboxServer) -> None:
    post_id = post_feed(sandbox, PAGE, "Xin chào").json()["id"]
    cover = requests.put(f"{sandbox.url}/_sandbox/files/c.png", data=_png(),
                         headers={"Content-Type": "image/png"}, timeout=5).json()["url"]
    headers = {"access_token": "z"}
    token = requests.post(f"{sandbox.url}/v2.0/article/create", headers=headers, timeout=5, json={
        "type": "normal", "title": "T", "description": "D",
        "cover": {"cover_type": "photo", "photo_url": cover, "status": "show"},
        "body": [{"type": "text", "content": "B"}],
    }).json()["data"]["token"]
    requests.post(f"{sandbox.url}/v2.0/article/verify", json={"token": token}, headers=headers, timeout=5)
    state = control(sandbox, "GET", "state").json()
    post = state["facebook"]["pages"][PAGE]["posts"][0]
    assert {"id", "message", "link", "photo", "created_time"} <= set(post)
    assert post["id"] == post_id and post["message"] == "Xin chào"
    article = state["zalo"]["oas"][DEFAULT_OA]["articles"][0]
    assert {"id", "title", "description", "body", "cover"} <= set(article)
    assert article["cover"]["photo_url"] == cover
    assert state["zalo"]["oas"][DEFAULT_OA]["broadcasts"] == []


def test_fault_payload_validation_and_listing(sandbox: SandboxServer) -> None:
    for bad in (
        {"platform": "twitter", "error": {"code": 1}},
        {"platform": "facebook", "eror": {"code": 1}},
        {"platform": "facebook", "times": 0, "error": {"code": 1}},
        {"platform": "facebook"},
        {"drop_after_commit": True, "error": {"code": 2}},
        {"route": "feed", "delay_s": 1},
        [{"delay_s": 1}, "nonsense"],
    ):
        response = control(sandbox, "POST", "faults", bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]
    assert control(sandbox, "GET", "faults").json() == {"faults": []}

    queued = control(sandbox, "POST", "faults", [
        {"platform": "facebook", "route": "POST /{page}/feed", "times": 2, "error": {"code": 368}},
        {"delay_s": 0.01},
    ]).json()["queued"]
    assert [fault["remaining"] for fault in queued] == [2, 1]
    assert len(control(sandbox, "GET", "faults").json()["faults"]) == 2
    assert control(sandbox, "DELETE", "faults").json() == {"cleared": 2}
    assert control(sandbox, "GET", "faults").json() == {"faults": []}


def test_faults_match_platform_route_and_count(sandbox: SandboxServer) -> None:
    control(sandbox, "POST", "faults", [
        {"platform": "zalo", "error": {"error": -32}},
        {"platform": "facebook", "route": f"POST /v25.0/{OTHER_PAGE}/feed", "times": 2,
         "error": {"code": 368}},
    ])
    assert post_feed(sandbox, PAGE, "một").status_code == 200  # other page: no match
    for _ in range(2):
        blocked = post_feed(sandbox, OTHER_PAGE, "hai")
        assert blocked.json()["error"]["code"] == 368
    assert post_feed(sandbox, OTHER_PAGE, "hai").status_code == 200
    remaining = control(sandbox, "GET", "faults").json()["faults"]
    assert [fault["platform"] for fault in remaining] == ["zalo"]


def test_immediate_token_revocation_through_faults(sandbox: SandboxServer) -> None:
    response = control(sandbox, "POST", "faults", {"platform": "facebook", "revoke_token": "t"})
    assert response.json()["tokens_changed"] == 1 and response.json()["queued"] == []
    assert post_feed(sandbox, PAGE, "x").json()["error"]["code"] == 190
    restored = control(sandbox, "POST", "tokens", {"platform": "facebook", "token": "t", "state": "valid"})
    assert restored.status_code == 200
    assert post_feed(sandbox, PAGE, "x").status_code == 200


def test_engagement_set_and_add(sandbox: SandboxServer) -> None:
    post_id = post_feed(sandbox, PAGE, "số liệu").json()["id"]
    first = control(sandbox, "POST", "engagement", {
        "platform": "facebook", "post_id": post_id, "views": 340, "reach": 210, "reactions": 12,
        "comments": 4, "shares": 3,
    }).json()
    assert (first["views"], first["reach"], first["reactions"], first["shares"]) == (340, 210, 12, 3)
    added = control(sandbox, "POST", "engagement", {
        "post_id": post_id, "views": 10, "reactions": {"love": 2}, "mode": "add",
    }).json()
    assert added["views"] == 350 and added["reactions_by_type"] == {"like": 12, "love": 2}
    missing = control(sandbox, "POST", "engagement", {"platform": "facebook", "post_id": "1_2", "views": 1})
    assert missing.status_code == 404
    invalid = control(sandbox, "POST", "engagement", {"post_id": post_id, "views": "many"})
    assert invalid.status_code == 400


def test_reset_forgets_everything(sandbox: SandboxServer) -> None:
    post_feed(sandbox, PAGE, "sẽ bị xoá")
    control(sandbox, "POST", "faults", {"delay_s": 5})
    assert control(sandbox, "POST", "reset").json() == {"reset": True}
    assert control(sandbox, "GET", "state").json()["facebook"] == {"pages": {}}
    assert control(sandbox, "GET", "faults").json() == {"faults": []}


def test_state_survives_restart_with_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox-state.json"
    with SandboxServer(state_file=state_file) as first:
        post_id = post_feed(first, PAGE, "bền vững").json()["id"]
        photo = requests.post(
            f"{first.url}/v25.0/{PAGE}/photos", data={"access_token": "t", "caption": "ảnh"},
            files={"source": ("a.png", _png(), "image/png")}, timeout=5,
        ).json()
        rotated = requests.post(
            f"{first.url}/v4/oa/access_token", headers={"secret_key": "s"}, timeout=5,
            data={"app_id": "1", "grant_type": "refresh_token", "refresh_token": "seed"},
        ).json()
    assert state_file.exists()

    with SandboxServer(state_file=state_file) as second:
        state = control(second, "GET", "state").json()
        posts = state["facebook"]["pages"][PAGE]["posts"]
        assert [p["id"] for p in posts] == [post_id, photo["post_id"]]
        assert requests.get(posts[1]["photo"]["url"], timeout=5).content == _png()
        assert post_feed(second, PAGE, "ảnh").json()["error"]["code"] == 506
        reused = requests.post(
            f"{second.url}/v4/oa/access_token", headers={"secret_key": "s"}, timeout=5,
            data={"app_id": "1", "grant_type": "refresh_token", "refresh_token": "seed"},
        ).json()
        assert reused["error"] == -14020
        fresh = requests.post(
            f"{second.url}/v4/oa/access_token", headers={"secret_key": "s"}, timeout=5,
            data={"app_id": "1", "grant_type": "refresh_token",
                  "refresh_token": rotated["refresh_token"]},
        ).json()
        assert "access_token" in fresh
        new_id = post_feed(second, PAGE, "sau khi khởi động lại").json()["id"]
        assert new_id not in (post_id, photo["post_id"])


def test_files_and_clock(sandbox: SandboxServer) -> None:
    put = requests.put(f"{sandbox.url}/_sandbox/files/logo.png", data=_png(),
                       headers={"Content-Type": "image/png"}, timeout=5)
    fetched = requests.get(put.json()["url"], timeout=5)
    assert fetched.content == _png() and fetched.headers["content-type"] == "image/png"
    assert requests.get(f"{sandbox.url}/_sandbox/files/none.png", timeout=5).status_code == 404
    before = control(sandbox, "GET", "clock").json()["now"]
    after = control(sandbox, "POST", "clock", {"advance_s": 3600}).json()
    assert after["offset_s"] == 3600 and after["now"] - before >= 3600
    assert control(sandbox, "GET", "nothing-here").status_code == 404


def test_create_app_is_explicit() -> None:
    app = create_app(SandboxSettings())
    assert isinstance(app, Starlette)


def test_serve_forever_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    script = (
        "from scheduler.sandbox.server import SandboxServer\n"
        "SandboxServer(port=0).serve_forever(on_ready=lambda s: print(s.url, flush=True))\n"
        "print('stopped', flush=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert requests.get(f"{url}/_sandbox/state", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        start = time.monotonic()
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - start < 5
        assert process.stdout.read().strip() == "stopped"
    finally:
        if process.poll() is None:
            process.kill()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (0, 128, 0)).save(buffer, "PNG")
    return buffer.getvalue()
