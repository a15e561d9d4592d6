"""The console's compose as the issue asks: words written directly (a template only fills
them), a scheduled post edited until claimed, and "Nhân bản"."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.app import Loa
from scheduler.posts.requests import PostRequest
from tests.console_support import logged_in

FB = "fb-bhxh-nghean"
REPO_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "messages"


def local_day(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).astimezone().strftime("%d/%m/%Y")


def test_a_post_written_directly_then_edited_while_scheduled_then_duplicated(console_loa: Loa) -> None:
    editor = logged_in(console_loa, "bientap")
    page = editor.get("/compose")
    assert page.status_code == 200 and 'name="text"' in page.text and "Tự viết" in page.text
    created = editor.post(
        "/compose",
        {"template": "", "text": "Hội nghị tập huấn chính sách BHXH", "channels": FB, "date": local_day(3),
         "time": "08:00", "action": "queue"},
        page="/compose",
    )  # fmt: skip
    assert created.status_code == 303, created.text
    post_id = int(re.search(r"/posts/(\d+)", created.headers["location"]).group(1))  # type: ignore[union-attr]
    shown = console_loa.posts.show(post_id)
    assert shown["text"] == "Hội nghị tập huấn chính sách BHXH"
    assert {p["status"] for p in shown["publications"]} == {"pending_approval"}

    # Scheduled (waiting for approval) is still editable: the edit button, the form, the change.
    detail = editor.get(f"/posts/{post_id}")
    assert f'href="/compose?post={post_id}"' in detail.text and "Nhân bản" in detail.text
    form = editor.get(f"/compose?post={post_id}")
    assert form.status_code == 200 and "Hội nghị tập huấn chính sách BHXH</textarea>" in form.text
    edited = editor.post(
        "/compose",
        {"post": str(post_id), "template": "", "text": "Hội nghị tập huấn (đã sửa giờ)", "channels": FB,
         "date": local_day(4), "time": "09:30", "action": "queue"},
        page=f"/compose?post={post_id}",
    )  # fmt: skip
    assert edited.status_code == 303, edited.text
    assert console_loa.posts.show(post_id)["text"] == "Hội nghị tập huấn (đã sửa giờ)"

    copied = editor.post(f"/posts/{post_id}/duplicate", page=f"/posts/{post_id}")
    assert copied.status_code == 303 and "/compose?post=" in copied.headers["location"]
    copy_id = int(copied.headers["location"].rsplit("=", 1)[1])
    copy = console_loa.posts.show(copy_id)
    assert copy["text"] == "Hội nghị tập huấn (đã sửa giờ)" and {p["status"] for p in copy["publications"]} == {"draft"}


def test_a_template_fills_the_text_with_fields_named_in_words(console_loa: Loa) -> None:
    editor = logged_in(console_loa, "bientap")
    page = editor.get("/compose?template=bhxh-tu-nguyen")
    assert page.status_code == 200
    labels = re.findall(r'<label for="var_[^"]+">\s*([^<]+)', page.text)
    assert labels and all("_" not in label for label in labels), labels
    filled = editor.post(
        "/compose",
        {"template": "bhxh-tu-nguyen", "var_muc_dong_thap_nhat": "330.000 đồng", "var_ho_tro": "30%",
         "channels": FB, "date": local_day(2), "time": "08:00", "action": "fill"},
        page="/compose?template=bhxh-tu-nguyen",
    )  # fmt: skip
    assert filled.status_code == 200
    text = re.search(r'<textarea id="text" name="text"[^>]*>([^<]*)</textarea>', filled.text)
    assert text and "330.000 đồng" in text.group(1)


def test_a_claimed_post_opens_on_its_page_not_in_the_form(console_loa: Loa) -> None:
    from scheduler.store import claim_due

    post_id = console_loa.posts.add(
        PostRequest(template="", text="Đang đăng", channels=["zalo-bhxh-nghean"], created_by="bientap")
    )
    claim_due(console_loa.engine, now=datetime.now(UTC) + timedelta(minutes=1), owner="t", lease=timedelta(minutes=5))
    editor = logged_in(console_loa, "bientap")
    assert editor.get(f"/compose?post={post_id}").status_code == 303


@pytest.fixture
def own_templates(tmp_path: Path, console_password_hash: str) -> Iterator[Loa]:
    """The console on a copy of the shipped templates: saving one never touches the repository."""
    from scheduler.config import load_settings
    from tests.conftest import CONSOLE_CHANNELS, REPO, seed_console_users, write_config

    shutil.copytree(REPO / "templates", tmp_path / "templates")
    config = write_config(tmp_path, channels=CONSOLE_CHANNELS)
    text = config.read_text(encoding="utf-8").replace(str(REPO / "templates"), str(tmp_path / "templates"))
    config.write_text(text, encoding="utf-8")
    app = Loa(load_settings(config))
    app.init()
    seed_console_users(app.engine, console_password_hash)
    yield app
    app.close()


def test_templates_are_checked_previewed_and_saved_where_loa_finds_them(own_templates: Loa) -> None:
    console_loa = own_templates
    assert console_loa.renderer.folder != REPO_TEMPLATES
    editor = logged_in(console_loa, "bientap")
    assert editor.get("/templates").status_code == 200
    broken = editor.post(
        "/templates/edit",
        {"name": "hoi-nghi", "source": "Hội nghị {{ dia_diem\n\ntiếp", "action": "save"},
        page="/templates/edit",
    )
    assert broken.status_code == 400 and "dòng" in broken.text
    assert "Hội nghị {{ dia_diem" in broken.text  # what was typed is kept
    assert "hoi-nghi" not in console_loa.renderer.names()
    source = "Hội nghị tại {{ dia_diem }}.\n{% if platform == 'facebook' %}#BHXH{% endif %}"
    missing = editor.post(
        "/templates/edit", {"name": "hoi-nghi", "source": source, "action": "preview"}, page="/templates/edit"
    )
    assert missing.status_code == 400 and "dia_diem" in missing.text and "dòng 1" in missing.text
    shown = editor.post(
        "/templates/edit",
        {"name": "hoi-nghi", "source": source, "var_dia_diem": "TP Vinh", "action": "preview"},
        page="/templates/edit",
    )
    assert shown.status_code == 200 and "Hội nghị tại TP Vinh." in shown.text and "#BHXH" in shown.text
    saved = editor.post(
        "/templates/edit", {"name": "hoi-nghi", "source": source, "action": "save"}, page="/templates/edit"
    )
    assert saved.status_code == 303
    assert "hoi-nghi" in console_loa.renderer.names()
    # Staff may not; campaigns are for admins.
    assert logged_in(console_loa, "canbo").get("/templates").status_code == 403
    assert editor.get("/campaigns").status_code == 403


def test_campaigns_are_saved_with_their_dates_checked(console_loa: Loa) -> None:
    admin = logged_in(console_loa, "quantri")
    bad = admin.post(
        "/campaigns",
        {"slug": "bhyt-hoc-sinh", "name": "BHYT học sinh", "starts_on": "30/09/2026", "ends_on": "01/09/2026"},
        page="/campaigns",
    )
    assert bad.status_code == 400 and 'value="BHYT học sinh"' in bad.text
    good = admin.post(
        "/campaigns",
        {"slug": "bhyt-hoc-sinh", "name": "BHYT học sinh", "theme": "Năm học mới", "starts_on": "01/09/2026",
         "ends_on": "30/09/2026"},
        page="/campaigns",
    )  # fmt: skip
    assert good.status_code == 303
    page = admin.get("/campaigns")
    assert "BHYT học sinh" in page.text and "01/09/2026" in page.text
    assert "bhyt-hoc-sinh" in logged_in(console_loa, "bientap").get("/compose").text


def test_the_library_page_changes_a_description_and_keeps_what_a_post_shows(console_loa: Loa, tmp_path: Path) -> None:
    from PIL import Image

    picture = tmp_path / "anh.jpg"
    Image.new("RGB", (320, 240), (200, 30, 30)).save(picture)
    (item,) = console_loa.media.add([picture])
    post_id = console_loa.posts.add(
        PostRequest(template="", text="Có ảnh", channels=[FB], media=[item["id"]], created_by="bientap", draft=True)
    )
    editor = logged_in(console_loa, "bientap")
    page = editor.get("/library")
    assert page.status_code == 200 and f"#{item['id']}" in page.text
    assert f'data-id="{item["id"]}"' in editor.get("/compose").text  # reusable from compose
    saved = editor.post(f"/media/{item['id']}/alt", {"alt": "Cán bộ phát tờ rơi"}, page="/library")
    assert saved.status_code == 303 and console_loa.media.list()[0]["alt"] == "Cán bộ phát tờ rơi"
    refused = editor.post(f"/media/{item['id']}/delete", page="/library")
    assert refused.status_code == 400 and f"#{post_id}" in refused.text
    assert console_loa.media.list()
