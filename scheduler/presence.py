"""Which Loa processes work on a SQLite database now: a lock file beside it says so.

Every process that publishes (`loa run`, `loa worker`, `loa publish-due`) holds a shared
``flock`` on ``<database>.loa-lock`` while it runs; the kernel drops it when the process
ends, however it ends (a SIGKILL included). `loa restore` takes the lock exclusively, without waiting: it
gets it only when no such process exists, and while it holds it none can start. A separate
file, because closing a descriptor of the database file itself would drop SQLite's own
locks held by the same process.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from scheduler.errors import StoreError
from scheduler.i18n import msg
from scheduler.store import is_sqlite, sqlite_file


def lock_path(engine: Engine) -> Path | None:
    database = sqlite_file(engine.url.database) if is_sqlite(engine) else None
    return None if database is None else database.with_name(database.name + ".loa-lock")


@contextmanager
def working(engine: Engine) -> Iterator[None]:
    """Mark this process as one that works on the database while the block runs."""
    path = lock_path(engine)
    if path is None:
        yield
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(msg("error.restore_in_progress"), hint=msg("hint.wait_for_restore")) from None
        yield
    finally:
        os.close(descriptor)  # releases the lock


@contextmanager
def alone(engine: Engine) -> Iterator[bool]:
    """Hold the database for oneself while the block runs; yields False when a Loa process is there."""
    path = lock_path(engine)
    if path is None:
        yield True
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)  # releases the lock
