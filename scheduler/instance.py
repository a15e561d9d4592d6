"""One `loa run` per SQLite file: a lock file beside the database, held while the process lives.

Two `loa run` on one file would both serve the console, both run housekeeping and both keep
the click recorder's batches; SQLite would keep the rows whole, but not the guarantees Loa
gives about them. The lock is an OS lock (``flock``) on ``posts.db.lock``: it is released by
the kernel when the process ends, however it ends, so a crash never leaves a stale lock.
PostgreSQL databases are shared by design (workers on several hosts), so they take none.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy import Engine

from scheduler.errors import InputError
from scheduler.i18n import msg
from scheduler.store import sqlite_file


class InstanceLock:
    """The held lock; keep a reference for as long as the process runs."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor = descriptor

    def release(self) -> None:
        if self._descriptor >= 0:
            os.close(self._descriptor)  # closing drops the flock
            self._descriptor = -1


def hold_database(engine: Engine) -> InstanceLock | None:
    """Take the lock beside a SQLite file, or refuse naming the process that holds it."""
    database = sqlite_file(engine.url.database) if engine.dialect.name == "sqlite" else None
    if database is None:
        return None
    path = database.with_name(database.name + ".lock")
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        # A folder Loa may not write to: the write check that follows names the real problem.
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 64, 0).decode("ascii", "replace").strip() or "?"
        os.close(descriptor)
        raise InputError(
            msg("error.database_in_use", database=str(database), pid=holder),
            hint=msg("hint.database_in_use", pid=holder),
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode("ascii"), 0)
    return InstanceLock(path, descriptor)
