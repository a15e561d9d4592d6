"""Reading CSV and XLSX tables of rows to import (posts, staff): header row, then one dict a row.

A table comes from a person's file, careless or hostile, so its cost is bounded before and
while it is read: the file's size, every XLSX member's unpacked size and compression ratio
(read from the zip's directory, before anything is unpacked), no DTD in any XML member, at
most so many columns, rows and characters a cell. The declared used range of a sheet is
never trusted: only the rows the sheet really holds are visited, only as wide as the
header. A row that cannot be read is an error naming its row; no row is dropped silently.
"""

from __future__ import annotations

import codecs
import csv
import struct
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from scheduler import bounds
from scheduler.errors import InputError
from scheduler.i18n import Number, msg
from scheduler.render.messages import nfc

if TYPE_CHECKING:
    from scheduler.config import LimitsSettings

# -- Bounds on an imported table (CSV or XLSX), checked before and while it is read ------
# The defaults live with every other bound (scheduler/bounds.py, docs/bounds.md); an office
# raises them in config.toml's [limits].
IMPORT_MAX_ROWS = bounds.DEFAULT_SHEET_MAX_ROWS  # rows under the header
IMPORT_MAX_COLUMNS = bounds.DEFAULT_SHEET_MAX_COLUMNS
IMPORT_MAX_CELL_CHARS = bounds.DEFAULT_SHEET_MAX_CELL_CHARS
IMPORT_MAX_UNCOMPRESSED_BYTES = bounds.DEFAULT_SHEET_MAX_UNCOMPRESSED_MIB * 1024 * 1024
IMPORT_MAX_COMPRESSION_RATIO = bounds.DEFAULT_SHEET_MAX_COMPRESSION_RATIO
IMPORT_RATIO_FLOOR_BYTES = 1024 * 1024  # small members (styles, rels) compress well and cost nothing
IMPORT_MAX_ZIP_MEMBERS = bounds.DEFAULT_SHEET_MAX_ZIP_MEMBERS


@dataclass(frozen=True)
class SheetBounds:
    """The bounds one import is read under (an office may raise them)."""

    max_rows: int = IMPORT_MAX_ROWS
    max_columns: int = IMPORT_MAX_COLUMNS
    max_cell_chars: int = IMPORT_MAX_CELL_CHARS
    max_uncompressed_bytes: int = IMPORT_MAX_UNCOMPRESSED_BYTES
    max_compression_ratio: int = IMPORT_MAX_COMPRESSION_RATIO
    max_zip_members: int = IMPORT_MAX_ZIP_MEMBERS


    @classmethod
    def from_limits(cls, limits: LimitsSettings) -> SheetBounds:
        """The bounds an office set in config.toml's [limits]."""
        return cls(
            max_rows=limits.sheet_max_rows,
            max_columns=limits.sheet_max_columns,
            max_cell_chars=limits.sheet_max_cell_chars,
            max_uncompressed_bytes=limits.sheet_max_uncompressed_bytes,
            max_compression_ratio=limits.sheet_max_compression_ratio,
            max_zip_members=limits.sheet_max_zip_members,
        )


SHEET_BOUNDS = SheetBounds()

Row = tuple[int, dict[str, str]]


