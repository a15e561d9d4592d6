"""Reading CSV and XLSX tables of rows to import (posts, staff): header row, then one dict a row."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

from scheduler.errors import InputError
from scheduler.render.messages import nfc

# -- Bounds on an imported table (CSV or XLSX), checked before and while it is read ------
IMPORT_MAX_ROWS = 5_000  # rows under the header
IMPORT_MAX_COLUMNS = 100
IMPORT_MAX_CELL_CHARS = 20_000  # one cell's text; a Facebook post is at most ~63.000
IMPORT_MAX_UNCOMPRESSED_BYTES = 32 * 1024 * 1024  # a CSV file, or all members of an XLSX unpacked
IMPORT_MAX_COMPRESSION_RATIO = 100  # per XLSX member above 1 MB unpacked; real sheets stay under ~30


def read_table(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV (UTF-8, with or without BOM) or XLSX file as (line number, row) pairs."""
    if not path.is_file():
        raise InputError(f"there is no file {path}", hint="check the path")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(path)
    if suffix not in {".csv", ".txt"}:
        raise InputError(f"{path.name} is neither CSV nor XLSX", hint="save the sheet as .csv (UTF-8) or .xlsx")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path.name} is not UTF-8 text", hint="save it as 'CSV UTF-8' from Excel") from None
    reader = csv.reader(io.StringIO(content))
    try:
        header = [nfc(h).strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputError(f"{path.name} is empty", hint="the first line must be the header") from None
    rows: list[tuple[int, dict[str, str]]] = []
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(rows) >= IMPORT_MAX_ROWS:
            raise InputError(f"{path.name} has more than {IMPORT_MAX_ROWS} rows", hint="split the file")
        rows.append((number, {h: nfc(v).strip() for h, v in zip(header, values, strict=False) if h}))
    return rows


def _read_xlsx(path: Path) -> list[tuple[int, dict[str, str]]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise InputError(
            f"{path.name} cannot be read as an Excel workbook: {exc}", hint="save it again as .xlsx"
        ) from None
    sheet = workbook.worksheets[0]
    iterator = sheet.iter_rows(values_only=True)
    try:
        header = [nfc(str(h or "")).strip().lower() for h in next(iterator)]
    except StopIteration:
        raise InputError(f"{path.name} is empty", hint="the first row must be the header") from None
    rows: list[tuple[int, dict[str, str]]] = []
    for number, values in enumerate(iterator, start=2):
        cells = ["" if v is None else _cell_text(v) for v in values]
        if not any(c.strip() for c in cells):
            continue
        if len(rows) >= IMPORT_MAX_ROWS:
            raise InputError(f"{path.name} has more than {IMPORT_MAX_ROWS} rows", hint="split the file")
        rows.append((number, {h: nfc(c).strip() for h, c in zip(header, cells, strict=False) if h}))
    workbook.close()
    return rows


def _cell_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

