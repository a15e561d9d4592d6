"""What a database refusal really is, said in words a person can act on.

SQLite and PostgreSQL both report a full disk, a read-only file or server, and a lock held
too long as plain "operational" errors; each needs a different fix (free space, permissions,
the other program), and none of them is fixed in `database.url`. One classifier serves every
place that talks to the database, so each refusal is named the same way wherever it happens.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InternalError, OperationalError

from scheduler.errors import InputError, StoreError
from scheduler.i18n import N_, Message, msg

# SQLite primary result codes (the low byte of an extended code).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 5, 6, 8, 10, 13, 14
# PostgreSQL SQLSTATEs: class 53 is "insufficient resources" (53100 disk full).
_PG_READ_ONLY = "25006"


_WORDING = {
    "full": (N_("error.database_full"), N_("hint.database_full")),
    "read_only": (N_("error.database_read_only"), N_("hint.database_read_only")),
    "busy": (N_("error.database_busy"), N_("hint.database_busy")),
}


def first_line(reason: BaseException | None) -> str:
    """A driver's reason on one line: libpq adds a second ("Is the server running…") that would
    split a journal entry in two."""
    lines = [line.strip() for line in str(reason).splitlines() if line.strip()]
    return lines[0] if lines else type(reason).__name__


def where(engine: Engine) -> str:
    """The database as a person names it: the SQLite file, or the URL without its password."""
    from scheduler.store import sqlite_file

    path = sqlite_file(engine.url.database) if engine.dialect.name == "sqlite" else None
    return str(path) if path is not None else engine.url.render_as_string(hide_password=True)


def kind(exc: BaseException) -> str | None:
    """``full``, ``read_only`` or ``busy`` when the driver's error says so, else None."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        primary = code & 0xFF
        if primary == _SQLITE_FULL:
            return "full"
        if primary == _SQLITE_READONLY:
            return "read_only"
        if primary in {_SQLITE_BUSY, _SQLITE_LOCKED}:
            return "busy"
        if primary == _SQLITE_IOERR and "full" in str(orig).lower():
            return "full"
        return None
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        if state.startswith("53"):
            return "full"
        if state == _PG_READ_ONLY:
            return "read_only"
        if state in {"55P03", "40P01"}:  # lock not available, deadlock
            return "busy"
    return None


def _unwritable_file(orig: BaseException | None, engine: Engine) -> str | None:
    """SQLITE_CANTOPEN on a file that is there but may not be written (nor its -wal/-shm made)."""
    from scheduler.store import sqlite_file

    code = getattr(orig, "sqlite_errorcode", None)
    path = sqlite_file(engine.url.database) if engine.dialect.name == "sqlite" else None
    if not isinstance(code, int) or code & 0xFF != _SQLITE_CANTOPEN or path is None or not path.exists():
        return None
    if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
        return None
    return "read_only"


def describe(exc: BaseException, engine: Engine) -> tuple[Message, Message] | None:
    """The message and hint for ``exc`` when it is a full, read-only or locked database, else None."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    found = kind(exc) or _unwritable_file(orig, engine)
    name = where(engine)
    detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if found is None:
        return None
    message, hint = _WORDING[found]
    return msg(message, database=name, detail=detail), msg(hint)


def refusal(exc: BaseException, engine: Engine, *, fallback: Message, fallback_hint: Message) -> StoreError:
    """The StoreError for ``exc``: named for what it is when it is known, else ``fallback``."""
    known = describe(exc, engine)
    message, hint = known if known is not None else (fallback, fallback_hint)
    return StoreError(message, hint=hint)


def require_writable(engine: Engine) -> None:
    """Refuse to start on a database that cannot be written (read-only, full): exit 2, said why.

    A real write, rolled back, is the only reliable test: file modes say nothing of a
    read-only mount, a PostgreSQL standby or a full disk.
    """
    from scheduler.schema import require_current

    require_current(engine)  # a database behind or ahead of this code is refused for that first
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
            transaction.rollback()
    except (OperationalError, InternalError) as exc:
        known = describe(exc, engine)
        if known is None:
            raise refusal(
                exc,
                engine,
                fallback=msg("error.database_refused", detail=first_line(exc.orig)),
                fallback_hint=msg("hint.database_refused"),
            ) from exc
        raise InputError(known[0], hint=known[1]) from None
