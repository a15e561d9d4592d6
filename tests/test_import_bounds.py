"""Imported tables under hostile and careless input: `loa post import`, `loa staff import`.

The workbooks are written by hand here (zipfile and XML), so each one is exactly the file
described: a ghost used range, a zip bomb, a DTD, a chart without a worksheet. A bomb must be
refused before it is parsed: the tests bound the memory and time the refusal takes.
"""

from __future__ import annotations

import signal
import sqlite3
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from scheduler.posts.tables import (
    IMPORT_MAX_CELL_CHARS,
    IMPORT_MAX_COLUMNS,
    IMPORT_MAX_ROWS,
    IMPORT_MAX_UNCOMPRESSED_BYTES,
)
from tests.conftest import Cli

STAFF_HEADER = ["ho_ten", "don_vi", "so_dien_thoai", "email"]
STAFF_ROW = ["Trần Văn Hùng", "BHXH huyện Diễn Châu", "0912345678", "hung@example.vn"]

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    "{parts}</Types>"
)
SHEET_PART = (
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
)
CHART_PART = (
    '<Override PartName="/xl/chartsheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.chartsheet+xml"/>'
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{kind}" '
    'Target="{target}"/></Relationships>'
)
SHEET_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>{doctype}'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<dimension ref="{dimension}"/><sheetData>'
)
SHEET_CLOSE = "</sheetData></worksheet>"


def letters(column: int) -> str:
    found = ""
    n = column
    while n:
        n, rest = divmod(n - 1, 26)
        found = chr(65 + rest) + found
    return found


def cell_xml(column: int, row: int, value: str) -> str:
    return f'<c r="{letters(column)}{row}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'


def row_xml(number: int, values: list[str]) -> str:
    return f'<row r="{number}">' + "".join(cell_xml(i, number, v) for i, v in enumerate(values, start=1)) + "</row>"


def write_xlsx(
    path: Path,
    rows: list[list[str]],
    *,
    dimension: str | None = None,
    doctype: str = "",
    sheet_tail: str = "",
    extra: Callable[[zipfile.ZipFile], None] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """A workbook of one sheet with these rows as inline strings, written member by member."""
    ref = dimension or f"A1:{'D' if not rows else chr(64 + max(len(r) for r in rows))}{max(len(rows), 1)}"
    with zipfile.ZipFile(path, "w", compression=compression) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES.format(parts=SHEET_PART))
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK)
        book.writestr(
            "xl/_rels/workbook.xml.rels", WORKBOOK_RELS.format(kind="worksheet", target="worksheets/sheet1.xml")
        )
        with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(SHEET_OPEN.format(doctype=doctype, dimension=ref).encode())
            for number, values in enumerate(rows, start=1):
                sheet.write(row_xml(number, values).encode())
            sheet.write(sheet_tail.encode())
            sheet.write(SHEET_CLOSE.encode())
        if extra is not None:
            extra(book)
    return path


@contextmanager
def at_most(seconds: int) -> Iterator[None]:
    """Fail (rather than hang the suite) when the block runs longer than ``seconds``."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of memory the block allocated (tracemalloc), in bytes, in the yielded list."""
    found: list[int] = []
    tracemalloc.start()
    try:
        yield found
    finally:
        found.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def staff_count(config: Path) -> int:
    with sqlite3.connect(config.parent / "posts.db") as db:
        return int(db.execute("SELECT count(*) FROM staff").fetchone()[0])


def post_count(config: Path) -> int:
    with sqlite3.connect(config.parent / "posts.db") as db:
        return int(db.execute("SELECT count(*) FROM post").fetchone()[0])


def figure(n: int) -> str:
    """A whole number as the Vietnamese messages write it (20.000)."""
    return f"{n:,}".replace(",", ".")


def future_local(hours: int = 3) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S+00:00")


# -- spreadsheet bombs ------------------------------------------------------------------