def read_table(path: Path, bounds: SheetBounds = SHEET_BOUNDS) -> list[Row]:
    """Rows of a CSV (UTF-8, with or without BOM) or XLSX file as (line number, row) pairs.

    Every row has every header column (an empty cell is ""); blank rows are left out."""
    if not path.is_file():
        raise InputError(msg("error.import_no_file", path=str(path)), hint=msg("hint.check_path"), field="file")
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".txt", ".xlsx"}:
        raise InputError(msg("error.not_csv_or_xlsx", name=path.name), hint=msg("hint.save_as_csv"), field="file")
    if path.stat().st_size > bounds.max_uncompressed_bytes:
        raise InputError(
            msg("error.file_too_large", name=path.name, megabytes=bounds.max_uncompressed_bytes // 1024 // 1024),
            hint=msg("hint.split_file"),
            field="file",
        )
    if suffix == ".xlsx":
        return _read_xlsx(path, bounds)
    return _read_csv(path, bounds)


# -- CSV ----------------------------------------------------------------------------------


def _read_csv(path: Path, bounds: SheetBounds) -> list[Row]:
    name = path.name
    with path.open("rb") as raw:
        reader = csv.reader(_decoded_lines(raw, name, bounds))
        lines = _csv_records(reader, name, bounds)
        try:
            header_values = next(lines)
        except StopIteration:
            raise InputError(
                msg("error.import_empty", name=name), hint=msg("hint.import_header_first"), field="file"
            ) from None
        table = _Table(name, header_values, bounds)
        for number, values in lines:
            table.add(number, values)
        return table.rows


def _decoded_lines(raw: IO[bytes], name: str, bounds: SheetBounds) -> Iterator[str]:
    """The file's lines decoded one at a time: memory follows the rows kept, not the file,
    and a byte that is not UTF-8 is named by its line."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    # A physical line holds a few full cells at most (Vietnamese takes ~3 bytes a letter; a
    # cell over several lines is several lines). A longer line is no row of a table, and the
    # csv module would hold all of it, a field for every comma, as one record.
    longest = max(1024 * 1024, 12 * bounds.max_cell_chars)
    number = 0
    while line := raw.readline(longest + 1):
        number += 1
        if len(line) > longest:
            raise InputError(
                msg("error.import_line_too_long", name=name, row=number, megabytes=longest // 1024 // 1024),
                hint=msg("hint.save_csv_utf8_or_xlsx"),
                field="file",
            )
        try:
            text = decoder.decode(line)
        except UnicodeDecodeError:
            raise InputError(
                msg("error.import_not_utf8", name=name, row=number),
                hint=msg("hint.save_csv_utf8_or_xlsx"),
                field="file",
            ) from None
        if "\r" in text.rstrip("\r\n"):
            # Lines ended by a lone CR (old Mac exports) are lines too, as text mode reads them.
            yield from text.replace("\r\n", "\n").replace("\r", "\n").splitlines(keepends=True)
        else:
            yield text


def _csv_records(reader: Any, name: str, bounds: SheetBounds) -> Iterator[Any]:
    """The header's cells first, then (line number, cells) of each record."""
    first = True
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field limit" not in str(exc):
                raise InputError(
                    msg("error.import_csv_unreadable", name=name, row=reader.line_num + 1, reason=str(exc)),
                    hint=msg("hint.save_csv_utf8_or_xlsx"),
                    field="file",
                ) from None
            # The csv module's own limit on a field (131.072 characters) is above ours.
            raise InputError(
                msg(
                    "error.import_cell_too_long",
                    name=name,
                    row=reader.line_num,
                    column="?",
                    chars=Number(bounds.max_cell_chars, 0),
                ),
                hint=msg("hint.import_shorten_cell"),
                field="file",
            ) from None
        if first:
            first = False
            yield values
        else:
            yield reader.line_num, values


# -- one table, whatever the format -------------------------------------------------------


class _Table:
    """Header and rows as they are read, each cell checked against the bounds."""

    def __init__(
        self, name: str, header_values: Iterable[Any], bounds: SheetBounds, *, last_row: int | None = None
    ) -> None:
        self.name = name
        self.bounds = bounds
        self.last_row = last_row  # the highest row number a row with content may have
        cells = [_text(v) for v in header_values]
        while cells and not cells[-1].strip():
            cells.pop()
        if not any(c.strip() for c in cells):
            raise InputError(msg("error.import_empty", name=name), hint=msg("hint.import_header_first"), field="file")
        if len(cells) > self.bounds.max_columns:
            raise InputError(
                msg("error.import_too_many_columns", name=name, found=len(cells), columns=self.bounds.max_columns),
                hint=msg("hint.import_drop_columns"),
                field="file",
            )
        self.header = [nfc(c).strip().lower() for c in cells]
        seen: set[str] = set()
        for index, column in enumerate(self.header):
            if not column:
                continue
            _check_cell(name, 1, column_name(index), column, bounds)
            if column in seen:
                raise InputError(
                    msg("error.import_duplicate_column", name=name, column=column),
                    hint=msg("hint.import_one_column_each"),
                    field="file",
                )
            seen.add(column)
        self.rows: list[Row] = []
        self.chars = 0

    def add(self, number: int, values: Iterable[Any]) -> None:
        values = list(values)
        cells = [_text(v) for v in values]
        if not any(c.strip() for c in cells):
            return
        for index, value in enumerate(values):
            if isinstance(value, SheetError):
                column = self.header[index] if index < len(self.header) and self.header[index] else column_name(index)
                raise InputError(
                    msg("error.import_cell_error", name=self.name, row=number, column=column, value=str(value)),
                    hint=msg("hint.import_cell_error"),
                    field="file",
                )
        if len(self.rows) >= self.bounds.max_rows or (self.last_row is not None and number > self.last_row):
            raise InputError(
                msg(
                    "error.import_too_many_rows",
                    name=self.name,
                    row=Number(number, 0),
                    rows=Number(self.bounds.max_rows, 0),
                ),
                hint=msg("hint.split_file"),
                field="file",
            )
        row: dict[str, str] = {}
        for index, cell in enumerate(cells):
            column = self.header[index] if index < len(self.header) else ""
            if not column:
                if cell.strip():
                    raise InputError(
                        msg("error.import_value_without_header", name=self.name, row=number, column=column_name(index)),
                        hint=msg("hint.import_value_without_header"),
                        field="file",
                    )
                continue
            _check_cell(self.name, number, column, cell, self.bounds)
            row[column] = nfc(cell).strip()
            self.chars += len(cell)
        if self.chars > self.bounds.max_uncompressed_bytes:
            # Shared strings let a small sheet repeat one long text in every cell.
            raise InputError(
                msg(
                    "error.import_unpacked_too_large",
                    name=self.name,
                    megabytes=self.bounds.max_uncompressed_bytes // 1024 // 1024,
                ),
                hint=msg("hint.split_file"),
                field="file",
            )
        for column in self.header:
            if column:
                row.setdefault(column, "")
        self.rows.append((number, row))


class SheetError(str):
    """A cell holding a spreadsheet error (#N/A, #REF!): a formula failed, its text is no value."""


# Blank rows between the header and the last row are allowed up to this many, so the rows a
# sheet holds are bounded by its row numbers, not only by the rows that have content.
_BLANK_ROWS_ALLOWED = 1_000


def _check_cell(name: str, row: int, column: str, cell: str, bounds: SheetBounds) -> None:
    if len(cell) > bounds.max_cell_chars:
        raise InputError(
            msg(
                "error.import_cell_too_long", name=name, row=row, column=column, chars=Number(bounds.max_cell_chars, 0)
            ),
            hint=msg("hint.import_shorten_cell"),
            field="file",
        )
    if "\x00" in cell:
        raise InputError(
            msg("error.import_cell_nul", name=name, row=row, column=column),
            hint=msg("hint.import_cell_nul"),
            field="file",
        )


def column_name(index: int) -> str:
    """The spreadsheet letters of a 0-based column (0 → A, 26 → AA)."""
    letters = ""
    n = index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        # A day without a time: given as a date, so that a time column refuses it.
        return value.isoformat()
    if isinstance(value, time | timedelta):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- XLSX ---------------------------------------------------------------------------------


def _read_xlsx(path: Path, bounds: SheetBounds) -> list[Row]:
    name = path.name
    _check_zip_directory(path, bounds)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _unreadable(name, exc) from None
    with archive:
        _check_members(name, archive, bounds)
        _refuse_dtd(name, archive)
    return _read_sheet(path, bounds)


def _check_zip_directory(path: Path, bounds: SheetBounds) -> None:
    """Refuse what is no zip, or a zip with too many members, from its last bytes alone."""
    name = path.name
    with path.open("rb") as handle:
        start = handle.read(4)
        if start != b"PK\x03\x04":
            raise InputError(
                msg("error.import_not_a_workbook", name=name),
                hint=msg("hint.import_rename_csv") if _looks_like_text(path) else msg("hint.save_as_xlsx"),
                field="file",
            )
        size = path.stat().st_size
        tail = min(size, 22 + 65_535)
        handle.seek(size - tail)
        end = handle.read(tail)
    at = end.rfind(b"PK\x05\x06")
    if at < 0 or len(end) < at + 22:
        raise InputError(msg("error.import_not_a_workbook", name=name), hint=msg("hint.save_as_xlsx"), field="file")
    (members,) = struct.unpack("<H", end[at + 10 : at + 12])
    if members > bounds.max_zip_members:
        raise InputError(
            msg("error.import_too_many_members", name=name, members=bounds.max_zip_members),
            hint=msg("hint.save_as_xlsx"),
            field="file",
        )


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # cut inside a character at the end of the sample
    return b"\x00" not in head


def _check_members(name: str, archive: zipfile.ZipFile, bounds: SheetBounds) -> None:
    """Sizes and ratios as the zip directory declares them; zipfile never unpacks past them."""
    infos = archive.infolist()
    if len(infos) > bounds.max_zip_members:
        raise InputError(
            msg("error.import_too_many_members", name=name, members=bounds.max_zip_members),
            hint=msg("hint.save_as_xlsx"),
            field="file",
        )
    total = 0
    for info in infos:
        total += info.file_size
        if total > bounds.max_uncompressed_bytes:
            raise InputError(
                msg(
                    "error.import_unpacked_too_large",
                    name=name,
                    megabytes=bounds.max_uncompressed_bytes // 1024 // 1024,
                ),
                hint=msg("hint.split_file"),
                field="file",
            )
        if info.file_size > IMPORT_RATIO_FLOOR_BYTES:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > bounds.max_compression_ratio:
                raise InputError(
                    msg(
                        "error.import_compression_ratio",
                        name=name,
                        member=info.filename,
                        ratio=int(ratio),
                        limit=bounds.max_compression_ratio,
                    ),
                    hint=msg("hint.save_as_xlsx"),
                    field="file",
                )


_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")
# Pictures in a sheet (an SVG may carry a DOCTYPE of its own); the import never opens them.
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".emf", ".wmf", ".svg", ".bin")


