"""The web console through the in-process ASGI client: pages, roles, CSRF, sessions, audit log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.errors import render_error
from scheduler.models import MetricSnapshot, Post, Publication, PublicationStatus, UserSession
from scheduler.posts.requests import PostRequest
from scheduler.posts.service import platform_limits
from scheduler.store import session_scope
from tests.conftest import CONSOLE_PASSWORD, seed_console_users, write_config
from tests.console_support import Person, audit_actions, errors_on, logged_in

VARS = {"hoat_dong": "ra quân tuyên truyền", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}
CHANNELS = ["fb-bhxh-nghean", "zalo-bhxh-nghean"]


def queue(
    loa: Loa,
    *,
    by: str = "bientap",
    channels: list[str] = CHANNELS,
    draft: bool = False,
    at: datetime | None = None,
    **variables: str,
) -> int:
    when = at or datetime.now(UTC) + timedelta(days=1)
    request = PostRequest(
        template="thang-van-dong",
        channels=channels,
        variables={**VARS, **variables},
        at=when,
        created_by=by,
        draft=draft,
    )
    return loa.posts.add(request)


def local_day(days: int) -> str:
    """dd/mm/yyyy, ``days`` from today in Hà Nội time (inside the 75-day horizon)."""
    from zoneinfo import ZoneInfo

    return (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(days=days)).strftime("%d/%m/%Y")


def utc_iso(day: str, hh_mm: str) -> str:
    from zoneinfo import ZoneInfo

    local = datetime.strptime(f"{day} {hh_mm}", "%d/%m/%Y %H:%M").replace(tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    return local.astimezone(UTC).isoformat()


def statuses(loa: Loa, post_id: int) -> dict[str, str]:
    return {p["channel"]: p["status"] for p in loa.posts.show(post_id)["publications"]}


def set_status(loa: Loa, publication_id: int, status: PublicationStatus, error: str | None = None) -> None:
    """Put a publication in a state the dispatcher would have left it in (test set-up)."""
    with session_scope(loa.engine) as session:
        row = session.get(Publication, publication_id)
        assert row is not None
        row.status = status
        row.last_error = error
        session.add(row)


def post_count(loa: Loa) -> int:
    with session_scope(loa.engine, read_only=True) as session:
        return len(list(session.exec(select(Post))))


# -- login, sessions, headers ------------------------------------------------------------------


def test_login_page_is_vietnamese_with_security_headers_and_no_inline_script(console_loa: Loa) -> None:
    person = Person(console_loa)
    anonymous = person.get("/queue")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=%2Fqueue"
    page = person.get("/login")
    assert page.status_code == 200
    assert '<html lang="vi">' in page.text and "Đăng nhập" in page.text and "Mật khẩu" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] in {"same-origin", "strict-origin-when-cross-origin"}
    assert page.headers["cache-control"] == "no-store"
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "inline script"
    assert not re.search(r"\son[a-z]+=", page.text), "inline event handler"
    assert 'style="' not in page.text
    assert '<label for="username">' in page.text and '<label for="password">' in page.text
    english = person.get("/login?lang=en")
    assert '<html lang="en">' in english.text and "Log in" in english.text
    assert "Log in" in person.get("/login").text, "the language choice is kept in a cookie"


def test_login_starts_a_new_session_and_the_old_id_is_dead(console_loa: Loa) -> None:
    person = Person(console_loa)
    person.get("/login")
    before = person.session_cookie
    assert before
    response = person.login("bientap")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie_header = response.headers["set-cookie"]
    assert "HttpOnly" in cookie_header and "samesite=lax" in cookie_header.lower()
    assert "Secure" not in cookie_header  # public_url is http in this config
    after = person.session_cookie
    assert after and after != before
    # The pre-login id (e.g. planted by an attacker) gives no access after the login.
    planted = Person(console_loa)
    planted.http.cookies.set("loa_session", before)
    assert planted.get("/").status_code == 303
    assert person.get("/").status_code == 200
    with session_scope(console_loa.engine, read_only=True) as session:
        stored = [row.id_hash for row in session.exec(select(UserSession))]
    assert after not in stored, "only the hash of the session id is stored"
    assert ("bientap", "auth.login", "user:bientap") in audit_actions(console_loa)


def test_https_public_url_gives_secure_host_cookies(tmp_path: Path, console_password_hash: str) -> None:
    from tests.conftest import CONSOLE_CHANNELS

    config = write_config(tmp_path, public_url="https://loa.bhxhnghean.example", channels=CONSOLE_CHANNELS)
    loa = Loa(load_settings(config))
    loa.init()
    seed_console_users(loa.engine, console_password_hash)
    person = Person(loa, base_url="https://testserver")
    response = person.login("duyet")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-loa_session=") and "Secure" in cookie and "Path=/" in cookie
    assert "max-age=31536000" in person.get("/").headers["strict-transport-security"]
    loa.close()


def test_wrong_passwords_are_throttled_per_username_and_address(console_loa: Loa) -> None:
    person = Person(console_loa)
    for _ in range(5):
        refused = person.login("bientap", "sai mật khẩu rồi")
        assert refused.status_code == 400 and "Sai tên đăng nhập hoặc mật khẩu" in refused.text
        assert 'value="bientap"' in refused.text
    throttled = person.login("bientap")  # even the right password waits now
    assert throttled.status_code == 429 and "15 phút" in throttled.text
    assert person.session_cookie is None or person.get("/").status_code == 303
    assert logged_in(console_loa, "duyet").get("/").status_code == 200, "other accounts are not locked out"
    unknown = person.login("khong-ton-tai", "sai mật khẩu rồi")
    assert unknown.status_code == 400 and "Sai tên đăng nhập hoặc mật khẩu" in unknown.text
    actions = [a for _, a, _ in audit_actions(console_loa)]
    assert actions.count("auth.login_failed") == 6 and "auth.throttled" in actions


def test_logout_ends_the_session(console_loa: Loa) -> None:
    person = logged_in(console_loa, "bientap")
    cookie = person.session_cookie
    assert person.post("/logout").status_code == 303
    replay = Person(console_loa)
    replay.http.cookies.set("loa_session", cookie or "")
    assert replay.get("/").status_code == 303


def test_disabling_a_user_ends_their_sessions_everywhere(console_loa: Loa) -> None:
    editor_phone, editor_desk = logged_in(console_loa, "bientap"), logged_in(console_loa, "bientap")
    admin = logged_in(console_loa, "quantri")
    users = admin.get("/users")
    assert users.status_code == 200 and "bientap" in users.text
    assert admin.post("/users/bientap/disable", page="/users").status_code == 303
    for device in (editor_phone, editor_desk):
        assert device.get("/queue").status_code == 303
    assert Person(console_loa).login("bientap").status_code == 400
    assert ("quantri", "user.disable", "user:bientap") in audit_actions(console_loa)


def test_expired_session_on_a_form_returns_to_login_and_saves_nothing(console_loa: Loa) -> None:
    person = logged_in(console_loa, "bientap")
    token = person.token("/compose")
    with session_scope(console_loa.engine) as session:
        for row in session.exec(select(UserSession)):
            row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
            session.add(row)
    response = person.post(
        "/compose",
        {
            "template": "thang-van-dong",
            "channels": "zalo-bhxh-nghean",
            "now": "1",
            "action": "queue",
            **{f"var_{k}": v for k, v in VARS.items()},
        },
        token=token,
        headers={"referer": "http://testserver/compose"},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fcompose")
    assert post_count(console_loa) == 0


# -- CSRF -----------------------------------------------------------------------------------


def test_cross_site_post_without_the_csrf_token_changes_nothing(console_loa: Loa) -> None:
    post_id = queue(console_loa, channels=["zalo-bhxh-nghean"])
    editor = logged_in(console_loa, "bientap")
    forged = editor.http.post(f"/posts/{post_id}/cancel", data={"back": f"/posts/{post_id}"})
    assert forged.status_code == 303 and "stale=1" in forged.headers["location"]
    wrong = editor.post(f"/posts/{post_id}/cancel", token="not-the-token")
    assert wrong.status_code == 303
    assert statuses(console_loa, post_id) == {"zalo-bhxh-nghean": "scheduled"}
    assert "Thao tác chưa được thực hiện" in editor.get(forged.headers["location"]).text
    assert [a for _, a, _ in audit_actions(console_loa)].count("auth.forbidden") == 2
    # Another person's token does not work either: tokens belong to a session.
    other = logged_in(console_loa, "quantri")
    assert editor.post(f"/posts/{post_id}/cancel", token=other.token()).status_code == 303
    assert statuses(console_loa, post_id) == {"zalo-bhxh-nghean": "scheduled"}
    done = editor.post(f"/posts/{post_id}/cancel", page=f"/posts/{post_id}")
    assert done.status_code == 303 and statuses(console_loa, post_id) == {"zalo-bhxh-nghean": "cancelled"}


def test_stale_compose_form_comes_back_with_what_was_typed(console_loa: Loa) -> None:
    person = logged_in(console_loa, "bientap")
    typed = {
        "template": "thang-van-dong",
        "channels": "zalo-bhxh-nghean",
        "date": local_day(3),
        "time": "08:00",
        "action": "queue",
        "var_hoat_dong": "ra quân <b>đợt 2</b>",
        "var_dia_diem": "xã Nghĩa Đồng",
    }
    response = person.post("/compose", typed, token="stale")
    assert response.status_code == 400 and "Biểu mẫu đã hết hạn" in response.text
    assert 'value="ra quân &lt;b&gt;đợt 2&lt;/b&gt;"' in response.text and 'value="xã Nghĩa Đồng"' in response.text
    assert post_count(console_loa) == 0


# -- compose --------------------------------------------------------------------------------


def test_compose_shows_the_templates_variables_and_a_preview(console_loa: Loa) -> None:
    person = logged_in(console_loa, "bientap")
    page = person.get("/compose?template=thang-van-dong")
    assert page.status_code == 200
    for name in ("hoat_dong", "dia_diem", "ngay", "ket_qua"):
        assert f'<label for="var_{name}">' in page.text
    assert "Việc gì" in page.text  # the template's own hint, from its opening comment
    assert "Gửi duyệt" in page.text  # the Facebook channel needs approval
    assert 'placeholder="dd/mm/yyyy"' in page.text
    assert re.search(r'id="date" name="date" value="\d{2}/\d{2}/\d{4}"', page.text)
    preview = person.post(
        "/compose/preview",
        {"template": "thang-van-dong", "channels": CHANNELS, **{f"var_{k}": v for k, v in VARS.items()}},
        page="/compose",
    )
    assert preview.status_code == 200
    expected = {
        c: console_loa.renderer.render("thang-van-dong", VARS, platform=p, limits=platform_limits(p))
        for c, p in (("fb", "facebook"), ("zalo", "zalo"))
    }
    assert _text_blocks(preview.text) == [expected["fb"].text, expected["zalo"].text]
    assert expected["zalo"].title in preview.text and expected["zalo"].description in preview.text
    assert "/assets/cover-default.jpg" in preview.text  # Zalo's default cover


def _text_blocks(html: str) -> list[str]:
    import html as html_lib

    return [html_lib.unescape(m) for m in re.findall(r'<div class="pv-text">(.*?)</div>', html, re.S)]


def test_compose_with_a_cover_previews_the_rendered_cover(console_loa: Loa) -> None:
    person = logged_in(console_loa, "bientap")
    switched = person.post(
        "/compose",
        {
            "template": "thang-van-dong",
            "cover": "default",
            "action": "switch",
            "channels": CHANNELS,
            **{f"var_{k}": v for k, v in VARS.items()},
        },
        page="/compose",
    )
    assert switched.status_code == 200 and '<label for="var_subtitle">' in switched.text
    images = re.findall(r'src="(/compose/cover/[0-9a-f]+\.jpg)"', switched.text)
    assert len(images) == 2
    image = person.get(images[0])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content[:3] == b"\xff\xd8\xff"
    assert Person(console_loa).get(images[0]).status_code == 303, "previews are for logged-in editors only"


def test_bad_compose_input_shows_the_clis_message_next_to_the_field_and_stores_nothing(console_loa: Loa) -> None:
    person = logged_in(console_loa, "bientap")
    typed = {
        "template": "thang-van-dong",
        "channels": "zalo-bhxh-nghean",
        "date": "01/01/2020",
        "time": "08:00",
        "action": "queue",
        "var_hoat_dong": "ra quân",
        "var_dia_diem": "chợ Vinh",
        "var_ngay": "06/05/2026",
    }
    past = person.post("/compose", typed, page="/compose")
    assert past.status_code == 400
    assert errors_on(past.text) == {"at": "Thời điểm 01/01/2020 08:00 đã qua: hãy chọn giờ sắp tới."}
    assert 'value="chợ Vinh"' in past.text and 'value="01/01/2020"' in past.text
    english = person.post("/compose?lang=en", typed, page="/compose")
    # In English the console says what the CLI says in English, with the fix made for a form.
    with pytest.raises(Exception) as cli_error:
        console_loa.posts.prepare(
            PostRequest(
                template="thang-van-dong",
                channels=["zalo-bhxh-nghean"],
                variables=VARS,
                at=datetime(2020, 1, 1, 1, 0, tzinfo=UTC),
            )
        )
    cli_english = render_error(cli_error.value, "en", hint=False)  # type: ignore[arg-type]
    assert cli_english == "the time 01/01/2020 08:00 is in the past"
    assert errors_on(english.text)["at"].lower().startswith(cli_english)
    soon = local_day(10)
    person.get("/compose?lang=vi")
    missing = person.post("/compose", {**typed, "date": soon, "var_ngay": ""}, page="/compose")
    assert errors_on(missing.text) == {"var_ngay": "Mẫu tin cần «ngay» nhưng ô này đang trống."}
    no_channel = person.post(
        "/compose", {k: v for k, v in typed.items() if k != "channels"} | {"date": soon}, page="/compose"
    )
    assert errors_on(no_channel.text) == {"channels": "Hãy chọn ít nhất một kênh."}
    bad_time = person.post("/compose", {**typed, "date": "31/02/2030"}, page="/compose")
    far = person.post("/compose", {**typed, "date": "01/12/2099"}, page="/compose")
    assert errors_on(far.text)["at"] == "Thời điểm 01/12/2099 08:00 xa quá 75 ngày: kiểm tra lại năm."
    assert "Không đọc được thời gian" in errors_on(bad_time.text)["at"]
    too_long = person.post("/compose", {**typed, "date": soon, "var_hoat_dong": "rất dài " * 40}, page="/compose")
    assert too_long.status_code == 400 and "vượt" in too_long.text
    assert post_count(console_loa) == 0


def test_compose_submits_for_approval_and_the_author_cannot_approve(console_loa: Loa) -> None:
    editor = logged_in(console_loa, "bientap")
    day = local_day(5)
    fields = {
        "template": "thang-van-dong",
        "channels": CHANNELS,
        "date": day,
        "time": "08:30",
        "campaign": "thang-van-dong-2026",
        "action": "queue",
        **{f"var_{k}": v for k, v in VARS.items()},
    }
    saved = editor.post("/compose", fields, page="/compose")
    assert saved.status_code == 303, errors_on(saved.text)
    post_id = int(saved.headers["location"].split("/")[2].split("?")[0])
    shown = console_loa.posts.show(post_id)
    assert shown["created_by"] == "bientap" and shown["campaign"] == "thang-van-dong-2026"
    assert shown["scheduled_at"] == utc_iso(day, "08:30")  # 08:30 in Hà Nội time
    assert statuses(console_loa, post_id) == {"fb-bhxh-nghean": "pending_approval", "zalo-bhxh-nghean": "scheduled"}
    page = editor.get(f"/posts/{post_id}")
    assert "Chờ duyệt" in page.text and f"{day} 08:30" in page.text
    # An editor has no approve button, and forcing the request is refused and logged.
    assert f"/posts/{post_id}/approve" not in page.text
    forced = editor.post(f"/posts/{post_id}/approve", page=f"/posts/{post_id}")
    assert forced.status_code == 403 and statuses(console_loa, post_id)["fb-bhxh-nghean"] == "pending_approval"
    assert ("bientap", "auth.forbidden", f"post:{post_id}") in audit_actions(console_loa)
    approver = logged_in(console_loa, "duyet")
    assert approver.post(f"/posts/{post_id}/approve", page=f"/posts/{post_id}").status_code == 303
    assert statuses(console_loa, post_id) == {"fb-bhxh-nghean": "scheduled", "zalo-bhxh-nghean": "scheduled"}
    assert ("duyet", "post.approve", f"post:{post_id}") in audit_actions(console_loa)


def test_an_admin_cannot_approve_their_own_post(console_loa: Loa) -> None:
    post_id = queue(console_loa, by="quantri", channels=["fb-bhxh-nghean"])
    admin = logged_in(console_loa, "quantri")
    page = admin.get(f"/posts/{post_id}")
    assert "không thể tự duyệt" in page.text
    refused = admin.post(f"/posts/{post_id}/approve", page=f"/posts/{post_id}")
    assert refused.status_code == 400 and "người soạn không thể tự duyệt" in errors_on(refused.text)["approve"]
    assert statuses(console_loa, post_id) == {"fb-bhxh-nghean": "pending_approval"}
    assert ("quantri", "auth.forbidden", f"post:{post_id}") in audit_actions(console_loa)


def test_send_back_needs_a_reason_and_returns_a_draft_the_author_edits(console_loa: Loa) -> None:
    post_id = queue(console_loa, channels=["fb-bhxh-nghean"])
    approver = logged_in(console_loa, "duyet")
    empty = approver.post(f"/posts/{post_id}/send-back", {"reason": "  "}, page=f"/posts/{post_id}")
    assert empty.status_code == 400 and errors_on(empty.text) == {"send-back": "Hãy ghi lý do trả lại bài."}
    assert (
        approver.post(f"/posts/{post_id}/send-back", {"reason": "Sửa địa điểm"}, page=f"/posts/{post_id}").status_code
        == 303
    )
    assert statuses(console_loa, post_id) == {"fb-bhxh-nghean": "draft"}
    # Another editor may neither open it for editing nor submit it.
    other = logged_in(console_loa, "bientap2")
    assert other.get(f"/compose?post={post_id}").status_code == 403
    assert other.post(f"/posts/{post_id}/submit", page=f"/posts/{post_id}").status_code == 403
    assert ("bientap2", "auth.forbidden", f"post:{post_id}") in audit_actions(console_loa)
    author = logged_in(console_loa, "bientap")
    form = author.get(f"/compose?post={post_id}")
    assert form.status_code == 200 and 'value="chợ Quán Lau (TP Vinh)"' in form.text
    edited = author.post(
        "/compose",
        {
            "post": str(post_id),
            "template": "thang-van-dong",
            "channels": "fb-bhxh-nghean",
            "date": local_day(6),
            "time": "09:00",
            "action": "queue",
            **{f"var_{k}": v for k, v in VARS.items()},
            "var_dia_diem": "chợ Vinh",
        },
        page=f"/compose?post={post_id}",
    )
    assert edited.status_code == 303
    shown = console_loa.posts.show(post_id)
    assert "chợ Vinh" in shown["text"] and shown["publications"][0]["status"] == "pending_approval"
    assert [a for _, a, o in audit_actions(console_loa) if o == f"post:{post_id}"][-2:] == ["post.edit", "post.submit"]


# -- queue, calendar, post detail ------------------------------------------------------------


def test_queue_and_calendar_filter_and_escape_user_text(console_loa: Loa) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    fb_post = queue(console_loa, channels=["fb-bhxh-nghean"], at=tomorrow, hoat_dong="<script>alert(1)</script>")
    zalo_post = queue(console_loa, channels=["zalo-bhxh-nghean"], at=tomorrow + timedelta(hours=1))
    person = logged_in(console_loa, "duyet")
    page = person.get("/queue")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert f"/posts/{fb_post}" in page.text and f"/posts/{zalo_post}" in page.text
    only_zalo = person.get("/queue?channel=zalo-bhxh-nghean")
    assert f'/posts/{fb_post}"' not in only_zalo.text and f"/posts/{zalo_post}" in only_zalo.text
    waiting = person.get("/queue?status=pending_approval&channel=nonsense")
    assert f"/posts/{fb_post}" in waiting.text and f'/posts/{zalo_post}"' not in waiting.text
    for view in ("week", "month"):
        calendar = person.get(f"/calendar?view={view}&date={tomorrow.date().isoformat()}")
        assert calendar.status_code == 200
        assert f"/posts/{fb_post}" in calendar.text and "chip-wait" in calendar.text
        assert "<script>alert" not in calendar.text
    detail = person.get(f"/posts/{fb_post}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail.text and "<script>alert" not in detail.text
    assert "Chờ duyệt" in person.get("/").text


def test_post_detail_shows_metrics_in_vietnamese_numbers_and_retry_and_confirm_work(console_loa: Loa) -> None:
    post_id = queue(console_loa)
    fb, zalo = console_loa.posts.show(post_id)["publications"]
    set_status(console_loa, fb["id"], PublicationStatus.failed, "(#100) Bài viết có nội dung bị chặn")
    set_status(console_loa, zalo["id"], PublicationStatus.published)
    with session_scope(console_loa.engine) as session:
        session.add(
            MetricSnapshot(
                publication_id=zalo["id"],
                at=datetime.now(UTC),
                views=1076,
                reach=None,
                reactions=12,
                comments=3,
                shares=45,
            )
        )
    editor = logged_in(console_loa, "bientap")
    page = editor.get(f"/posts/{post_id}")
    assert "1.076" in page.text and "(#100) Bài viết có nội dung bị chặn" in page.text
    assert "1,076" in editor.get(f"/posts/{post_id}?lang=en").text
    dashboard = editor.get("/?lang=vi")
    assert "Cần xử lý (1)" in dashboard.text and "Nền tảng từ chối bài" in dashboard.text
    assert (
        editor.post(
            f"/publications/{fb['id']}/retry", {"back": f"/posts/{post_id}"}, page=f"/posts/{post_id}"
        ).status_code
        == 303
    )
    assert statuses(console_loa, post_id)["fb-bhxh-nghean"] == "scheduled"
    set_status(console_loa, fb["id"], PublicationStatus.unknown)
    bad = editor.post(
        f"/publications/{fb['id']}/confirm",
        {"outcome": "published", "permalink": "javascript:x"},
        page=f"/posts/{post_id}",
    )
    assert bad.status_code == 400 and "https://" in errors_on(bad.text)[f"confirm-{fb['id']}"]
    ok = editor.post(
        f"/publications/{fb['id']}/confirm",
        {"outcome": "published", "permalink": "https://www.facebook.com/100000000000001/posts/9"},
        page=f"/posts/{post_id}",
    )
    assert ok.status_code == 303 and statuses(console_loa, post_id)["fb-bhxh-nghean"] == "published"
    assert ("bientap", "publication.confirm", f"publication:{fb['id']}") in audit_actions(console_loa)


def test_reschedule_and_cancel_are_for_the_author_or_an_admin(console_loa: Loa) -> None:
    post_id = queue(console_loa, channels=["zalo-bhxh-nghean"])
    other = logged_in(console_loa, "bientap2")
    assert other.post(f"/posts/{post_id}/cancel", page=f"/posts/{post_id}").status_code == 403
    assert (
        other.post(
            f"/publications/{console_loa.posts.show(post_id)['publications'][0]['id']}/retry", page=f"/posts/{post_id}"
        ).status_code
        == 403
    )
    author = logged_in(console_loa, "bientap")
    past = author.post(
        f"/posts/{post_id}/reschedule", {"date": "01/01/2021", "time": "07:00"}, page=f"/posts/{post_id}"
    )
    assert past.status_code == 400 and "đã qua" in errors_on(past.text)["reschedule"]
    day = local_day(7)
    moved = author.post(f"/posts/{post_id}/reschedule", {"date": day, "time": "07:15"}, page=f"/posts/{post_id}")
    assert moved.status_code == 303
    assert console_loa.posts.show(post_id)["scheduled_at"] == utc_iso(day, "07:15")
    admin = logged_in(console_loa, "quantri")
    assert admin.post(f"/posts/{post_id}/cancel", page=f"/posts/{post_id}").status_code == 303
    assert statuses(console_loa, post_id) == {"zalo-bhxh-nghean": "cancelled"}


# -- channels, users, audit, roles -------------------------------------------------------------


def test_channels_reconnect_pause_resume_for_admins_only(console_loa: Loa) -> None:
    editor = logged_in(console_loa, "bientap")
    page = editor.get("/channels")
    assert page.status_code == 200 and "BHXH tỉnh Nghệ An" in page.text and "/reconnect" not in page.text
    assert editor.post("/channels/fb-bhxh-nghean/pause", page="/channels").status_code == 403
    admin = logged_in(console_loa, "quantri")
    short = admin.post("/channels/fb-bhxh-nghean/reconnect", {"token": "abc"}, page="/channels")
    assert short.status_code == 400 and "không giống mã truy cập" in errors_on(short.text)["reconnect-fb-bhxh-nghean"]
    secret = "EAAB-new-page-token-2026-abcdef"
    assert admin.post("/channels/fb-bhxh-nghean/reconnect", {"token": secret}, page="/channels").status_code == 303
    assert admin.post("/channels/zalo-bhxh-nghean/pause", page="/channels").status_code == 303
    paused = admin.get("/channels")
    assert "Tạm dừng" in paused.text and "khi cho hoạt động lại" in paused.text
    assert admin.post("/channels/zalo-bhxh-nghean/resume", page="/channels").status_code == 303
    actions = audit_actions(console_loa)
    assert ("quantri", "channel.reconnect", "channel:fb-bhxh-nghean") in actions
    assert ("bientap", "auth.forbidden", "POST /channels/fb-bhxh-nghean/pause") in actions
    audit = admin.get("/audit")
    assert audit.status_code == 200 and "channel.reconnect" in audit.text and secret not in audit.text


def test_staff_see_only_their_own_figures(console_loa: Loa) -> None:
    staff = logged_in(console_loa, "canbo")
    home = staff.get("/")
    assert home.status_code == 200 and "Nguyễn Thị Lan" in home.text and "/s/tok-lan-0001" in home.text
    assert "/queue" not in home.text and "/compose" not in home.text
    for path in ("/queue", "/calendar", "/compose", "/channels", "/users", "/audit", "/posts/1"):
        assert staff.get(path).status_code == 403, path
    assert staff.post("/compose", {"action": "queue"}, page="/").status_code == 403
    forbidden = [o for a, action, o in audit_actions(console_loa) if a == "canbo" and action == "auth.forbidden"]
    assert "GET /queue" in forbidden and "POST /compose" in forbidden


def test_audit_log_is_for_admins(console_loa: Loa) -> None:
    for username in ("bientap", "duyet"):
        assert logged_in(console_loa, username).get("/audit").status_code == 403
    admin = logged_in(console_loa, "quantri")
    page = admin.get("/audit?action=auth.login")
    assert page.status_code == 200 and "auth.login" in page.text and "bientap" in page.text


def test_admin_adds_users_and_hands_out_a_token_once(console_loa: Loa) -> None:
    admin = logged_in(console_loa, "quantri")
    short = admin.post(
        "/users", {"username": "bientap3", "role": "editor", "password": "ngắn", "password2": "ngắn"}, page="/users"
    )
    assert short.status_code == 400 and "cần ít nhất 10" in errors_on(short.text)["password"]
    assert 'value="bientap3"' in short.text
    added = admin.post(
        "/users",
        {"username": "bientap3", "role": "editor", "password": CONSOLE_PASSWORD, "password2": CONSOLE_PASSWORD},
        page="/users",
    )
    assert added.status_code == 303
    assert logged_in(console_loa, "bientap3").get("/compose").status_code == 200
    shown = admin.post("/users/bientap3/token", page="/users")
    token = re.search(r'id="new-token" class="token" value="(loa_[^"]+)"', shown.text)
    assert shown.status_code == 200 and token
    api = Person(console_loa).http.get("/api/posts", headers={"authorization": f"Bearer {token[1]}"})
    assert api.status_code == 200
    assert token[1] not in admin.get("/users").text and token[1] not in admin.get("/audit").text


def test_every_page_speaks_both_languages_without_missing_words(console_loa: Loa) -> None:
    post_id = queue(console_loa)
    admin = logged_in(console_loa, "quantri")
    pages = [
        "/",
        "/compose",
        "/queue",
        "/calendar",
        "/calendar?view=month",
        f"/posts/{post_id}",
        "/channels",
        "/users",
        "/audit",
    ]
    for lang in ("vi", "en"):
        for path in pages:
            page = admin.get(path + ("&" if "?" in path else "?") + f"lang={lang}")
            assert page.status_code == 200, path
            leftovers = re.findall(r">\s*([a-z_]+\.[a-z_.0-9]+)\s*<", page.text)
            # The audit log shows its action codes (auth.login, post.approve) as they are stored.
            codes = ("auth.", "post.", "user.", "channel.", "publication.")
            assert not [w for w in leftovers if not w.endswith(".jpg") and not w.startswith(codes)], (lang, path)


def test_user_commands_add_token_disable(
    console_loa: Loa, console_config: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from tests.conftest import cli_for

    loa = cli_for(console_config, capsys)
    monkeypatch.setattr("sys.stdin", io.StringIO("một mật khẩu đủ dài\n"))
    added = loa("user", "add", "--username", "admin", "--role", "admin", "--password-stdin")
    assert added.code == 0, added.stderr
    monkeypatch.setattr("sys.stdin", io.StringIO("ngắn\n"))
    short = loa("user", "add", "--username", "admin2", "--role", "editor", "--password-stdin")
    assert short.code == 2 and "ít nhất 10" in short.stderr
    assert loa("user", "add", "--username", "x", "--role", "boss", "--no-password").code == 2
    token = loa("user", "token", "admin")
    assert token.code == 0 and token.stdout.startswith("loa_")
    client = Person(console_loa).http
    assert client.get("/api/posts", headers={"authorization": f"Bearer {token.stdout.strip()}"}).status_code == 200
    assert Person(console_loa).login("admin", "một mật khẩu đủ dài").status_code == 303
    listed = loa("user", "list", "--json").json()["users"]
    assert {u["username"]: u["role"] for u in listed}["admin"] == "admin"
    assert loa("user", "disable", "admin").code == 0
    assert client.get("/api/posts", headers={"authorization": f"Bearer {token.stdout.strip()}"}).status_code == 401
    assert loa("user", "token", "nobody").code == 2


def test_an_idle_session_ends_after_two_hours(console_loa: Loa) -> None:
    person = logged_in(console_loa, "duyet")
    assert person.get("/queue").status_code == 200
    with session_scope(console_loa.engine) as session:
        for row in session.exec(select(UserSession).where(UserSession.user_id.is_not(None))):  # type: ignore[union-attr]
            row.last_seen_at = datetime.now(UTC) - timedelta(hours=2, minutes=1)
            session.add(row)
    gone = person.get("/queue")
    assert gone.status_code == 303 and "expired=1" in gone.headers["location"]
    assert "Phiên làm việc đã hết hạn" in person.get(gone.headers["location"]).text
