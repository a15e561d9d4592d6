"""Hearing that another process changed the queue, without polling the queue.

A post queued ``--now`` from the CLI, approved in the console of another worker, rescheduled
or released by a reconnect lands in the database from a process that has no say over this
process's alarm. Waiting for the safety tick would make "now" mean up to 30 s. So each
engine watches the database for a cheap change signal and, only when one comes, asks the
queue whether something is due sooner than its alarm:

- PostgreSQL: ``LISTEN loa_queue``. A trigger on ``publication`` (revision
  ``0005_queue_signal``) sends ``NOTIFY loa_queue`` from every transaction that makes a row
  ``scheduled`` (or an ``unknown`` one due to be checked), whichever process or program
  wrote it; the notification arrives on commit, never for a transaction rolled back.
- SQLite: ``PRAGMA data_version`` on a connection of its own, read once a second. SQLite
  changes the number whenever another connection commits; reading it touches no table and
  costs microseconds, so an idle process stays idle.

The watcher only calls ``on_change``; what is due is still decided by the database.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from sqlalchemy import Engine

from scheduler.store import is_sqlite, sqlite_file

log = logging.getLogger("loa.engine")

CHANNEL = "loa_queue"
SQLITE_CHECK_SECONDS = 1.0
# How long a lost PostgreSQL connection waits before it is tried again; the safety tick
# still runs meanwhile, so publishing goes on at its slower pace.
RECONNECT_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


class QueueSignal:
    """Calls ``on_change`` (in its own thread) soon after another connection changed the queue."""

    def __init__(self, engine: Engine, on_change: Callable[[], None], *, every: float = SQLITE_CHECK_SECONDS) -> None:
        self.engine = engine
        self.on_change = on_change
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loa-queue-signal", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if is_sqlite(self.engine):
                    self._watch_sqlite()
                else:
                    self._watch_postgres()
                return
            except Exception as exc:  # the watcher must live on; the tick covers the gap
                wait = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                if failures == 0:
                    log.warning("the queue's change signal was lost (%s); listening again in %.0f s", exc, wait)
                failures += 1
                if self._stop.wait(wait):
                    return

    def _changed(self) -> None:
        try:
            self.on_change()
        except Exception:
            log.exception("a change of the queue could not be looked at; the next tick looks again")

    def _watch_sqlite(self) -> None:
        path = sqlite_file(self.engine.url.database)
        if path is None:  # an in-memory database has no other process to hear
            self._stop.wait()
            return
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=1.0)
        try:
            seen = self._data_version(connection)
            self._changed()  # whatever happened while nobody listened
            while not self._stop.wait(self.every):
                version = self._data_version(connection)
                if version != seen:
                    seen = version
                    self._changed()
        finally:
            connection.close()

    @staticmethod
    def _data_version(connection: sqlite3.Connection) -> int:
        return int(connection.execute("PRAGMA data_version").fetchone()[0])

    def _watch_postgres(self) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self._changed()  # whatever happened while nobody listened
            while not self._stop.is_set():
                # Woken by a notification, or once a second to see whether to stop.
                heard = False
                for _note in connection.notifies(timeout=self.every, stop_after=1):
                    heard = True
                if heard:
                    # A burst of commits is one look at the queue: drain what else is waiting.
                    for _note in connection.notifies(timeout=0.0):
                        pass
                    self._changed()
