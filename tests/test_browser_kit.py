"""The campaign kit and the share page as an app, in a real Chromium at 360 px."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import Staff, Unit
from scheduler.serving import ThreadedServer
from scheduler.store import session_scope
from scheduler.web.app import create_app
from tests.conftest import free_port, write_config
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, Watched, sync_api
from tests.test_campaign_kit import phone_photo

TOKEN = "browser-kit-token-00000001"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (.ci/run installs it)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def kit_site(tmp_path: Path) -> Iterator[tuple[str, Loa]]:
    port = free_port()
    loa = Loa(load_settings(write_config(tmp_path, public_url=f"http://127.0.0.1:{port}")))
    loa.init()
    with session_scope(loa.engine) as session:
        unit = Unit(code="vinh", name="BHXH thành phố Vinh")
        session.add(unit)
        session.flush()
        session.add(
            Staff(unit_id=unit.id or 0, full_name="Nguyễn Thị Lan", share_token=TOKEN, created_at=datetime.now(UTC))
        )
    with ThreadedServer(create_app(loa), port=port) as server:
        yield server.url, loa
    loa.close()


def test_frame_an_avatar_download_it_and_be_counted_at_360_px(
    browser: Any,
    kit_site: tuple[str, Loa],
    tmp_path: Path,
) -> None:
    base, _loa = kit_site
    phone = Watched(browser, base, width=360, height=780)
    try:
        phone.go(f"/s/{TOKEN}")
        phone.page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.ready")
        with phone.page.expect_navigation():
            phone.page.get_by_role("link", name="Khung ảnh đại diện và ảnh bìa chiến dịch").click()
        photo = tmp_path / "IMG_20260506.jpg"
        photo.write_bytes(phone_photo())
        phone.page.get_by_label("Chọn ảnh của bạn").set_input_files(str(photo))
        with phone.page.expect_download() as caught:
            phone.page.get_by_role("button", name="Đóng khung ảnh").click()
        download = caught.value
        assert download.suggested_filename == "anh-dai-dien-chien-dich.jpg"
        framed = Image.open(io.BytesIO(Path(download.path()).read_bytes()))
        assert framed.size == (1080, 1080) and framed.format == "JPEG"
        with phone.page.expect_navigation():
            phone.page.get_by_role("button", name="Tôi đã cập nhật ảnh đại diện").click()
        text = phone.page.locator("body").inner_text()
        assert "Cảm ơn bạn! Đã ghi nhận." in text and "đơn vị bạn: 1/1" in text
        overflow = phone.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1
        phone.shot("share-kit-360")
        assert phone.problems == []
    finally:
        phone.close()
