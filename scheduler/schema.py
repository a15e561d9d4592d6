"""The stored schema version: upgrading it (`loa init` only) and refusing a database that does not match.

Alembic keeps the revision in the table ``alembic_version``. Every other command reads it
and refuses to work on a database behind the code ("run `loa init`") or ahead of it (a newer
Loa wrote it), instead of failing half-way on a missing column. A database made by Loa 0.1
has tables but no stamp; the baseline revision adopts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError

from scheduler.dbfaults import first_line, refusal
from scheduler.errors import SchemaMismatch, StoreError
from scheduler.i18n import msg

# A table every Loa database has had since 0.1: its presence without a stamp means 0.1.
_LEGACY_MARKER = "publication"
# pg_advisory_xact_lock key: two `loa init` on one PostgreSQL database upgrade one at a time.
_PG_LOCK_KEY = 0x4C4F4153  # "LOAS"


@lru_cache(maxsize=1)
def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "scheduler:migrations")
    return config


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None, "the migrations folder has no revision"
    return head


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # the stamped revision; None when there is none
    head: str  # the newest revision this code knows
    has_tables: bool  # False: a new, empty database
    known: bool  # the stamped revision is one of this code's (False: a newer Loa wrote it)

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def ahead(self) -> bool:
        return self.current is not None and not self.known

    @property
    def legacy(self) -> bool:
        """Tables from Loa 0.1, which stored no revision."""
        return self.current is None and self.has_tables


def _read_state(connection: Connection) -> SchemaState:
    current = MigrationContext.configure(connection).get_current_revision()
    tables = set(inspect(connection).get_table_names())
    known = current is None or _known(current)
    return SchemaState(
        current=current,
        head=head_revision(),
        has_tables=bool(tables - {"alembic_version"}),
        known=known,
    )


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an id it has never seen
        return False


def schema_state(engine: Engine) -> SchemaState:
    try:
        with engine.connect() as connection:
            return _read_state(connection)
    except OperationalError as exc:
        raise refusal(
            exc,
            engine,
            fallback=msg("error.database_cannot_open", database=_where(engine), detail=first_line(exc.orig)),
            fallback_hint=msg("hint.database_url"),
        ) from exc


def current_revision(engine: Engine) -> str | None:
    """Only the stamped revision: what a running process re-reads on every pass (one small query)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_current(engine: Engine) -> SchemaState:
    """Refuse a database whose schema is not the one this code was written for."""
    state = schema_state(engine)
    if state.up_to_date:
        return state
    if state.ahead:
        raise SchemaMismatch(
            msg("error.schema_ahead", where=_where(engine), current=state.current, head=state.head),
            hint=msg("hint.schema_ahead"),
        )
    if not state.has_tables:
        raise SchemaMismatch(
            msg("error.database_empty", where=_where(engine)),
            hint=msg("hint.init_to_create"),
        )
    raise SchemaMismatch(
        msg(
            "error.schema_behind",
            where=_where(engine),
            current=state.current or msg("error.schema_no_revision"),
            head=state.head,
        ),
        hint=msg("hint.init_to_upgrade"),
    )


@dataclass(frozen=True)
class Upgrade:
    before: str | None
    after: str
    created: bool  # the database was empty
    backup: Path | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def upgrade(engine: Engine, *, now: datetime | None = None) -> Upgrade:
    """Bring the schema to the newest revision, backing a SQLite file up first when it has data."""
    state = schema_state(engine)
    if state.ahead:
        require_current(engine)  # raises with both versions named
    if state.up_to_date:
        return Upgrade(before=state.current, after=state.head, created=False, backup=None)
    backup = _backup_first(engine, state, now or datetime.now(UTC)) if state.has_tables else None
    try:
        _run_upgrade(engine)
    except OperationalError as exc:
        raise StoreError(
            msg("error.upgrade_failed", where=_where(engine), reason=str(exc.orig)),
            hint=msg("hint.upgrade_failed_backup", backup=str(backup)) if backup else msg("hint.upgrade_failed"),
        ) from exc
    return Upgrade(before=state.current, after=state.head, created=not state.has_tables, backup=backup)


def _run_upgrade(engine: Engine) -> None:
    config = _config()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode copies tables; with foreign keys on, dropping the old copy would touch
            # the rows that refer to it. The pragma must be set outside a transaction.
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                if not sqlite:
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
                config.attributes["connection"] = connection
                try:
                    command.upgrade(config, "head")
                finally:
                    config.attributes.pop("connection", None)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(
                            msg("error.upgrade_dangling", count=len(broken), first=str(broken[0])),
                            hint=msg("hint.report_with_backup"),
                        )
        finally:
            if sqlite:
                connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def _backup_first(engine: Engine, state: SchemaState, now: datetime) -> Path | None:
    from scheduler.backup import backup_database

    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    source = Path(database)
    stamp = now.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    target = source.with_name(f"{source.stem}.before-{state.head}-{stamp}{source.suffix or '.db'}")
    backup_database(engine, target)
    target.chmod(0o600)
    return target


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
