"""Publishing end to end: the real CLI and dispatcher, real HTTP to the sandbox on loopback."""

from __future__ import annotations

import html
import re
import threading
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.posts.requests import PostRequest
from scheduler.publishing.dispatcher import Dispatcher
from tests.conftest import Cli

VARS = {"hoat_dong": "ra quân tuyên truyền", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}
CHANNELS = ["fb-bhxh-nghean", "zalo-bhxh-nghean"]
PAGE = "100000000000001"
OA = "579745863508352884"


def state(sandbox: Any) -> dict[str, Any]:
    response = requests.get(f"{sandbox.url}/_sandbox/state", timeout=5)
    response.raise_for_status()
    return dict(response.json())


def fault(sandbox: Any, **payload: Any) -> None:
    requests.post(f"{sandbox.url}/_sandbox/faults", json=payload, timeout=5).raise_for_status()


def page_posts(sandbox: Any) -> list[dict[str, Any]]:
    return list(state(sandbox)["facebook"]["pages"].get(PAGE, {}).get("posts", []))


def articles(sandbox: Any) -> list[dict[str, Any]]:
    return list(state(sandbox)["zalo"]["oas"].get(OA, {}).get("articles", []))


def article_text(article: dict[str, Any]) -> str:
    """The plain text of a Zalo article body (paragraphs and line breaks back to newlines)."""
    parts = [item["content"] for item in article["body"] if item.get("type") == "text"]
    markup = "\n\n".join(parts)
    markup = re.sub(r"<br\s*/?>", "\n", markup)
    markup = re.sub(r"</p>\s*<p>", "\n\n", markup)
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip()


@pytest.fixture
def app(config_path: Path) -> Loa:
    loa = Loa(load_settings(config_path))
    loa.init()
    return loa


def dispatcher(app: Loa, clock: Callable[[], datetime] | None = None) -> Dispatcher:
    """A one-shot dispatcher, as `loa publish-due` runs it (a new process each time)."""
    return Dispatcher(app.settings, app.engine, app.vault, one_shot=True, **({"clock": clock} if clock else {}))


def queue(app: Loa, *, channels: list[str] = CHANNELS, at: datetime | None = None, **variables: str) -> int:
    return app.posts.add(
        PostRequest(template="thang-van-dong", channels=channels, variables={**VARS, **variables}, at=at),
        now=min(at, datetime.now(UTC)) if at else None,
    )


def test_publish_due_publishes_exact_nfc_text_once(loa: Cli, sandbox: Any) -> None:
    nfd_place = unicodedata.normalize("NFD", "xã Nghĩa Đồng, huyện Tân Kỳ")
    added = loa(
        "post", "add", "--template", "thang-van-dong", "--var", "hoat_dong=ra quân tuyên truyền",
        "--var", f"dia_diem={nfd_place}", "--var", "ngay=06/05/2026",
        "--channel", "fb-bhxh-nghean", "--channel", "zalo-bhxh-nghean", "--now", "--json",
    )  # fmt: skip
    assert added.code == 0, added.stderr
    post = added.json()

    first = loa("publish-due", "--json")
    assert first.code == 0, first.stderr
    assert first.json()["counts"]["published"] == 2

    shown = loa("post", "show", str(post["id"]), "--json").json()
    assert shown["status"] == "published"
    texts = {p["channel"]: p["text"] for p in shown["publications"]}
    for publication in shown["publications"]:
        assert publication["remote_id"] and publication["permalink"] and publication["published_at"]
        assert unicodedata.is_normalized("NFC", publication["text"])
    assert "xã Nghĩa Đồng, huyện Tân Kỳ" in texts["fb-bhxh-nghean"]

    posts = page_posts(sandbox)
    assert [p["message"] for p in posts] == [texts["fb-bhxh-nghean"]]
    assert posts[0]["message"].encode() == unicodedata.normalize("NFC", posts[0]["message"]).encode()
    (article,) = articles(sandbox)
    assert article_text(article) == texts["zalo-bhxh-nghean"]
    assert article["title"] == "Tháng Vận động: ra quân tuyên truyền"
    assert article["cover"]["photo_url"].endswith("/assets/cover-default.jpg")

    second = loa("publish-due", "--json")
    assert second.code == 0
    assert second.json()["counts"]["published"] == 0
    assert len(page_posts(sandbox)) == 1 and len(articles(sandbox)) == 1

    listed = loa("post", "list", "--status", "published", "--json").json()["posts"]
    assert [p["id"] for p in listed] == [post["id"]]


def test_future_post_waits_for_its_time(app: Loa, sandbox: Any) -> None:
    at = datetime.now(UTC) + timedelta(hours=1)
    post_id = queue(app, at=at)
    assert dispatcher(app).run_once().counts()["published"] == 0
    later = dispatcher(app, clock=lambda: at + timedelta(seconds=1)).run_once()
    assert sorted(later.published) == sorted(p["id"] for p in app.posts.show(post_id)["publications"])


