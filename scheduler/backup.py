"""`loa backup`: a consistent copy of the database while Loa keeps running."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine

from scheduler.errors import InputError, StoreError
from scheduler.i18n import msg
from scheduler.store import is_sqlite


def backup_database(engine: Engine, target: Path) -> int:
    """Copy the live SQLite database to ``target`` with SQLite's online backup; returns its size.

    The backup API copies a consistent snapshot even while other processes write, and the
    copy is checked (`PRAGMA integrity_check`) before it is put in place.
    """
    if not is_sqlite(engine):
        raise InputError(msg("error.backup_needs_sqlite"), hint=msg("hint.use_pg_dump"))
    source_path = engine.url.database
    if not source_path or source_path == ":memory:":
        raise InputError(msg("error.backup_in_memory"))
    if target.exists() and target.is_dir():
        raise InputError(msg("error.backup_target_folder", target=str(target)), hint=msg("hint.backup_file_name"))
    if not target.parent.is_dir():
        raise InputError(msg("error.folder_missing", folder=str(target.parent)), hint=msg("hint.create_it_first"))
    partial = target.with_name(target.name + ".part")
    try:
        with sqlite3.connect(source_path) as source, sqlite3.connect(partial) as copy:
            source.backup(copy)
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
            # The copy inherits WAL mode; one self-contained file is what a backup should be.
            copy.execute("PRAGMA journal_mode=DELETE")
        if verdict != "ok":
            raise StoreError(msg("error.backup_integrity", verdict=verdict), hint=msg("hint.try_again"))
        partial.replace(target)
    except sqlite3.Error as exc:
        writable = msg("hint.folder_writable", folder=str(target.parent))
        raise StoreError(msg("error.backup_not_written", reason=str(exc)), hint=writable) from None
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size
