"""Backups `loa run` writes of its SQLite database on a schedule, kept ``backups.keep_days``.

Each copy is a `loa backup` (SQLite's online backup API, checked with ``integrity_check``,
renamed into place whole) named ``posts-YYYYMMDD-HHMMSS.db`` in ``backups.dir``. The newest
copy is never deleted, however old: a server that stopped making copies still keeps one.
PostgreSQL is backed up with ``pg_dump`` by the operator (README).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from scheduler.backup import backup_database
from scheduler.config import Settings
from scheduler.store import is_sqlite

log = logging.getLogger("loa.backups")

NAME = re.compile(r"^posts-(\d{8}-\d{6})\.db$")
STAMP = "%Y%m%d-%H%M%S"


@dataclass
class BackupRound:
    written: Path | None = None
    deleted: list[Path] = field(default_factory=list)


def backups_in(folder: Path) -> list[tuple[datetime, Path]]:
    """The scheduled copies in ``folder``, oldest first, by the time in their names."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = NAME.match(path.name)
        if match and path.is_file():
            found.append((datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC), path))
    return sorted(found)


def newest_backup(folder: Path) -> Path | None:
    """The newest file a backup could be: a scheduled copy, or any ``*.db`` put there by `loa backup`."""
    if not folder.is_dir():
        return None
    candidates = [p for p in folder.iterdir() if p.suffix == ".db" and p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def due_in(settings: Settings, now: datetime) -> float:
    """Seconds until the next copy is due (0: now)."""
    copies = backups_in(settings.backups_path)
    if not copies:
        return 0.0
    due = copies[-1][0] + timedelta(hours=settings.backups.every_hours)
    return max(0.0, (due - now).total_seconds())


def run_round(settings: Settings, engine: Engine, now: datetime) -> BackupRound:
    """Write a copy when one is due, then delete the copies older than ``keep_days``."""
    result = BackupRound()
    if not is_sqlite(engine):
        return result
    folder = settings.backups_path
    if due_in(settings, now) <= 0:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"posts-{now.astimezone(UTC).strftime(STAMP)}.db"
        backup_database(engine, target)
        result.written = target
    copies = backups_in(folder)
    cutoff = now - timedelta(days=settings.backups.keep_days)
    for made, path in copies[:-1]:  # the newest stays whatever its age
        if made < cutoff:
            path.unlink(missing_ok=True)
            result.deleted.append(path)
    return result
