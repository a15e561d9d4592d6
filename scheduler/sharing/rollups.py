"""Daily rollups of shares and counted clicks, kept beside the raw rows.

Three tables hold the same figures (button shares, offline shares, counted clicks) at three
grains: staff × publication × local day (``rollupday``), staff × local month
(``rollupstaffmonth``) and publication × local day (``rolluppublicationday``). Every writer
adds to all three in the transaction that stores the raw rows, so a committed event is in
the rollups and a rolled-back one is not. :func:`rebuild` derives them again from the raw
rows (`loa share recount`, a change of time zone); `tests/test_rollups.py` proves the two
agree after random event streams, recounts and rule changes.

The days are local days of one zone, recorded in ``rollupstate``; a report for another
zone cannot use them and reads the raw rows instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Date, Engine, TextClause, bindparam, text
from sqlalchemy.orm import Session

from scheduler.models import UTCDateTime, utcnow

DEFAULT_ZONE = "Asia/Ho_Chi_Minh"

# (day, staff, publication) → [button, self_report, clicks]
Deltas = dict[tuple[date, int, int], list[int]]

_FIGURES = ("button", "self_report", "clicks")


def _upsert(table: str, keys: tuple[str, ...]) -> TextClause:
    """One statement for both backends: SQLite (3.24+) and PostgreSQL share ON CONFLICT."""
    columns = (*keys, *_FIGURES)
    values = ", ".join(f":{c}" for c in columns)
    adds = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in _FIGURES)
    statement = text(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {adds}"
    )
    return statement.bindparams(bindparam(keys[0], type_=Date()))


def _publication_upsert() -> TextClause:
    """The publication grain takes its channel and campaign from the publication's own row."""
    adds = ", ".join(f"{c} = rolluppublicationday.{c} + excluded.{c}" for c in _FIGURES)
    statement = text(
        "INSERT INTO rolluppublicationday (day, publication_id, channel_id, campaign_id, button, self_report, clicks) "
        "SELECT :day, p.id, p.channel_id, po.campaign_id, :button, :self_report, :clicks "
        "FROM publication AS p JOIN post AS po ON po.id = p.post_id WHERE p.id = :publication_id "
        f"ON CONFLICT (day, publication_id) DO UPDATE SET {adds}"
    )
    return statement.bindparams(bindparam("day", type_=Date()))


_UPSERTS = (
    (_upsert("rollupday", ("day", "staff_id", "publication_id")), ("day", "staff_id", "publication_id")),
    (_upsert("rollupstaffmonth", ("month", "staff_id")), ("month", "staff_id")),
    (_publication_upsert(), ("day", "publication_id")),
)


