"""`loa staff …` and `loa share export` through the real CLI, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import AuditEvent, Staff, Unit
from scheduler.store import session_scope
from tests.conftest import Cli, initialised, write_config

HEADER_VI = "ho_ten,don_vi,so_dien_thoai,email"


@pytest.fixture
def offline_config(tmp_path: Path, database_url: str) -> Path:
    """conftest's offline_config (and so its offline_loa), on each database backend."""
    return initialised(write_config(tmp_path, database_url=database_url))


def write_csv(path: Path, text: str, *, bom: bool = False, encoding: str = "utf-8") -> Path:
    path.write_bytes(("\ufeff" if bom else "").encode("utf-8") + text.encode(encoding))
    return path


def stored(config: Path) -> tuple[list[Staff], list[Unit]]:
    loa = Loa(load_settings(config))
    try:
        with session_scope(loa.engine, read_only=True) as session:
            return list(session.exec(select(Staff).order_by(Staff.id))), list(session.exec(select(Unit)))  # type: ignore[arg-type]
    finally:
        loa.close()


def test_import_csv_with_bom_and_nfd_names(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hồng Nhung")
    unit_nfd = unicodedata.normalize("NFD", "BHXH huyện Tân Kỳ")
    path = write_csv(
        tmp_path / "can-bo.csv",
        f"{HEADER_VI}\n{nfd},{unit_nfd},+84 912 345 678,Nhung.NTH@BHXH.test\n"
        "Trần Văn Đức,BHXH huyện Tân Kỳ,0987.654.321,\n"
        "Lê Minh Châu,BHXH thành phố Vinh,  , chau.lm@bhxh.test\n",
        bom=True,
    )
    result = offline_loa("staff", "import", str(path), "--json")
    assert result.code == 0, result.stderr
    assert result.json() == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "units_created": ["BHXH huyện Tân Kỳ", "BHXH thành phố Vinh"],
    }
    listed = offline_loa("staff", "list", "--json").json()["staff"]
    assert [s["full_name"] for s in listed] == ["Nguyễn Thị Hồng Nhung", "Trần Văn Đức", "Lê Minh Châu"]
    first = listed[0]
    assert set(first) >= {"id", "full_name", "unit", "phone", "email", "share_url"}
    assert unicodedata.is_normalized("NFC", first["full_name"]) and unicodedata.is_normalized("NFC", first["unit"])
    assert (first["phone"], first["email"]) == ("0912345678", "nhung.nth@bhxh.test")
    assert first["share_url"].startswith("http://127.0.0.1:8000/s/") and len(first["share_url"].rsplit("/", 1)[1]) >= 32
    assert len({s["share_url"] for s in listed}) == 3
    _, units = stored(offline_config)
    assert len(units) == 2  # NFD and NFC spellings of one unit are one unit


