"""Vietnamese number and date formats, and the date inputs reports accept.

Vietnamese writes ``.`` between thousands and ``,`` before decimals (1.076 lượt; 92,32%)
and dates as dd/mm/yyyy (docs/vietnam.md). The layout is Babel's (:mod:`scheduler.i18n.formats`,
which also speaks English); these names are the Vietnamese shorthands reports and exports use.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

from scheduler.bounds import check_day
from scheduler.errors import InputError
from scheduler.i18n import msg
from scheduler.i18n.formats import format_day, format_int, format_number, format_share

_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_VN_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_VN_MONTH = re.compile(r"^(\d{1,2})/(\d{4})$")


def vn_int(value: int | None, *, empty: str = "—") -> str:
    """1076 → ``1.076``; ``None`` (no figure) → ``empty``."""
    return format_int(value, "vi", empty=empty)


def vn_decimal(value: float | Fraction | Decimal | int, places: int = 2) -> str:
    """92.3214 → ``92,32`` (half-up, thousands with dots: 1234.5 → ``1.234,50``)."""
    return format_number(value, "vi", places)


def vn_percent(part: int, whole: int, places: int = 2) -> str:
    """Share of ``part`` in ``whole`` as ``92,32%``; ``—`` when ``whole`` is 0."""
    return format_share(part, whole, "vi", places)


def vn_date(value: date | datetime | None) -> str:
    """dd/mm/yyyy; ``—`` for no date."""
    return format_day(value, "vi")


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
            day = date(*parts)
        except ValueError:
            pass
        else:
            return check_day(day, field=field)
    raise InputError(msg("error.not_a_date", field=field, text=text), hint=msg("hint.date_format"), field=field)


def parse_month(text: str, *, field: str = "month") -> tuple[int, int]:
    """``YYYY-MM`` (also ``mm/yyyy``) → (year, month)."""
    raw = text.strip()
    match = _ISO_MONTH.match(raw)
    year_month = (int(match[1]), int(match[2])) if match else None
    if year_month is None and (match := _VN_MONTH.match(raw)):
        year_month = (int(match[2]), int(match[1]))
    if year_month is None or not 1 <= year_month[1] <= 12 or year_month[0] < 1:
        raise InputError(msg("error.not_a_month", field=field, text=text), hint=msg("hint.month_format"), field=field)
    check_day(date(year_month[0], year_month[1], 1), field=field)
    return year_month