def test_two_dispatchers_at_once_publish_each_post_once(app: Loa, sandbox: Any) -> None:
    for n in range(6):
        queue(app, channels=["fb-bhxh-nghean"], hoat_dong=f"ra quân đợt {n}")
    barrier = threading.Barrier(2)
    results: list[list[int]] = []

    def run() -> None:
        barrier.wait()
        results.append(dispatcher(app).run_once().published)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    published = results[0] + results[1]
    assert len(published) == len(set(published)) == 6
    assert len(page_posts(sandbox)) == 6


def test_expired_token_blocks_the_channel_without_a_retry_storm(app: Loa, sandbox: Any) -> None:
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, status=400,
          error={"code": 190, "error_subcode": 463})  # fmt: skip
    post_id = queue(app, channels=["fb-bhxh-nghean"])
    summary = dispatcher(app).run_once()
    assert len(summary.blocked) == 1
    publication = app.posts.show(post_id)["publications"][0]
    assert publication["status"] == "blocked"
    assert "kết nối lại" in publication["error"].lower() and "mã" in publication["error"].lower()
    from scheduler.channels.service import channel_rows

    assert channel_rows(app)[0]["status"] == "needs_reauth"
    # Later posts for that channel are held, not sent into the same error.
    second = queue(app, channels=["fb-bhxh-nghean"], hoat_dong="đợt hai")
    again = dispatcher(app).run_once()
    assert again.published == [] and len(again.blocked) == 1
    assert app.posts.show(second)["publications"][0]["status"] == "blocked"
    assert page_posts(sandbox) == []


def test_rate_limit_pauses_only_that_channel(app: Loa, sandbox: Any) -> None:
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, status=400,
          error={"code": 32, "message": "Page request limit reached"})  # fmt: skip
    post_id = queue(app)
    summary = dispatcher(app).run_once()
    assert len(summary.deferred) == 1 and len(summary.published) == 1  # Zalo went on
    statuses = {p["channel"]: p["status"] for p in app.posts.show(post_id)["publications"]}
    assert statuses == {"fb-bhxh-nghean": "scheduled", "zalo-bhxh-nghean": "published"}
    from scheduler.channels.service import channel_rows

    fb = channel_rows(app)[0]
    assert fb["status"] == "paused" and fb["paused_until"]
    # After the pause the publication goes out, once.
    later = dispatcher(app, clock=lambda: datetime.now(UTC) + timedelta(hours=2)).run_once()
    assert len(later.published) == 1
    assert len(page_posts(sandbox)) == 1


def test_lost_reply_is_unknown_then_reconciled_without_a_second_post(app: Loa, sandbox: Any) -> None:
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, drop_after_commit=True)
    post_id = queue(app, channels=["fb-bhxh-nghean"])
    summary = dispatcher(app).run_once()
    assert len(summary.unknown) == 1
    assert app.posts.show(post_id)["publications"][0]["status"] == "unknown"
    assert len(page_posts(sandbox)) == 1  # the platform has it
    later = dispatcher(app, clock=lambda: datetime.now(UTC) + timedelta(minutes=5)).run_once()
    assert len(later.reconciled) == 1
    publication = app.posts.show(post_id)["publications"][0]
    assert publication["status"] == "published"
    assert publication["remote_id"] == page_posts(sandbox)[0]["id"]
    assert len(page_posts(sandbox)) == 1


def test_unknown_outcome_absent_on_platform_publishes_once_more(app: Loa, sandbox: Any) -> None:
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, status=502,
          error={"code": 2, "message": "Service temporarily unavailable"})  # fmt: skip
    post_id = queue(app, channels=["fb-bhxh-nghean"])
    assert len(dispatcher(app).run_once().unknown) == 1
    assert page_posts(sandbox) == []
    later = dispatcher(app, clock=lambda: datetime.now(UTC) + timedelta(minutes=5)).run_once()
    assert len(later.published) == 1
    assert app.posts.show(post_id)["publications"][0]["status"] == "published"
    assert len(page_posts(sandbox)) == 1


def test_overdue_beyond_grace_is_missed_not_published(app: Loa, sandbox: Any) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    recent = datetime.now(UTC) - timedelta(minutes=10)
    old_id = queue(app, channels=["fb-bhxh-nghean"], at=long_ago, hoat_dong="tin cũ")
    new_id = queue(app, channels=["fb-bhxh-nghean"], at=recent, hoat_dong="tin mới")
    summary = dispatcher(app).run_once()
    assert len(summary.missed) == 1 and len(summary.published) == 1
    old = app.posts.show(old_id)["publications"][0]
    assert old["status"] == "missed" and "quá 60 phút trước" in old["error"]
    # The reason is stored as an id with its parameters: each reader gets their language.
    english = app.posts.show(old_id, lang="en")["publications"][0]["error"]
    assert "more than 60 minutes ago, while Loa was not running" in english
    assert app.posts.show(new_id)["publications"][0]["status"] == "published"
    assert [p["message"] for p in page_posts(sandbox)] == [app.posts.show(new_id)["text"]]


