"""The monthly report as a Decree 30/2020 Word file and its PDF, reopened and checked against
the JSON summary of the same month (the seed of tests/test_reports.py)."""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from pypdf import PdfReader

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.reports.document import place_and_date
from tests.conftest import Cli, cli_for, write_config
from tests.test_reports import AN_TAM, seed

OFFICE = """
[reports]
parent_body = "Bảo hiểm xã hội Việt Nam"
issuer = "Bảo hiểm xã hội tỉnh Nghệ An"
place = "Nghệ An"
recipients = ["BHXH Việt Nam (để báo cáo)", "Lưu: VT."]
"""


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    return write_config(tmp_path, database_url=database_url, extra=AN_TAM + OFFICE)


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


def _texts(document: Any) -> list[str]:
    """Every paragraph of the body, the tables' cells included, in order."""
    found: list[str] = []

    def walk(container: Any) -> None:
        for block in container.iter_inner_content():
            if hasattr(block, "rows"):
                for row in block.rows:
                    for cell in row.cells:
                        walk(cell)
            else:
                found.append(block.text)

    walk(document)
    return found


def _tables(document: Any) -> list[list[list[str]]]:
    return [[[cell.text for cell in row.cells] for row in table.rows] for table in document.tables]


def _vn(n: int | None) -> str:
    return "–" if n is None else f"{n:,}".replace(",", ".")


def _summary(loa: Cli) -> dict[str, Any]:
    result = loa("report", "summary", "--month", "2026-05", "--format", "json")
    assert result.code == 0, result.stderr
    summary: dict[str, Any] = result.json()
    return summary


def test_the_word_report_is_in_the_decree_30_layout(loa: Cli, tmp_path: Path) -> None:
    summary = _summary(loa)
    target = str(tmp_path / "bao-cao.docx")
    result = loa("report", "summary", "--month", "2026-05", "--format", "docx", "--date", "05/06/2026", "-o", target)
    assert result.code == 0, result.stderr
    document = Document(str(target))
    section = document.sections[0]
    # A4 portrait; margins top/bottom 20 mm, left 30 mm, right 15 mm (docs/vietnam.md).
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    margins = (section.top_margin, section.bottom_margin, section.left_margin, section.right_margin)
    assert [round(m.mm) for m in margins] == [20, 20, 30, 15]
    # Page numbers: a PAGE field in the header of pages 2 on, none on page 1.
    assert section.different_first_page_header_footer
    assert "PAGE" in section.header._element.xml
    assert "PAGE" not in section.first_page_header._element.xml
    # Every run is Times New Roman, for every script.
    runs = [run for p in document.paragraphs for run in p.runs] + [
        run for t in document.tables for row in t.rows for cell in row.cells for p in cell.paragraphs for run in p.runs
    ]
    assert runs and all(run.font.name == "Times New Roman" for run in runs if run.text.strip())
    texts = _texts(document)
    assert all(unicodedata.is_normalized("NFC", text) for text in texts)
    head = [t for t in texts if t.strip()][:8]
    assert head == [
        "BẢO HIỂM XÃ HỘI VIỆT NAM",
        "BẢO HIỂM XÃ HỘI TỈNH NGHỆ AN",
        "Số:        /BC-BHXH",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Nghệ An, ngày 05 tháng 6 năm 2026",
        "BÁO CÁO",
        "Kết quả công tác truyền thông trên mạng xã hội tháng 5/2026",
    ]
    bold = {run.text for t in document.tables[:1] for row in t.rows for cell in row.cells for p in cell.paragraphs
            for run in p.runs if run.bold}  # fmt: skip
    assert {"BẢO HIỂM XÃ HỘI TỈNH NGHỆ AN", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"} <= bold
    assert "BẢO HIỂM XÃ HỘI VIỆT NAM" not in bold  # the parent body is not bold
    assert any(t.startswith("I. KẾT QUẢ THỰC HIỆN") for t in texts)
    assert "Nơi nhận:" in texts and "- BHXH Việt Nam (để báo cáo);" in texts and "- Lưu: VT." in texts
    assert "GIÁM ĐỐC" in texts
    assert not any("{{" in t for t in texts)

    # Every figure equals the JSON summary's.
    tables = _tables(document)
    channels = next(t for t in tables if t[0][:3] == ["STT", "Kênh", "Tin bài"])
    by_channel = summary["publications"]["by_channel"]
    for row, channel in zip(channels[1:-1], by_channel, strict=True):
        assert row[2:] == [_vn(channel[k]) for k in ("publications", "views", "reach", "reactions", "comments")]
    total = summary["publications"]["total"]
    assert channels[-1][2:] == [_vn(total[k]) for k in ("publications", "views", "reach", "reactions", "comments")]
    units = next(t for t in tables if t[0][:2] == ["STT", "Đơn vị"])
    for row, unit in zip(units[1:-1], summary["shares"]["by_unit"], strict=True):
        assert row[1] == unit["label"]
        figures = [_vn(unit[k]) for k in ("staff", "staff_sharing", "shares", "clicks")]
        assert [row[2], row[3], row[5], row[6]] == figures
    shares = summary["shares"]
    assert [units[-1][2], units[-1][3], units[-1][5], units[-1][6]] == [
        _vn(shares[k]) for k in ("staff", "staff_sharing", "shares", "clicks")
    ]
    body = "\n".join(texts)
    assert f"{_vn(shares['shares'])} lượt chia sẻ tin bài ({_vn(shares['button'])} lượt bấm" in body
    assert f"mang lại {_vn(shares['clicks'])} lượt bấm vào liên kết" in body
    best = next(t for t in tables if t[0][:2] == ["STT", "Tin bài"])
    assert [r[4] for r in best[1:]] == [_vn(b["views"]) for b in summary["best_posts"]]
    assert summary["best_posts"][0]["views"] == 150  # pub1's latest snapshot
    for campaign in summary["campaigns"]:
        assert f"Chiến dịch “{campaign['name']}”" in body
    # The chart is in the file.
    assert any(rel.reltype.endswith("/image") for rel in document.part.rels.values())


def test_the_pdf_says_the_same(loa: Cli, tmp_path: Path) -> None:
    summary = _summary(loa)
    target = str(tmp_path / "bao-cao.pdf")
    result = loa("report", "summary", "--month", "2026-05", "--format", "pdf", "--date", "2026-06-05", "-o", target)
    assert result.code == 0, result.stderr
    reader = PdfReader(str(target))
    page = reader.pages[0]
    assert (round(float(page.mediabox.width) / 72 * 25.4), round(float(page.mediabox.height) / 72 * 25.4)) == (210, 297)
    text = unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in reader.pages))
    flat = re.sub(r"\s+", " ", text)
    for line in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "BẢO HIỂM XÃ HỘI TỈNH NGHỆ AN",
        "Nghệ An, ngày 05 tháng 6 năm 2026",
        "BÁO CÁO",
        "Kết quả công tác truyền thông trên mạng xã hội tháng 5/2026",
        "Nơi nhận:",
        "GIÁM ĐỐC",
    ):
        assert line in flat, line
    shares = summary["shares"]
    assert f"{_vn(shares['shares'])} lượt chia sẻ tin bài" in flat
    for unit in shares["by_unit"]:
        assert unit["label"] in flat
    fonts = {str(f) for p in reader.pages for f in (p["/Resources"]["/Font"] or {}).values()}
    assert fonts  # embedded (subset) TrueType fonts
    if len(reader.pages) > 1:
        assert "2" in reader.pages[1].extract_text().split("\n")[0]