def test_a_ghost_used_range_is_not_walked(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    # Two real rows, a used range that claims the whole grid (A1:XFD1048576), and the grid's
    # last row formatted but empty, as Excel leaves it after a whole-sheet format.
    path = write_xlsx(
        tmp_path / "can-bo.xlsx",
        [STAFF_HEADER, STAFF_ROW],
        dimension="A1:XFD1048576",
        sheet_tail='<row r="1048576" s="1" customFormat="1"/>',
    )
    assert path.stat().st_size < 5_000
    started = time.monotonic()
    with at_most(30):
        result = offline_loa("staff", "import", str(path), "--json")
    assert result.code == 0, result.stderr
    assert result.json()["created"] == 1
    assert time.monotonic() - started < 20


def test_a_row_far_below_the_row_cap_is_refused_without_walking_the_gap(
    offline_loa: Cli, offline_config: Path, tmp_path: Path
) -> None:
    far = 1_048_576
    path = write_xlsx(
        tmp_path / "can-bo.xlsx",
        [STAFF_HEADER, STAFF_ROW],
        dimension="A1:XFD1048576",
        sheet_tail=row_xml(far, ["Lê Thị Hoa", "BHXH thị xã Cửa Lò", "0987654321", "hoa@example.vn"]),
    )
    with at_most(30):
        result = offline_loa("staff", "import", str(path))
    assert result.code == 2, result.stderr
    assert f"{far}" in result.stderr.replace(".", "") and f"{IMPORT_MAX_ROWS}" in result.stderr.replace(".", "")
    assert staff_count(offline_config) == 0


def test_a_zip_bomb_is_refused_before_it_is_parsed(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    # One row of 400.000 tiny cells: ~16 MB of XML that deflates to a few dozen KB.
    wide = "".join(cell_xml(1 + i % 4, 2, "x") for i in range(400_000))
    path = write_xlsx(tmp_path / "bom.xlsx", [STAFF_HEADER], sheet_tail=f'<row r="2">{wide}</row>')
    assert path.stat().st_size < 500_000
    with at_most(30), peak_memory() as peak:
        result = offline_loa("staff", "import", str(path))
    assert result.code == 2, result.stderr
    assert "bom.xlsx" in result.stderr and "nén" in result.stderr
    assert peak[0] < 20 * 1024 * 1024, f"the refusal took {peak[0] // 1024 // 1024} MB"
    assert staff_count(offline_config) == 0


def test_more_uncompressed_bytes_than_the_bound_are_refused(
    offline_loa: Cli, offline_config: Path, tmp_path: Path
) -> None:
    def padding(book: zipfile.ZipFile) -> None:
        # Random-looking text compresses poorly: the ratio is fine, the total is not.
        with book.open("xl/media/padding.xml", "w") as member:
            chunk = bytes(range(33, 127)) * 11_000
            written = 0
            while written <= IMPORT_MAX_UNCOMPRESSED_BYTES:
                member.write(chunk)
                written += len(chunk)

    path = write_xlsx(tmp_path / "lon.xlsx", [STAFF_HEADER, STAFF_ROW], extra=padding)
    with at_most(30), peak_memory() as peak:
        result = offline_loa("staff", "import", str(path))
    assert result.code == 2, result.stderr
    assert "lon.xlsx" in result.stderr and "MB" in result.stderr
    assert peak[0] < 20 * 1024 * 1024
    assert staff_count(offline_config) == 0


def test_memory_follows_the_rows_kept_not_the_sheet(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    # Stored without compression (no ratio to refuse): one person, and 10 rows formatted
    # across the whole width of the grid with no value: ~3 MB of XML that holds one row.
    # The declared used range (A1:D1) is wrong too: the person is below it.
    def formatted(row: int, first: int) -> str:
        return "".join(f'<c r="{letters(column)}{row}" s="1"/>' for column in range(first, 16_385))

    person = "".join(cell_xml(i, 2, v) for i, v in enumerate(STAFF_ROW, 1))
    tail = f'<row r="2">{person}{formatted(2, 5)}</row>'
    tail += "".join(f'<row r="{row}">{formatted(row, 1)}</row>' for row in range(3, 13))
    path = write_xlsx(tmp_path / "rong.xlsx", [STAFF_HEADER], sheet_tail=tail, compression=zipfile.ZIP_STORED)
    assert path.stat().st_size > 3 * 1024 * 1024
    with at_most(60), peak_memory() as peak:
        result = offline_loa("staff", "import", str(path), "--json")
    assert result.code == 0, result.stderr
    assert result.json()["created"] == 1
    assert peak[0] < 30 * 1024 * 1024, f"the import took {peak[0] // 1024 // 1024} MB"


def test_post_import_refuses_the_bomb_too(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    wide = "".join(cell_xml(1 + i % 3, 2, "x") for i in range(400_000))
    path = write_xlsx(tmp_path / "bai.xlsx", [["template", "channels", "at"]], sheet_tail=f'<row r="2">{wide}</row>')
    with at_most(30):
        result = offline_loa("post", "import", str(path))
    assert result.code == 2, result.stderr
    assert "bai.xlsx" in result.stderr
    assert post_count(offline_config) == 0


def test_a_long_csv_is_refused_at_the_row_cap_with_memory_bounded_by_it(
    offline_loa: Cli, offline_config: Path, tmp_path: Path
) -> None:
    # 30 MB of rows: the reader stops at the cap instead of holding the file.
    path = tmp_path / "bai.csv"
    row = f"bhyt-ho-gia-dinh,fb-bhxh-nghean,{future_local()},1.263.600 đồng,2026,{'x' * 60}\n"
    with path.open("w", encoding="utf-8") as out:
        out.write("template,channels,at,muc_dong_nguoi_dau,nam,ghi_chu\n")
        out.write(row * (30 * 1024 * 1024 // len(row)))
    with at_most(60), peak_memory() as peak:
        result = offline_loa("post", "import", str(path))
    assert result.code == 2, result.stderr
    assert figure(IMPORT_MAX_ROWS) in result.stderr
    assert peak[0] < 25 * 1024 * 1024, f"the refusal took {peak[0] // 1024 // 1024} MB"
    assert post_count(offline_config) == 0


# -- files that are not what they say ---------------------------------------------------


def test_a_csv_renamed_xlsx_is_bad_input(offline_loa: Cli, tmp_path: Path) -> None:
    path = tmp_path / "can-bo.xlsx"
    path.write_text(",".join(STAFF_HEADER) + "\n" + ",".join(STAFF_ROW) + "\n", encoding="utf-8")
    for command in ("staff", "post"):
        result = offline_loa(command, "import", str(path))
        assert result.code == 2, result.stderr
        assert "can-bo.xlsx" in result.stderr and ".csv" in result.stderr


def test_a_workbook_with_only_a_chart_is_bad_input(offline_loa: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bieu-do.xlsx"
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES.format(parts=CHART_PART))
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK)
        book.writestr(
            "xl/_rels/workbook.xml.rels", WORKBOOK_RELS.format(kind="chartsheet", target="chartsheets/sheet1.xml")
        )
        book.writestr(
            "xl/chartsheets/sheet1.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<chartsheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>',
        )
    for command in ("staff", "post"):
        result = offline_loa(command, "import", str(path))
        assert result.code == 2, result.stderr
        assert "bieu-do.xlsx" in result.stderr


def test_a_workbook_with_a_dtd_is_refused(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    laughs = (
        '<!DOCTYPE worksheet [<!ENTITY a "hahahahahahahahahaha">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    )
    path = write_xlsx(tmp_path / "dtd.xlsx", [STAFF_HEADER, STAFF_ROW], doctype=laughs)
    result = offline_loa("staff", "import", str(path))
    assert result.code == 2, result.stderr
    assert "dtd.xlsx" in result.stderr and "DOCTYPE" in result.stderr
    assert staff_count(offline_config) == 0


def test_a_csv_field_over_the_csv_module_limit_names_its_row(offline_loa: Cli, tmp_path: Path) -> None:
    path = tmp_path / "can-bo.csv"
    path.write_text(
        ",".join(STAFF_HEADER) + "\n" + ",".join(STAFF_ROW) + "\n" + f'"{"A" * 140_000}",Tổ 1,0987654321,\n',
        encoding="utf-8",
    )
    result = offline_loa("staff", "import", str(path))
    assert result.code == 2, result.stderr
    assert "3" in result.stderr and figure(IMPORT_MAX_CELL_CHARS) in result.stderr


# -- odd cells and rows: refused with their row, never dropped ---------------------------


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_odd_cells_are_refused_with_their_row(
    offline_loa: Cli, offline_config: Path, tmp_path: Path, kind: str
) -> None:
    long_name = "Nguyễn " * (IMPORT_MAX_CELL_CHARS // 7 + 1)
    cases = {
        "long": [STAFF_ROW, [long_name, "Tổ 1", "0987654321", ""]],
        "nul": [STAFF_ROW, ["Lê Thị\x00Hoa", "Tổ 1", "0987654321", ""]],
        "beyond": [STAFF_ROW, ["Lê Thị Hoa", "Tổ 1", "0987654321", "", "ghi chú lạc cột"]],
    }
    for name, rows in cases.items():
        if kind == "xlsx" and name == "nul":
            continue  # XML 1.0 cannot carry a NUL: a workbook cannot hold one
        if kind == "csv":
            path = tmp_path / f"{name}.csv"
            path.write_text("\n".join(",".join(r) for r in [STAFF_HEADER, *rows]) + "\n", encoding="utf-8")
        else:
            path = write_xlsx(tmp_path / f"{name}.xlsx", [STAFF_HEADER, *rows])
        result = offline_loa("staff", "import", str(path))
        assert result.code == 2, (name, result.stdout)
        assert path.name in result.stderr and "3" in result.stderr, (name, result.stderr)
    assert staff_count(offline_config) == 0


def test_too_many_columns_are_refused(offline_loa: Cli, tmp_path: Path) -> None:
    header = STAFF_HEADER + [f"cot_{i}" for i in range(IMPORT_MAX_COLUMNS)]
    path = tmp_path / "rong.csv"
    path.write_text(",".join(header) + "\n" + ",".join(STAFF_ROW) + "\n", encoding="utf-8")
    result = offline_loa("staff", "import", str(path))
    assert result.code == 2, result.stderr
    assert f"{IMPORT_MAX_COLUMNS}" in result.stderr


# -- careless headers and values ---------------------------------------------------------


def test_duplicate_headers_are_refused(offline_loa: Cli, tmp_path: Path) -> None:
    staff = tmp_path / "can-bo.csv"
    staff.write_text("ho_ten,don_vi,email,Email\nLê Thị Hoa,Tổ 1,a@example.vn,b@example.vn\n", encoding="utf-8")
    result = offline_loa("staff", "import", str(staff))
    assert result.code == 2 and "email" in result.stderr.lower(), result.stderr
    posts = tmp_path / "bai.csv"
    posts.write_text(
        f"template,channels,at,nam,nam\nbhyt-ho-gia-dinh,fb-bhxh-nghean,{future_local()},2026,2027\n", encoding="utf-8"
    )
    result = offline_loa("post", "import", str(posts))
    assert result.code == 2 and "nam" in result.stderr, result.stderr


def test_unknown_columns_are_refused(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    staff = tmp_path / "can-bo.csv"
    staff.write_text("ho_ten,don_vi,so_dien_thoai,chuc_vu\nLê Thị Hoa,Tổ 1,0987654321,chuyên viên\n", encoding="utf-8")
    result = offline_loa("staff", "import", str(staff))
    assert result.code == 2 and "chuc_vu" in result.stderr, result.stderr
    posts = tmp_path / "bai.csv"
    posts.write_text(
        "template,channels,at,muc_dong_nguoi_dau,nam,muc_dong_nguoi_dauu\n"
        f"bhyt-ho-gia-dinh,fb-bhxh-nghean,{future_local()},1.263.600 đồng,2026,1.300.000 đồng\n",
        encoding="utf-8",
    )
    result = offline_loa("post", "import", str(posts))
    assert result.code == 2 and "muc_dong_nguoi_dauu" in result.stderr, result.stderr
    assert "2" in result.stderr
    assert post_count(offline_config) == 0 and staff_count(offline_config) == 0


def test_unknown_var_is_refused_by_add_and_render(offline_loa: Cli, offline_config: Path) -> None:
    good = ["--var", "muc_dong_nguoi_dau=1.263.600 đồng", "--var", "nam=2026"]
    typo = [*good, "--var", "mam=2027"]
    added = offline_loa(
        "post", "add", "--template", "bhyt-ho-gia-dinh", "--channel", "fb-bhxh-nghean", "--at", future_local(), *typo
    )
    assert added.code == 2 and "mam" in added.stderr, added.stderr
    assert post_count(offline_config) == 0
    rendered = offline_loa("render", "message", "--template", "bhyt-ho-gia-dinh", *typo)
    assert rendered.code == 2 and "mam" in rendered.stderr, rendered.stderr
    assert offline_loa("render", "message", "--template", "bhyt-ho-gia-dinh", *good).code == 0


def test_a_date_without_a_time_is_refused(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    posts = tmp_path / "bai.csv"
    for at in (day.isoformat(), day.strftime("%d/%m/%Y")):
        posts.write_text(
            f"template,channels,at,muc_dong_nguoi_dau,nam\nbhyt-ho-gia-dinh,fb-bhxh-nghean,{at},1.263.600 đồng,2026\n",
            encoding="utf-8",
        )
        result = offline_loa("post", "import", str(posts))
        assert result.code == 2, result.stderr
        assert "row 2, column at" in result.stderr or "dòng 2, cột at" in result.stderr, result.stderr
    added = offline_loa(
        "post",
        "add",
        "--template",
        "bhyt-ho-gia-dinh",
        "--channel",
        "fb-bhxh-nghean",
        "--at",
        day.isoformat(),
        "--var",
        "muc_dong_nguoi_dau=1",
        "--var",
        "nam=2026",
    )
    assert added.code == 2, added.stderr
    assert post_count(offline_config) == 0


def test_an_excel_date_cell_without_a_time_is_refused(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["template", "channels", "at", "muc_dong_nguoi_dau", "nam"])
    sheet.append(["bhyt-ho-gia-dinh", "fb-bhxh-nghean", (datetime.now() + timedelta(days=2)).date(), "1 đồng", 2026])
    sheet["C2"].number_format = "DD/MM/YYYY"
    book.save(tmp_path / "bai.xlsx")
    result = offline_loa("post", "import", str(tmp_path / "bai.xlsx"))
    assert result.code == 2, result.stderr
    assert post_count(offline_config) == 0


def test_a_csv_with_a_bad_byte_or_lone_cr_lines(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    latin = tmp_path / "bai.csv"
    latin.write_bytes(
        f"template,channels,at\nbhyt-ho-gia-dinh,fb-bhxh-nghean,{future_local()}\nB\xe1o\n".encode("latin-1")
    )
    result = offline_loa("post", "import", str(latin))
    assert result.code == 2 and "UTF-8" in result.stderr and ("dòng 3" in result.stderr or "row 3" in result.stderr)
    # Lines ended by a lone CR, as old spreadsheets wrote them, are read as lines.
    staff = tmp_path / "can-bo.csv"
    staff.write_bytes(("\r".join([",".join(STAFF_HEADER), ",".join(STAFF_ROW)]) + "\r").encode("utf-8"))
    imported = offline_loa("staff", "import", str(staff), "--json")
    assert imported.code == 0, imported.stderr
    assert imported.json()["created"] == 1


# -- the console's upload ----------------------------------------------------------------


def test_the_console_upload_refuses_bombs_and_odd_files_next_to_the_field(console_loa: object, tmp_path: Path) -> None:
    pytest.importorskip("scheduler.sharing.service", reason="the staff-sharing room is not in this tree")
    from tests.console_support import errors_on, logged_in

    admin = logged_in(console_loa, "quantri")
    wide = "".join(cell_xml(1 + i % 4, 2, "x") for i in range(400_000))
    bomb = write_xlsx(tmp_path / "bom.xlsx", [STAFF_HEADER], sheet_tail=f'<row r="2">{wide}</row>')
    renamed = tmp_path / "ds.xlsx"
    renamed.write_text(",".join(STAFF_HEADER) + "\n" + ",".join(STAFF_ROW) + "\n", encoding="utf-8")
    chart = tmp_path / "bieu-do.xlsx"
    with zipfile.ZipFile(chart, "w") as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES.format(parts=CHART_PART))
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK)
        book.writestr(
            "xl/_rels/workbook.xml.rels", WORKBOOK_RELS.format(kind="chartsheet", target="chartsheets/sheet1.xml")
        )
    far = write_xlsx(
        tmp_path / "xa.xlsx",
        [STAFF_HEADER, STAFF_ROW],
        dimension="A1:XFD1048576",
        sheet_tail=row_xml(900_000, STAFF_ROW),
    )
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    for path in (bomb, renamed, chart, far):
        with at_most(30):
            page = admin.post("/staff/import", files={"file": (path.name, path.read_bytes(), mime)}, page="/staff")
        assert page.status_code == 400, (path.name, page.status_code)
        assert path.name in errors_on(page.text).get("file", ""), (path.name, errors_on(page.text))
    ghost = write_xlsx(
        tmp_path / "ma.xlsx",
        [STAFF_HEADER, STAFF_ROW],
        dimension="A1:XFD1048576",
        sheet_tail='<row r="1048576" s="1" customFormat="1"/>',
    )
    with at_most(30):
        done = admin.post("/staff/import", files={"file": (ghost.name, ghost.read_bytes(), mime)}, page="/staff")
    assert done.status_code == 200 and "1 mới" in done.text


def declare_size(path: Path, member: str, size: int) -> None:
    """Rewrite the unpacked size a zip declares for ``member`` (local header and directory)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    local = data.find(b"PK\x03\x04")
    while local >= 0:
        if data[local + 30 : local + 30 + len(name)] == name:
            data[local + 22 : local + 26] = size.to_bytes(4, "little")
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        if data[central + 46 : central + 46 + len(name)] == name:
            data[central + 24 : central + 28] = size.to_bytes(4, "little")
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


def test_a_workbook_that_lies_about_its_sizes_is_refused(
    offline_loa: Cli, offline_config: Path, tmp_path: Path
) -> None:
    # The directory says the sheet unpacks to 2 KB; it unpacks to ~16 MB. Nothing past the
    # declared size is ever unpacked: the read stops there and the checksum fails.
    wide = "".join(cell_xml(1 + i % 4, 2, "x") for i in range(400_000))
    path = write_xlsx(tmp_path / "doi.xlsx", [STAFF_HEADER], sheet_tail=f'<row r="2">{wide}</row>')
    declare_size(path, "xl/worksheets/sheet1.xml", 2_000)
    with at_most(30), peak_memory() as peak:
        result = offline_loa("staff", "import", str(path))
    assert result.code == 2, result.stderr
    assert "doi.xlsx" in result.stderr
    assert peak[0] < 20 * 1024 * 1024
    assert staff_count(offline_config) == 0


def test_a_line_of_a_million_commas_is_refused_with_its_row(offline_loa: Cli, tmp_path: Path) -> None:
    path = tmp_path / "phay.csv"
    path.write_text(",".join(STAFF_HEADER) + "\n" + ",".join(STAFF_ROW) + "\n" + "," * 3_000_000 + "\n")
    with at_most(30), peak_memory() as peak:
        result = offline_loa("staff", "import", str(path))
    assert result.code == 2, result.stderr
    assert "phay.csv" in result.stderr and ("dòng 3" in result.stderr or "row 3" in result.stderr)
    assert peak[0] < 20 * 1024 * 1024, f"the refusal took {peak[0] // 1024 // 1024} MB"


def test_a_formula_error_cell_is_refused_with_its_row(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    # The unit is a lookup that failed: "#N/A" would otherwise become a unit of its own.
    failed = '<row r="3">' + cell_xml(1, 3, "Lê Thị Hoa")
    failed += '<c r="B3" t="e"><f>VLOOKUP(A3,X:Y,2,0)</f><v>#N/A</v></c>' + cell_xml(3, 3, "0987654321") + "</row>"
    path = write_xlsx(tmp_path / "loi.xlsx", [STAFF_HEADER, STAFF_ROW], sheet_tail=failed)
    result = offline_loa("staff", "import", str(path))
    assert result.code == 2, result.stderr
    assert "#N/A" in result.stderr and "don_vi" in result.stderr and "3" in result.stderr
    assert staff_count(offline_config) == 0


def test_render_covers_names_the_row_of_a_field_past_the_csv_limit(offline_loa: Cli, tmp_path: Path) -> None:
    rows = tmp_path / "bia.csv"
    rows.write_text(f'title,subtitle\nMột,Hai\n"{"A" * 140_000}",Ba\n', encoding="utf-8")
    result = offline_loa("render", "covers", "--csv", str(rows), "-o", str(tmp_path / "out"), "--jobs", "1")
    assert result.code == 2, result.stderr
    assert "bia.csv" in result.stderr and ("dòng 3" in result.stderr or "row 3" in result.stderr)


def test_the_bounds_are_the_ones_given(tmp_path: Path) -> None:
    from scheduler.errors import InputError
    from scheduler.posts.tables import SheetBounds, read_table

    path = tmp_path / "can-bo.csv"
    path.write_text("\n".join(",".join(r) for r in [STAFF_HEADER, STAFF_ROW, STAFF_ROW, STAFF_ROW]) + "\n")
    assert len(read_table(path)) == 3
    for bounds in (SheetBounds(max_rows=2), SheetBounds(max_columns=3), SheetBounds(max_cell_chars=10)):
        with pytest.raises(InputError):
            read_table(path, bounds)
    book = write_xlsx(tmp_path / "can-bo.xlsx", [STAFF_HEADER, STAFF_ROW, STAFF_ROW])
    assert len(read_table(book)) == 2
    with pytest.raises(InputError):
        read_table(book, SheetBounds(max_rows=1))
    with pytest.raises(InputError):
        read_table(book, SheetBounds(max_uncompressed_bytes=500))


def test_an_office_raises_or_lowers_the_sheet_bounds_in_its_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import cli_for, initialised, write_config

    config = initialised(write_config(tmp_path, extra="\n[limits]\nsheet_max_rows = 2\n"))
    loa = cli_for(config, capsys)
    rows = "\n".join(f"Nguyễn Văn {n},Văn phòng,09123456{n:02d}," for n in range(3))
    roster = tmp_path / "nhan-su.csv"
    roster.write_text("Họ và tên,Đơn vị,Điện thoại,Email\n" + rows + "\n", encoding="utf-8")
    refused = loa("staff", "import", str(roster))
    assert refused.code == 2, refused.stdout
    assert staff_count(config) == 0
    two = tmp_path / "hai.csv"
    two.write_text("Họ và tên,Đơn vị,Điện thoại,Email\n" + "\n".join(rows.splitlines()[:2]) + "\n", encoding="utf-8")
    assert loa("staff", "import", str(two)).code == 0
    assert staff_count(config) == 2
