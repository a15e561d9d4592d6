"""The console's staff and report pages, over the sharing and reports rooms' own functions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from scheduler.app import Loa
from scheduler.models import Publication, PublicationStatus, Staff
from scheduler.posts.requests import PostRequest
from scheduler.store import session_scope
from tests.console_support import audit_actions, errors_on, logged_in

pytest.importorskip("scheduler.sharing.service", reason="the staff-sharing room is not in this tree")

STAFF_CSV = (
    "ho_ten,don_vi,so_dien_thoai,email\n"
    "Trần Văn Hùng,BHXH huyện Diễn Châu,0912345678,hung@example.vn\n"
    "Lê Thị Hoa,BHXH thị xã Cửa Lò,0987654321,hoa@example.vn\n"
)


def staff_names(loa: Loa, *, active: bool = True) -> set[str]:
    with session_scope(loa.engine, read_only=True) as session:
        return {s.full_name for s in session.exec(select(Staff).where(Staff.active == active))}


def test_admin_imports_lists_and_deactivates_staff(console_loa: Loa) -> None:
    admin = logged_in(console_loa, "quantri")
    bad = admin.post("/staff/import", files={"file": ("can-bo.csv", b"ten,noi\nA,B\n", "text/csv")}, page="/staff")
    assert bad.status_code == 400 and "can-bo.csv" in errors_on(bad.text)["file"]
    assert staff_names(console_loa) == {"Nguyễn Thị Lan"}
    wrong_type = admin.post("/staff/import", files={"file": ("ds.pdf", b"%PDF", "application/pdf")}, page="/staff")
    # The console gives the fix with the refusal.
    refused = "ds.pdf không phải tệp CSV hay XLSX. — lưu bảng tính dạng .csv (UTF-8) hoặc .xlsx"
    assert errors_on(wrong_type.text) == {"file": refused}
    done = admin.post("/staff/import", files={"file": ("danh sách.csv", STAFF_CSV.encode(), "text/csv")}, page="/staff")
    assert done.status_code == 200 and "2 mới" in done.text
    assert staff_names(console_loa) == {"Nguyễn Thị Lan", "Trần Văn Hùng", "Lê Thị Hoa"}
    page = admin.get("/staff?unit=BHXH huyện Diễn Châu")
    assert "Trần Văn Hùng" in page.text and "Lê Thị Hoa" not in page.text and "/s/" in page.text
    with session_scope(console_loa.engine, read_only=True) as session:
        hung = session.exec(select(Staff).where(Staff.full_name == "Trần Văn Hùng")).one()
    assert admin.post(f"/staff/{hung.id}/deactivate", page="/staff").status_code == 303
    assert staff_names(console_loa, active=False) == {"Trần Văn Hùng"}
    assert ("quantri", "staff.deactivate", f"staff:{hung.id}") in audit_actions(console_loa)
    for username in ("bientap", "duyet", "canbo"):
        person = logged_in(console_loa, username)
        assert person.get("/staff").status_code == 403
        assert person.post(f"/staff/{hung.id}/activate", page="/").status_code == 403
    assert staff_names(console_loa, active=False) == {"Trần Văn Hùng"}


def test_a_unit_alike_but_for_accents_is_a_notice_not_a_merge(console_loa: Loa) -> None:
    admin = logged_in(console_loa, "quantri")
    first = "ho_ten,don_vi,so_dien_thoai,email\nPhan Văn An,Tổ Thu,0912000011,\n"
    assert (
        admin.post("/staff/import", files={"file": ("a.csv", first.encode(), "text/csv")}, page="/staff").status_code
        == 200
    )
    second = "ho_ten,don_vi,so_dien_thoai,email\nĐỗ Thị Bình,Tổ Thư,0912000012,\n"
    done = admin.post("/staff/import", files={"file": ("b.csv", second.encode(), "text/csv")}, page="/staff")
    assert done.status_code == 200
    notice = re.search(r'<p class="flash flash-warn" role="status">([^<]*)</p>', done.text)
    assert notice and "Tổ Thư" in notice.group(1) and "Tổ Thu" in notice.group(1)
    assert "Tổ Thư" in admin.get("/staff?unit=Tổ Thư").text


def shared_published_post(loa: Loa, shares: int) -> int:
    """A Zalo post marked published today that Lan shared offline `shares` times; its id."""
    from scheduler.sharing.service import SharingService

    post_id = loa.posts.add(
        PostRequest(
            template="thang-van-dong",
            channels=["zalo-bhxh-nghean"],
            created_by="bientap",
            variables={"hoat_dong": "ra quân", "dia_diem": "chợ Vinh", "ngay": "06/05/2026"},
        )
    )
    with session_scope(loa.engine) as session:
        for row in session.exec(select(Publication).where(Publication.post_id == post_id)):
            row.status = PublicationStatus.published
            row.published_at = datetime.now(UTC)
            session.add(row)
    sharing = SharingService(loa.settings, loa.engine)
    for _ in range(shares):
        sharing.record_offline(post_id=post_id, staff_ref="lan@example.vn", platform="zalo", actor="test")
    return post_id


def test_share_report_page_table_chart_and_excel(console_loa: Loa) -> None:
    pytest.importorskip("scheduler.reports.queries", reason="the reports room is not in this tree")
    shared_published_post(console_loa, shares=3)
    approver = logged_in(console_loa, "duyet")
    page = approver.get("/reports?by=staff")
    assert page.status_code == 200 and "Nguyễn Thị Lan" in page.text and "BHXH thành phố Vinh" in page.text
    assert re.search(r'<td class="num">3</td>', page.text)
    today = datetime.now(UTC).astimezone(console_loa.settings.tz).date()
    asked = f"from={today.replace(day=1):%d/%m/%Y}&to={today:%d/%m/%Y}&by=unit"
    excel = approver.get(f"/reports/shares.xlsx?{asked}")
    assert excel.status_code == 200 and excel.content[:2] == b"PK"
    assert "attachment" in excel.headers["content-disposition"]
    chart = approver.get(f"/reports/shares.png?{asked}")
    assert chart.status_code == 200 and chart.content[:8] == b"\x89PNG\r\n\x1a\n"
    bad = approver.get("/reports?from=31/02/2026&to=01/03/2026")
    assert bad.status_code == 400 and "không phải ngày" in errors_on(bad.text)["from"]
    backwards = approver.get(f"/reports?from={today:%d/%m/%Y}&to={today - timedelta(days=3):%d/%m/%Y}")
    assert backwards.status_code == 400 and "sau ngày kết thúc" in errors_on(backwards.text)["from"]
    assert logged_in(console_loa, "canbo").get("/reports").status_code == 403
    staff_home = logged_in(console_loa, "canbo").get("/")
    assert re.search(r'class="stat-number">3<', staff_home.text), "the staff member sees their own 3 shares"


def test_monthly_report_page_filters_chart_and_downloads(console_loa: Loa) -> None:
    pytest.importorskip("scheduler.reports.document", reason="the monthly report is not in this tree")
    shared_published_post(console_loa, shares=2)
    month = f"{datetime.now(UTC).astimezone(console_loa.settings.tz):%Y-%m}"
    approver = logged_in(console_loa, "duyet")
    page = approver.get(f"/reports/summary?month={month}")
    assert page.status_code == 200, page.text
    assert "<svg" in page.text and "BHXH thành phố Vinh" in page.text and 'class="bar-chart"' in page.text
    assert re.search(r'class="stat-number">2<', page.text)
    narrowed = approver.get(f"/reports/summary?month={month}&unit=khong-co")
    assert narrowed.status_code == 400 and "khong-co" in errors_on(narrowed.text)["unit"]
    for fmt, magic in (("docx", b"PK"), ("pdf", b"%PDF"), ("xlsx", b"PK"), ("png", b"\x89PNG")):
        got = approver.get(f"/reports/summary.{fmt}?month={month}")
        assert got.status_code == 200 and got.content.startswith(magic), fmt
    assert "attachment" in approver.get(f"/reports/summary.docx?month={month}").headers["content-disposition"]
    bad = approver.get("/reports/summary?month=2026-13")
    assert bad.status_code == 400 and "month" in errors_on(bad.text)
    assert logged_in(console_loa, "canbo").get("/reports/summary").status_code == 403


def test_the_dashboard_shows_each_channels_latest_audience(console_loa: Loa) -> None:
    from datetime import date

    from scheduler.models import AudienceSnapshot

    at = datetime.now(UTC)
    with session_scope(console_loa.engine) as session:
        session.add(AudienceSnapshot(channel_id="fb-bhxh-nghean", day=date(2026, 5, 30), at=at, followers=12_840))
        session.add(
            AudienceSnapshot(channel_id="fb-bhxh-nghean", day=date(2026, 5, 31), at=at, followers=12_900, views=5_400,
                             reach=3_100)
        )  # fmt: skip
    page = logged_in(console_loa, "duyet").get("/")
    assert page.status_code == 200
    assert "12.900 người theo dõi (31/05/2026)" in page.text and "5.400 lượt xem" in page.text
