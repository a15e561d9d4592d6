"""The console's words: the catalogues of :mod:`scheduler.i18n`, in the page's language.

Templates call ``_("key", name=value)``. Errors that carry a catalogue id are rendered from
the catalogue; :func:`translate_error` still knows the Vietnamese wording of the services'
older English messages by their shape, until every call site raises an id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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

# The services' English messages (the CLI's) and their Vietnamese wording.
_VI_ERRORS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^the time (.+) is in the past$"), lambda m: f"Thời điểm {m[1]} đã qua: hãy chọn giờ sắp tới."),
    (
        re.compile(r"^the time (.+) is more than (\d+) days ahead$"),
        lambda m: f"Thời điểm {m[1]} xa quá {m[2]} ngày: kiểm tra lại năm.",
    ),
    (
        re.compile(r"^cannot read the time (.+)$"),
        lambda m: f"Không đọc được thời gian {m[1]}: viết ngày dd/mm/yyyy và giờ HH:MM.",
    ),
    (re.compile(r"^no channel given$"), lambda m: "Hãy chọn ít nhất một kênh."),
    (re.compile(r"^unknown campaign (.+)$"), lambda m: f"Không có chiến dịch {m[1]}."),
    (re.compile(r"^the link (.+) is not an http\(s\) URL$"), lambda m: f"Liên kết {m[1]} không phải địa chỉ http(s)."),
    (
        re.compile(r"^post (\d+) was written by (.+), who cannot also approve it$"),
        lambda m: f"Bài #{m[1]} do {m[2]} soạn; người soạn không thể tự duyệt. Cần người duyệt khác.",
    ),
    (re.compile(r"^post (\d+) has nothing waiting for approval$"), lambda m: f"Bài #{m[1]} không có gì chờ duyệt."),
    (re.compile(r"^post (\d+) has nothing left to cancel.*$"), lambda m: f"Bài #{m[1]} không còn gì để huỷ."),
    (re.compile(r"^post (\d+) has nothing left to reschedule$"), lambda m: f"Bài #{m[1]} không còn gì để dời lịch."),
    (re.compile(r"^post (\d+) is not a draft$"), lambda m: f"Bài #{m[1]} không phải bản nháp."),
    (re.compile(r"^say why the post is sent back$"), lambda m: "Hãy ghi lý do trả lại bài."),
    (
        re.compile(r"^publication (\d+) is (\w+), not failed, missed or blocked$"),
        lambda m: f"Lượt đăng #{m[1]} đang «{m[2]}», không phải lỗi/quá hạn/bị giữ nên không đăng lại được.",
    ),
    (
        re.compile(r"^publication (\d+) is (\w+), not unknown$"),
        lambda m: f"Lượt đăng #{m[1]} đang «{m[2]}», không cần xác nhận.",
    ),
    (re.compile(r"^the permalink must be an https:// address$"), lambda m: "Địa chỉ bài phải bắt đầu bằng https://."),
]


def translate_error(exc: LoaError, lang: str) -> str:
    """The message to show next to a field: from the catalogue, else by its shape, else as written."""
    with_hint = isinstance(exc, InputError)
    # A wording made for a form field (``<id>.web``) replaces the CLI's, whose hint names options.
    web_id = exc.msgid + ".web"
    if known(web_id):
        return translate(lang, web_id, **exc.params)
    if known(exc.msgid):
        return render_error(exc, lang, separator=" — ", hint=with_hint)
    if lang == "vi":
        for pattern, wording in _VI_ERRORS:
            match = pattern.match(exc.msgid)
            if match:
                return wording(match)
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
