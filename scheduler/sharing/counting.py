"""The counting rules for shares and clicks.

The counting rules live here and only here. The share page, the tracked-link endpoint,
`loa share …` and the reports all call these functions, so "a counted share" and "a counted
click" mean the same thing everywhere:

* a **share** is a tap on a share button of a staff member's page (kind ``button``: a *button
  tap*, "lượt bấm chia sẻ" — Loa cannot see whether the post was then really shared; one per
  staff member × publication × button within ``sharing.dedupe_hours``, later taps open the
  dialog again but store nothing) or a share reported offline with `loa share record` (kind
  ``self_report``). Every stored share counts.
* a **click** is one request to a tracked link. Every request is kept as a raw ``Click`` row;
  it is *counted* unless it is a HEAD request, has an empty User-Agent, comes from a known
  crawler or link-preview fetcher, hits a publication that is not published, belongs to a
  deactivated staff member, carries the staff member's own "self" cookie, repeats a
  counted click of the same visitor on the same link within ``sharing.dedupe_hours``, or
  comes from an address that already has ``sharing.max_clicks_per_address`` counted clicks
  on the link within that window (reason ``address_limit``: one device rotating its
  User-Agent). A visitor is a keyed hash of the client address and User-Agent, an address a
  keyed hash of the address alone (IPv6: its /64); no address is stored.

:func:`recount` re-runs the rules over the raw rows (after the crawler list changes, say).
What a report reads is therefore simple and fixed: every ``Share`` row, and the ``Click``
rows whose ``counted`` is true (:mod:`scheduler.reports.queries` aggregates exactly that).

:func:`precheck` applies the rules that need no database, :func:`store_clicks` those that do
(inactive staff, the dedupe window) while storing the raw rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    Boolean,
    Connection,
    Engine,
    Executable,
    Integer,
    String,
    Table,
    bindparam,
    func,
    text,
    update,
)
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col

from scheduler import audit
from scheduler.config import Settings
from scheduler.models import (
    Click,
    UTCDateTime,
)
from scheduler.sharing import rollups
from scheduler.sharing.crawlers import CrawlerDetector
from scheduler.store import session_scope

MAX_USER_AGENT = 512


class ClickReason(StrEnum):
    counted = "counted"
    repeat = "repeat"  # the same visitor on the same link within the dedupe window
    address_limit = "address_limit"  # the address already counted its most on the link in the window
    head = "head"
    crawler = "crawler"
    empty_user_agent = "empty_user_agent"
    not_published = "not_published"  # nowhere to send the visitor yet
    self = "self"  # the staff member's own browser (the cookie their share page set)
    inactive_staff = "inactive_staff"


# Facts of the request itself, which a re-run cannot derive again from the stored row.
FIXED_REASONS = frozenset({ClickReason.head, ClickReason.not_published, ClickReason.self, ClickReason.inactive_staff})


def precheck(
    *, method: str, user_agent: str, is_crawler: Callable[[str], bool], published: bool, self_click: bool
) -> ClickReason | None:
    """What the request alone decides; None means "a candidate": the store decides the rest
    (a deactivated staff member, a repeat). The order is the order of :class:`ClickReason`
    precedence used by :func:`recount` too."""
    if method.upper() != "GET":  # HEAD (and anything else): link checkers, never a person
        return ClickReason.head
    by_agent = agent_reason(user_agent, is_crawler)
    if by_agent is not None:
        return by_agent
    if not published:
        return ClickReason.not_published
    if self_click:
        return ClickReason.self
    return None


def agent_reason(user_agent: str | None, is_crawler: Callable[[str], bool]) -> ClickReason | None:
    """What the User-Agent alone rules out: none at all, or a crawler or link-preview fetcher."""
    agent = user_agent or ""
    if not agent.strip():
        return ClickReason.empty_user_agent
    if is_crawler(agent):
        return ClickReason.crawler
    return None


def _rederive(reason: str, user_agent: str | None, is_crawler: Callable[[str], bool]) -> ClickReason | None:
    """The reason of a stored click under today's rules, before the dedupe window."""
    if reason in FIXED_REASONS:
        return ClickReason(reason)
    if user_agent is None and reason != ClickReason.empty_user_agent:
        # A row that never kept its agent (Loa 0.1 stored none): what was judged of the agent
        # then stands; judged again, every such click would become "no User-Agent".
        return ClickReason.crawler if reason == ClickReason.crawler else None
    return agent_reason(user_agent, is_crawler)


