"""Loa's one language mechanism: gettext catalogues read with Babel, symbolic message ids.

Every sentence a person reads has an id (``error.post_not_draft``, ``status.scheduled``,
``nav.queue``) with its wording in ``locales/<lang>/LC_MESSAGES/loa.po``, Vietnamese first and
English complete. Wordings are ``str.format`` templates with named placeholders
(``Bài #{post} không phải bản nháp.``). Services build a :class:`Message` (an id and its
parameters) and the edges — CLI, console, API, exports — render it in the reader's language.

A text that is not an id in the catalogue is shown as it is: messages written before the
catalogue existed keep working until their call sites are converted. The catalogues are read
on first use, never at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

LANGS = ("vi", "en")
DEFAULT_LANG = "vi"
DOMAIN = "loa"
LOCALES = Path(__file__).parent / "locales"


@dataclass(frozen=True)
class Message:
    """A message id and the values of its placeholders, rendered only when a reader is known."""

    id: str
    params: Mapping[str, object] = field(default_factory=dict)

    def render(self, lang: str) -> str:
        return translate(lang, self.id, **self.params)

    def __str__(self) -> str:
        return self.render(process_lang())


@dataclass(frozen=True)
class Number:
    """A figure with ``places`` decimals, laid out for the reader (0,04 MB in Vietnamese, 0.04 in English)."""

    value: float
    places: int = 2

    def render(self, lang: str) -> str:
        from scheduler.i18n.formats import format_number

        return format_number(self.value, lang, self.places)


def msg(msgid: str, **params: object) -> Message:
    """``msg("error.post_not_draft", post=3)``: the form every service raises and returns."""
    return Message(msgid, params)


def N_(msgid: str) -> str:
    """Mark an id that is looked up later under a computed name, so extraction still finds it."""
    return msgid


def po_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LANGS))
def catalogue(lang: str) -> Mapping[str, str]:
    """The translated entries of one language: id → wording (empty and fuzzy entries left out)."""
    from babel.messages.pofile import read_po

    path = po_path(lang)
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        parsed = read_po(handle, locale=lang, domain=DOMAIN)
    entries: dict[str, str] = {}
    for entry in parsed:
        usable = isinstance(entry.id, str) and isinstance(entry.string, str) and not entry.fuzzy
        if usable and entry.id and entry.string:
            entries[str(entry.id)] = str(entry.string)
    return entries


def known(msgid: str) -> bool:
    """Whether ``msgid`` is a catalogue id (rather than a literal text of the transition)."""
    return msgid in catalogue(DEFAULT_LANG) or msgid in catalogue("en")


class _Keep(dict[str, object]):
    """Placeholders without a value stay visible as ``{name}`` rather than failing the render."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def translate(lang: str, msgid: str, **params: object) -> str:
    """The wording of ``msgid`` in ``lang`` with its placeholders filled.

    A parameter that is itself a :class:`Message` is rendered in the same language (a status
    inside an error), a list of them joined by ``; ``. Missing in ``lang``, the other language's
    wording is used; unknown everywhere, ``msgid`` is literal text and is returned as it is.
    """
    lang = lang if lang in LANGS else DEFAULT_LANG
    text = catalogue(lang).get(msgid)
    if text is None:
        for other in LANGS:
            text = catalogue(other).get(msgid)
            if text is not None:
                break
    if text is None:
        return msgid
    # Catalogue wordings are always format templates (a literal brace is doubled), with or
    # without parameters, so one wording never needs two spellings.
    values = _Keep({k: _render_value(v, lang) for k, v in params.items()})
    return text.format_map(values)


def _render_value(value: object, lang: str) -> object:
    """A Message in the reader's language; a list of them (several problems) joined by ``; ``."""
    if isinstance(value, Message | Number):
        return value.render(lang)
    if isinstance(value, list | tuple):
        return "; ".join(str(_render_value(item, lang)) for item in value)
    return value