def test_a_month_with_no_data_says_so(loa: Cli, tmp_path: Path) -> None:
    target = tmp_path / "thang-3.docx"
    result = loa("report", "summary", "--month", "2026-03", "--format", "docx", "-o", str(target))
    assert result.code == 0, result.stderr
    body = "\n".join(_texts(Document(str(target))))
    assert "không có tin bài nào được đăng" in body


def test_an_edited_template_is_used_and_a_missing_placeholder_is_named(
    loa: Cli, config: Path, tmp_path: Path
) -> None:
    template = tmp_path / "mau.docx"
    result = loa("report", "template", "-o", str(template))
    assert result.code == 0, result.stderr
    document = Document(str(template))
    # The office adds its own line and keeps every placeholder: its line is in the report.
    document.add_paragraph("Ghi chú của văn phòng")
    document.save(str(template))
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[reports]\n", f'[reports]\ntemplate = "{template}"\n'), encoding="utf-8")
    out = tmp_path / "bao-cao.docx"
    assert loa("report", "summary", "--month", "2026-05", "--format", "docx", "-o", str(out)).code == 0
    assert "Ghi chú của văn phòng" in _texts(Document(str(out)))
    # Now the office deletes the date line: the message names the placeholder.
    document = Document(str(template))
    for paragraph in [p for t in document.tables for row in t.rows for c in row.cells for p in c.paragraphs]:
        if "{{dia_danh_ngay}}" in paragraph.text:
            for run in paragraph.runs:
                run.text = ""
    document.save(str(template))
    refused = loa("report", "summary", "--month", "2026-05", "--format", "docx", "-o", str(tmp_path / "x.docx"))
    assert refused.code == 2
    assert "{{dia_danh_ngay}}" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "x.docx").exists()


def test_an_output_that_cannot_be_written_is_exit_2(loa: Cli, tmp_path: Path) -> None:
    for fmt in ("docx", "pdf"):
        target = tmp_path / "nope" / f"a.{fmt}"
        result = loa("report", "summary", "--month", "2026-05", "--format", fmt, "-o", str(target))
        assert result.code == 2, result.stderr
        assert "Traceback" not in result.stderr


def test_dates_take_a_leading_zero_below_ten_and_in_january_and_february() -> None:
    from datetime import date

    assert place_and_date("Nghệ An", date(2026, 6, 5)) == "Nghệ An, ngày 05 tháng 6 năm 2026"
    assert place_and_date("Nghệ An", date(2026, 2, 15)) == "Nghệ An, ngày 15 tháng 02 năm 2026"
    assert place_and_date("Vinh", date(2026, 12, 31)) == "Vinh, ngày 31 tháng 12 năm 2026"


