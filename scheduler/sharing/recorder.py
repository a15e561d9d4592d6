"""The click recorder: the single writer thread that stores clicks in group commits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from scheduler.errors import StoreError
from scheduler.i18n import msg
from scheduler.logs import Throttle
from scheduler.operations.metrics import operations_metrics
from scheduler.sharing.counting import ClickEvent, ClickReason, store_clicks

log = logging.getLogger("loa.sharing")
# Store failures repeat with every batch while they last: logged once per half minute, counted.
_store_trouble = Throttle(log)


class RecorderOverloaded(StoreError):
    """More clicks are waiting for the database than the recorder will hold."""


# How often the helper thread checkpoints while clicks are being written. Each checkpoint's
# fsync slows the commit running beside it, so not after every commit; but a WAL left to grow
# for many seconds makes every read of it slower (10 s cost ~15 % of the redirect rate).
CHECKPOINT_EVERY = 1.0


Outcome = ClickReason | BaseException


Settle = Callable[[Outcome], None]


# A waiting request: an asyncio future and its loop, or (threads, tests) a plain callback.
Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[ClickReason]"] | Settle


class ClickRecorder:
    """The single writer of clicks. Requests hand it an event and wait; a thread takes every
    event waiting, stores them in one transaction (one fsync under ``synchronous=FULL``) and
    then wakes their requests. So a click is durable before its 302 is sent, and a crowd of
    visitors shares one commit instead of queueing for one each."""

    def __init__(
        self,
        engine: Engine,
        *,
        dedupe: timedelta,
        per_address: int = 0,
        max_batch: int = 1000,
        max_pending: int = 50_000,
        retry_for: float = 30.0,
    ) -> None:
        self.engine = engine
        self.dedupe = dedupe
        self.per_address = per_address
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.retry_for = retry_for
        self._queue: queue.SimpleQueue[tuple[ClickEvent, Waiter] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._committed = threading.Event()
        self._stopping = False
        self.batches = 0
        self.stored = 0
        self.checkpoints = 0

    def _submit(self, event: ClickEvent, waiter: Waiter) -> None:
        if self._queue.qsize() >= self.max_pending:
            raise RecorderOverloaded(msg("error.clicks_waiting", count=self.max_pending))
        self._ensure_thread()
        self._queue.put((event, waiter))

    async def record(self, event: ClickEvent) -> ClickReason:
        """Store one click; returns once it is committed (raises if it could not be)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ClickReason] = loop.create_future()
        self._submit(event, (loop, future))
        return await future

    def record_sync(self, event: ClickEvent, timeout: float = 60.0) -> ClickReason:
        done = threading.Event()
        box: list[Outcome] = []

        def settle(result: Outcome) -> None:
            box.append(result)
            done.set()

        self._submit(event, settle)
        if not done.wait(timeout):
            raise StoreError(msg("error.click_not_stored_in_time"))
        result = box[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        """Store what is waiting, then stop the writer."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=self.retry_for + 5)
        self._stopping = True
        self._committed.set()

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="loa-click-writer", daemon=True)
                self._thread.start()
                if self.engine.dialect.name == "sqlite":
                    threading.Thread(target=self._checkpoints, name="loa-click-checkpoint", daemon=True).start()

    def _writer_connection(self) -> Connection:
        """The writer's own connection, kept open: no pool checkout per batch, and (SQLite) no
        WAL checkpoint inside a click's commit — copying the log back into the database and
        fsyncing it took up to ~100 ms, which every waiting visitor paid. The helper thread
        below checkpoints instead, beside the writer (PASSIVE never blocks it)."""
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._connection = self.engine.connect()
            if self.engine.dialect.name == "sqlite":
                # On the driver's connection: through SQLAlchemy it would open a write transaction.
                driver = self._connection.connection.driver_connection
                assert driver is not None
                driver.execute("PRAGMA wal_autocheckpoint=0")
        return self._connection

    def _checkpoints(self) -> None:
        while not self._stopping:
            if not self._committed.wait(timeout=5.0):
                continue
            time.sleep(CHECKPOINT_EVERY)  # one checkpoint for all the commits of that second
            self._committed.clear()
            try:
                raw = self.engine.raw_connection()
                try:
                    driver = raw.driver_connection
                    assert driver is not None
                    driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    raw.close()
                self.checkpoints += 1
            except OperationalError as exc:  # busy or disk trouble: the next round tries again
                _store_trouble.log(logging.WARNING, "checkpoint", "WAL checkpoint failed: %s", exc)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            stop = item is None
            batch: list[tuple[ClickEvent, Waiter]] = [] if item is None else [item]
            # Everything that arrived while the previous commit was being fsynced rides this one.
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    continue
                batch.append(more)
            if batch:
                outcomes = self._commit([event for event, _ in batch])
                self._settle(batch, outcomes)
                # After the visitors are woken: the operators' figures never delay a redirect.
                stored = [o.value for o in outcomes if isinstance(o, ClickReason)]
                if stored:
                    operations_metrics().clicks_stored(stored)
            if stop:
                self._drop_connection()
                return

    def _commit(self, events: list[ClickEvent]) -> Sequence[Outcome]:
        deadline = time.monotonic() + self.retry_for
        delay = 0.05
        while True:
            try:
                reasons = store_clicks(
                    self._writer_connection(), events, dedupe=self.dedupe, per_address=self.per_address
                )
            except OperationalError as exc:
                self._drop_connection()
                # A long recount or backup can hold the write lock beyond busy_timeout: wait it
                # out rather than lose the clicks; the requests simply wait a little longer.
                if time.monotonic() + delay > deadline:
                    _store_trouble.log(logging.ERROR, "store", "could not store %d clicks: %s", len(events), exc)
                    return [StoreError(msg("error.click_not_stored", reason=str(exc.orig)))] * len(events)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            except Exception as exc:  # a bug must not kill the writer and strand every request
                log.exception("could not store %d clicks", len(events))
                self._drop_connection()
                return [exc] * len(events)
            self.batches += 1
            self.stored += len(events)
            self._committed.set()
            return reasons

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # it is being thrown away because it is broken
                connection.close()

    @staticmethod
    def _settle(batch: list[tuple[ClickEvent, Waiter]], outcomes: Sequence[Outcome]) -> None:
        # One wake-up per event loop for the whole batch, not one per request.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[ClickReason], Outcome]]] = {}
        for (_, waiter), outcome in zip(batch, outcomes, strict=True):
            if isinstance(waiter, tuple):
                by_loop.setdefault(waiter[0], []).append((waiter[1], outcome))
            else:
                waiter(outcome)
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_settle_futures, items)


def _settle_futures(items: list[tuple[asyncio.Future[ClickReason], Outcome]]) -> None:
    for future, outcome in items:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
