"""The console end to end in a real headless Chromium: compose in Vietnamese, approve, publish.

Runs Debian's /usr/bin/chromium through Playwright for Python (no browser download), against
the real web app on loopback, the real sandbox and a real dispatcher pass. Screenshots of the
main pages land in out/screenshots/ for review.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.publishing.dispatcher import Dispatcher
from scheduler.serving import ThreadedServer
from scheduler.web.app import create_app
from tests.conftest import CONSOLE_CHANNELS, CONSOLE_PASSWORD, REPO, free_port, seed_console_users, write_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = REPO / "out" / "screenshots"
PAGE_ID = "100000000000001"
OA_ID = "579745863508352884"

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium; .ci/run does it)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def site(tmp_path: Path, sandbox: Any, console_password_hash: str) -> Iterator[tuple[str, Loa]]:
    """The real web app at the config's public_url (Zalo fetches covers from it), with the sandbox."""
    port = free_port()
    config = write_config(
        tmp_path, sandbox_url=sandbox.url, public_url=f"http://127.0.0.1:{port}", channels=CONSOLE_CHANNELS
    )
    loa = Loa(load_settings(config))
    loa.init()
    seed_console_users(loa.engine, console_password_hash)
    with ThreadedServer(create_app(loa), port=port) as server:
        yield server.url, loa
    loa.close()


class Watched:
    """A page whose console errors and uncaught exceptions are collected."""

    def __init__(self, browser: Any, base: str, *, width: int = 1280, height: int = 900) -> None:
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh"
        )
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.base = base
        self.problems: list[str] = []
        self.page.on(
            "console", lambda m: self.problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        # ERR_ABORTED is a request the next navigation cancelled (a favicon, say), not a failure.
        self.page.on(
            "requestfailed",
            lambda r: (
                self.problems.append(f"requestfailed: {r.url} {r.failure}")
                if "ERR_ABORTED" not in str(r.failure)
                else None
            ),
        )
        self.page.on(
            "response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
        )

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def login(self, username: str) -> None:
        self.go("/login")
        self.page.get_by_label("Tên đăng nhập").fill(username)
        self.page.get_by_label("Mật khẩu").fill(CONSOLE_PASSWORD)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Đăng nhập").click()

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def test_compose_approve_publish_in_the_browser(browser: Any, site: tuple[str, Loa], sandbox: Any) -> None:
    base, loa = site
    shutil.rmtree(SHOTS, ignore_errors=True)
    editor = Watched(browser, base)
    page = editor.page
    editor.go("/login")
    editor.shot("01-login")
    editor.login("bientap")
    assert page.locator("h1").first.inner_text() == "Tổng quan"

    # Compose: pick the template (its fields appear), fill them in Vietnamese, pick a cover.
    page.get_by_role("link", name="Soạn bài", exact=True).click()
    with page.expect_navigation():
        page.get_by_label("Mẫu tin").select_option("thang-van-dong")
    page.get_by_label("Việc gì").fill("ra quân tuyên truyền BHXH tự nguyện")
    page.get_by_label("Ở đâu").fill("chợ Quán Lau, phường Quán Bàu (TP Vinh)")
    page.get_by_label("Ngày dd/mm/yyyy").fill("06/05/2026")
    page.get_by_label("Chiến dịch").select_option("thang-van-dong-2026")
    with page.expect_navigation():
        page.get_by_label("Mẫu ảnh bìa").select_option("default")
    page.get_by_label("Phụ đề").fill("Tháng Vận động BHXH, BHYT toàn dân")
    page.get_by_label("Đăng ngay khi được phép").check()
    # The live preview re-renders on the server as one types.
    preview = page.locator("#preview")
    # Set only by console.js once a preview it asked for (after the last keystroke) has arrived.
    page.wait_for_function("() => document.querySelector('#preview').dataset.rendered")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#preview img.pv-image')].every(i => i.complete && i.naturalWidth > 0)"
    )
    facebook_card = preview.locator("article.pv-facebook")
    zalo_card = preview.locator("article.pv-zalo")
    assert "ra quân tuyên truyền BHXH tự nguyện tại chợ Quán Lau" in facebook_card.inner_text()
    assert "1900 9068" in facebook_card.inner_text()
    assert zalo_card.locator(".pv-title").inner_text() == "Tháng Vận động: ra quân tuyên truyền BHXH tự nguyện"
    assert preview.locator("img.pv-image").count() == 2
    button = page.locator("#queue-button")
    assert button.inner_text().strip() == "Gửi duyệt"
    page.set_viewport_size({"width": 1280, "height": 1900})  # the whole form and preview in one picture
    editor.shot("02-compose")
    with page.expect_navigation():
        button.click()
    assert "Chờ duyệt" in page.locator("h1").inner_text()
    post_id = int(page.url.split("/posts/")[1].split("?")[0])
    editor.shot("03-post-waiting")
    editor_problems = list(editor.problems)
    editor.close()

    # The Zalo channel needs no approval: it goes out at once; Facebook waits.
    Dispatcher(loa.settings, loa.engine, loa.vault).run_once()
    assert {p["channel"]: p["status"] for p in loa.posts.show(post_id)["publications"]} == {
        "fb-bhxh-nghean": "pending_approval",
        "zalo-bhxh-nghean": "published",
    }

    # Another person approves.
    approver = Watched(browser, base)
    page = approver.page
    approver.login("duyet")
    assert page.get_by_text("Chờ duyệt (1)").is_visible()
    approver.shot("04-dashboard-approver")
    page.get_by_role("link", name=f"#{post_id}").first.click()
    with page.expect_navigation():
        page.get_by_role("button", name="Duyệt", exact=True).click()
    assert "Đã duyệt bài." in page.locator(".flash-ok").inner_text()

    Dispatcher(loa.settings, loa.engine, loa.vault).run_once()
    approver.go("/queue")
    row = page.locator("li.post-row", has=page.locator(f"a[href='/posts/{post_id}']").first).first
    assert row.locator(".badge").first.inner_text() == "Đã đăng"
    approver.shot("05-queue")
    approver.go(f"/posts/{post_id}")
    assert page.get_by_role("link", name="Xem bài trên nền tảng ↗").count() == 2
    approver.shot("06-post-published")
    for path, name in (
        ("/calendar", "07-calendar-week"),
        ("/calendar?view=month", "08-calendar-month"),
        ("/channels", "09-channels"),
        ("/", "10-dashboard"),
        ("/reports", "16-reports"),
    ):
        approver.go(path)
        approver.shot(name)
    approver_problems = list(approver.problems)
    approver.close()

    # What the platforms received is exactly what the preview showed.
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).json()
    (fb_post,) = state["facebook"]["pages"][PAGE_ID]["posts"]
    shown = {p["channel"]: p for p in loa.posts.show(post_id)["publications"]}
    assert fb_post["message"] == shown["fb-bhxh-nghean"]["text"]
    (article,) = state["zalo"]["oas"][OA_ID]["articles"]
    assert article["title"] == "Tháng Vận động: ra quân tuyên truyền BHXH tự nguyện"
    assert "/media/" in article["cover"]["photo_url"]
    assert editor_problems == [] and approver_problems == []