def test_the_template_is_a_real_docx(loa: Cli, tmp_path: Path) -> None:
    target = tmp_path / "mau.docx"
    assert loa("report", "template", "-o", str(target)).code == 0
    document = Document(str(target))
    assert round(document.sections[0].page_width.mm) == 210
    texts = "\n".join(_texts(document))
    assert "{{noi_dung}}" in texts and "{{trich_yeu}}" in texts
    assert io.BytesIO(target.read_bytes()).read(2) == b"PK"


def test_the_campaign_kit_counts_are_in_every_form_and_equal_the_rows(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from sqlmodel import func, select

    from scheduler.campaign.service import record_update
    from scheduler.models import Campaign, CampaignUpdate, Staff, Unit
    from scheduler.store import session_scope
    from tests.test_reports import local

    loa_app = Loa(load_settings(config))
    loa_app.init()
    ids = seed(loa_app)
    with session_scope(loa_app.engine, read_only=True) as s:
        campaign_id = s.exec(select(Campaign.id).where(Campaign.slug == "an-tam-2026")).one()
    assert campaign_id is not None
    taps = [("an", "avatar", 12), ("an", "cover", 13), ("binh", "cover", 20), ("em", "avatar", 31)]
    for who, kind, day in taps:
        assert record_update(loa_app.engine, staff_id=ids[who], campaign_id=campaign_id, kind=kind, now=local(day, 9))
    # June's tap is not May's: the report counts what was reported by the month's end.
    record_update(loa_app.engine, staff_id=ids["hyp"], campaign_id=campaign_id, kind="avatar", now=local(2, 9, month=6))
    # The figure equals the rows: distinct active staff per unit with an update before June.
    with session_scope(loa_app.engine, read_only=True) as s:
        rows = {
            name: int(n)
            for name, n in s.exec(
                select(Unit.name, func.count(func.distinct(CampaignUpdate.staff_id)))
                .join(Staff, Staff.id == CampaignUpdate.staff_id)
                .join(Unit, Unit.id == Staff.unit_id)
                .where(CampaignUpdate.campaign_id == campaign_id, CampaignUpdate.at < local(1, 0, month=6))
                .where(Staff.active)
                .group_by(Unit.name)
            )
        }
    loa_app.close()
    loa = cli_for(config, capsys)
    (kit,) = _summary(loa)["campaign_kit"]
    assert {u["unit"]: u["any"] for u in kit["by_unit"] if u["any"]} == rows == {
        "BHXH thành phố Vinh": 2,
        "BHXH thị xã Thái Hòa": 1,
    }
    assert (kit["staff"], kit["avatar"], kit["cover"], kit["any"]) == (4, 2, 2, 3)
    nam_dan = next(u for u in kit["by_unit"] if u["unit"] == "BHXH huyện Nam Đàn")
    assert nam_dan == {"unit": "BHXH huyện Nam Đàn", "staff": 1, "avatar": 0, "cover": 0, "any": 0}

    narrowed = loa("report", "summary", "--month", "2026-05", "--unit", "vinh", "--format", "json").json()
    (vinh,) = narrowed["campaign_kit"]
    assert [u["unit"] for u in vinh["by_unit"]] == ["BHXH thành phố Vinh"] and vinh["any"] == 2

    text = loa("report", "summary", "--month", "2026-05").stdout
    assert "4. Bộ nhận diện chiến dịch trên trang cá nhân" in text
    assert "3/4 cán bộ, viên chức đã cập nhật (75,00%); khung ảnh đại diện 2, ảnh bìa 2." in text
    assert "BHXH thành phố Vinh: 2/2 người (khung ảnh đại diện 1, ảnh bìa 2)" in text

    target = str(tmp_path / "bao-cao.docx")
    assert loa("report", "summary", "--month", "2026-05", "--format", "docx", "-o", target).code == 0
    document = Document(target)
    header = ["Số CBVC", "Khung ảnh đại diện", "Ảnh bìa", "Đã cập nhật"]
    table = next(t for t in _tables(document) if t[0][2:] == header)
    for row, unit in zip(table[1:-1], kit["by_unit"], strict=True):
        assert row[1:] == [unit["unit"], *(_vn(unit[k]) for k in ("staff", "avatar", "cover", "any"))]
    assert table[-1][2:] == [_vn(kit[k]) for k in ("staff", "avatar", "cover", "any")]
    body = "\n".join(_texts(document))
    assert "3/4 cán bộ, viên chức (75,00%) đã cập nhật bộ nhận diện chiến dịch" in body

    pdf = str(tmp_path / "bao-cao.pdf")
    assert loa("report", "summary", "--month", "2026-05", "--format", "pdf", "-o", pdf).code == 0
    flat = re.sub(r"\s+", " ", unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in PdfReader(pdf).pages)))
    assert "3/4 cán bộ, viên chức (75,00%) đã cập nhật bộ nhận diện chiến dịch" in flat


def test_a_month_without_kit_updates_leaves_the_kit_out(loa: Cli) -> None:
    summary = _summary(loa)
    assert summary["campaign_kit"] == []
    assert "Bộ nhận diện" not in summary["text"]
