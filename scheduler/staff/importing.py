"""Staff import: a CSV or XLSX roster read and checked whole (all rows, or none)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scheduler.errors import InputError
from scheduler.i18n import Message, msg
from scheduler.posts.tables import SHEET_BOUNDS, SheetBounds, read_table
from scheduler.render.messages import nfc

# Header names are compared without accents, case or punctuation: "Họ tên" is ho_ten.
HEADER_ALIASES = {
    "ho_ten": "full_name",
    "ho_va_ten": "full_name",
    "full_name": "full_name",
    "name": "full_name",
    "don_vi": "unit",
    "unit": "unit",
    "so_dien_thoai": "phone",
    "dien_thoai": "phone",
    "sdt": "phone",
    "phone": "phone",
    "email": "email",
    "e_mail": "email",
}


PHONE_PATTERN = re.compile(r"^0(?:[35789]\d{8}|2\d{9})$")  # mobile 0xx xxx xxxx; landline 02xx xxxx xxxx


EMAIL_PATTERN = re.compile(r"^[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"'.]{2,}$")


def fold(text: str) -> str:
    """Vietnamese without accents ("Đơn vị" → "Don vi"): for matching, never for storing."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def header_key(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fold(header).lower()).strip("_")


def unit_code(name: str) -> str:
    """A unit's stored code, readable in exports; never what tells units apart (:func:`unit_key`)."""
    return re.sub(r"[^a-z0-9]+", "-", fold(name).lower()).strip("-")[:64]


def unit_key(name: str) -> str:
    """What makes two unit names the same unit: NFC, spaces collapsed, case folded — accents
    kept, since "Tổ Thu" and "Tổ Thư" are different words."""
    return clean_text(name).casefold()


def unit_lookalike(name: str) -> str:
    """The name without accents, case or punctuation: names alike under it only draw a warning."""
    return unit_code(clean_text(name))


def free_code(code: str, taken: set[str]) -> str:
    """``code``, or ``code-2``, ``code-3``… when another unit has it (a name alike without accents)."""
    if code not in taken:
        return code
    n = 2
    while f"{code[:60]}-{n}" in taken:
        n += 1
    return f"{code[:60]}-{n}"


def clean_text(value: str) -> str:
    return re.sub(r"\s+", " ", nfc(value)).strip()


def normalise_phone(raw: str) -> str | None:
    """A Vietnamese number as 0xxxxxxxxx, from '+84 912 345 678', '84912345678', '0912.345.678'
    or '912345678' (a spreadsheet dropped the leading zero); None if it is not one."""
    digits = re.sub(r"[\s.\-()/]", "", raw)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    elif len(digits) == 9 and digits[:1] in "35789":
        digits = "0" + digits
    return digits if PHONE_PATTERN.match(digits) else None


@dataclass(frozen=True)
class StaffRow:
    line: int
    full_name: str
    unit: str
    phone: str | None
    email: str | None


@dataclass
class ImportProblems:
    file: str
    items: list[Message] = field(default_factory=list)

    def add(self, line: int, column: str, message: Message) -> None:
        self.items.append(msg("error.import_row_problem", row=line, column=column, problem=message))

    def raise_if_any(self) -> None:
        if self.items:
            shown: list[Message] = self.items[:20]
            if len(self.items) > 20:
                shown = [*shown, msg("error.and_more", n=len(self.items) - 20)]
            raise InputError(
                msg("error.staff_import_refused", file=self.file, count=len(self.items), problems=shown),
                hint=msg("hint.fix_rows_import_whole"),
                field="file",
            )


def _check_csv_encoding(path: Path) -> None:
    """Name the row and column of the first byte that is not UTF-8 (Excel's 'CSV' is cp1258).

    Read a line at a time: memory follows one line, not the file."""
    header: list[str] = []
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if line == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                index = raw[: exc.start].count(b",")
                column = header[index].strip() if index < len(header) else f"#{index + 1}"
                raise InputError(
                    msg(
                        "error.staff_not_utf8", file=path.name, row=line, column=column, byte=f"0x{raw[exc.start]:02x}"
                    ),
                    hint=msg("hint.save_csv_utf8_or_xlsx"),
                    field="file",
                ) from None
            if line == 1:
                header = text.rstrip("\r\n").split(",")


