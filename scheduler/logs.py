"""Logging set-up: one line per event, secrets masked whatever logged them."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from contextvars import ContextVar
from datetime import UTC, datetime

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


# The id of the web request being answered, for the log lines written while answering it
# (set by the web app's RequestIds middleware; asyncio tasks and worker threads inherit it).
REQUEST_ID: ContextVar[str | None] = ContextVar("loa_request_id", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for a log collector: time (UTC), level, logger, message,
    the request id when the line was written for a web request, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class _CurrentStderr(logging.Handler):
    """Writes to whatever sys.stderr is now (it may be replaced after logging is set up)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(printable(self.format(record)) + "\n")
        except (OSError, ValueError):
            self.handleError(record)


def configure(level: int = logging.INFO, *, json_lines: bool = False) -> None:
    handler = _CurrentStderr()
    formatter = JsonFormatter() if json_lines else RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if os.environ.get("LOA_DEBUG") else level)
    # urllib3 logs full URLs, which carry Facebook tokens as a query parameter.
    logging.getLogger("urllib3").setLevel(logging.WARNING)


class Throttle:
    """At most one line per key every ``interval`` seconds; the next one says how many were left out.

    For failures that repeat with every request or click while they last (a locked or full
    database): the first line and a count tell as much as thousands of copies, and a flood of
    warnings would bury everything else in the log.
    """

    def __init__(self, logger: logging.Logger, *, interval: float = 30.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}
        self._guard = threading.Lock()

    def log(self, level: int, key: str, message: str, *args: object) -> bool:
        """Log unless ``key`` was logged less than ``interval`` ago; True when the line was written."""
        now = time.monotonic()
        with self._guard:
            last = self._last.get(key)
            if last is not None and now - last[0] < self.interval:
                self._last[key] = (last[0], last[1] + 1)
                return False
            self._last[key] = (now, 0)
        left_out = last[1] if last is not None else 0
        if left_out:
            message += " (%d more like this in the last %.0f s not logged)"
            args = (*args, left_out, now - last[0] if last is not None else self.interval)
        self.logger.log(level, message, *args)
        return True
