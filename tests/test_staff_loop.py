""" "Gửi cho cán bộ": per-unit text to paste, the QR sheet and the per-staff links, from the console."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
from sqlalchemy import update
from sqlmodel import col

from scheduler.models import Publication, PublicationStatus, Staff, Unit
from scheduler.posts.requests import PostRequest
from scheduler.store import session_scope
from tests.console_support import logged_in

VARS = {"hoat_dong": "ra quân tuyên truyền", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}


def published_post(loa: Any) -> int:
    """A post whose Zalo publication went out (the row as the dispatcher leaves it), staff in two units."""
    post_id: int = loa.posts.add(
        PostRequest(
            template="thang-van-dong",
            channels=["zalo-bhxh-nghean"],
            variables=VARS,
            at=datetime.now(UTC) + timedelta(minutes=1),
        )
    )
    with session_scope(loa.engine) as session:
        session.execute(
            update(Publication)
            .where(col(Publication.post_id) == post_id)
            .values(
                status=PublicationStatus.published,
                remote_id="a1",
                permalink="https://zalo.me/a1",
                published_at=datetime.now(UTC),
            )
        )
        unit = Unit(code="dien-chau", name="BHXH huyện Diễn Châu")
        session.add(unit)
        session.flush()
        assert unit.id is not None
        for name, token in (("Trần Văn Bình", "tok-binh-0002"), ("Lê Thị Cúc", "tok-cuc-00003")):
            session.add(Staff(unit_id=unit.id, full_name=name, share_token=token, created_at=datetime.now(UTC)))
    return post_id


def test_an_admin_gets_each_units_text_in_two_clicks(console_loa: Any) -> None:
    post_id = published_post(console_loa)
    admin = logged_in(console_loa, "quantri")
    post_page = admin.get(f"/posts/{post_id}")
    assert f'href="/posts/{post_id}/staff"' in post_page.text and "Gửi cho cán bộ" in post_page.text
    assert f'href="/posts/{post_id}/staff"' not in logged_in(console_loa, "bientap").get(f"/posts/{post_id}").text

    page = admin.get(f"/posts/{post_id}/staff")
    assert page.status_code == 200
    assert page.text.index("BHXH huyện Diễn Châu") < page.text.index("BHXH thành phố Vinh")  # in name order
    assert (
        "• Lê Thị Cúc: http://127.0.0.1:8000/s/tok-cuc-00003\n• Trần Văn Bình: http://127.0.0.1:8000/s/tok-binh-0002"
        in page.text
    )
    assert "• Nguyễn Thị Lan: http://127.0.0.1:8000/s/tok-lan-0001" in page.text
    assert "THÁNG VẬN ĐỘNG" in page.text and 'data-copy="unit-vinh-text"' in page.text
    assert logged_in(console_loa, "bientap").get(f"/posts/{post_id}/staff").status_code == 403


def test_the_qr_sheet_has_one_code_per_staff_member(console_loa: Any) -> None:
    from scheduler.sharing.staff_loop import qr_svg

    post_id = published_post(console_loa)
    sheet = logged_in(console_loa, "quantri").get(f"/posts/{post_id}/staff/qr?unit=dien-chau")
    assert sheet.status_code == 200
    assert sheet.text.count("<svg") == 2 and "Nguyễn Thị Lan" not in sheet.text
    assert qr_svg("http://127.0.0.1:8000/s/tok-cuc-00003") in sheet.text
    assert logged_in(console_loa, "quantri").get(f"/posts/{post_id}/staff/qr?unit=khong-co").status_code == 404


def test_the_links_table_downloads_for_one_unit(console_loa: Any) -> None:
    post_id = published_post(console_loa)
    reply = logged_in(console_loa, "quantri").get(f"/posts/{post_id}/staff/links.xlsx?unit=dien-chau")
    assert reply.status_code == 200 and "attachment" in reply.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(reply.content)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:2] == ["ho_ten", "don_vi"] and {r[0] for r in rows[1:]} == {"Trần Văn Bình", "Lê Thị Cúc"}
    assert all(str(r[5]).startswith("http://127.0.0.1:8000/l/") for r in rows[1:])


def test_a_post_not_yet_published_has_nothing_to_send(console_loa: Any) -> None:
    post_id = console_loa.posts.add(
        PostRequest(
            template="thang-van-dong",
            channels=["zalo-bhxh-nghean"],
            variables=VARS,
            at=datetime.now(UTC) + timedelta(hours=1),
        )
    )
    page = logged_in(console_loa, "quantri").get(f"/posts/{post_id}/staff")
    assert page.status_code == 400 and "chưa được đăng trên kênh nào" in page.text