def gettext(lang: str, msgid: str) -> str:
    return translate(lang, msgid)


def normalize_lang(value: str | None) -> str | None:
    """``en_US.UTF-8`` → ``en``, ``vi`` → ``vi``; a language Loa does not speak → None."""
    if not value:
        return None
    code = value.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return code if code in LANGS else None


def process_lang(environ: Mapping[str, str] | None = None) -> str:
    """The language of a process (CLI, logs): ``LOA_LANG``, else ``LANG``, else Vietnamese."""
    env = os.environ if environ is None else environ
    for name in ("LOA_LANG", "LANG"):
        lang = normalize_lang(env.get(name))
        if lang is not None:
            return lang
    return DEFAULT_LANG


def status_label(lang: str, status: str) -> str:
    """A post's or publication's status as a person reads it (``scheduled`` → ``Đã lên lịch``)."""
    msgid = f"status.{status}"
    text = translate(lang, msgid)
    return status if text == msgid else text


def process_text(msgid: str, **params: object) -> str:
    """``msgid`` in the process language: what the CLI prints and logs say."""
    return translate(process_lang(), msgid, **params)


def dispatch_summary(lang: str, counts: Mapping[str, int]) -> str:
    """One dispatch pass in words (``Kết quả: 2 đã đăng, 1 lỗi``); the zero counts are left out."""
    from scheduler.i18n.formats import format_int

    parts = [translate(lang, f"dispatch.{name}", n=format_int(n, lang)) for name, n in counts.items() if n]
    if not parts:
        return translate(lang, "dispatch.nothing_due")
    return translate(lang, "dispatch.result", items=", ".join(parts))


# -- stored messages -------------------------------------------------------------------------
# A reason kept in the database (a publication's last error, a channel's, a metrics pause) is
# stored as a JSON object {"msg": id, "params": {…}, "hint": {…}} and worded when it is read,
# in the reader's language. Rows written before this convention hold plain text, shown as is.


def stored(message: Message, hint: Message | None = None) -> str:
    """The text to keep in a column for ``message`` (and its fix): ids and parameters, no sentences."""
    import json

    record: dict[str, object] = {"msg": message.id, "params": _encode(dict(message.params))}
    if hint is not None:
        record["hint"] = {"msg": hint.id, "params": _encode(dict(hint.params))}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def render_stored(lang: str, value: str | None, *, separator: str = "\n  → ") -> str | None:
    """A stored reason in ``lang``; plain text (older rows, a platform's own words) as it is."""
    message, hint = parse_stored(value)
    if message is None:
        return value
    text = message.render(lang)
    return text + separator + hint.render(lang) if hint is not None else text


def parse_stored(value: str | None) -> tuple[Message | None, Message | None]:
    """The message and hint of a stored reason, or (None, None) when it is plain text."""
    import json

    if not value or not value.startswith('{"msg":'):
        return None, None
    try:
        record = json.loads(value)
    except ValueError:
        return None, None
    if not isinstance(record, dict) or not isinstance(record.get("msg"), str):
        return None, None
    hint = record.get("hint")
    decoded_hint = _decode(hint) if isinstance(hint, dict) else None
    message = _decode(record)
    assert isinstance(message, Message)  # a dict with a "msg" id decodes to one
    return message, decoded_hint if isinstance(decoded_hint, Message) else None


def _encode(value: object) -> object:
    if isinstance(value, Message):
        return {"msg": value.id, "params": _encode(dict(value.params))}
    if isinstance(value, Number):
        return {"number": value.value, "places": value.places}
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _decode(value: object) -> object:
    if isinstance(value, dict):
        if isinstance(value.get("msg"), str):
            params = value.get("params")
            decoded = {str(k): _decode(v) for k, v in params.items()} if isinstance(params, dict) else {}
            return Message(str(value["msg"]), decoded)
        if "number" in value:
            return Number(float(value["number"]), int(value.get("places", 2)))
        return {str(k): _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value
