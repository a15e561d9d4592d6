"""The console's words: the catalogues of :mod:`scheduler.i18n`, in the page's language.

Templates call ``_("key", name=value)``; :func:`translate_error` renders an error for a form,
preferring the wording made for the console (``<id>.web``) over the CLI's.
"""

from __future__ import annotations

from typing import Any

from scheduler.errors import InputError, LoaError, render_error
from scheduler.i18n import LANGS, known, translate

__all__ = ["LANGS", "STATUS_CLASS", "Translator", "translate_error"]

# Status → colour family of its badge (CSS classes badge-<family>).
STATUS_CLASS = {
    "draft": "neutral",
    "pending_approval": "wait",
    "scheduled": "info",
    "publishing": "info",
    "published": "ok",
    "unknown": "warn",
    "failed": "bad",
    "blocked": "bad",
    "missed": "warn",
    "cancelled": "neutral",
}

def translate_error(exc: LoaError, lang: str) -> str:
    """The message to show next to a field: its console wording (``<id>.web``) if it has one."""
    with_hint = isinstance(exc, InputError)
    # A wording made for a form field (``<id>.web``) replaces the CLI's, whose hint names options.
    web_id = exc.msgid + ".web"
    if known(web_id):
        return translate(lang, web_id, **exc.params)
    return render_error(exc, lang, separator=" — ", hint=with_hint)


class Translator:
    """``t("key", name=value)`` in one language; unknown keys show as themselves (tests catch them)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else "vi"

    def __call__(self, key: str, **values: Any) -> str:
        return translate(self.lang, key, **values)

    def __contains__(self, key: str) -> bool:
        return known(key)

    def notice(self, key: str | None) -> str | None:
        """The message for ``?done=KEY``; only catalogue keys, never text from the URL."""
        if not key or not known(f"done.{key}"):
            return None
        return self(f"done.{key}")
