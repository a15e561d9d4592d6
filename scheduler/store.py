"""Engine and session factories, SQLite pragmas, and the writes that must be atomic."""

from __future__ import annotations

import os
import socket
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, event, or_, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, SQLModel, col, create_engine, select

from scheduler.config import Settings
from scheduler.errors import StoreError
from scheduler.models import (
    Campaign,
    ChannelState,
    Lease,
    Publication,
    PublicationStatus,
    utcnow,
)

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
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def session_scope(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error."""
    bind = engine.execution_options(loa_read_only=True) if read_only else engine
    session = Session(bind, expire_on_commit=False)
    try:
        yield session
        if not read_only:
            session.commit()
    except OperationalError as exc:
        session.rollback()
        raise StoreError(
            f"the database refused the change: {exc.orig}",
            hint="check that the disk is not full and that no other program holds a lock",
        ) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def init_db(engine: Engine, settings: Settings) -> None:
    """Create missing tables and register configured channels and campaigns (idempotent)."""
    try:
        SQLModel.metadata.create_all(engine)
    except OperationalError as exc:
        raise StoreError(
            f"cannot create the database at {engine.url.render_as_string(hide_password=True)}: {exc.orig}",
            hint="check database.url in config.toml and that its folder is writable",
        ) from exc
    with session_scope(engine) as session:
        for channel in settings.channels:
            if session.get(ChannelState, channel.id) is None:
                session.add(ChannelState(id=channel.id, platform=channel.platform))
        for campaign in settings.campaigns:
            row = session.exec(select(Campaign).where(Campaign.slug == campaign.slug)).first()
            if row is None:
                row = Campaign(slug=campaign.slug, name=campaign.name)
            row.name = campaign.name
            row.theme = campaign.theme
            row.starts_on = campaign.starts_on
            row.ends_on = campaign.ends_on
            session.add(row)


def claim_due(
    engine: Engine,
    *,
    now: datetime,
    owner: str,
    lease: timedelta,
    limit: int = 100,
    exclude_channels: Sequence[str] = (),
) -> list[int]:
    """Atomically move due ``scheduled`` publications to ``publishing`` under a lease.

    SQLite: one ``BEGIN IMMEDIATE`` transaction, so two processes never take the same row.
    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers on several hosts share the set.
    """
    due = and_(
        col(Publication.status) == PublicationStatus.scheduled,
        col(Publication.due_at) <= now,
        or_(col(Publication.next_attempt_at).is_(None), col(Publication.next_attempt_at) <= now),
    )
    if exclude_channels:
        due = and_(due, col(Publication.channel_id).not_in(list(exclude_channels)))
    with session_scope(engine) as session:
        query = select(Publication).where(due).order_by(col(Publication.due_at), col(Publication.id)).limit(limit)
        if not is_sqlite(engine):
            query = query.with_for_update(skip_locked=True)
        rows = list(session.exec(query))
        for row in rows:
            row.status = PublicationStatus.publishing
            row.lease_owner = owner
            row.lease_until = now + lease
            row.attempts += 1
            row.updated_at = utcnow()
            session.add(row)
        return [row.id for row in rows if row.id is not None]


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
