"""Tables people open in a spreadsheet: CSV or XLSX, formula cells neutralised."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from scheduler.errors import InputError
from scheduler.i18n import msg

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: str) -> str:
    """CSV cells that a spreadsheet would run as a formula get a leading quote (OWASP)."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """CSV (UTF-8 with BOM, so Excel reads the accents) or XLSX (every cell typed as text)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows([[neutralise_cell(cell) for cell in r] for r in rows])
        return
    if suffix != ".xlsx":
        raise InputError(msg("error.cannot_write", file=path.name), hint=msg("hint.name_csv_or_xlsx"), field="output")
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("lien_ket")
    for values in [list(header), *[list(r) for r in rows]]:
        cells = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value)
            # Typed as a string, a cell is never a formula, whatever it starts with.
            cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    workbook.save(path)