def _refuse_dtd(name: str, archive: zipfile.ZipFile) -> None:
    """No XML member may declare a DTD: entities are how an XML file expands past its size."""
    keep = max(len(m) for m in _DTD_MARKERS) - 1
    for info in archive.infolist():
        # Every part but images: a workbook's relationships may give a sheet any name.
        if info.is_dir() or info.filename.lower().endswith(_IMAGE_SUFFIXES):
            continue
        try:
            with archive.open(info) as member:
                carried = b""
                while chunk := member.read(256 * 1024):
                    window = (carried + chunk).upper()
                    if any(marker in window for marker in _DTD_MARKERS):
                        raise InputError(
                            msg("error.import_xml_dtd", name=name, member=info.filename),
                            hint=msg("hint.save_as_xlsx"),
                            field="file",
                        )
                    carried = window[-keep:]
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise _unreadable(name, exc) from None


def _read_sheet(path: Path, bounds: SheetBounds) -> list[Row]:
    from openpyxl import load_workbook

    name = path.name
    try:
        # Read-only: the workbook's parts (sheets list, styles, shared strings), no sheet yet.
        workbook = load_workbook(path, read_only=True, data_only=True)
    except InputError:
        raise
    except Exception as exc:  # a malformed workbook fails anywhere in the parser: it is bad input
        raise _unreadable(name, exc) from None
    try:
        if not workbook.worksheets:
            raise InputError(
                msg("error.import_no_worksheet", name=name), hint=msg("hint.import_first_sheet"), field="file"
            )
        sheet = workbook.worksheets[0]
        try:
            styles = _Styles(workbook)
            with sheet._get_source() as source:
                return _rows_from(name, _sheet_cells(source, sheet._shared_strings, styles), bounds)
        except InputError:
            raise
        except Exception as exc:
            raise _unreadable(name, exc) from None
    finally:
        workbook.close()