def test_console_is_usable_at_360_px_and_in_english(browser: Any, site: tuple[str, Loa]) -> None:
    base, _loa = site
    admin = Watched(browser, base, width=360, height=780)
    page = admin.page
    admin.login("quantri")
    for path, name in (
        ("/", "11-mobile-dashboard"),
        ("/compose", "12-mobile-compose"),
        ("/queue", "13-mobile-queue"),
        ("/audit", "14-mobile-audit"),
        ("/calendar", "15-mobile-calendar"),
        ("/users", "17-users"),
        ("/staff", "18-staff"),
    ):
        admin.go(path)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{path} scrolls sideways at 360 px ({overflow} px)"
        admin.shot(name)
    admin.go("/?lang=en")
    assert page.locator("h1").first.inner_text() == "Dashboard"
    # Keyboard only: the skip link comes first, then the page can be worked with Tab and Enter.
    admin.go("/compose?lang=vi")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"
    assert admin.problems == []
    admin.close()


def test_drop_three_photos_compose_preview_and_the_album_arrives(
    browser: Any, site: tuple[str, Loa], sandbox: Any, tmp_path: Path
) -> None:
    import base64

    from tests.test_media_posts import COLOURS, dominant, near, photo

    base, loa = site
    editor = Watched(browser, base)
    page = editor.page
    editor.login("bientap")
    editor.go("/compose")
    files = [
        {"name": f"anh-{i}.jpg", "b64": base64.b64encode(photo(tmp_path, f"anh-{i}.jpg", colour).read_bytes()).decode()}
        for i, colour in enumerate(COLOURS[:3])
    ]
    dropped = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
                transfer.items.add(new File([bytes], f.name, {type: "image/jpeg"}));
            }
            return transfer;
        }""",
        files,
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": dropped})
    page.wait_for_function("() => document.querySelectorAll('#media-list li[data-id]').length === 3")
    text = "Sáng 06/5, BHXH tỉnh Nghệ An ra quân tuyên truyền tại chợ Vinh.\n\nẢnh: Nguyễn Đạo"
    page.get_by_label("Nội dung bài").fill(text)
    page.get_by_label("Đăng ngay khi được phép").check()
    page.wait_for_function("() => document.querySelectorAll('#preview article.pv-facebook img.pv-photo').length === 3")
    assert page.locator("#preview article.pv-facebook .pv-text").inner_text().startswith("Sáng 06/5")
    editor.shot("17-compose-album")
    with page.expect_navigation():
        page.locator("#queue-button").click()
    post_id = int(page.url.split("/posts/")[1].split("?")[0])
    problems = list(editor.problems)
    editor.close()

    loa.posts.approve(post_id, actor="duyet")
    Dispatcher(loa.settings, loa.engine, loa.vault).run_once()
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).json()
    (fb_post,) = state["facebook"]["pages"][PAGE_ID]["posts"]
    assert fb_post["message"] == text and len(fb_post["photos"]) == 3
    for staged, colour in zip(fb_post["photos"], COLOURS[:3], strict=True):
        assert near(dominant(requests.get(staged["url"], timeout=5).content), colour)
    (article,) = state["zalo"]["oas"][OA_ID]["articles"]
    assert [item["type"] for item in article["body"]] == ["text", "image", "image", "image"]
    assert problems == []