def test_permanent_error_fails_with_the_platform_reason(app: Loa, sandbox: Any) -> None:
    fault(sandbox, platform="zalo", route="POST /v2.0/article/create", times=1,
          error={"error": -201, "message": "title is invalid"})  # fmt: skip
    post_id = queue(app, channels=["zalo-bhxh-nghean"])
    summary = dispatcher(app).run_once()
    assert len(summary.failed) == 1
    publication = app.posts.show(post_id)["publications"][0]
    assert publication["status"] == "failed" and "title is invalid" in publication["error"]


def test_healthz_reports_the_dispatcher(app: Loa) -> None:
    from scheduler.engine import PublishingEngine
    from scheduler.serving import ThreadedServer
    from scheduler.web.app import create_app

    with ThreadedServer(create_app(app)) as server:
        before = requests.get(f"{server.url}/healthz", timeout=5)
        assert before.status_code == 503
        app.publishing_engine = engine = PublishingEngine(app.settings, app.engine, app.vault, role="run")
        engine.start()
        try:
            deadline = time.monotonic() + 10
            while (after := requests.get(f"{server.url}/healthz", timeout=5)).status_code != 200:
                assert time.monotonic() < deadline, after.json()
                time.sleep(0.05)
        finally:
            engine.shutdown()
        assert after.json()["database"] == "ok" and after.json()["last_tick_age_seconds"] < 5
        assert after.json()["role"] == "run" and after.json()["instance"] == engine.instance


def test_reconnect_releases_held_publications(app: Loa, sandbox: Any) -> None:
    from scheduler.channels.service import channel_rows, reconnect

    revoked = "sandbox-page-token-100000000000001"
    requests.post(f"{sandbox.url}/_sandbox/tokens", json={"platform": "facebook", "token": revoked,
                  "state": "revoked"}, timeout=5).raise_for_status()  # fmt: skip
    post_id = queue(app, channels=["fb-bhxh-nghean"])
    assert len(dispatcher(app).run_once().blocked) == 1
    assert channel_rows(app)[0]["status"] == "needs_reauth"
    released = reconnect(app, "fb-bhxh-nghean", "EAAB-new-page-token-2026", actor="admin")
    assert released == 1
    assert channel_rows(app)[0]["status"] == "ok"
    summary = dispatcher(app).run_once()
    assert len(summary.published) == 1
    assert app.posts.show(post_id)["publications"][0]["status"] == "published"
    assert len(page_posts(sandbox)) == 1


def test_post_with_a_cover_reaches_both_platforms(loa: Cli, sandbox: Any, config_path: Path) -> None:
    added = loa(
        "post", "add", "--template", "bhxh-tu-nguyen", "--var", "muc_dong_thap_nhat=330.000 đồng",
        "--var", "ho_tro=30%", "--var", "subtitle=Nhà nước hỗ trợ 30% mức đóng",
        "--channel", "fb-bhxh-nghean", "--channel", "zalo-bhxh-nghean", "--now", "--cover", "default", "--json",
    )  # fmt: skip
    assert added.code == 0, added.stderr
    covers = {p["channel"]: p["cover"] for p in added.json()["publications"]}
    assert all(covers.values()) and covers["fb-bhxh-nghean"] != covers["zalo-bhxh-nghean"]
    assert (config_path.parent / "media" / covers["zalo-bhxh-nghean"]).is_file()
    published = loa("publish-due", "--json").json()
    assert published["counts"]["published"] == 2, published
    (post,) = page_posts(sandbox)
    assert post["photo"] and post["photo"]["width"] == 1200 and post["photo"]["height"] == 630
    (article,) = articles(sandbox)
    assert article["cover"]["photo_url"].endswith(f"/media/{covers['zalo-bhxh-nghean']}")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--cover", "khong-co"], "khong-co"),
        (["--cover", "default", "--var", "subtitle=" + "rất dài " * 80], "rút bớt"),
    ],
)
def test_bad_cover_is_refused_and_nothing_is_queued(loa: Cli, extra: list[str], expected: str) -> None:
    result = loa(
        "post", "add", "--template", "bhxh-tu-nguyen", "--var", "muc_dong_thap_nhat=330.000 đồng",
        "--var", "ho_tro=30%", "--channel", "fb-bhxh-nghean", "--now", *extra,
    )  # fmt: skip
    assert result.code == 2, result
    assert expected in result.stderr
    assert loa("post", "list", "--json").json() == {"posts": []}