class _Styles:
    """Which style ids make a number a date, a duration, or a day without a time."""

    def __init__(self, workbook: Any) -> None:
        from openpyxl.styles.numbers import BUILTIN_FORMATS_MAX_SIZE, builtin_format_code, is_datetime

        self.epoch = workbook.epoch
        self.dates: set[int] = set(workbook._date_formats)
        self.durations: set[int] = set(workbook._timedelta_formats)
        self.days: set[int] = set()
        for index, style in enumerate(workbook._cell_styles):
            number = style.numFmtId
            if number >= BUILTIN_FORMATS_MAX_SIZE:
                code = workbook._number_formats[number - BUILTIN_FORMATS_MAX_SIZE]
            else:
                code = builtin_format_code(number)
            if code and is_datetime(code.lower()) == "date":  # format codes ignore case; is_datetime does not
                self.days.add(index)

    def number(self, text: str, style: int) -> Any:
        from openpyxl.utils.datetime import from_excel

        value: float | int = float(text) if any(c in text for c in ".eE") else int(text)
        if style not in self.dates:
            return value
        moment = from_excel(value, self.epoch, timedelta=style in self.durations)
        return moment.date() if isinstance(moment, datetime) and style in self.days else moment


_ROW_END = -1
_CHUNK = 64 * 1024


def _sheet_cells(source: IO[bytes], shared: Any, styles: _Styles) -> Iterator[tuple[int, int, Any]]:
    """(row, column, value) of each cell with a value, in order, and (row, _ROW_END, None)
    after each row. Streamed with expat, no tree kept: memory follows one chunk of the file,
    not the sheet, whatever range the sheet declares or however many empty cells it holds."""
    from xml.parsers import expat

    reader = _SheetReader(shared, styles)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    parser.EntityDeclHandler = reader.entity
    while chunk := source.read(_CHUNK):
        parser.Parse(chunk, False)
        yield from reader.found
        reader.found.clear()
    parser.Parse(b"", True)
    yield from reader.found


