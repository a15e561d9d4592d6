"""Every bound on the work one request or one file may ask of Loa, in one place.

docs/bounds.md lists them with their defaults and where each applies. Two kinds:

- **Settings** an office may need to raise (a large roster, a long report) live in the
  ``[limits]`` section of ``config.toml`` (:class:`scheduler.config.LimitsSettings`); their
  defaults are the ``DEFAULT_*`` constants here.
- **Fixed bounds** that no office needs to move (the range of dates Loa speaks of, the size
  of a stored id, how deep a JSON body may nest) are constants here.

Past a bound Loa refuses with a message naming the bound and the fix (exit 2 in the CLI, a
form error in the console, 400 in the API); it never does the work anyway. Heavy rendering
(charts, spreadsheets, large reports) also takes a slot of :class:`HeavyWork`, so one
person's request waits or is refused rather than starving the scheduler and the tracked
links served by the same process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

from scheduler.errors import Busy, InputError
from scheduler.i18n import Number, msg

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

# -- fixed bounds ------------------------------------------------------------------------

# The largest id a database column holds (SQL BIGINT); a larger number names nothing.
MAX_ID = 2**63 - 1
# The days Loa speaks of: reports, calendars and times outside them are typing mistakes
# (and years 1 or 9999 overflow time-zone arithmetic).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
# How deep a JSON body may nest: the API's bodies are two levels deep.
MAX_JSON_DEPTH = 16

# -- defaults of [limits] ----------------------------------------------------------------

DEFAULT_REQUEST_BODY_KIB = 1024  # an API JSON body, a form without files (a 63.206-character post fits)
DEFAULT_UPLOAD_MIB = 5  # a console form with a file (staff list, posts sheet)
DEFAULT_PHOTO_MIB = 25  # a phone photo sent to the campaign kit's avatar frame
DEFAULT_SHEET_MAX_ROWS = 5_000  # data rows under the header of one imported CSV/XLSX
DEFAULT_SHEET_MAX_COLUMNS = 100
DEFAULT_SHEET_MAX_CELL_CHARS = 20_000  # one cell's text (a Facebook post is at most ~63.000)
DEFAULT_SHEET_MAX_UNCOMPRESSED_MIB = 32  # a CSV file, or all parts of an XLSX once unzipped
DEFAULT_SHEET_MAX_COMPRESSION_RATIO = 100  # unzipped ÷ zipped size of an XLSX part (real sheets: ~30)
DEFAULT_SHEET_MAX_ZIP_MEMBERS = 1_000  # parts of an XLSX (a workbook has a few dozen)
DEFAULT_REPORT_MAX_DAYS = 1_096  # three years
DEFAULT_REPORT_MAX_ROWS = 20_000
DEFAULT_CHART_MAX_BARS = 366  # a year by day
DEFAULT_HEAVY_RENDERS = 2  # concurrent charts, spreadsheets and reports per process
DEFAULT_HEAVY_WAIT_SECONDS = 5.0  # how long a heavy request waits for a slot
HEAVY_QUEUE_PER_SLOT = 4  # requests that may wait per slot; any more are refused at once


# -- checks ------------------------------------------------------------------------------


def parse_id(value: Any) -> int | None:
    """A stored id from text (a path, a form field), or None when it cannot name a row."""
    text = str(value).strip() if value is not None else ""
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


def in_range(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def clamp_day(day: date) -> date:
    """A day moved inside the range Loa speaks of (a calendar never pages past it)."""
    return min(max(day, FIRST_DAY), LAST_DAY)


def check_day(day: date, *, field: str) -> date:
    if not in_range(day):
        raise InputError(
            msg("error.day_out_of_range", day=f"{day.day:02d}/{day.month:02d}/{day.year:04d}"),
            hint=msg("hint.day_range", first=FIRST_DAY.strftime("%d/%m/%Y"), last=LAST_DAY.strftime("%d/%m/%Y")),
            field=field,
        )
    return day


def check_period_days(days: int, max_days: int) -> None:
    if days > max_days:
        raise InputError(
            msg("error.period_too_long", days=Number(days, 0), limit=Number(max_days, 0)),
            hint=msg("hint.shorter_period", limit=Number(max_days, 0)),
            field="from",
        )


def check_rows(rows: int, max_rows: int, *, field: str = "by") -> None:
    if rows > max_rows:
        raise InputError(
            msg("error.report_too_many_rows", rows=Number(rows, 0), limit=Number(max_rows, 0)),
            hint=msg("hint.fewer_rows"),
            field=field,
        )


def check_bars(bars: int, max_bars: int) -> None:
    if bars > max_bars:
        raise InputError(
            msg("error.chart_too_many_bars", bars=Number(bars, 0), limit=Number(max_bars, 0)),
            hint=msg("hint.fewer_bars", limit=Number(max_bars, 0)),
            field="from",
        )


def json_depth_ok(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests no deeper than ``limit`` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def lone_surrogate(value: Any) -> str | None:
    """The first text in parsed JSON (key or value) holding half a UTF-16 pair, if any.

    JSON allows ``"\\ud800"``; such text cannot be stored, shown or written as UTF-8.
    """
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


# -- heavy work ----------------------------------------------------------------------------


class HeavyWork:
    """A process-wide limit on concurrent heavy renders (charts, spreadsheets, big reports).

    At most ``slots`` run at once; a request finding them taken waits up to ``wait_seconds``
    (and only ``HEAVY_QUEUE_PER_SLOT`` per slot may wait), else it is refused with
    :class:`Busy` — "busy, try again" — so worker threads are never all tied up waiting.
    Used from worker threads (pages and API handlers run off the event loop).
    """

    def __init__(self, slots: int, wait_seconds: float, *, queue_per_slot: int | None = None) -> None:
        self.slots = slots
        self.wait_seconds = wait_seconds
        self.queue_per_slot = HEAVY_QUEUE_PER_SLOT if queue_per_slot is None else queue_per_slot
        self._free = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._waiting = 0
        self.running = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._free.acquire(blocking=False):
            with self._lock:
                if self._waiting >= self.slots * self.queue_per_slot:
                    raise self._busy()
                self._waiting += 1
            try:
                acquired = self._free.acquire(timeout=self.wait_seconds)
            finally:
                with self._lock:
                    self._waiting -= 1
            if not acquired:
                raise self._busy()
        with self._lock:
            self.running += 1
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1
            self._free.release()

    def _busy(self) -> Busy:
        return Busy(msg("error.busy"), hint=msg("hint.busy_retry"), retry_after=max(1, round(self.wait_seconds)))


# -- request bodies ------------------------------------------------------------------------


class BodyTooLarge(Exception):
    """A streamed body went past its bound (raised inside the app, answered by :class:`BodyLimit`)."""


class BodyLimit:
    """ASGI middleware: no request body past ``limits.request_body_kib`` (``upload_mib`` for a
    form with files), refused before it is read when Content-Length says so, and cut off as
    it streams otherwise. Paths under ``own_prefixes`` bound their bodies themselves (the API
    answers in its own JSON shape).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        body_bytes: int,
        upload_bytes: int,
        own_prefixes: tuple[str, ...] = (),
        photo_bytes: int | None = None,
        photo_suffixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.body_bytes = body_bytes
        self.upload_bytes = upload_bytes
        self.own_prefixes = own_prefixes
        # A phone photo (the campaign kit's avatar) is bigger than a spreadsheet: its own bound.
        self.photo_bytes = photo_bytes
        self.photo_suffixes = photo_suffixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or any(path == p or path.startswith(p + "/") for p in self.own_prefixes):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        limit = self.upload_bytes if multipart else self.body_bytes
        if multipart and self.photo_bytes is not None and path.endswith(self.photo_suffixes):
            limit = self.photo_bytes
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        received = 0
        started = False

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded, watched)
        except BodyTooLarge:
            if not started:
                await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    from scheduler.i18n import translate

    text = translate("vi", "error.body_too_large", kib=Number(limit / 1024, 0)).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(text)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text})
