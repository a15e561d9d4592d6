"""Numbers and dates in a reader's language, through Babel's locale data.

Vietnamese writes 1.076 and 92,32%; English 1,076 and 92.32%. Dates are dd/mm/yyyy in both
(the offices' own usage, docs/vietnam.md). Rounding is half-up on exact decimals: a report's
92,325% must read 92,33% whatever binary floating point makes of it, and Babel itself rounds
half-even, so values are quantized here before Babel lays them out.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from scheduler.i18n import DEFAULT_LANG, LANGS

DATE_PATTERN = "dd/MM/yyyy"
DATETIME_PATTERN = "dd/MM/yyyy HH:mm"
EMPTY = "—"


def _locale(lang: str) -> str:
    return lang if lang in LANGS else DEFAULT_LANG


def exact(value: float | Fraction | Decimal | int) -> Decimal:
    """The decimal a person means: a float through its shortest repr (92.325, not 92.32499…)."""
    if isinstance(value, Fraction):
        return Decimal(value.numerator) / Decimal(value.denominator)
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def format_int(value: int | None, lang: str, *, empty: str = EMPTY) -> str:
    from babel.numbers import format_decimal

    if value is None:
        return empty
    return format_decimal(int(value), format="#,##0", locale=_locale(lang))


def format_number(value: float | Fraction | Decimal | int, lang: str, places: int = 2) -> str:
    """92.3214 → ``92,32`` in Vietnamese (half-up; 1234.5 → ``1.234,50``)."""
    from babel.numbers import format_decimal

    rounded = exact(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)  # -0.001 reads 0,00, not -0,00
    pattern = "#,##0" + ("." + "0" * places if places > 0 else "")
    return format_decimal(rounded, format=pattern, locale=_locale(lang), decimal_quantization=False)


def format_share(part: int, whole: int, lang: str, places: int = 2) -> str:
    """``part`` of ``whole`` as a percentage, ``92,32%``; ``—`` when ``whole`` is 0."""
    from babel.numbers import format_percent

    if whole == 0:
        return EMPTY
    rounded = exact(Fraction(part * 100, whole)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    pattern = "#,##0" + ("." + "0" * places if places > 0 else "") + "%"
    return format_percent(rounded / 100, format=pattern, locale=_locale(lang), decimal_quantization=False)


def format_day(value: date | datetime | None, lang: str = DEFAULT_LANG) -> str:
    """dd/mm/yyyy; ``—`` for no date."""
    from babel.dates import format_date

    if value is None:
        return EMPTY
    day = value.date() if isinstance(value, datetime) else value
    return format_date(day, DATE_PATTERN, locale=_locale(lang))


def format_moment(value: datetime, lang: str = DEFAULT_LANG, pattern: str = DATETIME_PATTERN) -> str:
    """A moment already in the reader's time zone, dd/mm/yyyy HH:MM by default (a Babel/CLDR pattern)."""
    from babel.dates import format_datetime

    return format_datetime(value, pattern, tzinfo=value.tzinfo, locale=_locale(lang))
