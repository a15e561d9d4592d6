"""The console's compose as the issue asks: words written directly (a template only fills
them), a scheduled post edited until claimed, and "Nhân bản"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from scheduler.app import Loa
from scheduler.posts.requests import PostRequest
from tests.console_support import logged_in

FB = "fb-bhxh-nghean"


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
