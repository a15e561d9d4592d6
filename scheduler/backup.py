"""`loa backup`: a consistent copy of the database while Loa keeps running."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine

from scheduler.errors import InputError, StoreError
from scheduler.store import is_sqlite


def backup_database(engine: Engine, target: Path) -> int:
    """Copy the live SQLite database to ``target`` with SQLite's online backup; returns its size.

    The backup API copies a consistent snapshot even while other processes write, and the
    copy is checked (`PRAGMA integrity_check`) before it is put in place.
    """
    if not is_sqlite(engine):
        raise InputError(
            "loa backup copies SQLite databases; this one is on PostgreSQL",
            hint="use pg_dump (e.g. pg_dump -Fc loa > loa.dump) for a PostgreSQL database",
        )
    source_path = engine.url.database
    if not source_path or source_path == ":memory:":
        raise InputError("the database is in memory; there is nothing to back up")
    if target.exists() and target.is_dir():
        raise InputError(f"{target} is a folder", hint="give a file name, e.g. backups/posts-2026-05-31.db")
    if not target.parent.is_dir():
        raise InputError(f"the folder {target.parent} does not exist", hint="create it first")
    partial = target.with_name(target.name + ".part")
    try:
        with sqlite3.connect(source_path) as source, sqlite3.connect(partial) as copy:
            source.backup(copy)
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
            # The copy inherits WAL mode; one self-contained file is what a backup should be.
            copy.execute("PRAGMA journal_mode=DELETE")
        if verdict != "ok":
            raise StoreError(f"the backup failed its integrity check: {verdict}", hint="try again")
        partial.replace(target)
    except sqlite3.Error as exc:
        raise StoreError(
            f"the backup could not be written: {exc}", hint=f"check that {target.parent} is writable"
        ) from None
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size
