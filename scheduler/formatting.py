"""Vietnamese number and date formats, and the date inputs reports accept.

Vietnamese writes ``.`` between thousands and ``,`` before decimals (1.076 lượt; 92,32%)
and dates as dd/mm/yyyy (docs/vietnam.md). Rounding is half-up on exact decimals: a report's
92,325% must read 92,33% whatever binary floating point makes of it.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from scheduler.errors import InputError

_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_VN_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_VN_MONTH = re.compile(r"^(\d{1,2})/(\d{4})$")


def vn_int(value: int | None, *, empty: str = "—") -> str:
    """1076 → ``1.076``; ``None`` (no figure) → ``empty``."""
    if value is None:
        return empty
    sign = "-" if value < 0 else ""
    return sign + f"{abs(int(value)):,}".replace(",", ".")


def vn_decimal(value: float | Fraction | Decimal | int, places: int = 2) -> str:
    """92.3214 → ``92,32`` (half-up, thousands with dots: 1234.5 → ``1.234,50``)."""
    if isinstance(value, Fraction):
        exact = Decimal(value.numerator) / Decimal(value.denominator)
    elif isinstance(value, float):
        # Through its shortest repr: Decimal(92.325) would be 92.32499999… and round down.
        exact = Decimal(repr(value))
    else:
        exact = Decimal(value)
    quantum = Decimal(1).scaleb(-places)
    rounded = exact.quantize(quantum, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    whole, _, fraction = f"{abs(rounded):f}".partition(".")
    text = vn_int(int(whole))
    return sign + (f"{text},{fraction}" if places > 0 else text)


def vn_percent(part: int, whole: int, places: int = 2) -> str:
    """Share of ``part`` in ``whole`` as ``92,32%``; ``—`` when ``whole`` is 0."""
    if whole == 0:
        return "—"
    return vn_decimal(Fraction(part * 100, whole), places) + "%"


def vn_date(value: date | datetime | None) -> str:
    """dd/mm/yyyy; ``—`` for no date."""
    return value.strftime("%d/%m/%Y") if value is not None else "—"


def vn_month(year: int, month: int) -> str:
    """``5/2026``, the way the seed report names a month (tháng 5/2024)."""
    return f"{month}/{year}"


def parse_date(text: str, *, field: str = "date") -> date:
    """``YYYY-MM-DD`` or ``dd/mm/yyyy``; anything else is bad input that names the field."""
    raw = text.strip()
    match = _ISO_DATE.match(raw)
    parts: tuple[int, int, int] | None = None
    if match:
        parts = (int(match[1]), int(match[2]), int(match[3]))
    elif match := _VN_DATE.match(raw):
        parts = (int(match[3]), int(match[2]), int(match[1]))
    if parts is not None:
        try:
            return date(*parts)
        except ValueError:
            pass
    raise InputError(
        f"--{field} {text!r} is not a date",
        hint="write it as YYYY-MM-DD (2026-05-31) or dd/mm/yyyy (31/05/2026)",
        field=field,
    )


def parse_month(text: str, *, field: str = "month") -> tuple[int, int]:
    """``YYYY-MM`` (also ``mm/yyyy``) → (year, month)."""
    raw = text.strip()
    match = _ISO_MONTH.match(raw)
    year_month = (int(match[1]), int(match[2])) if match else None
    if year_month is None and (match := _VN_MONTH.match(raw)):
        year_month = (int(match[2]), int(match[1]))
    if year_month is None or not 1 <= year_month[1] <= 12 or year_month[0] < 1:
        raise InputError(
            f"--{field} {text!r} is not a month",
            hint="write it as YYYY-MM, e.g. --month 2026-05",
            field=field,
        )
    return year_month
