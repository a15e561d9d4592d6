"""Reports on a seeded database, against figures worked out by hand below.

Every test that reads the database runs on SQLite and on PostgreSQL (conftest's
`database_url`): the figures must not depend on the dialect.

The seed (times are local, Asia/Ho_Chi_Minh = UTC+7):

units: vinh (An, Bình), nam-dan (=HYPERLINK…, Dũng — no longer active), thai-hoa (Em)
posts: P1 campaign thang-van-dong-2026 (no dates), P2 campaign an-tam-2026 (10–20/05), P3 none
publications: pub1 P1 fb 02/05, pub2 P1 zalo 02/05, pub3 P2 fb 11/05, pub4 P3 zalo 14/05,
              pub5 P3 fb 01/05 01:00 local (30/04 18:00 UTC), pub6 P3 zalo failed

shares                                           clicks (counted unless said)
 1 An    pub1 button  02/05 09:00                 c1 An   pub1 03/05 10:00
 2 An    pub1 self    02/05 10:00                 c2 An   pub1 03/05 10:05  not counted (repeat)
 3 An    pub3 button  12/05 08:00  (in an-tam)    c3 An   pub3 14/05 10:00  (in an-tam)
 4 An    pub3 button  25/05 08:00  (after it)     c4 Bình pub2 20/05 23:30
 5 Bình  pub2 button  31/05 23:30                 c5 =HYP pub4 01/06 06:00  June
 6 Bình  pub4 button  01/06 00:30  June           c6 =HYP pub4 31/05 06:00
 7 =HYP  pub1 button  30/04 23:59  April          c7 Bình pub2 10/05 crawler, not counted
 8 =HYP  pub4 self    15/05 12:00
 9 Dũng  pub2 button  05/05 07:00

May: shares 1 2 3 4 5 8 9 = 7 (button 5, self-report 2); counted clicks c1 c3 c4 c6 = 4.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.errors import InputError
from scheduler.formatting import parse_date, vn_date, vn_decimal, vn_int, vn_percent
from scheduler.models import (
    Campaign,
    Click,
    MetricSnapshot,
    Post,
    Publication,
    PublicationStatus,
    Share,
    ShareKind,
    ShareLink,
    Staff,
    Unit,
)
from scheduler.reports.exports import csv_safe, share_grid, to_csv
from scheduler.reports.queries import Dimension, Period, month_period, monthly_summary, share_report
from scheduler.sharing.rollups import rebuild
from scheduler.store import session_scope
from tests.conftest import Cli, cli_for, sqlite_only, write_config

VN = timezone(timedelta(hours=7))
FB, ZALO = "fb-bhxh-nghean", "zalo-bhxh-nghean"
HYP = '=HYPERLINK("http://evil.example","bấm")'
AN_TAM = """
[[campaigns]]
slug = "an-tam-2026"
name = "BHXH tự nguyện, BHYT hộ gia đình năm 2026"
starts_on = 2026-05-10
ends_on = 2026-05-20
"""


def local(day: int, hour: int, minute: int = 0, month: int = 5) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN)


def seed(app: Loa) -> dict[str, int]:
    """The rows of the module docstring; returns ids by name."""
    ids: dict[str, int] = {}
    created = datetime(2026, 4, 1, tzinfo=UTC)
    with session_scope(app.engine) as s:
        units = {code: Unit(code=code, name=name) for code, name in [
            ("vinh", "BHXH thành phố Vinh"), ("nam-dan", "BHXH huyện Nam Đàn"), ("thai-hoa", "BHXH thị xã Thái Hòa"),
        ]}  # fmt: skip
        s.add_all(units.values())
        s.flush()
        people = {
            "an": ("An", "vinh", True), "binh": ("Bình", "vinh", True), "hyp": (HYP, "nam-dan", True),
            "dung": ("Dũng", "nam-dan", False), "em": ("Em", "thai-hoa", True),
        }  # fmt: skip
        staff = {}
        for key, (name, unit, active) in people.items():
            staff[key] = Staff(
                unit_id=units[unit].id, full_name=name, share_token=f"tok-{key}", active=active, created_at=created
            )
        s.add_all(staff.values())
        campaigns = {c.slug: c.id for c in s.exec(select(Campaign))}
        posts = {
            "P1": Post(campaign_id=campaigns["thang-van-dong-2026"], template="t", text="P1", scheduled_at=created,
                       created_at=created),
            "P2": Post(campaign_id=campaigns["an-tam-2026"], template="t", text="P2", scheduled_at=created,
                       created_at=created),
            "P3": Post(template="t", text="P3", scheduled_at=created, created_at=created),
        }  # fmt: skip
        s.add_all(posts.values())
        s.flush()
        published = PublicationStatus.published
        pubs = {
            "pub1": (posts["P1"], FB, published, local(2, 8)),
            "pub2": (posts["P1"], ZALO, published, local(2, 8)),
            "pub3": (posts["P2"], FB, published, local(11, 10)),
            "pub4": (posts["P3"], ZALO, published, local(14, 9)),
            "pub5": (posts["P3"], FB, published, local(1, 1)),
        }
        rows = {}
        for key, (post, channel, status, at) in pubs.items():
            rows[key] = Publication(
                post_id=post.id, channel_id=channel, platform="facebook" if channel == FB else "zalo", status=status,
                text=post.text, due_at=at or created, published_at=at, remote_id=f"r-{key}",
            )  # fmt: skip
        failed = Publication(
            post_id=posts["P2"].id,
            channel_id=ZALO,
            platform="zalo",
            status=PublicationStatus.failed,
            text="P2",
            due_at=created,
        )
        s.add_all([*rows.values(), failed])
        s.flush()
        snapshots = [
            ("pub1", local(3, 8), dict(views=100, reach=80, reactions=5, comments=1, shares=1)),
            ("pub1", local(9, 8), dict(views=150, reach=90, reactions=10, comments=2, shares=3)),
            ("pub2", local(9, 8), dict(views=40, reach=None, reactions=None, comments=None, shares=5)),
            ("pub3", local(12, 8), dict(views=60, reach=50, reactions=1, comments=0, shares=1)),
        ]
        s.add_all(MetricSnapshot(publication_id=rows[p].id, at=at, **m) for p, at, m in snapshots)
        links: dict[tuple[str, str], ShareLink] = {}

        def link(who: str, pub: str) -> int:
            if (who, pub) not in links:
                links[who, pub] = ShareLink(
                    code=f"{who}-{pub}", publication_id=rows[pub].id, staff_id=staff[who].id, created_at=created
                )
                s.add(links[who, pub])
                s.flush()
            found = links[who, pub].id
            assert found is not None
            return found

        button, self_report = ShareKind.button, ShareKind.self_report
        for who, pub, kind, at in [
            ("an", "pub1", button, local(2, 9)), ("an", "pub1", self_report, local(2, 10)),
            ("an", "pub3", button, local(12, 8)), ("an", "pub3", button, local(25, 8)),
            ("binh", "pub2", button, local(31, 23, 30)), ("binh", "pub4", button, local(1, 0, 30, month=6)),
            ("hyp", "pub1", button, local(30, 23, 59, month=4)), ("hyp", "pub4", self_report, local(15, 12)),
            ("dung", "pub2", button, local(5, 7)),
        ]:  # fmt: skip
            s.add(Share(share_link_id=link(who, pub), platform="facebook", kind=kind, at=at))
        for who, pub, counted, at in [
            ("an", "pub1", True, local(3, 10)), ("an", "pub1", False, local(3, 10, 5)),
            ("an", "pub3", True, local(14, 10)), ("binh", "pub2", True, local(20, 23, 30)),
            ("hyp", "pub4", True, local(1, 6, month=6)), ("hyp", "pub4", True, local(31, 6)),
            ("binh", "pub2", False, local(10, 9)),
        ]:  # fmt: skip
            s.add(Click(share_link_id=link(who, pub), at=at, visitor_hash=f"v{at.isoformat()}", counted=counted,
                        reason="counted" if counted else "repeat"))  # fmt: skip
        s.flush()
        ids.update({key: st.id for key, st in staff.items() if st.id is not None})
        ids.update({key: p.id for key, p in rows.items() if p.id is not None})
    # The rows went in beside Loa's writers, so the rollups are built from them as a recount does.
    rebuild(app.engine, app.settings.tz)
    return ids


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    return write_config(tmp_path, database_url=database_url, extra=AN_TAM)


@pytest.fixture
def app(config: Path) -> Iterator[Loa]:
    loa = Loa(load_settings(config))
    loa.init()
    seed(loa)
    yield loa
    loa.close()


@pytest.fixture
def loa(config: Path, app: Loa, capsys: pytest.CaptureFixture[str]) -> Cli:
    return cli_for(config, capsys)


MAY = ("--from", "2026-05-01", "--to", "31/05/2026")


def rows_of(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["key"], r["label"], r["shares"], r["button"], r["self_report"], r["clicks"]) for r in report["rows"]]


# -- the figures -----------------------------------------------------------------------------


def test_by_staff(loa: Cli, app: Loa) -> None:
    result = loa("report", "shares", *MAY, "--by", "staff", "--format", "json")
    assert result.code == 0, result.stderr
    report = result.json()
    assert (report["from"], report["to"], report["by"]) == ("2026-05-01", "2026-05-31", "staff")
    ids = {r["label"]: r["key"] for r in report["rows"]}
    assert rows_of(report) == [
        (ids["An"], "An", 4, 3, 1, 2),
        (ids[HYP], HYP, 1, 0, 1, 1),  # ties go by name; "=" sorts before letters
        (ids["Bình"], "Bình", 1, 1, 0, 1),
        (ids["Dũng"], "Dũng", 1, 1, 0, 0),  # no longer active, but shared in May
        (ids["Em"], "Em", 0, 0, 0, 0),  # active, shared nothing: shown
    ]
    assert [r["unit"] for r in report["rows"]] == [
        "BHXH thành phố Vinh", "BHXH huyện Nam Đàn", "BHXH thành phố Vinh", "BHXH huyện Nam Đàn",
        "BHXH thị xã Thái Hòa",
    ]  # fmt: skip
    assert report["totals"] == {"shares": 7, "clicks": 4, "button": 5, "self_report": 2}


def test_by_unit_channel_campaign_day(app: Loa) -> None:
    may = Period(date(2026, 5, 1), date(2026, 5, 31), app.settings.tz)

    def rows(by: str) -> list[tuple[Any, ...]]:
        return rows_of(share_report(app.engine, app.settings, may, by).as_json())

    assert rows("unit") == [
        ("vinh", "BHXH thành phố Vinh", 5, 4, 1, 3),
        ("nam-dan", "BHXH huyện Nam Đàn", 2, 1, 1, 1),
        ("thai-hoa", "BHXH thị xã Thái Hòa", 0, 0, 0, 0),
    ]
    assert rows("channel") == [
        (FB, "BHXH tỉnh Nghệ An", 4, 3, 1, 2),
        (ZALO, "BHXH Nghệ An (Zalo OA)", 3, 2, 1, 2),
    ]
    # Campaigns count only inside their own dates; the rest closes on the same totals.
    assert rows("campaign") == [
        ("thang-van-dong-2026", "Tháng Vận động triển khai BHXH, BHYT toàn dân năm 2026", 4, 3, 1, 2),
        ("an-tam-2026", "BHXH tự nguyện, BHYT hộ gia đình năm 2026", 1, 1, 0, 1),
        (None, "Ngoài chiến dịch", 2, 1, 1, 1),
    ]
    by_day = rows("day")
    assert len(by_day) == 31 and by_day[0][:2] == ("2026-05-01", "01/05/2026")
    busy = {key: (shares, clicks) for key, _, shares, _, _, clicks in by_day if shares or clicks}
    assert busy == {
        "2026-05-02": (2, 0), "2026-05-03": (0, 1), "2026-05-05": (1, 0), "2026-05-12": (1, 0),
        "2026-05-14": (0, 1), "2026-05-15": (1, 0), "2026-05-20": (0, 1), "2026-05-25": (1, 0),
        "2026-05-31": (1, 1),
    }  # fmt: skip
    for by in Dimension:
        report = share_report(app.engine, app.settings, may, by)
        assert report.totals.shares == 7 and report.totals.clicks == 4, by
        assert report.totals.button + report.totals.self_report == report.totals.shares


def test_a_campaign_outside_the_period_and_the_edges_of_days(app: Loa) -> None:
    june = share_report(app.engine, app.settings, Period(date(2026, 6, 1), date(2026, 6, 30), app.settings.tz), "unit")
    assert june.totals.as_json() == {"shares": 1, "clicks": 1, "button": 1, "self_report": 0}
    one_day = Period(date(2026, 5, 31), date(2026, 5, 31), app.settings.tz)
    campaign = share_report(app.engine, app.settings, one_day, "campaign")
    # an-tam-2026 ended on 20/05: not a row of a report on 31/05.
    assert [(r.key, r.shares, r.clicks) for r in campaign.rows] == [("thang-van-dong-2026", 1, 0), (None, 0, 1)]


def test_days_follow_the_zone_across_a_dst_change(config: Path) -> None:
    settings = load_settings(config, environ={"LOA_TIMEZONE": "Europe/Berlin"})
    app = Loa(settings)
    app.init()
    seed(app)
    # 30/04 23:59 Hanoi = 30/04 18:59 Berlin (CEST); 25/05 08:00 Hanoi = 25/05 03:00 Berlin.
    spring = Period(date(2026, 3, 28), date(2026, 5, 31), settings.tz)  # DST began 29/03
    busy = {r.key: r.shares for r in share_report(app.engine, settings, spring, "day").rows if r.shares}
    assert busy["2026-04-30"] == 1 and busy["2026-05-25"] == 1 and sum(busy.values()) == 9
    assert busy["2026-05-31"] == 2  # Bình's 31/05 23:30 and 01/06 00:30 Hanoi are both 31/05 in Berlin
    app.close()


# -- the monthly summary ------------------------------------------------------------------


def test_summary_figures_text_and_agreement(loa: Cli, app: Loa, monkeypatch: pytest.MonkeyPatch) -> None:
    result = loa("report", "summary", "--month", "2026-05", "--format", "json")
    assert result.code == 0, result.stderr
    summary = result.json()
    channels = {c["channel"]: c for c in summary["publications"]["by_channel"]}
    assert (channels[FB]["publications"], channels[FB]["views"], channels[FB]["reach"]) == (3, 210, 140)
    assert (channels[FB]["reactions"], channels[FB]["comments"], channels[FB]["platform_shares"]) == (11, 2, 4)
    assert (channels[FB]["measured"], channels[ZALO]["measured"]) == (2, 1)
    assert (channels[ZALO]["publications"], channels[ZALO]["views"], channels[ZALO]["reach"]) == (2, 40, None)
    total = summary["publications"]["total"]
    assert (total["publications"], total["views"], total["reach"]) == (5, 250, 140)
    shares = summary["shares"]
    assert (shares["shares"], shares["button"], shares["self_report"], shares["clicks"]) == (7, 5, 2, 4)
    assert (shares["staff"], shares["staff_sharing"]) == (5, 4)
    assert [(u["key"], u["shares"], u["clicks"], u["staff"], u["staff_sharing"]) for u in shares["by_unit"]] == [
        ("vinh", 5, 3, 2, 2),
        ("nam-dan", 2, 1, 2, 2),
        ("thai-hoa", 0, 0, 1, 0),
    ]
    campaigns = {c["slug"]: c for c in summary["campaigns"]}
    tvd, an_tam = campaigns["thang-van-dong-2026"], campaigns["an-tam-2026"]
    assert (tvd["from"], tvd["to"], tvd["publications"], tvd["views"], tvd["reach"]) == (
        "2026-05-01", "2026-05-31", 2, 190, 90,
    )  # fmt: skip
    assert (tvd["shares"], tvd["clicks"]) == (4, 2)
    assert (an_tam["from"], an_tam["to"], an_tam["publications"], an_tam["views"]) == (
        "2026-05-10",
        "2026-05-20",
        1,
        60,
    )
    assert (an_tam["shares"], an_tam["clicks"]) == (1, 1)

    text = loa("report", "summary", "--month", "2026-05").stdout
    assert "Tháng 5/2026 (từ ngày 01/05/2026 đến ngày 31/05/2026)" in text
    assert "đã đăng tải 5 tin bài trên môi trường mạng xã hội" in text
    assert "đạt 250 lượt xem và 140 lượt tiếp cận" in text
    assert "trên các trang mạng xã hội của cán bộ, viên chức 7 lượt, mang về 4 lượt nhấp" in text
    assert "4/5 cán bộ, viên chức đã chia sẻ, đạt 80,00%" in text
    assert "BHXH thị xã Thái Hòa: 0 lượt chia sẻ, 0 lượt nhấp; 0/1 cán bộ tham gia (0,00%)" in text
    assert summary["text"] == text

    # Complete in English too (LOA_LANG=en), with English number formats.
    monkeypatch.setenv("LOA_LANG", "en")
    english = loa("report", "summary", "--month", "2026-05").stdout
    assert "REPORT ON COMMUNICATION RESULTS ON SOCIAL NETWORKS" in english
    assert "Month 5/2026 (from 01/05/2026 to 31/05/2026)" in english
    assert "In 5/2026, 5 posts were published on social networks" in english
    assert "reaching 250 views and 140 reached" in english
    assert "4/5 staff shared, 80.00%" in english
    assert not re.search(r"lượt|tin bài|cán bộ|đơn vị", english)  # names of units and campaigns stay
    monkeypatch.delenv("LOA_LANG")

    # The summary and the share reports agree, in every dimension.
    for by in Dimension:
        report = loa("report", "shares", "--from", "01/05/2026", "--to", "2026-05-31", "--by", by, "--format", "json")
        assert report.json()["totals"] == {k: shares[k] for k in ("shares", "clicks", "button", "self_report")}


def test_summary_xlsx(loa: Cli, tmp_path: Path) -> None:
    target = tmp_path / "thang5.xlsx"
    assert loa("report", "summary", "--month", "2026-05", "-o", str(target)).code == 0
    book = load_workbook(target)
    assert book.sheetnames == ["Tổng hợp", "Báo cáo", "Theo kênh", "Theo đơn vị", "Chiến dịch"]
    key = book["Tổng hợp"]
    figures = {key.cell(row, 1).value: key.cell(row, 2).value for row in range(5, key.max_row + 1)}
    assert figures["Tin bài đã đăng trên mạng xã hội"] == 5
    assert figures["Lượt chia sẻ của cán bộ, viên chức"] == 7
    assert figures["Tỷ lệ cán bộ, viên chức tham gia"] == pytest.approx(0.8)
    assert key.cell(14, 2).number_format == "0.00%"
    units = book["Theo đơn vị"]
    assert [c.value for c in units[4]] == [
        "STT", "Mã đơn vị", "Đơn vị", "Lượt chia sẻ", "Lượt bấm chia sẻ", "Tự báo cáo", "Lượt nhấp",
        "Số cán bộ", "Đã chia sẻ", "Tỷ lệ tham gia",
    ]  # fmt: skip
    assert [c.value for c in units[8]][:9] == [None, "Tổng cộng", None, 7, 5, 2, 4, 5, 4]
    channels = book["Theo kênh"]
    assert [c.value for c in channels[6]] == [2, ZALO, "BHXH Nghệ An (Zalo OA)", "zalo", 2, 40, None, None, None, 5]
    campaigns = book["Chiến dịch"]
    assert campaigns.cell(6, 4).value == datetime(2026, 5, 10) and campaigns.cell(6, 4).number_format == "dd/mm/yyyy"
    report_lines = [book["Báo cáo"].cell(row, 1).value for row in range(5, book["Báo cáo"].max_row + 1)]
    assert "BÁO CÁO KẾT QUẢ TRUYỀN THÔNG TRÊN MẠNG XÃ HỘI" in report_lines


# -- formats ---------------------------------------------------------------------------------


def test_xlsx_cell_by_cell(loa: Cli, tmp_path: Path) -> None:
    target = tmp_path / "staff.xlsx"
    result = loa("report", "shares", *MAY, "--by", "staff", "--format", "xlsx", "-o", str(target))
    assert result.code == 0, result.stderr
    book = load_workbook(target)
    sheet = book.active
    assert sheet is not None and sheet.title == "Chia sẻ theo cán bộ, viên chức"
    assert sheet["A1"].value == "BÁO CÁO LƯỢT CHIA SẺ THEO CÁN BỘ, VIÊN CHỨC"
    assert sheet["A2"].value == "Từ ngày 01/05/2026 đến ngày 31/05/2026"
    assert [c.value for c in sheet[4]] == [
        "STT", "Mã cán bộ", "Họ và tên", "Đơn vị", "Lượt chia sẻ", "Lượt bấm chia sẻ", "Tự báo cáo", "Lượt nhấp",
    ]  # fmt: skip
    assert all(c.font.b for c in sheet[4])
    assert sheet.freeze_panes == "A5"
    body = [[c.value for c in sheet[row]] for row in range(5, 10)]
    assert [row[2:] for row in body] == [
        ["An", "BHXH thành phố Vinh", 4, 3, 1, 2],
        [HYP, "BHXH huyện Nam Đàn", 1, 0, 1, 1],
        ["Bình", "BHXH thành phố Vinh", 1, 1, 0, 1],
        ["Dũng", "BHXH huyện Nam Đàn", 1, 1, 0, 0],
        ["Em", "BHXH thị xã Thái Hòa", 0, 0, 0, 0],
    ]
    assert [row[0] for row in body] == [1, 2, 3, 4, 5]
    assert all(isinstance(row[1], int) for row in body)  # numbers as numbers
    assert sheet["E5"].data_type == "n" and sheet["E5"].number_format == "#,##0"
    formula_cell = sheet["C6"]  # the name that looks like a formula stays text, quote-prefixed
    assert formula_cell.data_type == "s" and formula_cell.value == HYP and formula_cell.quotePrefix
    assert [c.value for c in sheet[10]] == [None, "Tổng cộng", None, None, 7, 5, 2, 4]
    assert all(c.font.b for c in sheet[10])
    assert sheet.max_row == 10
    for letter in "ABCDEFGH":
        assert (sheet.column_dimensions[letter].width or 0) >= 6
    assert sheet.column_dimensions["C"].width >= len(HYP)


def test_xlsx_days_are_dates(loa: Cli, tmp_path: Path) -> None:
    target = tmp_path / "days.xlsx"
    assert loa("report", "shares", *MAY, "--by", "day", "-o", str(target)).code == 0  # format from the suffix
    sheet = load_workbook(target).active
    assert sheet is not None
    assert sheet["B5"].value == datetime(2026, 5, 1) and sheet["B5"].number_format == "dd/mm/yyyy"
    assert sheet["B6"].is_date and sheet["C6"].value == 2  # 02/05: two shares
    assert [c.value for c in sheet[36]] == [None, "Tổng cộng", 7, 5, 2, 4]


def test_csv_escapes_formulas_and_closes_on_the_totals(loa: Cli) -> None:
    result = loa("report", "shares", *MAY, "--by", "staff", "--format", "csv")
    assert result.code == 0, result.stderr
    table = list(csv.reader(io.StringIO(result.stdout)))
    assert table[0] == ["STT", "Mã cán bộ", "Họ và tên", "Đơn vị", "Lượt chia sẻ", "Lượt bấm chia sẻ", "Tự báo cáo",
                        "Lượt nhấp"]  # fmt: skip
    assert table[2][2] == "'" + HYP
    assert table[-1] == ["", "Tổng cộng", "", "", "7", "5", "2", "4"]
    assert sum(int(row[4]) for row in table[1:-1]) == 7 and sum(int(row[7]) for row in table[1:-1]) == 4
    for dangerous in ("=1+1", "+84912", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert csv_safe(dangerous) == "'" + dangerous
    assert csv_safe("BHXH Vinh") == "BHXH Vinh" and csv_safe("") == ""


def test_csv_file_has_a_bom_for_excel(loa: Cli, tmp_path: Path) -> None:
    target = tmp_path / "unit.csv"
    assert loa("report", "shares", *MAY, "-o", str(target)).code == 0
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    assert "BHXH thành phố Vinh" in target.read_text(encoding="utf-8-sig")


def test_png_chart(loa: Cli, tmp_path: Path) -> None:
    target = tmp_path / "unit.png"
    assert loa("report", "shares", *MAY, "--by", "unit", "--format", "png", "-o", str(target)).code == 0
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    days = tmp_path / "days.png"
    assert loa("report", "shares", *MAY, "--by", "day", "-o", str(days)).code == 0
    assert days.read_bytes().startswith(b"\x89PNG")


def test_every_format_agrees(loa: Cli, tmp_path: Path) -> None:
    for by in Dimension:
        as_json = loa("report", "shares", *MAY, "--by", by, "--format", "json").json()
        rows = as_json["rows"]
        totals = as_json["totals"]
        assert totals == {k: sum(r[k] for r in rows) for k in ("shares", "clicks", "button", "self_report")}
        table = list(csv.reader(io.StringIO(loa("report", "shares", *MAY, "--by", by, "--format", "csv").stdout)))
        assert [int(v) for v in table[-1][-4:]] == [totals[k] for k in ("shares", "button", "self_report", "clicks")]
        target = tmp_path / f"{by}.xlsx"
        assert loa("report", "shares", *MAY, "--by", by, "--format", "xlsx", "-o", str(target)).code == 0
        sheet = load_workbook(target).active
        assert sheet is not None
        last = [c.value for c in sheet[sheet.max_row]][-4:]
        assert last == [totals[k] for k in ("shares", "button", "self_report", "clicks")]
        assert sheet.max_row == 4 + len(rows) + 1
        shown = loa("report", "shares", *MAY, "--by", by)
        assert shown.code == 0 and "Tổng cộng" in shown.stdout
        assert f"{vn_int(totals['shares'])}" in shown.stdout.split("Tổng cộng")[1]


def test_table_uses_vietnamese_numbers(tmp_path: Path) -> None:
    from scheduler.reports.queries import ShareReport, ShareRow

    period = Period(date(2026, 5, 1), date(2026, 5, 31), load_settings(write_config(tmp_path)).tz)  # no database
    report = ShareReport(period, Dimension.unit, [ShareRow("vinh", "BHXH thành phố Vinh", "x", 1076, 1000, 76, 12345)])
    grid = share_grid(report)
    assert grid.totals == [None, "Tổng cộng", None, 1076, 1000, 76, 12345]
    assert to_csv(grid).splitlines()[1] == "1,vinh,BHXH thành phố Vinh,1076,1000,76,12345"
    from rich.console import Console

    from scheduler.reports.exports import rich_table

    console = Console(record=True, width=200, file=io.StringIO())
    console.print(rich_table(grid))
    text = console.export_text()
    assert "1.076" in text and "12.345" in text


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--from", "2026-05-31", "--to", "2026-05-01"), "sau ngày kết thúc"),
        (("--from", "31-05-2026", "--to", "2026-06-01"), "không phải ngày"),
        (("--from", "2026-02-30", "--to", "2026-03-01"), "không phải ngày"),
        (("--from", "2026-05-01", "--to", "2026-05-31", "--by", "province"), "province"),
        (("--from", "2026-05-01", "--to", "2026-05-31", "--format", "pdf"), "pdf"),
        (("--from", "2026-05-01", "--to", "2026-05-31", "-o", "/nonexistent-folder/x.csv"), "không tồn tại"),
    ],
)
@sqlite_only  # refused before any query is made: nothing here depends on the backend
def test_bad_share_report_input_is_exit_2(loa: Cli, args: tuple[str, ...], needle: str) -> None:
    result = loa("report", "shares", *args)
    assert result.code == 2, (result.stdout, result.stderr)
    assert needle in result.stderr


def test_bad_output_and_months_are_exit_2(loa: Cli, tmp_path: Path) -> None:
    folder = loa("report", "shares", *MAY, "-o", str(tmp_path))
    assert folder.code == 2 and "thư mục" in folder.stderr
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        refused = loa("report", "shares", *MAY, "--format", "xlsx", "-o", str(locked / "x.xlsx"))
        import os

        if os.geteuid() != 0:  # root writes anywhere
            assert refused.code == 2 and "không ghi được" in refused.stderr
    finally:
        locked.chmod(0o700)
    today = datetime.now(UTC).astimezone(VN).date()
    following = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    future = loa("report", "summary", "--month", f"{following.year}-{following.month:02d}")
    assert future.code == 2 and "chưa bắt đầu" in future.stderr
    assert loa("report", "summary", "--month", "2026-13").code == 2
    assert loa("report", "summary", "--month", "May").code == 2
    assert loa("report", "summary", "--month", "2026-05", "--format", "png").code == 2
    this_month = loa("report", "summary", "--month", f"{today.year}-{today.month:02d}", "--format", "json")
    assert this_month.code == 0 and this_month.json()["as_of"] in (today.isoformat(), None)


def test_month_period_and_nothing_written_on_bad_input(app: Loa, tmp_path: Path) -> None:
    year, month, period, as_of = month_period("2026-02", app.settings, today=date(2026, 2, 10))
    assert (year, month, period.start, period.end, as_of) == (
        2026,
        2,
        date(2026, 2, 1),
        date(2026, 2, 28),
        date(2026, 2, 10),
    )
    with pytest.raises(InputError):
        month_period("2026-03", app.settings, today=date(2026, 2, 28))
    summary = monthly_summary(app.engine, app.settings, 2026, 5)
    assert json.loads(json.dumps(summary.as_json()))["shares"]["shares"] == 7


# -- Vietnamese formats ------------------------------------------------------------------------


def test_vietnamese_number_and_date_formats() -> None:
    assert vn_int(1076) == "1.076"  # the seed's "1.076 lượt"
    assert vn_int(3039673) == "3.039.673"
    assert vn_int(234) == "234" and vn_int(0) == "0" and vn_int(None) == "—" and vn_int(-1500) == "-1.500"
    assert vn_percent(9232, 10000) == "92,32%"  # the seed's "92,32%"
    assert vn_percent(1, 3) == "33,33%" and vn_percent(2, 3) == "66,67%" and vn_percent(1, 0) == "—"
    assert vn_decimal(92.325) == "92,33"  # half up on the decimal the person sees
    assert vn_decimal(1234.5) == "1.234,50"
    assert vn_date(date(2024, 5, 6)) == "06/05/2024"
    assert parse_date("06/05/2024") == parse_date("2024-05-06") == date(2024, 5, 6)
    with pytest.raises(InputError):
        parse_date("2024/05/06")
