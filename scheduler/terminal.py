"""What reaches a terminal: text from posts, staff and files, with its control characters made visible.

A post variable or a staff name can hold ESC, BEL or a C1 CSI; printed raw they would clear
the screen, retitle the window or forge output. Every `loa` print path goes through
:func:`printable` (the consoles below, plain writes and the log handler): tab and newline
pass, every other control character is shown as its ``\\xNN`` escape.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.text import Text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Inside JSON strings: the C1 range, which json.dumps leaves raw when ensure_ascii is off.
_JSON_CONTROL = re.compile(r"[\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character except tab and newline as a visible ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def printable_json(document: str) -> str:
    """A JSON text with C1 characters written as ``\\u00NN`` escapes: the same data, safe to print."""
    return _JSON_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


class SafeConsole(Console):
    """A rich console whose every string (printed, or a table cell) passes through :func:`printable`."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs)