class Counter:
    """The rules after :func:`precheck`: an inactive staff member's link, the dedupe window,
    then the per-address bound.

    Fed clicks in the order they arrived, by live recording (``last`` holds the latest counted
    click of each visitor on each link, ``recent`` the counted clicks of each address on each
    link inside the window, both read from the store) and by :func:`recount` alike.
    ``per_address`` 0 leaves the bound out; so does a click without an address hash.
    """

    def __init__(
        self,
        window: timedelta,
        last: dict[tuple[int, str], datetime] | None = None,
        *,
        per_address: int = 0,
        recent: dict[tuple[int, str], list[datetime]] | None = None,
    ) -> None:
        self.window = window
        self.last = {} if last is None else last
        self.per_address = per_address
        self.recent = {} if recent is None else recent

    def decide(
        self,
        reason: ClickReason | None,
        *,
        link_id: int,
        visitor: str,
        at: datetime,
        staff_active: bool = True,
        address: str | None = None,
    ) -> ClickReason:
        if reason is None and not staff_active:
            reason = ClickReason.inactive_staff
        if reason is not None:
            return reason
        key = (link_id, visitor)
        previous = self.last.get(key)
        if previous is not None and at - previous < self.window:
            return ClickReason.repeat
        if self.per_address and address is not None:
            times = self.recent.setdefault((link_id, address), [])
            while times and at - times[0] >= self.window:
                del times[0]  # a handful at most: per_address is small
            if len(times) >= self.per_address:
                return ClickReason.address_limit
            times.append(at)
        self.last[key] = at
        return ClickReason.counted


class ClickEvent(NamedTuple):
    """One request to a tracked link, on its way to the store (a tuple: it is made per request)."""

    share_link_id: int
    at: datetime
    visitor_hash: str
    user_agent: str | None
    reason: ClickReason | None  # from precheck; None: the store decides
    address_hash: str | None = None  # None: no per-address bound for this click


def _click_table() -> Table:
    return SQLModel.metadata.tables["click"]


# The PostgreSQL advisory lock key that serialises click writers of every process ("loaclick").
CLICK_WRITER_LOCK = int.from_bytes(b"loaclick", "big") & 0x7FFF_FFFF_FFFF_FFFF


def store_clicks(
    bind: Engine | Connection, events: Sequence[ClickEvent], *, dedupe: timedelta, per_address: int = 0
) -> list[ClickReason]:
    """Decide and insert a batch of clicks in one write transaction (one fsync for all).

    Runs inside the writer's ``BEGIN IMMEDIATE`` (SQLite) or under a transaction-scoped advisory
    lock (PostgreSQL, whose READ COMMITTED would let two processes' batches interleave), so the
    "already counted?" read and the insert cannot interleave with another writer: two
    simultaneous clicks of one visitor count once, and a crowd of agents from one address
    counts at most ``per_address`` times per link in the window (0: no such bound)."""
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            return store_clicks(connection, events, dedupe=dedupe, per_address=per_address)
    connection = bind
    with connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(sa_select(func.pg_advisory_xact_lock(CLICK_WRITER_LOCK)))
        # One statement for both questions — is the link's staff member active, and when did each
        # visitor last count on it — since every statement is a round of GIL hand-offs between
        # this thread and the busy event loop.
        link_ids = sorted({e.share_link_id for e in events})
        hashes = sorted({e.visitor_hash for e in events if e.reason is None})
        addresses = (
            sorted({e.address_hash for e in events if e.reason is None and e.address_hash is not None})
            if per_address
            else []
        )
        cutoff = min(e.at for e in events) - dedupe
        active: dict[int, bool] = {}
        owners: dict[int, tuple[int, int]] = {}  # link → (staff, publication), for the rollups
        rollup_zone: str | None = None  # the zone of the rollups' days, read in the same statement
        last: dict[tuple[int, str], datetime] = {}
        recent: dict[tuple[int, str], list[datetime]] = {}
        query = _state_query(connection, with_addresses=bool(addresses))
        for start in range(0, max(len(hashes), len(addresses), 1), 500):
            params = {
                "links": link_ids,
                "hashes": hashes[start : start + 500],
                "cutoff": cutoff,
                **({"addresses": addresses[start : start + 500]} if addresses else {}),
            }
            for link_id, is_active, key, at, kind, n, staff_id, publication_id, zone in connection.execute(
                query, params
            ):
                if kind:  # an address of the batch: its counted clicks on the link, and the oldest
                    recent[(link_id, key)] = [at] * int(n)
                    continue
                active[link_id] = bool(is_active)
                owners[link_id] = (staff_id, publication_id)
                rollup_zone = zone
                if key is not None:
                    last[(link_id, key)] = at
        # The count alone decides while the oldest of those clicks stays inside the window for
        # the whole batch; one about to leave it (a batch spans milliseconds: rare) needs the
        # times themselves, so that live decisions equal a recount's.
        latest = max(e.at for e in events)
        leaving = sorted({key[1] for key, times in recent.items() if times[0] <= latest - dedupe})
        if leaving:
            exact = connection.execute(
                _ADDRESS_TIMES[connection.dialect.name == "sqlite"],
                {"links": link_ids, "addresses": leaving, "cutoff": cutoff},
            )
            for key in [k for k in recent if k[1] in leaving]:
                recent[key] = []
            for link_id, key, at in exact:
                recent.setdefault((link_id, key), []).append(at)
            for times in recent.values():
                times.sort()
        counter = Counter(dedupe, last, per_address=per_address, recent=recent)
        reasons = [
            counter.decide(
                event.reason,
                link_id=event.share_link_id,
                visitor=event.visitor_hash,
                at=event.at,
                staff_active=active.get(event.share_link_id, False),
                address=event.address_hash,
            )
            for event in events
        ]
        _insert_clicks(connection, events, reasons)
        rollups.add_events(
            connection,
            rollup_zone,
            (
                (event.at, *owners[event.share_link_id], "clicks")
                for event, reason in zip(events, reasons, strict=True)
                if reason is ClickReason.counted and event.share_link_id in owners
            ),
        )
    return reasons


