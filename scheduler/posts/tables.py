"""Reading CSV and XLSX tables of rows to import (posts, staff): header row, then one dict a row."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

from scheduler.errors import InputError
from scheduler.i18n import Number, msg
from scheduler.render.messages import nfc

IMPORT_MAX_ROWS = 5_000


def read_table(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV (UTF-8, with or without BOM) or XLSX file as (line number, row) pairs."""
    if not path.is_file():
        raise InputError(msg("error.no_file", path=str(path)), hint=msg("hint.check_path"))
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(path)
    if suffix not in {".csv", ".txt"}:
        raise InputError(msg("error.not_csv_or_xlsx", name=path.name), hint=msg("hint.save_as_csv"))
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(msg("error.csv_not_utf8", file=path.name), hint=msg("hint.excel_csv_utf8")) from None
    reader = csv.reader(io.StringIO(content))
    try:
        header = [nfc(h).strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputError(msg("error.table_empty", file=path.name), hint=msg("hint.first_line_header")) from None
    rows: list[tuple[int, dict[str, str]]] = []
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(rows) >= IMPORT_MAX_ROWS:
            raise InputError(
                msg("error.csv_too_many_rows", file=path.name, limit=Number(IMPORT_MAX_ROWS, 0)),
                hint=msg("hint.split_file"),
            )
        rows.append((number, {h: nfc(v).strip() for h, v in zip(header, values, strict=False) if h}))
    return rows


def _read_xlsx(path: Path) -> list[tuple[int, dict[str, str]]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise InputError(
            msg("error.xlsx_unreadable", file=path.name, reason=str(exc)), hint=msg("hint.save_again_xlsx")
        ) from None
    sheet = workbook.worksheets[0]
    iterator = sheet.iter_rows(values_only=True)
    try:
        header = [nfc(str(h or "")).strip().lower() for h in next(iterator)]
    except StopIteration:
        raise InputError(msg("error.table_empty", file=path.name), hint=msg("hint.first_row_header")) from None
    rows: list[tuple[int, dict[str, str]]] = []
    for number, values in enumerate(iterator, start=2):
        cells = ["" if v is None else _cell_text(v) for v in values]
        if not any(c.strip() for c in cells):
            continue
        if len(rows) >= IMPORT_MAX_ROWS:
            raise InputError(
                msg("error.csv_too_many_rows", file=path.name, limit=Number(IMPORT_MAX_ROWS, 0)),
                hint=msg("hint.split_file"),
            )
        rows.append((number, {h: nfc(c).strip() for h, c in zip(header, cells, strict=False) if h}))
    workbook.close()
    return rows


def _cell_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