def test_import_xlsx_with_vietnamese_headers_and_reimport_updates(
    offline_loa: Cli, offline_config: Path, tmp_path: Path
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Họ tên", "Đơn vị", "Số điện thoại", "Email"])
    sheet.append(["Phạm Thu Hà", "Văn phòng BHXH tỉnh", 912000111, "ha.pt@bhxh.test"])  # the sheet ate the 0
    sheet.append(["Hoàng Quốc Việt", "BHXH thị xã Cửa Lò", "0238 3844 555", None])
    path = tmp_path / "can-bo.xlsx"
    workbook.save(path)
    assert offline_loa("staff", "import", str(path)).code == 0
    before = {s["email"] or s["phone"]: s for s in offline_loa("staff", "list", "--json").json()["staff"]}
    assert before["ha.pt@bhxh.test"]["phone"] == "0912000111"
    assert before["023838445555"[:11]]["unit"] == "BHXH thị xã Cửa Lò"

    # Re-import: matched by email, else by phone; nobody duplicated, share pages unchanged.
    again = write_csv(
        tmp_path / "lan-2.csv",
        "full_name,unit,phone,email\n"
        "Phạm Thu Hà,BHXH thành phố Vinh,0912000111,ha.pt@bhxh.test\n"
        "Hoàng Quốc Việt,BHXH thị xã Cửa Lò,02383844555,viet.hq@bhxh.test\n"
        "Ngô Bảo Anh,BHXH thị xã Cửa Lò,0333111222,\n",
    )
    result = offline_loa("staff", "import", str(again), "--json")
    assert result.code == 0, result.stderr
    assert result.json()["created"] == 1 and result.json()["updated"] == 2
    after = {s["id"]: s for s in offline_loa("staff", "list", "--json").json()["staff"]}
    assert len(after) == 3
    ha = after[before["ha.pt@bhxh.test"]["id"]]
    assert ha["unit"] == "BHXH thành phố Vinh" and ha["share_url"] == before["ha.pt@bhxh.test"]["share_url"]
    assert after[before["02383844555"]["id"]]["email"] == "viet.hq@bhxh.test"
    assert offline_loa("staff", "import", str(again), "--json").json()["unchanged"] == 3


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (",BHXH huyện Tân Kỳ,0912345678,", "dòng 2, cột ho_ten"),
        ("Trần Văn Đức,,0912345678,", "dòng 2, cột don_vi"),
        ("Trần Văn Đức,BHXH huyện Tân Kỳ,12345,", "dòng 2, cột so_dien_thoai"),
        ("Trần Văn Đức,BHXH huyện Tân Kỳ,+84 12 345,", "dòng 2, cột so_dien_thoai"),
        ("Trần Văn Đức,BHXH huyện Tân Kỳ,,khong-phai-email", "dòng 2, cột email"),
        ("Trần Văn Đức,BHXH huyện Tân Kỳ,,", "dòng 2, cột so_dien_thoai"),
        ("A,BHXH huyện Tân Kỳ,,a@bhxh.test\nB,BHXH huyện Tân Kỳ,,A@bhxh.test", "dòng 3, cột email"),
        ("A,BHXH huyện Tân Kỳ,0912345678,\nB,BHXH huyện Tân Kỳ,+84912345678,", "dòng 3, cột so_dien_thoai"),
    ],
)
def test_bad_rows_store_nothing(
    offline_loa: Cli, offline_config: Path, tmp_path: Path, rows: str, expected: str
) -> None:
    good = "Lê Minh Châu,BHXH thành phố Vinh,0977000111,chau@bhxh.test"
    path = write_csv(tmp_path / "bad.csv", f"{HEADER_VI}\n{rows}\n{good}\n")
    result = offline_loa("staff", "import", str(path))
    assert result.code == 2
    assert expected in result.stderr.replace("\n", " ")
    assert "không nhập gì" in result.stderr.replace("\n", " ")
    staff, units = stored(offline_config)
    assert staff == [] and units == []


