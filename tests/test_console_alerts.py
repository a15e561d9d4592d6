"""The console's alerts: the notification list, each user's choices, and the delivery log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from scheduler.alerts.outbox import Deliverer
from scheduler.models import AlertPreference, User
from scheduler.posts.requests import PostRequest
from scheduler.store import session_scope
from tests.console_support import Person, audit_actions, errors_on, logged_in

VARS = {"hoat_dong": "ra quân tuyên truyền", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}


def waiting_post(loa: Any) -> int:
    post_id: int = loa.posts.add(
        PostRequest(
            template="thang-van-dong",
            channels=["fb-bhxh-nghean"],
            variables=VARS,
            at=datetime.now(UTC) + timedelta(hours=3),
            created_by="bientap",
        )
    )
    Deliverer(loa.settings, loa.engine).fan_out()
    return post_id


def test_the_approver_sees_the_post_waiting_in_the_notices(console_loa: Any) -> None:
    post_id = waiting_post(console_loa)
    person = logged_in(console_loa, "duyet")
    assert '<a href="/alerts">Thông báo (1)</a>' in person.get("/").text  # one unread
    page = person.get("/alerts")
    assert page.status_code == 200
    assert "Bài chờ duyệt" in page.text and f'href="/posts/{post_id}"' in page.text and "Mới" in page.text
    assert "Mới" not in person.get("/alerts").text  # read now
    assert '<a href="/alerts">Thông báo</a>' in person.get("/").text
    assert "Bài chờ duyệt" not in logged_in(console_loa, "bientap").get("/alerts").text
    assert person.get("/alerts/log").status_code == 403  # the log is the admins'


def test_choices_are_saved_and_a_bad_address_is_refused_next_to_its_field(console_loa: Any) -> None:
    person = logged_in(console_loa, "duyet")
    form = person.get("/alerts/settings")
    assert form.status_code == 200 and 'name="email:post.pending_approval" aria-label' in form.text
    bad = person.post(
        "/alerts/settings",
        {"email": "không phải địa chỉ", "console:post.pending_approval": "on"},
        page="/alerts/settings",
    )
    assert bad.status_code == 400
    assert errors_on(bad.text) == {"email": '"không phải địa chỉ" không phải địa chỉ e-mail.'}
    assert 'value="không phải địa chỉ"' in bad.text  # what was typed is kept
    saved = person.post(
        "/alerts/settings",
        {"email": "duyet@example.vn", "console:post.pending_approval": "on"},
        page="/alerts/settings",
    )
    assert saved.status_code == 303
    with session_scope(console_loa.engine, read_only=True) as session:
        user = session.exec(select(User).where(User.username == "duyet")).one()
        assert user.email == "duyet@example.vn"
        rows = {(p.event, p.email, p.console) for p in session.exec(select(AlertPreference))}
    # Only what differs from the approver's defaults is kept: the e-mail for a waiting post is off.
    assert rows == {("post.pending_approval", False, True), ("digest.daily", False, False)}
    assert ("duyet", "alerts.choices", "user:duyet") in audit_actions(console_loa)


def test_the_admin_reads_the_delivery_log(console_loa: Any) -> None:
    with session_scope(console_loa.engine) as session:
        admin = session.exec(select(User).where(User.username == "quantri")).one()
        admin.email = "quantri@example.vn"
        session.add(admin)
        from scheduler.alerts.events import channel_alert

        channel_alert(session, "channel.needs_reauth", "fb-bhxh-nghean")
    Deliverer(console_loa.settings, console_loa.engine).run_once()  # no [mail] host: it waits, with the reason
    page = logged_in(console_loa, "quantri").get("/alerts/log")
    assert page.status_code == 200
    assert "quantri@example.vn" in page.text and "Kênh cần kết nối lại" in page.text
    assert "Chưa cấu hình máy chủ thư" in page.text and "chờ gửi" in page.text
    assert Person(console_loa).get("/alerts").status_code == 303


def test_the_mail_language_is_chosen_on_the_settings_page(console_loa: Any) -> None:
    person = logged_in(console_loa, "duyet")
    form = person.get("/alerts/settings")
    assert '<option value="vi" selected>' in form.text  # Vietnamese unless chosen
    bad = person.post("/alerts/settings", {"email": "duyet@example.vn", "lang": "fr"}, page="/alerts/settings")
    assert bad.status_code == 400
    assert errors_on(bad.text) == {"lang": "Không có ngôn ngữ thư “fr”: chọn một trong vi, en."}
    assert 'value="duyet@example.vn"' in bad.text
    saved = person.post("/alerts/settings", {"email": "duyet@example.vn", "lang": "en"}, page="/alerts/settings")
    assert saved.status_code == 303
    with session_scope(console_loa.engine, read_only=True) as session:
        user = session.exec(select(User).where(User.username == "duyet")).one()
        assert (user.email, user.lang) == ("duyet@example.vn", "en")
    assert '<option value="en" selected>' in person.get("/alerts/settings").text