# Clicks go in as multi-row INSERTs of at most 128 rows, straight to the driver: one statement
# step per chunk instead of one per row (the sqlite3 driver releases the GIL at every step, and
# under load each hand-back waits for the busy event loop), and no per-row SQLAlchemy compiling.
# The values still pass through the columns' own bind processors, so they are stored exactly as
# the ORM stores them. 128 rows × 7 values stays under SQLite's historical 999-variable limit.
INSERT_CHUNK = 128


CLICK_COLUMNS = ("share_link_id", "at", "visitor_hash", "counted", "reason", "user_agent", "address_hash")


def _insert_clicks(connection: Connection, events: Sequence[ClickEvent], reasons: Sequence[ClickReason]) -> None:
    table = _click_table()
    dialect = connection.dialect
    process_at = table.c.at.type.bind_processor(dialect)
    process_counted = table.c.counted.type.bind_processor(dialect)
    rows: list[tuple[Any, ...]] = []
    for event, reason in zip(events, reasons, strict=True):
        counted = reason is ClickReason.counted
        rows.append(
            (
                event.share_link_id,
                process_at(event.at) if process_at else event.at,
                event.visitor_hash,
                process_counted(counted) if process_counted else counted,
                reason.value,
                event.user_agent,
                event.address_hash,
            )
        )
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    group = "(" + ", ".join([mark] * len(CLICK_COLUMNS)) + ")"
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        sql = f"INSERT INTO click ({', '.join(CLICK_COLUMNS)}) VALUES " + ", ".join([group] * len(chunk))
        connection.exec_driver_sql(sql, tuple(value for row in chunk for value in row))


def _state_query(connection: Connection, *, with_addresses: bool) -> Executable:
    """Per link: its staff member's ``active``, and the latest counted click of each given
    visitor since a cutoff (a row with a NULL visitor when none), kind 0; then (with
    addresses) how many counted clicks each given address has on each link since the cutoff
    and the oldest of them, kind 1 — one statement for the batch either way.

    On SQLite the click indexes are named: left to itself the planner picks the (counted, at)
    index the reports use and reads every counted click of the last day, O(all clicks) per
    batch; the (link, visitor, at) and (link, address, counted, at) indexes make it one short
    seek each, the second over counted clicks only."""
    sqlite = connection.dialect.name == "sqlite"
    return _STATES[(sqlite, with_addresses)]


def _state_text(sqlite: bool, with_addresses: bool) -> Executable:
    visitors = "INDEXED BY ix_click_link_visitor_at" if sqlite else ""
    by_address = "INDEXED BY ix_click_link_address_at" if sqlite else ""
    sql = (
        "SELECT l.id, s.active, c.visitor_hash AS key, max(c.at) AS at, 0 AS kind, 0 AS n, "
        "l.staff_id, l.publication_id, (SELECT r.zone FROM rollupstate AS r WHERE r.id = 1) AS zone "
        "FROM sharelink AS l JOIN staff AS s ON s.id = l.staff_id "
        f"LEFT JOIN click AS c {visitors} ON c.share_link_id = l.id AND c.visitor_hash IN :hashes "
        "AND c.counted = :yes AND c.at > :cutoff "
        "WHERE l.id IN :links GROUP BY l.id, s.active, c.visitor_hash, l.staff_id, l.publication_id"
    )
    params: list[BindParameter[Any]] = [
        # Typed: an empty list (every event already decided) renders as an empty subquery,
        # which PostgreSQL compares by its type (an untyped one is an integer).
        bindparam("links", expanding=True, type_=Integer()),
        bindparam("hashes", expanding=True, type_=String()),
        bindparam("cutoff", type_=UTCDateTime()),
        bindparam("yes", value=True, type_=Boolean()),
    ]
    if with_addresses:
        sql += (
            " UNION ALL SELECT a.share_link_id, NULL, a.address_hash, min(a.at), 1, count(*), NULL, NULL, NULL "
            f"FROM click AS a {by_address} WHERE a.share_link_id IN :links AND a.address_hash IN :addresses "
            "AND a.counted = :yes AND a.at > :cutoff GROUP BY a.share_link_id, a.address_hash"
        )
        params.append(bindparam("addresses", expanding=True, type_=String()))
    return (
        text(sql)
        .bindparams(*params)
        .columns(
            id=Integer(),
            active=Boolean(),
            key=String(),
            at=UTCDateTime(),
            kind=Integer(),
            n=Integer(),
            staff_id=Integer(),
            publication_id=Integer(),
            zone=String(),
        )
    )