def test_wrong_encoding_names_row_and_column(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    # Excel's plain "CSV" on a Vietnamese Windows is cp1258, not UTF-8.
    path = write_csv(
        tmp_path / "cp1258.csv",
        f"{HEADER_VI}\nLe Minh Chau,Vinh,0977000111,\nLê Văn Đông,Vinh,0912345678,\n",
        encoding="cp1258",
    )
    result = offline_loa("staff", "import", str(path))
    assert result.code == 2
    message = result.stderr.replace("\n", " ")
    assert "dòng 3, cột ho_ten" in message and "UTF-8" in message
    assert stored(offline_config) == ([], [])


def test_conflicts_with_stored_staff_are_refused(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path / "a.csv", f"{HEADER_VI}\nA,Vinh,0912345678,a@bhxh.test\nB,Vinh,0987654321,b@bhxh.test\n"
    )
    assert offline_loa("staff", "import", str(first)).code == 0
    # a@'s row claims B's phone: which person is this? Refuse rather than guess.
    clash = write_csv(tmp_path / "b.csv", f"{HEADER_VI}\nA,Vinh,0987654321,a@bhxh.test\n")
    result = offline_loa("staff", "import", str(clash))
    assert result.code == 2 and "dòng 2, cột so_dien_thoai" in result.stderr.replace("\n", " ")
    staff, _ = stored(offline_config)
    assert [(s.full_name, s.phone) for s in staff] == [("A", "0912345678"), ("B", "0987654321")]


def test_deactivate_and_activate(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", f"{HEADER_VI}\nA,Vinh,0912345678,a@bhxh.test\nB,Vinh,0987654321,\n")
    assert offline_loa("staff", "import", str(path)).code == 0
    assert offline_loa("staff", "deactivate", "0987 654 321").code == 0
    assert [s["full_name"] for s in offline_loa("staff", "list", "--json").json()["staff"]] == ["A"]
    everyone = offline_loa("staff", "list", "--all", "--json").json()["staff"]
    assert [(s["full_name"], s["active"]) for s in everyone] == [("A", True), ("B", False)]
    assert offline_loa("staff", "deactivate", "nobody@bhxh.test").code == 2
    assert offline_loa("staff", "activate", "2", "--json").json()["active"] is True
    staff, _ = stored(offline_config)
    assert staff[1].active and staff[1].deactivated_at is None
    loa = Loa(load_settings(offline_config))
    with session_scope(loa.engine, read_only=True) as session:
        actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]  # type: ignore[arg-type]
    loa.close()
    assert actions == ["staff.import", "staff.deactivate", "staff.activate"]


def test_export_neutralises_formula_names(offline_loa: Cli, tmp_path: Path) -> None:
    formula = '=HYPERLINK("https://evil.example","Bấm vào đây")'
    path = write_csv(
        tmp_path / "a.csv",
        f'{HEADER_VI}\n"{formula.replace(chr(34), chr(34) * 2)}",Vinh,0912345678,\n@SUM(1+1),Vinh,0987654321,\n'
        "Bình thường,Cửa Lò,0977000111,\n",
    )
    assert offline_loa("staff", "import", str(path)).code == 0
    names = [s["full_name"] for s in offline_loa("staff", "list", "--json").json()["staff"]]
    assert formula in names and "@SUM(1+1)" in names  # stored as the text it is
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="minutes")
    post = offline_loa(
        "post", "add", "--template", "thang-van-dong", "--var", "hoat_dong=ra quân", "--var", "dia_diem=Vinh",
        "--var", "ngay=07/05/2026", "--channel", "fb-bhxh-nghean", "--at", at, "--json",
    )  # fmt: skip
    assert post.code == 0, post.stderr
    post_id = str(post.json()["id"])

    out_csv = tmp_path / "lien-ket.csv"
    result = offline_loa("share", "export", "--post", post_id, "-o", str(out_csv), "--json")
    assert result.code == 0, result.stderr and result.json()["rows"] == 3
    assert out_csv.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel needs the BOM to read UTF-8
    with out_csv.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_name = {r["ho_ten"]: r for r in rows}
    assert "'" + formula in by_name and "'@SUM(1+1)" in by_name and "Bình thường" in by_name
    assert all(r["lien_ket"].startswith("http://127.0.0.1:8000/l/") for r in rows)
    assert all(r["trang_chia_se"].startswith("http://127.0.0.1:8000/s/") for r in rows)
    # The same links every time: an export never makes a second link for the same person.
    out_xlsx = tmp_path / "lien-ket.xlsx"
    assert offline_loa("share", "export", "--post", post_id, "-o", str(out_xlsx)).code == 0
    sheet = load_workbook(out_xlsx).worksheets[0]
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert cells[formula][0].data_type == "s"  # text, never a formula
    assert {cells[name][5].value for name in cells} == {r["lien_ket"] for r in rows}
    assert offline_loa("share", "export", "--post", post_id, "-o", str(tmp_path / "x.pdf")).code == 2