class _SheetReader:
    """expat's handlers for a worksheet: the cells' values, each row's end."""

    def __init__(self, shared: Any, styles: _Styles) -> None:
        self.shared = shared
        self.styles = styles
        self.found: list[tuple[int, int, Any]] = []
        self.row = 0
        # The column of a cell is its reference, or the one after the last cell's. A
        # reference is read only when needed: most cells of a formatted sheet are empty.
        self.last_column = 0
        self.last_reference: str | None = None
        self.column: int | None = None
        self.reference: str | None = None
        self.kind = "n"
        self.style = 0
        self.parts: list[str] = []
        self.valued = False
        self.inline = False
        self.phonetic = False
        self.capture = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = name.rsplit(" ", 1)[-1]
        if tag == "c":
            self.reference = attrs.get("r")
            self.column = None if self.reference else self._last() + 1
            self.kind = attrs.get("t", "n")
            self.style = int(attrs.get("s") or 0)
            self.parts = []
            self.valued = False
        elif tag == "v":
            self.capture = self.valued = True
        elif tag == "is":
            self.inline = self.valued = True
        elif tag == "t":
            self.capture = self.inline and not self.phonetic
        elif tag == "rPh":
            self.phonetic = True
        elif tag == "row":
            self.row = int(float(attrs.get("r") or self.row + 1))
            self.last_column, self.last_reference = 0, None

    def end(self, name: str) -> None:
        tag = name.rsplit(" ", 1)[-1]
        if tag in ("v", "t"):
            self.capture = False
        elif tag == "rPh":
            self.phonetic = False
        elif tag == "is":
            self.inline = False
        elif tag == "c":
            if self.valued:
                column = self.column if self.column is not None else _column_of(self.reference or "")
                self.column = column
                value = self._value("".join(self.parts))
                if value is not None:
                    self.found.append((self.row, column, value))
            if self.column is None:
                self.last_reference = self.reference
            else:
                self.last_column, self.last_reference = self.column, None
        elif tag == "row":
            self.found.append((self.row, _ROW_END, None))

    def text(self, data: str) -> None:
        if self.capture:
            self.parts.append(data)

    def entity(self, *_: object) -> None:
        raise ValueError("the sheet declares an entity")

    def _last(self) -> int:
        if self.last_reference is not None:
            self.last_column, self.last_reference = _column_of(self.last_reference), None
        return self.last_column

    def _value(self, text: str) -> Any:
        kind = self.kind
        if kind == "inlineStr":
            return text
        if not text:
            return None
        if kind == "s":
            return self.shared[int(text)]
        if kind == "b":
            return bool(int(text))
        if kind == "d":
            from openpyxl.utils.datetime import from_ISO8601

            return from_ISO8601(text)
        if kind == "n":
            return self.styles.number(text, self.style)
        if kind == "e":
            return SheetError(text)
        return text  # str: a formula's text


def _column_of(reference: str) -> int:
    from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

    return int(column_index_from_string(coordinate_from_string(reference)[0]))


def _rows_from(name: str, cells: Iterator[tuple[int, int, Any]], bounds: SheetBounds) -> list[Row]:
    table: _Table | None = None
    width = bounds.max_columns
    values: list[Any] = []
    for number, column, value in cells:
        if column != _ROW_END:
            if column > width:
                if value not in (None, ""):
                    if table is None:
                        raise InputError(
                            msg("error.import_too_many_columns", name=name, found=column, columns=bounds.max_columns),
                            hint=msg("hint.import_drop_columns"),
                            field="file",
                        )
                    raise InputError(
                        msg("error.import_value_without_header", name=name, row=number, column=column_name(column - 1)),
                        hint=msg("hint.import_value_without_header"),
                        field="file",
                    )
                continue
            if column > len(values):
                values.extend([None] * (column - len(values)))
            values[column - 1] = value
            continue
        row, values = values, []
        if table is None:
            if not any(_text(v).strip() for v in row):
                if number > _BLANK_ROWS_ALLOWED:
                    break
                continue
            table = _Table(name, row, bounds, last_row=number + bounds.max_rows + _BLANK_ROWS_ALLOWED)
            width = len(table.header)
        else:
            table.add(number, row)
    if table is None:
        raise InputError(msg("error.import_empty", name=name), hint=msg("hint.import_header_first"), field="file")
    return table.rows


def _unreadable(name: str, exc: BaseException) -> InputError:
    reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return InputError(
        msg("error.import_workbook_unreadable", name=name, reason=reason), hint=msg("hint.save_as_xlsx"), field="file"
    )
