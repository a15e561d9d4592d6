"""Logging set-up: one line per event, secrets masked whatever logged them."""

from __future__ import annotations

import logging
import os
import re
import sys

from scheduler.terminal import printable

# Tokens travel as access_token=…, "access_token": "…" or a Bearer header; mask all three.
_SECRET_PATTERNS = [
    re.compile(r"(access_token[\"']?\s*[:=]\s*[\"']?)([^\s&\"',]+)", re.IGNORECASE),
    re.compile(r"(refresh_token[\"']?\s*[:=]\s*[\"']?)([^\s&\"',]+)", re.IGNORECASE),
    re.compile(r"(secret_key[\"']?\s*[:=]\s*[\"']?)([^\s&\"',]+)", re.IGNORECASE),
    re.compile(r"(Bearer\s+)([A-Za-z0-9._~+/=-]+)"),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _CurrentStderr(logging.Handler):
    """Writes to whatever sys.stderr is now (it may be replaced after logging is set up)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(printable(self.format(record)) + "\n")
        except (OSError, ValueError):
            self.handleError(record)


def configure(level: int = logging.INFO) -> None:
    handler = _CurrentStderr()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if os.environ.get("LOA_DEBUG") else level)
    # urllib3 logs full URLs, which carry Facebook tokens as a query parameter.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
