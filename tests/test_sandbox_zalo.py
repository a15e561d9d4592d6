"""The Zalo OA emulation (OAuth v4, uploads, articles, broadcast) over real HTTP."""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from PIL import Image

from scheduler.config import SandboxSettings
from scheduler.sandbox.server import SandboxServer

DEFAULT_OA = "579745863508352884"
TOKEN = "oa-access-token"


def image(fmt: str = "JPEG", size: tuple[int, int] = (80, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, fmt)
    return buffer.getvalue()


def noise_png(min_bytes: int) -> bytes:
    side = int((min_bytes / 3) ** 0.5) + 16  # random pixels barely compress
    picture = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    assert len(buffer.getvalue()) > min_bytes
    return buffer.getvalue()


class ImageHost:
    """A tiny, separate web server, standing in for the public host of cover images."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = files.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", found[0])
                self.send_header("Content-Length", str(len(found[1])))
                self.end_headers()
                self.wfile.write(found[1])

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def image_host() -> Iterator[ImageHost]:
    host = ImageHost()
    host.thread.start()
    host.files["/cover.jpg"] = ("image/jpeg", image())
    yield host
    host.server.shutdown()
    host.server.server_close()


def oa_post(sandbox: SandboxServer, path: str, body: Any, token: str | None = TOKEN) -> dict[str, Any]:
    headers = {"access_token": token} if token is not None else {}
    response = requests.post(f"{sandbox.url}/v2.0/{path}", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def oa_get(sandbox: SandboxServer, path: str, params: dict[str, Any], token: str = TOKEN) -> dict[str, Any]:
    response = requests.get(
        f"{sandbox.url}/v2.0/{path}", params=params, headers={"access_token": token}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def article(cover_url: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "normal",
        "title": "Tăng cường tuyên truyền BHXH tự nguyện",
        "author": "BHXH Nghệ An",
        "description": "Tháng vận động 2026",
        "cover": {"cover_type": "photo", "photo_url": cover_url, "status": "show"},
        "body": [{"type": "text", "content": "<p>Nội dung</p>"}],
        "status": "show",
        "comment": "show",
    }
    body.update(overrides)
    return body


def publish(sandbox: SandboxServer, payload: dict[str, Any], token: str = TOKEN) -> str:
    created = oa_post(sandbox, "article/create", payload, token)
    assert created["error"] == 0, created
    for _ in range(10):
        verified = oa_post(sandbox, "article/verify", {"token": created["data"]["token"]}, token)
        if verified["error"] == 0:
            return str(verified["data"]["id"])
        assert verified["error"] == -214
    raise AssertionError("verify never finished")


def refresh(sandbox: SandboxServer, refresh_token: str, secret: str | None = "secret") -> dict[str, Any]:
    headers = {"secret_key": secret} if secret else {}
    response = requests.post(
        f"{sandbox.url}/v4/oa/access_token",
        data={"app_id": "1234", "grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=headers,
        timeout=5,
    )
    assert response.status_code == 200
    return response.json()


def state(sandbox: SandboxServer) -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).json()


def test_refresh_tokens_rotate_and_are_single_use(sandbox: SandboxServer) -> None:
    first = refresh(sandbox, "seed-refresh-token")
    assert set(first) == {"access_token", "refresh_token", "expires_in"}
    assert first["expires_in"] == "90000"
    reused = refresh(sandbox, "seed-refresh-token")
    assert reused["error"] == -14020
    assert {"error_name", "error_reason", "error_description"} <= set(reused)

    second = refresh(sandbox, first["refresh_token"])
    assert second["refresh_token"] not in (first["refresh_token"], "seed-refresh-token")
    assert refresh(sandbox, first["refresh_token"])["error"] == -14020
    detail = oa_get(sandbox, "oa/getoa", {}, token=second["access_token"])
    assert detail["error"] == 0 and detail["data"]["oa_id"] == DEFAULT_OA

    assert "error" in refresh(sandbox, second["refresh_token"], secret=None)
    log = state(sandbox)["zalo"]["oauth"]["requests"]
    assert [entry.get("error") for entry in log] == [0, -14020, 0, -14020, -14002]


def test_tokens_map_to_their_oa(sandbox: SandboxServer, image_host: ImageHost) -> None:
    issued = refresh(sandbox, "oa:1111222233334444:seed")
    article_id = publish(sandbox, article(image_host.url("/cover.jpg")), token=issued["access_token"])
    oas = state(sandbox)["zalo"]["oas"]
    assert [a["id"] for a in oas["1111222233334444"]["articles"]] == [article_id]
    assert oas.get(DEFAULT_OA, {}).get("articles", []) == []
    other = oa_get(sandbox, "article/getdetail", {"id": article_id}, token="plain-token")
    assert other["error"] == -201  # an article of another OA is not visible


def test_upload_image_limits(sandbox: SandboxServer) -> None:
    def upload(data: bytes, name: str, token: str | None = TOKEN) -> dict[str, Any]:
        headers = {"access_token": token} if token else {}
        response = requests.post(
            f"{sandbox.url}/v2.0/oa/upload/image", files={"file": (name, data)}, headers=headers,
            timeout=10,
        )
        return response.json()

    ok = upload(image("PNG"), "a.png")
    assert ok["error"] == 0 and ok["message"] == "Success"
    assert re.fullmatch(r"[0-9a-f]{20}", ok["data"]["attachment_id"])
    assert upload(image("JPEG"), "a.jpg")["error"] == 0
    assert upload(noise_png(1024 * 1024), "big.png")["error"] != 0
    assert upload(image("GIF"), "a.gif")["error"] != 0
    assert upload(b"%PDF-1.4", "a.pdf")["error"] != 0
    assert upload(image("PNG"), "a.png", token=None) == {"error": -216, "message": "Access token is invalid"}


def test_article_lifecycle_with_stats(sandbox: SandboxServer, image_host: ImageHost) -> None:
    cover = image_host.url("/cover.jpg")
    created = oa_post(sandbox, "article/create", article(cover))
    token = created["data"]["token"]
    assert created["error"] == 0 and re.fullmatch(r"[A-Za-z0-9+/=]{40,}", token)
    pending = oa_post(sandbox, "article/verify", {"token": token})
    assert pending == {"error": -214, "message": "Article is being processed"}
    verified = oa_post(sandbox, "article/verify", {"token": token})
    article_id = verified["data"]["id"]
    assert re.fullmatch(r"[0-9a-f]{20}", article_id)

    detail = oa_get(sandbox, "article/getdetail", {"id": article_id})["data"]
    assert detail["title"] == "Tăng cường tuyên truyền BHXH tự nguyện"
    assert detail["cover"]["photo_url"] == cover and detail["body"][0]["type"] == "text"
    assert isinstance(detail["create_date"], int) and detail["create_date"] > 1_700_000_000_000
    assert (detail["total_view"], detail["total_share"]) == (0, 0)

    requests.post(f"{sandbox.url}/_sandbox/engagement",
                  json={"platform": "zalo", "article_id": article_id, "total_view": 120, "total_share": 7},
                  timeout=5)
    requests.post(f"{sandbox.url}/_sandbox/engagement",
                  json={"platform": "zalo", "article_id": article_id, "views": 5, "mode": "add"},
                  timeout=5)
    listed = oa_get(sandbox, "article/getslice", {"offset": 0, "limit": 10, "type": "normal"})
    assert listed["data"]["total"] == 1
    media = listed["data"]["medias"][0]
    assert (media["id"], media["total_view"], media["total_share"]) == (article_id, 125, 7)

    too_many = oa_get(sandbox, "article/getslice", {"offset": 0, "limit": 11, "type": "normal"})
    assert too_many == {"error": -201, "message": "maximum limit is 10"}
    bad_type = oa_get(sandbox, "article/getslice", {"offset": 0, "limit": 5, "type": "photo"})
    assert bad_type == {"error": -201, "message": "type accept only 2 value normal and video."}

    updated = oa_post(sandbox, "article/update", {**article(cover, title="Tiêu đề mới"), "id": article_id})
    assert updated["error"] == 0
    publish_token = updated["data"]["token"]
    assert oa_post(sandbox, "article/verify", {"token": publish_token})["error"] == -214
    assert oa_post(sandbox, "article/verify", {"token": publish_token})["data"]["id"] == article_id
    assert oa_get(sandbox, "article/getdetail", {"id": article_id})["data"]["title"] == "Tiêu đề mới"

    removed = oa_post(sandbox, "article/remove", {"id": article_id})
    assert removed["error"] == 0
    assert oa_get(sandbox, "article/getslice", {"offset": 0, "limit": 10, "type": "normal"})["data"]["medias"] == []
    assert oa_get(sandbox, "article/getdetail", {"id": article_id})["error"] == -201


def test_getslice_is_newest_first_and_paged(sandbox: SandboxServer, image_host: ImageHost) -> None:
    ids = [publish(sandbox, article(image_host.url("/cover.jpg"), title=f"Bài {n}")) for n in range(3)]
    page = oa_get(sandbox, "article/getslice", {"offset": 1, "limit": 2, "type": "normal"})["data"]
    assert [m["id"] for m in page["medias"]] == [ids[1], ids[0]] and page["total"] == 3


def test_video_article(sandbox: SandboxServer, image_host: ImageHost) -> None:
    payload = {
        "type": "video", "title": "Video hướng dẫn", "description": "Cách đóng BHXH",
        "video_id": "abc123", "avatar": image_host.url("/cover.jpg"), "status": "show",
        "comment": "show",
    }
    article_id = publish(sandbox, payload)
    videos = oa_get(sandbox, "article/getslice", {"offset": 0, "limit": 10, "type": "video"})
    assert [m["id"] for m in videos["data"]["medias"]] == [article_id]
    normal = oa_get(sandbox, "article/getslice", {"offset": 0, "limit": 10, "type": "normal"})
    assert normal["data"]["medias"] == []
    detail = oa_get(sandbox, "article/getdetail", {"id": article_id})["data"]
    assert (detail["type"], detail["video_id"]) == ("video", "abc123")


def test_verify_pending_polls_is_a_setting(image_host: ImageHost) -> None:
    with SandboxServer(settings=SandboxSettings(zalo_verify_pending_polls=3)) as server:
        token = oa_post(server, "article/create", article(image_host.url("/cover.jpg")))["data"]["token"]
        answers = [oa_post(server, "article/verify", {"token": token})["error"] for _ in range(4)]
        assert answers == [-214, -214, -214, 0]


def test_article_validation(sandbox: SandboxServer, image_host: ImageHost) -> None:
    cover = image_host.url("/cover.jpg")
    cases = {
        "cover value is invalid": article(cover, cover=None),
        "title allow 1 to 150 characters": article(cover, title="x" * 151),
        "photo_url value is invalid": article("https://example.org/ảnh bìa.jpg"),
        "type accept only 2 value normal and video.": article(cover, type="gallery"),
    }
    for message, payload in cases.items():
        if payload["cover"] is None:
            del payload["cover"]
        assert oa_post(sandbox, "article/create", payload) == {"error": -201, "message": message}
    assert oa_post(sandbox, "article/create", article(cover, title="x" * 150))["error"] == 0
    assert oa_post(sandbox, "article/create", article(cover), token=None)["error"] == -216


def test_cover_fetch_failure_surfaces_at_verify(sandbox: SandboxServer, image_host: ImageHost) -> None:
    image_host.files["/big.png"] = ("image/png", noise_png(1024 * 1024))
    image_host.files["/page.html"] = ("text/html", b"<html></html>")
    for path in ("/missing.jpg", "/big.png", "/page.html"):
        created = oa_post(sandbox, "article/create", article(image_host.url(path)))
        assert created["error"] == 0
        token = created["data"]["token"]
        assert oa_post(sandbox, "article/verify", {"token": token})["error"] == -214
        failed = oa_post(sandbox, "article/verify", {"token": token})
        assert failed == {"error": -200, "message": "Upload media failed"}, path
    assert state(sandbox)["zalo"]["oas"][DEFAULT_OA]["articles"] == []


def test_broadcast_articles(sandbox: SandboxServer, image_host: ImageHost) -> None:
    article_id = publish(sandbox, article(image_host.url("/cover.jpg")))

    def message(ids: list[str], target: dict[str, Any]) -> dict[str, Any]:
        elements = [{"media_type": "article", "attachment_id": i} for i in ids]
        return {
            "recipient": {"target": target},
            "message": {"attachment": {"type": "template", "payload": {
                "template_type": "media", "elements": elements}}},
        }

    sent = oa_post(sandbox, "oa/message", message([article_id], {"gender": 0, "cities": "4"}))
    assert sent["error"] == 0 and sent["data"]["message_id"]
    everyone = oa_post(sandbox, "oa/message", message([article_id], {}))
    assert everyone["error"] == 0
    assert oa_post(sandbox, "oa/message", message([article_id] * 6, {}))["error"] == -201
    assert oa_post(sandbox, "oa/message", message(["0" * 20], {}))["error"] == -201
    broadcasts = state(sandbox)["zalo"]["oas"][DEFAULT_OA]["broadcasts"]
    assert [b["message_id"] for b in broadcasts] == [sent["data"]["message_id"], everyone["data"]["message_id"]]
    assert broadcasts[0]["article_ids"] == [article_id]
    assert broadcasts[0]["target"] == {"gender": 0, "cities": "4"}


def test_token_faults_and_error_faults(sandbox: SandboxServer) -> None:
    assert oa_get(sandbox, "oa/getoa", {}, token="")["error"] == -216
    requests.post(f"{sandbox.url}/_sandbox/tokens",
                  json={"platform": "zalo", "token": "revoked-token", "state": "revoked"}, timeout=5)
    assert oa_get(sandbox, "oa/getoa", {}, token="revoked-token") == {
        "error": -220, "message": "access_token is expired or removed"
    }

    requests.post(f"{sandbox.url}/_sandbox/faults",
                  json={"platform": "zalo", "route": "GET /v2.0/oa/getoa", "token_state": "expired"},
                  timeout=5)
    assert oa_get(sandbox, "oa/getoa", {}, token="current")["error"] == -220
    assert oa_get(sandbox, "oa/getoa", {}, token="current")["error"] == -220  # stays expired
    assert oa_get(sandbox, "oa/getoa", {}, token="fresh")["error"] == 0

    requests.post(f"{sandbox.url}/_sandbox/faults",
                  json={"platform": "zalo", "route": "POST /v2.0/article/create", "error": {"error": -32}},
                  timeout=5)
    limited = oa_post(sandbox, "article/create", {"title": "x"})
    assert limited == {"error": -32, "message": "Your application reached limit call api"}

    requests.post(f"{sandbox.url}/_sandbox/faults",
                  json={"platform": "zalo", "route": "POST /v4/oa/access_token", "error": -14020},
                  timeout=5)
    refused = refresh(sandbox, "never-seen")
    assert refused["error"] == -14020 and "error_name" in refused
    assert "access_token" in refresh(sandbox, "never-seen")  # the fault used nothing up


def test_drop_after_commit_still_creates_the_article(sandbox: SandboxServer, image_host: ImageHost) -> None:
    requests.post(f"{sandbox.url}/_sandbox/faults",
                  json={"platform": "zalo", "route": "POST /v2.0/article/create", "drop_after_commit": True},
                  timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{sandbox.url}/v2.0/article/create", json=article(image_host.url("/cover.jpg")),
                      headers={"access_token": TOKEN}, timeout=10)
    listed = oa_get(sandbox, "article/getslice", {"offset": 0, "limit": 10, "type": "normal"})
    assert [m["title"] for m in listed["data"]["medias"]] == ["Tăng cường tuyên truyền BHXH tự nguyện"]


def test_unknown_oa_route_is_not_supported(sandbox: SandboxServer) -> None:
    assert oa_post(sandbox, "article/upload_image", {})["error"] == -209
