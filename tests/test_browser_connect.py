"""Connecting channels from the console in a real headless Chromium, through the sandbox's own
Facebook dialog and Zalo permission page (offline), then publishing to them; a token nearing
its end is announced on the dashboard and the channels page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from scheduler.app import Loa
from scheduler.channels.health import run_checks
from scheduler.config import load_settings
from scheduler.models import utcnow
from scheduler.posts.requests import PostRequest
from scheduler.publishing.dispatcher import Dispatcher
from scheduler.serving import ThreadedServer
from scheduler.web.app import create_app
from tests.conftest import CONSOLE_CHANNELS, free_port, seed_console_users
from tests.connect_support import connect_config
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, Watched

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
def site(
    tmp_path: Path, sandbox: Any, console_password_hash: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Loa]]:
    monkeypatch.setenv("LOA_FACEBOOK_APP_SECRET", "facebook-app-secret-for-tests")
    monkeypatch.setenv("LOA_ZALO_APP_SECRET", "zalo-app-secret-for-tests")
    port = free_port()
    config = connect_config(tmp_path, sandbox.url, public_url=f"http://127.0.0.1:{port}", channels=CONSOLE_CHANNELS)
    loa = Loa(load_settings(config))
    loa.init()
    seed_console_users(loa.engine, console_password_hash)
    with ThreadedServer(create_app(loa), port=port) as server:
        yield server.url, loa
    loa.close()


def test_an_admin_connects_two_pages_and_an_oa_and_posts_to_them(
    browser: Any, site: tuple[str, Loa], sandbox: Any
) -> None:
    base, loa = site
    admin = Watched(browser, base)
    page = admin.page
    admin.login("quantri")
    # The Pages were granted eighty days ago: their data access ends within the warning window.
    requests.post(f"{sandbox.url}/_sandbox/clock", json={"offset_s": -80 * 86400}, timeout=10).raise_for_status()

    admin.go("/channels")
    page.get_by_role("button", name="Kết nối Fanpage").click()
    page.wait_for_url("**/channels/connect/facebook")
    with page.expect_navigation():
        page.locator("#connect-go").click()
    # The sandbox's Facebook dialog: every Page ticked but Cửa Lò.
    assert "Loa Sandbox muốn truy cập các Trang của bạn" in page.content()
    page.get_by_label("BHXH thị xã Cửa Lò").uncheck()
    admin.shot("connect-01-facebook-dialog")
    with page.expect_navigation():
        page.get_by_role("button", name="Tiếp tục").click()
    # Back in the console: the Pages to tick, and why two cannot be added.
    assert page.locator("h1").inner_text() == "Chọn Fanpage"
    assert "CREATE_CONTENT" in page.locator("#acct-100000000000004").inner_text()
    assert "chưa được chọn trong hộp thoại" in page.locator("#acct-100000000000003").inner_text()
    admin.shot("connect-02-pick-pages")
    with page.expect_navigation():
        page.locator("#connect-add").click()
    assert "Đã kết nối kênh." in page.locator(".flash-ok").inner_text()
    requests.post(f"{sandbox.url}/_sandbox/clock", json={"offset_s": 0}, timeout=10).raise_for_status()

    page.get_by_role("button", name="Kết nối Zalo OA").click()
    with page.expect_navigation():
        page.locator("#connect-go").click()
    page.get_by_label("BHXH thành phố Vinh").check()
    admin.shot("connect-03-zalo-permission")
    with page.expect_navigation():
        page.get_by_role("button", name="Cho phép").click()
    assert "Đã kết nối kênh." in page.locator(".flash-ok").inner_text()

    channels = {c.external_id: c for c in loa.settings.channels}
    vinh_page, vinh_oa = channels["100000000000002"], channels["579745863508352885"]
    assert vinh_page.name == "BHXH thành phố Vinh" and vinh_oa.name == "BHXH thành phố Vinh"
    assert channels["100000000000001"].id == "fb-bhxh-nghean"  # the configured Page, reconnected
    assert "100000000000003" not in channels and "100000000000004" not in channels

    # The daily check reads each Page's token: the warning shows with its date.
    run_checks(loa.settings, loa.engine, loa.vault)
    admin.go("/channels")
    warning = page.locator(f"#ch-{vinh_page.id} .token-warning")
    assert "hết hạn ngày" in warning.inner_text()
    admin.shot("connect-04-channels")
    admin.go("/")
    assert "cần kết nối lại sớm" in page.locator(".token-warnings").inner_text()

    post_id = loa.posts.add(PostRequest(
        template="bhxh-tu-nguyen", variables={"muc_dong_thap_nhat": "330.000 đồng", "ho_tro": "30%"},
        channels=[vinh_page.id, vinh_oa.id], at=utcnow(), created_by="quantri",
    ))  # fmt: skip
    Dispatcher(loa.settings, loa.engine, loa.vault).run_once()
    assert {p["status"] for p in loa.posts.show(post_id)["publications"]} == {"published"}
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=10).json()
    assert state["facebook"]["pages"]["100000000000002"]["posts"]
    assert state["zalo"]["oas"]["579745863508352885"]["articles"]
    assert admin.problems == []
    admin.close()
