"""Engine and session factories, SQLite pragmas, and the writes that must be atomic."""

from __future__ import annotations

import os
import queue
import shutil
import socket
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Engine, Executable, and_, event, insert, make_url, or_, text, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError, InternalError, OperationalError
from sqlmodel import Session, col, create_engine, select

from scheduler.config import Settings
from scheduler.dbfaults import first_line, kind, refusal
from scheduler.errors import StoreError
from scheduler.i18n import msg
from scheduler.models import (
    Campaign,
    Lease,
    Post,
    Publication,
    PublicationStatus,
    PublishAttempt,
    utcnow,
)

if TYPE_CHECKING:
    from scheduler.schema import Upgrade

SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event decide how transactions start (IMMEDIATE below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Writers take the write lock up front: a deferred transaction that upgrades later
    # fails with SQLITE_BUSY at once instead of waiting out busy_timeout. Readers opt out.
    if connection.get_execution_options().get("loa_read_only"):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """Build the engine for ``url``; SQLite gets WAL, FULL sync, busy timeout, foreign keys."""
    if url.startswith("sqlite"):
        _create_private(make_url(url).database)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            # Publishing threads each hold a connection briefly; keep them open rather than
            # reconnecting (and re-running the pragmas) under a burst.
            pool_size=32,
            max_overflow=256,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def sqlite_file(database: str | None) -> Path | None:
    """The file behind a SQLite URL's database part (a plain path or a ``file:`` URI), if any."""
    if not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        path, _, query = database.removeprefix("file:").partition("?")
        return None if "mode=memory" in query or not path else Path(path)
    return Path(database)


def _create_private(database: str | None) -> None:
    """Create a new SQLite file readable by its owner alone; SQLite gives its WAL the same mode."""
    path = sqlite_file(database)
    if path is None or path.exists() or not path.parent.is_dir():
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:  # another process made it a moment ago
        pass
    except OSError:  # an unwritable folder: SQLite's own error says more when it opens the file
        pass


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(engine: Engine) -> threading.RLock:
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(engine)
        if lock is None:
            lock = _WRITE_LOCKS[engine] = threading.RLock()
        return lock


@contextmanager
def session_scope(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error.

    SQLite has one writer at a time. Threads of this process queue for it on a lock, which
    wakes the next one at once, instead of in SQLite's busy handler, which sleeps in steps of
    up to 100 ms; other processes still wait in the busy handler.
    """
    if not read_only and is_sqlite(engine):
        lock = _write_lock(engine)
        # Bounded like SQLite's own wait: behind a lock another program holds, each queued
        # writer would otherwise wait out its own busy timeout in turn (minutes for a few).
        if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise _locked_out(engine)
        try:
            with _session(engine, read_only=False) as session:
                yield session
        finally:
            lock.release()
    else:
        with _session(engine, read_only=read_only) as session:
            yield session


def _read_only(engine: Engine) -> Engine:
    """The engine's read-only view, made once: building one costs as much as a small query.

    Kept on the engine itself (a cycle the collector frees with it), not in a table of
    engines: the view refers to its engine, so a table would keep every engine alive.
    """
    bind: Engine | None = engine.__dict__.get("_loa_read_only")
    if bind is None:
        bind = engine.execution_options(loa_read_only=True)
        engine.__dict__["_loa_read_only"] = bind
    return bind


@contextmanager
def _session(engine: Engine, *, read_only: bool) -> Iterator[Session]:
    bind = _read_only(engine) if read_only else engine
    session = Session(bind, expire_on_commit=False)
    try:
        yield session
        if not read_only:
            session.commit()
            _note_write(engine, None)
    except (OperationalError, InternalError) as exc:
        session.rollback()
        if not read_only:
            _note_write(engine, exc)
        raise refusal(
            exc,
            session.get_bind().engine,
            fallback=msg("error.database_refused", detail=first_line(exc.orig)),
            fallback_hint=msg("hint.database_refused"),
        ) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _locked_out(engine: Engine) -> StoreError:
    """What a writer that waited the whole busy timeout for its turn in this process raises."""
    driver = sqlite3.OperationalError("database is locked")
    driver.sqlite_errorcode = 5  # SQLITE_BUSY, as SQLite itself would have said after its own wait
    refused = OperationalError("BEGIN IMMEDIATE", None, driver)
    _note_write(engine, refused)
    fallback = msg("error.database_refused", detail=str(driver))
    error = refusal(refused, engine, fallback=fallback, fallback_hint=msg("hint.database_refused"))
    error.__cause__ = refused
    return error


def outage_of(exc: BaseException | None) -> str | None:
    """``full``, ``read_only``, ``busy`` or ``unavailable`` when ``exc`` (or what caused it) is
    the database refusing service rather than a fault of the request; None otherwise."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OperationalError | InternalError):
            return kind(exc) or "unavailable"
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


@dataclass(frozen=True)
class WriteTrouble:
    """The last write of this process failed because of the database (see :func:`write_trouble`)."""

    kind: str  # full, read_only, busy, unavailable
    at: datetime


_WRITE_TROUBLE: weakref.WeakKeyDictionary[Engine, WriteTrouble] = weakref.WeakKeyDictionary()


def _note_write(engine: Engine, failure: OperationalError | InternalError | None) -> None:
    if failure is None:
        if engine in _WRITE_TROUBLE:  # the common case costs one dictionary look-up
            _WRITE_TROUBLE.pop(engine, None)
        return
    _WRITE_TROUBLE[engine] = WriteTrouble(outage_of(failure) or "unavailable", utcnow())


def write_trouble(engine: Engine) -> WriteTrouble | None:
    """Why this process's last write failed, until one succeeds again: a full disk leaves
    reads working, so only the writes tell (``/healthz`` reports it)."""
    return _WRITE_TROUBLE.get(engine)


def free_disk_bytes(engine: Engine) -> int | None:
    """Free space on the file system of a SQLite database file; None for a server database.

    A full disk lets reads and many small in-place writes go on (the WAL file is reused), so
    the free space is what tells before the next insert fails."""
    path = sqlite_file(engine.url.database) if is_sqlite(engine) else None
    if path is None:
        return None
    try:
        return shutil.disk_usage(path.resolve().parent).free
    except OSError:
        return None


def init_db(engine: Engine, settings: Settings) -> Upgrade:
    """Create or upgrade the schema (the only place that changes it), then register channels and campaigns."""
    from scheduler.schema import upgrade
    from scheduler.sharing.rollups import ensure_zone

    result = upgrade(engine)
    # The rollups' days are local days: built in another zone, they are built again in this one.
    ensure_zone(engine, settings.tz)
    register(engine, settings)
    return result


def open_db(engine: Engine, settings: Settings) -> None:
    """Refuse a database whose schema is not this code's, then register channels and campaigns."""
    from scheduler.schema import require_current

    require_current(engine)
    register(engine, settings)


def register(engine: Engine, settings: Settings) -> None:
    """Rows for the configured channels and campaigns; idempotent, and safe when workers start together."""
    # Several workers may start together on a new database: whoever inserts a row second
    # finds it there on the retry.
    from scheduler.channels.catalog import load_channels

    for attempt in range(3):
        try:
            _register(engine, settings)
            break
        except IntegrityError:
            if attempt == 2:
                raise
    # The database's channels (connected ones too) become the process's channel list.
    load_channels(engine, settings)


def _register(engine: Engine, settings: Settings) -> None:
    """Rows for the configured channels and campaigns (added or updated, never removed)."""
    from scheduler.channels.catalog import import_config_channels

    with session_scope(engine) as session:
        import_config_channels(session, settings)
        for campaign in settings.campaigns:
            row = session.exec(select(Campaign).where(Campaign.slug == campaign.slug)).first()
            if row is None:
                row = Campaign(slug=campaign.slug, name=campaign.name)
            row.name = campaign.name
            row.theme = campaign.theme
            row.starts_on = campaign.starts_on
            row.ends_on = campaign.ends_on
            session.add(row)


@dataclass(frozen=True)
class Claim:
    """A publication this process now holds, with what publishing it needs (read in the claim)."""

    publication_id: int
    attempt_id: int
    channel_id: str
    text: str
    title: str | None
    description: str | None
    link: str | None
    cover_file: str | None
    due_at: datetime | None = None  # when it was due: how late it goes out is an operator's figure


def claim_due(
    engine: Engine,
    *,
    now: datetime,
    owner: str,
    lease: timedelta,
    limit: int = 100,
    exclude_channels: Sequence[str] = (),
    check_before: datetime | None = None,
) -> list[Claim]:
    """Atomically move due ``scheduled`` publications to ``publishing`` under a lease.

    A publication due before ``check_before`` that was never handed a next attempt time is
    not claimed: it is looked for on the platform first (housekeeping's ``check_overdue``).

    SQLite: one ``BEGIN IMMEDIATE`` transaction, so two processes never take the same row.
    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers on several hosts share the set.
    The attempt rows are written in the same transaction: one commit for the whole batch.
    """
    due = and_(
        col(Publication.status) == PublicationStatus.scheduled,
        col(Publication.due_at) <= now,
        or_(col(Publication.next_attempt_at).is_(None), col(Publication.next_attempt_at) <= now),
    )
    if exclude_channels:
        due = and_(due, col(Publication.channel_id).not_in(list(exclude_channels)))
    if check_before is not None:
        due = and_(
            due, or_(col(Publication.due_at) >= check_before, col(Publication.next_attempt_at).is_not(None))
        )
    publication, attempt = Publication.__table__, PublishAttempt.__table__  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        # Plain rows, not ORM objects: a claim is the hot path of a burst, and every
        # publication it hands out would otherwise be an identity-mapped object to flush.
        query = (
            core_select(
                publication.c.id,
                publication.c.channel_id,
                publication.c.text,
                publication.c.title,
                publication.c.description,
                publication.c.cover_file,
                col(Post.link),
                publication.c.due_at,
            )
            .join(Post, col(Post.id) == publication.c.post_id)
            .where(due)
            .order_by(publication.c.due_at, publication.c.id)
            .limit(limit)
        )
        if not is_sqlite(engine):
            query = query.with_for_update(skip_locked=True, of=publication)
        rows = session.execute(query).all()
        if not rows:
            return []
        ids = [row[0] for row in rows]
        session.execute(
            update(publication)
            .where(publication.c.id.in_(ids))
            .values(
                status=PublicationStatus.publishing,
                lease_owner=owner,
                lease_until=now + lease,
                attempts=publication.c.attempts + 1,
                updated_at=utcnow(),
            )
        )
        started = utcnow()
        inserted = session.execute(
            insert(attempt).returning(attempt.c.id, attempt.c.publication_id, sort_by_parameter_order=True),
            [{"publication_id": publication_id, "started_at": started} for publication_id in ids],
        ).all()
        attempt_of = {publication_id: attempt_id for attempt_id, publication_id in inserted}
        return [
            Claim(
                publication_id=row[0],
                attempt_id=attempt_of[row[0]],
                channel_id=row[1],
                text=row[2],
                title=row[3],
                description=row[4],
                link=row[6],
                cover_file=row[5],
                due_at=row[7],
            )
            for row in rows
        ]


T = TypeVar("T")


class GroupCommit:
    """Many threads' small writes, committed together: one commit (one fsync) for a batch.

    ``run(fn)`` blocks until ``fn(session)`` is durably committed and returns its result.
    ``run_rows(rows)`` does the same for a few parameter sets of prepared statements: the
    batch sends each statement once with every thread's parameters (an ``executemany``),
    so a burst of results costs one statement per table, not two ORM updates per result.
    If a batch fails, each of its writes is retried alone so one bad write spoils no other.
    """

    def __init__(self, engine: Engine, *, max_batch: int = 256) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Write[Any]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def run(self, fn: Callable[[Session], T]) -> T:
        return self._submit(_Write(fn))

    def run_rows(self, rows: Sequence[tuple[Executable, Mapping[str, Any]]]) -> None:
        """Execute each (statement, parameters) in the next group commit; return once durable."""
        self._submit(_Write(None, rows))

    def _submit(self, write: _Write[T]) -> T:
        self._ensure_thread()
        self._queue.put(write)
        write.done.wait()
        if write.error is not None:
            raise write.error
        return write.result  # type: ignore[return-value]

    def _ensure_thread(self) -> None:
        with self._guard:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="loa-group-commit", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                with session_scope(self._engine) as session:
                    self._apply(session, batch)
            except BaseException:
                for write in batch:  # alone, so the failing write is the only one that fails
                    try:
                        with session_scope(self._engine) as session:
                            self._apply(session, [write])
                    except BaseException as exc:
                        write.error = exc
            for write in batch:
                write.done.set()

    @staticmethod
    def _apply(session: Session, batch: Sequence[_Write[Any]]) -> None:
        # Statements in the order they were first asked for: a write's rows keep their order.
        grouped: dict[Executable, list[Mapping[str, Any]]] = {}
        for write in batch:
            if write.fn is not None:
                write.result = write.fn(session)
            for statement, params in write.rows:
                grouped.setdefault(statement, []).append(params)
        if grouped:
            connection = session.connection()
            for statement, params_list in grouped.items():
                connection.execute(statement, list(params_list))


class _Write(Generic[T]):
    __slots__ = ("done", "error", "fn", "result", "rows")

    def __init__(
        self,
        fn: Callable[[Session], T] | None,
        rows: Sequence[tuple[Executable, Mapping[str, Any]]] = (),
    ) -> None:
        self.fn = fn
        self.rows = rows
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def acquire_lease(engine: Engine, name: str, *, owner: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Take (or extend) the lease ``name`` for ``owner``; False while another holds it."""
    now = now or utcnow()
    try:
        with session_scope(engine) as session:
            query = select(Lease).where(Lease.name == name)
            if not is_sqlite(engine):
                query = query.with_for_update()
            lease = session.exec(query).first()
            if lease is None:
                session.add(Lease(name=name, owner=owner, until=now + ttl))
            elif lease.owner == owner or lease.until <= now or holder_is_gone(lease.owner):
                lease.owner = owner
                lease.until = now + ttl
                session.add(lease)
            else:
                return False
    except IntegrityError:
        return False  # another process inserted the same lease at the same moment
    return True


def lease_owner_id() -> str:
    """A lease owner name that tells which host and process holds it."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_gone(owner: str) -> bool:
    """True when the holder was a process on this host that no longer exists (killed)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def release_lease(engine: Engine, name: str, *, owner: str) -> None:
    with session_scope(engine) as session:
        lease = session.get(Lease, name)
        if lease is not None and lease.owner == owner:
            session.delete(lease)


def database_ok(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False
