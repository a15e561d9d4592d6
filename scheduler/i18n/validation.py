"""pydantic's refusals in the reader's language.

pydantic words its errors in English; each carries a stable ``type`` (``missing``,
``int_parsing``, ``less_than_equal``…) and the values of its rule in ``ctx``. The common types
have a catalogue wording (``validation.<type>``) filled from ``ctx``; a type without one keeps
pydantic's own text, and a rule written in Loa that raised a :class:`Message` keeps that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scheduler.i18n import N_, Message, Number, msg

# type → its catalogue id; the ids take the ctx names pydantic gives that type.
WORDINGS = {
    "missing": N_("validation.missing"),
    "extra_forbidden": N_("validation.extra_forbidden"),
    "string_type": N_("validation.string_type"),
    "int_type": N_("validation.int_type"),
    "int_parsing": N_("validation.int_parsing"),
    "int_from_float": N_("validation.int_from_float"),
    "float_type": N_("validation.float_type"),
    "float_parsing": N_("validation.float_parsing"),
    "bool_type": N_("validation.bool_type"),
    "bool_parsing": N_("validation.bool_parsing"),
    "list_type": N_("validation.list_type"),
    "dict_type": N_("validation.dict_type"),
    "tuple_type": N_("validation.tuple_type"),
    "literal_error": N_("validation.literal_error"),
    "enum": N_("validation.enum"),
    "greater_than": N_("validation.greater_than"),
    "greater_than_equal": N_("validation.greater_than_equal"),
    "less_than": N_("validation.less_than"),
    "less_than_equal": N_("validation.less_than_equal"),
    "string_too_short": N_("validation.string_too_short"),
    "string_too_long": N_("validation.string_too_long"),
    "too_short": N_("validation.too_short"),
    "too_long": N_("validation.too_long"),
    "datetime_parsing": N_("validation.datetime_parsing"),
    "datetime_from_date_parsing": N_("validation.datetime_parsing"),
    "date_parsing": N_("validation.date_parsing"),
    "date_from_datetime_parsing": N_("validation.date_parsing"),
}


def validation_problem(error: Mapping[str, Any]) -> Message | str:
    """What is wrong with one value, without naming where it is (the caller names the key)."""
    ctx = dict(error.get("ctx") or {})
    raised = ctx.get("error")
    if isinstance(raised, ValueError) and raised.args and isinstance(raised.args[0], Message):
        return raised.args[0]
    wording = WORDINGS.get(str(error.get("type")))
    if wording is None:
        return str(error.get("msg", "")).removeprefix("Value error, ")
    return msg(wording, **{k: _value(v) for k, v in ctx.items() if isinstance(v, str | int | float)})


def _value(value: str | int | float) -> object:
    """A bound as a person writes it: 1 rather than 1.0, 0,5 in Vietnamese."""
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        places = min(4, len(repr(value).partition(".")[2]))
        return Number(value, places)
    return value