def _address_times_text(sqlite: bool) -> Executable:
    hint = "INDEXED BY ix_click_link_address_at" if sqlite else ""
    return (
        text(
            f"SELECT a.share_link_id, a.address_hash, a.at FROM click AS a {hint} "
            "WHERE a.share_link_id IN :links AND a.address_hash IN :addresses AND a.counted = :yes "
            "AND a.at > :cutoff"
        )
        .bindparams(
            bindparam("links", expanding=True, type_=Integer()),
            bindparam("addresses", expanding=True, type_=String()),
            bindparam("cutoff", type_=UTCDateTime()),
            bindparam("yes", value=True, type_=Boolean()),
        )
        .columns(id=Integer(), key=String(), at=UTCDateTime())
    )


_ADDRESS_TIMES = {sqlite: _address_times_text(sqlite) for sqlite in (True, False)}


_STATES = {
    (sqlite, with_addresses): _state_text(sqlite, with_addresses)
    for sqlite in (True, False)
    for with_addresses in (True, False)
}


@dataclass(frozen=True)
class RecountSummary:
    clicks: int
    changed: int
    counted_before: int
    counted_after: int

    def as_json(self) -> dict[str, int]:
        return {
            "clicks": self.clicks,
            "changed": self.changed,
            "counted_before": self.counted_before,
            "counted_after": self.counted_after,
        }


def recount(engine: Engine, settings: Settings, *, actor: str = "cli") -> RecountSummary:
    """Apply today's rules (crawler list, dedupe window, per-address bound) to every raw click
    again; a click stored before addresses were kept (no address hash) has no such bound.

    Request facts that a row cannot reproduce (HEAD, the self cookie, a deactivated staff
    member, an unpublished post) keep their stored reason; the rest is derived again, in the
    order the clicks arrived."""
    is_crawler = CrawlerDetector.from_settings(settings)
    window = timedelta(hours=settings.sharing.dedupe_hours)
    table = _click_table()
    with engine.begin() as connection:
        rows = connection.execute(
            sa_select(
                col(Click.id),
                col(Click.share_link_id),
                col(Click.at),
                col(Click.visitor_hash),
                col(Click.counted),
                col(Click.reason),
                col(Click.user_agent),
                col(Click.address_hash),
            ).order_by(col(Click.at), col(Click.id))
        ).all()
        # A deactivated staff member's clicks keep their stored reason (_rederive), so every
        # other row is judged as if the staff member were active.
        counter = Counter(window, per_address=settings.sharing.max_clicks_per_address)
        changes: list[dict[str, Any]] = []
        before = after = 0
        for click_id, link_id, at, visitor, counted, reason, agent, address in rows:
            before += bool(counted)
            decided = counter.decide(
                _rederive(reason, agent, is_crawler), link_id=link_id, visitor=visitor, at=at, address=address
            )
            now_counted = decided is ClickReason.counted
            after += now_counted
            if now_counted != bool(counted) or decided.value != reason:
                changes.append({"b_id": click_id, "b_counted": now_counted, "b_reason": decided.value})
        if changes:
            connection.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(counted=bindparam("b_counted"), reason=bindparam("b_reason")),
                changes,
            )
        # In the same transaction: the rollups never disagree with the counted flags.
        rollups.rebuild(connection, settings.tz)
    with session_scope(engine) as session:
        audit.record(
            session,
            actor=actor,
            action="clicks.recount",
            details={"clicks": len(rows), "changed": len(changes), "counted_before": before, "counted_after": after},
        )
    return RecountSummary(clicks=len(rows), changed=len(changes), counted_before=before, counted_after=after)