def local_day(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


def stored_zone_name(bind: Connection | Session) -> str | None:
    row = bind.execute(text("SELECT zone FROM rollupstate WHERE id = 1")).first()
    return str(row[0]) if row else None


def stored_zone(bind: Connection | Session) -> ZoneInfo | None:
    """The zone of the rollups' days, or None when they were never built."""
    name = stored_zone_name(bind)
    return ZoneInfo(name) if name else None


def add_events(
    bind: Connection | Session, zone_name: str | None, events: Iterable[tuple[datetime, int, int, str]]
) -> None:
    """Add events — (at, staff, publication, kind: ``button``/``self_report``/``clicks``) —
    to the rollups, inside the caller's transaction. ``zone_name`` is ``rollupstate.zone`` as
    read in that transaction (the click writer reads it within its one lookup statement)."""
    if zone_name is None:
        return  # never built (a database mid-upgrade): the rebuild will count these rows
    zone = ZoneInfo(zone_name)
    deltas: Deltas = defaultdict(lambda: [0, 0, 0])
    for at, staff_id, publication_id, kind in events:
        deltas[(local_day(at, zone), staff_id, publication_id)][_FIGURES.index(kind)] += 1
    apply_deltas(bind, deltas)


def add_share(session: Session, at: datetime, staff_id: int, publication_id: int, kind: str) -> None:
    """One share (``button`` or ``self_report``) into the rollups, in the session's transaction."""
    add_events(session, stored_zone_name(session), [(at, staff_id, publication_id, kind)])


def apply_deltas(bind: Connection | Session, deltas: Deltas) -> None:
    if not deltas:
        return
    months: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    publications: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for (day, staff_id, publication_id), figures in deltas.items():
        for target, key in ((months, (day.replace(day=1), staff_id)), (publications, (day, publication_id))):
            sums = target[key]
            for n, value in enumerate(figures):
                sums[n] += value
    grains: list[dict[Any, list[int]]] = [dict(deltas), dict(months), dict(publications)]
    for (statement, keys), rows in zip(_UPSERTS, grains, strict=True):
        # Sorted: two writers (PostgreSQL) then take the rows' locks in the same order.
        params = [
            {**dict(zip(keys, key, strict=True)), **dict(zip(_FIGURES, figures, strict=True))}
            for key, figures in sorted(rows.items())
        ]
        bind.execute(statement, params)


def _constant_offset(zone: ZoneInfo, first: datetime, last: datetime) -> timedelta | None:
    """The zone's offset if it is the same at every instant from first to last (checked daily)."""
    offsets = set()
    moment = first
    while moment <= last + timedelta(days=1):
        offsets.add(moment.astimezone(zone).utcoffset())
        moment += timedelta(days=1)
        if len(offsets) > 1:
            return None
    return offsets.pop() if len(offsets) == 1 else timedelta(0)


def _day_sql(connection: Connection, zone: ZoneInfo, column: str) -> str:
    """SQL for the local day (``YYYY-MM-DD`` on SQLite, a date on PostgreSQL) of a UTC column."""
    if connection.dialect.name == "postgresql":
        return f"CAST(timezone('{zone.key}', timezone('UTC', {column})) AS date)"
    span = connection.execute(
        text("SELECT min(at), max(at) FROM (SELECT at FROM share UNION ALL SELECT at FROM click)")
    ).first()
    if span is None or span[0] is None:
        return f"date({column})"
    first, last = (datetime.fromisoformat(str(v)).replace(tzinfo=UTC) for v in span)
    offset = _constant_offset(zone, first, last)
    if offset is not None:
        return f"date({column}, '{int(offset.total_seconds() // 60):+d} minutes')"

    def local(stored: str | None) -> str | None:  # a DST change inside the data: zoneinfo decides
        if stored is None:
            return None
        return datetime.fromisoformat(stored).replace(tzinfo=UTC).astimezone(zone).date().isoformat()

    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.create_function("loa_local_day", 1, local, deterministic=True)
    return f"loa_local_day({column})"


def rebuild(bind: Engine | Connection, zone: ZoneInfo) -> None:
    """Derive every rollup again from the raw rows (in one transaction when given an engine)."""
    if isinstance(bind, Engine):
        with bind.begin() as connection:
            rebuild(connection, zone)
        return
    connection = bind
    for table in ("rollupday", "rollupstaffmonth", "rolluppublicationday"):
        connection.execute(text(f"DELETE FROM {table}"))
    share_day = _day_sql(connection, zone, "s.at")
    click_day = _day_sql(connection, zone, "c.at")
    connection.execute(
        text(
            "INSERT INTO rollupday (day, staff_id, publication_id, button, self_report, clicks) "
            "SELECT d, staff_id, publication_id, sum(b), sum(sr), sum(c) FROM ("
            f" SELECT {share_day} AS d, l.staff_id, l.publication_id,"
            "  sum(CASE WHEN s.kind = 'button' THEN 1 ELSE 0 END) AS b,"
            "  sum(CASE WHEN s.kind = 'self_report' THEN 1 ELSE 0 END) AS sr, 0 AS c"
            "  FROM share AS s JOIN sharelink AS l ON l.id = s.share_link_id"
            f"  GROUP BY {share_day}, l.staff_id, l.publication_id"
            " UNION ALL"
            f" SELECT {click_day} AS d, l.staff_id, l.publication_id, 0, 0, count(*)"
            "  FROM click AS c JOIN sharelink AS l ON l.id = c.share_link_id WHERE c.counted = :yes"
            f"  GROUP BY {click_day}, l.staff_id, l.publication_id"
            ") AS events GROUP BY d, staff_id, publication_id"
        ),
        {"yes": True},
    )
    postgres = connection.dialect.name == "postgresql"
    month = "CAST(date_trunc('month', day) AS date)" if postgres else "date(day, 'start of month')"
    connection.execute(
        text(
            "INSERT INTO rollupstaffmonth (month, staff_id, button, self_report, clicks) "
            f"SELECT {month}, staff_id, sum(button), sum(self_report), sum(clicks) FROM rollupday "
            f"GROUP BY {month}, staff_id"
        )
    )
    connection.execute(
        text(
            "INSERT INTO rolluppublicationday"
            " (day, publication_id, channel_id, campaign_id, button, self_report, clicks) "
            "SELECT r.day, r.publication_id, p.channel_id, po.campaign_id, r.button, r.self_report, r.clicks FROM ("
            " SELECT day, publication_id, sum(button) AS button, sum(self_report) AS self_report, sum(clicks) AS clicks"
            " FROM rollupday GROUP BY day, publication_id"
            ") AS r JOIN publication AS p ON p.id = r.publication_id JOIN post AS po ON po.id = p.post_id"
        )
    )
    connection.execute(text("DELETE FROM rollupstate"))
    connection.execute(
        text("INSERT INTO rollupstate (id, zone, built_at) VALUES (1, :zone, :at)").bindparams(
            bindparam("at", type_=UTCDateTime())
        ),
        {"zone": zone.key, "at": utcnow()},
    )


def ensure_zone(engine: Engine, zone: ZoneInfo) -> bool:
    """Rebuild the rollups when they are in another zone than the configured one (`loa init`)."""
    with engine.connect() as connection:
        current = stored_zone(connection)
    if current is not None and current.key == zone.key:
        return False
    rebuild(engine, zone)
    return True
