"""`loa restore FILE`: put a `loa backup` copy back in place, and never publish blind after it.

A copy is older than the platforms. What it still calls ``scheduled`` (due before the
restore) or ``publishing`` may have gone out after the copy was made, so each of them is
marked ``unknown`` with a next check now: the reconciler looks for it on the platform
before anything is published (found → ``published``; surely absent → published once;
cannot look → held for a person, with the reason). The restore itself is recorded in the
``restore`` table.

The steps, each refusing before anything changes: the file is a whole SQLite database
(``integrity_check``) made by Loa with a schema this code knows (older ones are upgraded as
`loa init` would; newer ones refused); no Loa process works on the current database; the
current database is copied aside; the copy is written into place with SQLite's backup API
(so no stale ``-wal``/``-shm`` file is left behind).
"""

from __future__ import annotations

import socket
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, inspect, or_
from sqlmodel import col, select

from scheduler.errors import InputError, StoreError
from scheduler.i18n import Message, msg, stored
from scheduler.models import Lease, Publication, PublicationStatus, Restore, utcnow
from scheduler.publishing.outcomes import Event, sources, transition
from scheduler.store import holder_is_gone, is_sqlite, make_engine, session_scope, sqlite_file

# The table every Loa database has had since 0.1 (scheduler.schema's legacy marker).
_LOA_TABLES = {"publication", "post", "channelstate"}


@dataclass(frozen=True)
class Restored:
    source: Path
    database: Path
    set_aside: Path | None
    schema_before: str | None  # None: a Loa 0.1 copy (no revision stamp)
    upgraded: bool
    held: int  # publications to check on the platform first


def restore_database(engine: Engine, source: Path, *, actor: str = "cli", now: datetime | None = None) -> Restored:
    """Replace the database of ``engine`` with the backup ``source``; see the module's steps."""
    if not is_sqlite(engine):
        raise InputError(msg("error.restore_needs_sqlite"), hint=msg("hint.use_pg_restore"))
    database = sqlite_file(engine.url.database)
    if database is None:
        raise InputError(msg("error.backup_in_memory"))
    target = database.resolve()
    source = source.expanduser()
    if not source.is_file():
        raise InputError(msg("error.restore_no_file", file=str(source)), hint=msg("hint.restore_file"))
    if source.resolve() == target:
        raise InputError(msg("error.restore_same_file", file=str(source)), hint=msg("hint.restore_file"))
    schema_before = _check_copy(source)
    from scheduler.presence import alone

    # Held to the end: no Loa process can start on the database while it is being replaced.
    with alone(engine) as nobody_else:
        busy = running_loa(engine, now or utcnow())
        if not nobody_else:
            busy.append(msg("where.restore_process"))
        if busy:
            raise InputError(msg("error.restore_loa_running", holders=busy), hint=msg("hint.stop_loa_first"))
        existed = _has_tables(target)
        set_aside = _set_aside(engine, target, now or utcnow()) if existed else None
        engine.dispose()  # no connection of this process keeps the old file's pages
        _copy_into_place(source, target)
        if not existed:
            target.chmod(0o600)  # a new database file is its owner's alone, as `loa init` makes it
        restored = make_engine(engine.url.render_as_string(hide_password=False))
        try:
            from scheduler.schema import head_revision, upgrade

            upgraded = schema_before != head_revision()
            if upgraded:
                upgrade(restored, now=now)
            held = _mark(restored, source, set_aside, schema_before, actor, now or utcnow())
        finally:
            restored.dispose()
    return Restored(source, target, set_aside, schema_before, upgraded, held)


def _check_copy(source: Path) -> str | None:
    """The copy's schema revision, once it is known to be a whole Loa database this code can read."""
    from scheduler.schema import _known

    try:
        with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as copy:
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            revision = None
            if "alembic_version" in tables:
                row = copy.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = row[0] if row else None
    except sqlite3.DatabaseError as exc:
        raise InputError(
            msg("error.restore_not_sqlite", file=str(source), reason=str(exc)), hint=msg("hint.restore_file")
        ) from None
    if verdict != "ok":
        raise InputError(msg("error.restore_damaged", file=str(source), verdict=verdict), hint=msg("hint.restore_file"))
    if not tables >= _LOA_TABLES:
        raise InputError(msg("error.restore_not_loa", file=str(source)), hint=msg("hint.restore_file"))
    if revision is not None and not _known(revision):
        from scheduler.schema import head_revision

        raise InputError(
            msg("error.restore_newer", file=str(source), revision=revision, head=head_revision()),
            hint=msg("hint.restore_newer"),
        )
    return revision