def read_staff_file(path: Path, bounds: SheetBounds = SHEET_BOUNDS) -> tuple[list[StaffRow], dict[str, str]]:
    """Parse and check every row; raise one InputError naming every bad row and column.

    Returns the rows and the file's own name for each column (full_name, unit, phone, email)."""
    if not path.is_file():
        raise InputError(msg("error.no_file", path=str(path)), hint=msg("hint.check_path"), field="file")
    if path.stat().st_size > bounds.max_uncompressed_bytes:
        raise InputError(
            msg("error.file_too_large", name=path.name, megabytes=bounds.max_uncompressed_bytes // 1024 // 1024),
            hint=msg("hint.split_file"),
            field="file",
        )
    if path.suffix.lower() in {".csv", ".txt"}:
        _check_csv_encoding(path)
    table = read_table(path, bounds)
    problems = ImportProblems(path.name)
    rows: list[StaffRow] = []
    seen_email: dict[str, int] = {}
    seen_phone: dict[str, int] = {}
    if not table:
        raise InputError(msg("error.no_staff_rows", file=path.name), hint=msg("hint.staff_header"))
    mapped: dict[str, str] = {}
    for header in table[0][1]:
        key = header_key(header)
        if key not in HEADER_ALIASES:
            # A column Loa does not read would be dropped without a word: name it instead.
            raise InputError(
                msg("error.staff_unknown_column", name=path.name, column=header),
                hint=msg("hint.staff_columns"),
                field="file",
            )
        known = HEADER_ALIASES[key]
        if known in mapped:
            raise InputError(
                msg("error.staff_column_twice", name=path.name, column=header, other=mapped[known]),
                hint=msg("hint.staff_columns"),
                field="file",
            )
        mapped[known] = header
    columns = {header_key(h): h for h in table[0][1]}
    missing = [c for c in ("full_name", "unit") if c not in mapped]
    if missing:
        raise InputError(
            msg(
                "error.staff_header_lacks",
                file=path.name,
                columns=" / ".join(missing),
                found=", ".join(columns.values()),
            ),
            hint=msg("hint.staff_header_names"),
            field="file",
        )
    label = {k: mapped.get(k, k) for k in ("full_name", "unit", "phone", "email")}
    for line, values in table:

        def cell(name: str, values: dict[str, str] = values) -> str:
            header = mapped.get(name)
            return values.get(header, "") if header else ""

        name = clean_text(cell("full_name"))
        unit = clean_text(cell("unit"))
        raw_phone = cell("phone").strip()
        raw_email = cell("email").strip()
        if not name:
            problems.add(line, label["full_name"], msg("error.staff_name_empty"))
        elif len(name) > 120:
            problems.add(line, label["full_name"], msg("error.staff_name_too_long", limit=120))
        if not unit:
            problems.add(line, label["unit"], msg("error.staff_unit_empty"))
        elif not unit_code(unit):
            problems.add(line, label["unit"], msg("error.staff_unit_no_letters", unit=unit))
        phone = normalise_phone(raw_phone) if raw_phone else None
        if raw_phone and phone is None:
            problems.add(line, label["phone"], msg("error.staff_bad_phone", phone=raw_phone))
        email = raw_email.lower() if raw_email else None
        if email and not EMAIL_PATTERN.match(email):
            problems.add(line, label["email"], msg("error.staff_bad_email", email=raw_email))
            email = None
        if not raw_phone and not raw_email:
            problems.add(line, label["phone"], msg("error.staff_phone_or_email"))
        if email:
            if email in seen_email:
                problems.add(line, label["email"], msg("error.staff_duplicate", value=email, row=seen_email[email]))
            seen_email.setdefault(email, line)
        if phone:
            if phone in seen_phone:
                problems.add(line, label["phone"], msg("error.staff_duplicate", value=phone, row=seen_phone[phone]))
            seen_phone.setdefault(phone, line)
        rows.append(StaffRow(line=line, full_name=name, unit=unit, phone=phone, email=email))
    problems.raise_if_any()
    return rows, label


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int
    units_created: list[str]
    # (new unit, existing unit) whose names differ only in accents: two units, and a warning.
    similar_units: list[tuple[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "units_created": self.units_created,
            "similar_units": [{"unit": new, "existing": existing} for new, existing in self.similar_units],
        }

    def warnings(self) -> list[Message]:
        return [msg("warning.unit_similar", new=new, existing=existing) for new, existing in self.similar_units]
