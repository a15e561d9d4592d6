"""Write the tour's import files, dated from tomorrow: posts.csv, posts.xlsx and nhan-su.xlsx.

examples/posts.csv shows the shape `loa post import` reads, but its dates are fixed and Loa
refuses a time in the past, so this writes a copy whose first post is tomorrow (the gaps
between rows and the clock times are kept), plus the same rows as XLSX. nhan-su.csv is
imported as it is; nhan-su.xlsx is the same roster as a spreadsheet.

    python examples/make_examples.py [FOLDER]     # FOLDER defaults to the current one
"""

from __future__ import annotations

import csv
import re
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
# Loa reads local times in the office's zone: "tomorrow" is tomorrow in Vietnam.
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
DAY_MONTH_YEAR = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def dated_from(rows: list[dict[str, str]], first_day: date) -> list[dict[str, str]]:
    """The rows moved so the earliest `at` falls on first_day; a dd/mm/yyyy `ngay` moves with it."""
    times = [datetime.fromisoformat(row["at"]) for row in rows]
    shift = first_day - min(times).date()
    moved: list[dict[str, str]] = []
    for row, when in zip(rows, times, strict=True):
        row = dict(row, at=(when + shift).strftime("%Y-%m-%d %H:%M"))
        match = DAY_MONTH_YEAR.match(row.get("ngay", ""))
        if match:
            day, month, year = map(int, match.groups())
            row["ngay"] = (date(year, month, day) + shift).strftime("%d/%m/%Y")
        moved.append(row)
    return moved


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def write_xlsx(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append([row.get(column, "") for column in header])
    workbook.save(path)


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path.cwd()
    folder.mkdir(parents=True, exist_ok=True)
    tomorrow = datetime.now(ZONE).date() + timedelta(days=1)
    header, posts = read_rows(HERE / "posts.csv")
    posts = dated_from(posts, tomorrow)
    write_csv(folder / "posts.csv", header, posts)
    write_xlsx(folder / "posts.xlsx", header, posts)
    staff_header, staff = read_rows(HERE / "nhan-su.csv")
    write_xlsx(folder / "nhan-su.xlsx", staff_header, staff)
    names = ", ".join(str(folder / name) for name in ("posts.csv", "posts.xlsx", "nhan-su.xlsx"))
    print(f"Đã ghi {names} (bài đầu tiên lúc {posts[0]['at']}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