def running_loa(engine: Engine, now: datetime) -> list[Message]:
    """What shows that a Loa process works on this database now (empty: none does).

    A lease still running whose holder is alive (on this host: its process exists; on
    another host it cannot be asked, so an unexpired lease counts), a publication in flight
    under such a lease, or another connection holding SQLite's write lock.
    """
    found: list[Message] = []
    database = sqlite_file(engine.url.database)
    if database is not None and not database.exists():
        return found  # a new machine: nothing there yet, nobody working on it
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    if not {"lease", "publication"} <= tables:
        return found  # not a Loa database yet (empty): no lease, nothing in flight
    with session_scope(engine, read_only=True) as session:
        leases = list(session.exec(select(Lease).where(col(Lease.until) > now)))
        flights = list(
            session.exec(
                select(Publication).where(
                    Publication.status == PublicationStatus.publishing,
                    or_(col(Publication.lease_until).is_(None), col(Publication.lease_until) > now),
                )
            )
        )
    for lease in leases:
        if not holder_is_gone(lease.owner):
            found.append(msg("where.restore_lease", lease=lease.name, owner=_process(lease.owner)))
    owners = {p.lease_owner for p in flights if p.lease_owner and not holder_is_gone(p.lease_owner)}
    for owner in sorted(owners):
        found.append(msg("where.restore_in_flight", owner=_process(owner)))
    if database is not None and _write_locked(database):
        found.append(msg("where.restore_locked"))
    return found


def _has_tables(path: Path) -> bool:
    """Whether ``path`` holds anything worth keeping (not absent, not a file just created empty)."""
    if not path.exists():
        return False
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return bool(db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])


def _process(owner: str) -> str:
    """``host:pid:…`` as a person reads it: the process id, and the host when it is another one."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return f"pid {pid}" if host == socket.gethostname() else f"pid {pid} @ {host}"


def _write_locked(path: Path) -> bool:
    connection = sqlite3.connect(path, timeout=0.5, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        connection.close()


def _set_aside(engine: Engine, target: Path, now: datetime) -> Path:
    from scheduler.backup import backup_database

    stamp = now.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    aside = target.with_name(f"{target.stem}.before-restore-{stamp}{target.suffix or '.db'}")
    backup_database(engine, aside)
    aside.chmod(0o600)
    return aside


def _copy_into_place(source: Path, target: Path) -> None:
    try:
        with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as copy:
            destination = sqlite3.connect(target, timeout=10)
            try:
                copy.backup(destination)
                verdict = destination.execute("PRAGMA integrity_check").fetchone()[0]
                # Every page is in the main file and the log is empty: nothing stale beside it.
                destination.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                destination.close()
    except sqlite3.Error as exc:
        raise StoreError(
            msg("error.restore_not_written", reason=str(exc)),
            hint=msg("hint.folder_writable", folder=str(target.parent)),
        ) from None
    if verdict != "ok":
        raise StoreError(msg("error.backup_integrity", verdict=verdict), hint=msg("hint.try_again"))


def _mark(
    engine: Engine, source: Path, set_aside: Path | None, schema_before: str | None, actor: str, now: datetime
) -> int:
    """Record the restore; what was in flight or overdue in the copy is checked on the platform first."""
    from scheduler.audit import record

    with session_scope(engine) as session:
        rows = list(
            session.exec(
                select(Publication).where(
                    col(Publication.status).in_(sources(Event.restored_check)),
                    or_(
                        col(Publication.status) != PublicationStatus.scheduled,
                        col(Publication.due_at) <= now,
                    ),
                )
            )
        )
        # An unknown one left for a person is looked at again too: the copy cannot know what
        # they found since.
        for row in rows:
            row.status = transition(row.status, Event.restored_check)
            row.lease_owner = row.lease_until = None
            row.next_attempt_at = now
            row.last_error = stored(msg("reason.restored_check"))
            row.updated_at = utcnow()
            session.add(row)
        session.add(
            Restore(
                at=now,
                source=str(source.resolve()),
                set_aside=str(set_aside) if set_aside else None,
                schema_before=schema_before,
                held=len(rows),
                actor=actor,
            )
        )
        record(
            session,
            actor=actor,
            action="database.restore",
            object=str(source.resolve()),
            details={"held": len(rows), "set_aside": str(set_aside) if set_aside else None},
        )
    return len(rows)
