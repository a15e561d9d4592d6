"""Staff amplification: units and staff, share pages, tracked links, shares and clicks.

The counting rules live here and only here. The share page, the tracked-link endpoint,
`loa share …` and the reports all call these functions, so "a counted share" and "a counted
click" mean the same thing everywhere:

* a **share** is a tap on a share button of a staff member's page (kind ``button``; a second
  tap on the same button within :data:`DOUBLE_TAP` is the same tap) or a share reported
  offline with `loa share record` (kind ``self_report``). Every stored share counts.
* a **click** is one request to a tracked link. Every request is kept as a raw ``Click`` row;
  it is *counted* unless it is a HEAD request, has an empty User-Agent, comes from a known
  crawler or link-preview fetcher, hits a publication that is not published, belongs to a
  deactivated staff member, carries the staff member's own "self" cookie, or repeats a
  counted click of the same visitor on the same link within ``sharing.dedupe_hours``.
  A visitor is a keyed hash of the client address and User-Agent; no address is stored.

:func:`recount` re-runs the rules over the raw rows (after the crawler list changes, say).
What a report reads is therefore simple and fixed: every ``Share`` row, and the ``Click``
rows whose ``counted`` is true (scheduler/reports.py aggregates exactly that).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import hmac
import ipaddress
import logging
import os
import queue
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from sqlalchemy import Boolean, Connection, Engine, Executable, Integer, String, Table, bindparam, func, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, SQLModel, col, select

from scheduler import audit
from scheduler.config import ChannelSettings, Settings
from scheduler.errors import InputError, NotFound, StoreError
from scheduler.models import (
    Click,
    Post,
    Publication,
    PublicationStatus,
    Share,
    ShareKind,
    ShareLink,
    Staff,
    Unit,
    UTCDateTime,
    utcnow,
)
from scheduler.posts.service import cover_url, read_table
from scheduler.render.messages import nfc
from scheduler.secrets import load_cipher
from scheduler.store import session_scope

log = logging.getLogger("loa.sharing")

# 192 bits: the share token is the only key to a staff member's page.
SHARE_TOKEN_BYTES = 24
# 48 bits in 8 characters: short enough to paste, far too many to guess one that exists.
LINK_CODE_BYTES = 6
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,16}$")
# A second tap on the same button this soon is the same tap (a double tap, a resent form).
DOUBLE_TAP = timedelta(seconds=30)
# A form on a share page is accepted this long after the page was shown.
FORM_TOKEN_TTL = timedelta(days=2)
SELF_COOKIE = "loa_self"
MAX_USER_AGENT = 512
MAX_NOTE = 500
STAFF_IMPORT_MAX_BYTES = 20 * 1024 * 1024
SHARE_PLATFORMS = ("facebook", "zalo", "copy")
REPORT_PLATFORMS = ("facebook", "zalo", "other")

# Link-preview fetchers and crawlers, matched against the User-Agent without regard to case.
# An entry made only of letters, digits, spaces and plain punctuation is a substring; any
# other entry is a regular expression. Facebook's agents are documented (facebookexternalhit,
# Facebot, meta-externalagent). Zalo's preview fetcher is UNVERIFIED: no public source names
# its User-Agent, so the Zalo entries are narrow guesses — Zalo's in-app *browser* sends
# "Zalo iOS/…" or "Zalo android/…" for a person who tapped the link, and that must count.
# Extend the list with `sharing.extra_crawler_patterns` once the real agent shows in a log.
DEFAULT_CRAWLER_PATTERNS: tuple[str, ...] = (
    # Meta
    "facebookexternalhit", "facebookcatalog", "facebot", "meta-externalagent", "meta-externalfetcher",
    # Zalo (UNVERIFIED guesses)
    "zalobot", "zalo-bot", "zalo bot", "zalopreview", "zalo-preview", "zalo preview", "zalo-link-preview",
    "zalocrawler", "zalo-crawler",
    # other messengers and networks that unfurl links
    "twitterbot", "linkedinbot", "slackbot", "slack-imgproxy", "discordbot", "telegrambot", "whatsapp/",
    "skypeuripreview", "pinterestbot", "redditbot", "embedly", "iframely", "quora link preview", "vkshare",
    "viber-link-preview", "line-poker", "kakaotalk-scrap",
    # search engines (coccocbot: Cốc Cốc, the Vietnamese one)
    "coccocbot", "googlebot", "google-inspectiontool", "googleother", "adsbot-google", "mediapartners-google",
    "feedfetcher-google", "bingbot", "bingpreview", "msnbot", "applebot", "duckduckbot", "yandexbot",
    "yandeximages", "baiduspider", "petalbot", "seznambot",
    # AI and SEO crawlers
    "gptbot", "chatgpt-user", "oai-searchbot", "claudebot", "claude-web", "perplexitybot", "bytespider", "ccbot",
    "amazonbot", "ahrefsbot", "semrushbot", "mj12bot", "dotbot", "rogerbot", "dataforseobot",
    # tools and libraries, never a person tapping a link
    "headlesschrome", "phantomjs", "lighthouse", "curl/", "wget/", "python-requests", "python-urllib", "aiohttp",
    "httpx/", "go-http-client", "okhttp", "java/", "libwww-perl", "w3c_validator",
    # how robots sign: "(compatible; SomeBot/1.0; +https://…)"
    r"\+https?://", "bot/", "bot;", r"bot\)", "crawler", "spider", "scraper", "fetcher/", r"\bbot\b",
)  # fmt: skip
CRAWLER_CACHE_SIZE = 10_000
_LITERAL = re.compile(r"[\w\s/;:,@=<>!%'\"`-]+")


class ClickReason(StrEnum):
    counted = "counted"
    repeat = "repeat"  # the same visitor on the same link within the dedupe window
    head = "head"
    crawler = "crawler"
    empty_user_agent = "empty_user_agent"
    not_published = "not_published"  # nowhere to send the visitor yet
    self = "self"  # the staff member's own browser (the cookie their share page set)
    inactive_staff = "inactive_staff"


# Facts of the request itself, which a re-run cannot derive again from the stored row.
FIXED_REASONS = frozenset({ClickReason.head, ClickReason.not_published, ClickReason.self, ClickReason.inactive_staff})


# -- keys, visitors, crawlers --------------------------------------------------------------


@dataclass(frozen=True)
class SharingKeys:
    """Keys derived from Loa's secret key, so none of them lives in the database."""

    visitor: bytes
    cookie: bytes
    form: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> SharingKeys:
        def derive(label: str) -> bytes:
            return hmac.new(secret, f"loa/sharing/{label}/v1".encode(), hashlib.sha256).digest()

        return cls(visitor=derive("visitor"), cookie=derive("self-cookie"), form=derive("share-form"))


def load_keys(settings: Settings) -> SharingKeys:
    # load_cipher validates the key and creates the key file on first use; the raw key is
    # then read from the same place.
    load_cipher(settings)
    raw = os.environ.get(settings.secrets.key_env)
    if raw is None:
        raw = settings.path(settings.secrets.key_file).read_text(encoding="ascii").strip()
    return SharingKeys.from_secret(raw.encode("ascii"))


def _mac(key: bytes, message: str, length: int = 32) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()[:length]


def trusted_networks(settings: Settings) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in settings.web.trusted_proxies)


def client_address(
    peer: str | None,
    forwarded_for: str | None,
    trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> str:
    """The visitor's address: the TCP peer, or — only when the peer is a trusted proxy — the
    right-most address in X-Forwarded-For that is not itself a trusted proxy (the left part
    of the header is whatever the client chose to send)."""
    peer = peer or ""

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    if not forwarded_for or not trusted or not is_trusted(peer):
        return peer
    for candidate in reversed([part.strip() for part in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            return peer  # a malformed hop: believe nothing further left
        if not is_trusted(candidate):
            return candidate
    return peer


def visitor_hash(keys: SharingKeys, address: str, user_agent: str) -> str:
    """A keyed hash (BLAKE2b with the server's key, 128 bits) of address + User-Agent; no
    address is ever stored. IPv6 counts per /64: one device rotates addresses inside it."""
    if ":" in address:
        with contextlib.suppress(ValueError):  # not an address at all: hash it as it is
            address = str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    data = f"{address}\n{user_agent}".encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, key=keys.visitor, digest_size=16).hexdigest()


class CrawlerDetector:
    """Is this User-Agent a robot? Substring entries are checked with ``in`` on the lower-cased
    agent and regular expressions one by one: a single alternation of every entry costs
    ~100 µs per request in Python's regex engine, this ~10 µs; answers are remembered per agent."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self._literals = tuple(p.lower() for p in self.patterns if _LITERAL.fullmatch(p))
        self._regexes = tuple(re.compile(p, re.IGNORECASE) for p in self.patterns if not _LITERAL.fullmatch(p))
        # A plain dict of str → bool, emptied when full: unlike lru_cache's linked nodes it adds no
        # objects for the garbage collector to track, so a stream of new agents does not set off
        # full collections (each a ~50 ms pause of every request in a process Loa's size).
        self._cache: dict[str, bool] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> CrawlerDetector:
        base = settings.sharing.crawler_patterns
        return cls([*(DEFAULT_CRAWLER_PATTERNS if base is None else base), *settings.sharing.extra_crawler_patterns])

    def _match(self, user_agent: str) -> bool:
        lowered = user_agent.lower()
        for literal in self._literals:  # a plain loop: half the cost of any() over a generator
            if literal in lowered:
                return True
        return any(regex.search(user_agent) for regex in self._regexes)

    def __call__(self, user_agent: str) -> bool:
        known = self._cache.get(user_agent)
        if known is None:
            known = self._match(user_agent)
            if len(self._cache) >= CRAWLER_CACHE_SIZE:
                self._cache.clear()
            self._cache[user_agent] = known
        return known


def precheck(
    *, method: str, user_agent: str, is_crawler: Callable[[str], bool], published: bool, self_click: bool
) -> ClickReason | None:
    """What the request alone decides; None means "a candidate": the store decides the rest
    (a deactivated staff member, a repeat). The order is the order of :class:`ClickReason`
    precedence used by :func:`recount` too."""
    if method.upper() != "GET":  # HEAD (and anything else): link checkers, never a person
        return ClickReason.head
    if not user_agent.strip():
        return ClickReason.empty_user_agent
    if is_crawler(user_agent):
        return ClickReason.crawler
    if not published:
        return ClickReason.not_published
    if self_click:
        return ClickReason.self
    return None


def _rederive(reason: str, user_agent: str | None, is_crawler: Callable[[str], bool]) -> ClickReason | None:
    """The reason of a stored click under today's rules, before the dedupe window."""
    if reason in FIXED_REASONS:
        return ClickReason(reason)
    agent = user_agent or ""
    if not agent.strip():
        return ClickReason.empty_user_agent
    if is_crawler(agent):
        return ClickReason.crawler
    return None


def self_cookie_value(keys: SharingKeys, staff_id: int) -> str:
    return f"{staff_id}.{_mac(keys.cookie, f'self:{staff_id}')}"


def self_cookie_staff(keys: SharingKeys, value: str | None) -> int | None:
    """The staff id a valid "self" cookie names, else None."""
    if not value:
        return None
    staff, _, mac = value.partition(".")
    if not staff.isdigit() or not hmac.compare_digest(mac, _mac(keys.cookie, f"self:{staff}")):
        return None
    return int(staff)


def form_token(keys: SharingKeys, staff_id: int, *, now: datetime | None = None) -> str:
    issued = int((now or utcnow()).timestamp())
    return f"{issued}.{_mac(keys.form, f'{staff_id}:{issued}')}"


def form_token_ok(keys: SharingKeys, staff_id: int, token: str | None, *, now: datetime | None = None) -> bool:
    if not token:
        return False
    issued, _, mac = token.partition(".")
    if not issued.isdigit() or not hmac.compare_digest(mac, _mac(keys.form, f"{staff_id}:{issued}")):
        return False
    age = (now or utcnow()).timestamp() - int(issued)
    return -300 <= age <= FORM_TOKEN_TTL.total_seconds()


def safe_destination(url: str | None, hosts: Sequence[str]) -> str | None:
    """The stored permalink if it is an https URL on an allowed host, else None.

    The permalink comes from the platform, never from the request; this is defence in depth
    against a bad row (ASVS 3.7.2): no credentials, no odd characters, no other host."""
    if not url or any(ch in url for ch in "\\\r\n\t ") or not url.isprintable():
        return None
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or parts.username or parts.password or "@" in parts.netloc:
        return None
    if not any(host == allowed or host.endswith("." + allowed) for allowed in (h.lower() for h in hosts)):
        return None
    return url


# -- recording clicks: one writer, group commit --------------------------------------------


class ClickEvent(NamedTuple):
    """One request to a tracked link, on its way to the store (a tuple: it is made per request)."""

    share_link_id: int
    at: datetime
    visitor_hash: str
    user_agent: str | None
    reason: ClickReason | None  # from precheck; None: the store decides


def _click_table() -> Table:
    return SQLModel.metadata.tables["click"]


# The PostgreSQL advisory lock key that serialises click writers of every process ("loaclick").
CLICK_WRITER_LOCK = int.from_bytes(b"loaclick", "big") & 0x7FFF_FFFF_FFFF_FFFF


def store_clicks(bind: Engine | Connection, events: Sequence[ClickEvent], *, dedupe: timedelta) -> list[ClickReason]:
    """Decide and insert a batch of clicks in one write transaction (one fsync for all).

    Runs inside the writer's ``BEGIN IMMEDIATE`` (SQLite) or under a transaction-scoped advisory
    lock (PostgreSQL, whose READ COMMITTED would let two processes' batches interleave), so the
    "already counted?" read and the insert cannot interleave with another writer: two
    simultaneous clicks of one visitor count once."""
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            return store_clicks(connection, events, dedupe=dedupe)
    connection = bind
    with connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(sa_select(func.pg_advisory_xact_lock(CLICK_WRITER_LOCK)))
        # One statement for both questions — is the link's staff member active, and when did each
        # visitor last count on it — since every statement is a round of GIL hand-offs between
        # this thread and the busy event loop.
        link_ids = sorted({e.share_link_id for e in events})
        hashes = sorted({e.visitor_hash for e in events if e.reason is None})
        cutoff = min(e.at for e in events) - dedupe
        active: dict[int, bool] = {}
        last: dict[tuple[int, str], datetime] = {}
        for start in range(0, max(len(hashes), 1), 500):
            rows = connection.execute(
                _state_query(connection), {"links": link_ids, "hashes": hashes[start : start + 500], "cutoff": cutoff}
            )
            for link_id, is_active, visitor, at in rows:
                active[link_id] = bool(is_active)
                if visitor is not None:
                    last[(link_id, visitor)] = at
        reasons: list[ClickReason] = []
        for event in events:
            reason = event.reason
            if reason is None and not active.get(event.share_link_id, False):
                reason = ClickReason.inactive_staff
            if reason is None:
                key = (event.share_link_id, event.visitor_hash)
                previous = last.get(key)
                if previous is not None and event.at - previous < dedupe:
                    reason = ClickReason.repeat
                else:
                    reason = ClickReason.counted
                    last[key] = event.at
            reasons.append(reason)
        _insert_clicks(connection, events, reasons)
    return reasons


# Clicks go in as multi-row INSERTs of at most 128 rows, straight to the driver: one statement
# step per chunk instead of one per row (the sqlite3 driver releases the GIL at every step, and
# under load each hand-back waits for the busy event loop), and no per-row SQLAlchemy compiling.
# The values still pass through the columns' own bind processors, so they are stored exactly as
# the ORM stores them. 128 rows × 6 values stays under SQLite's historical 999-variable limit.
INSERT_CHUNK = 128
CLICK_COLUMNS = ("share_link_id", "at", "visitor_hash", "counted", "reason", "user_agent")


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
            )
        )
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    group = "(" + ", ".join([mark] * len(CLICK_COLUMNS)) + ")"
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        sql = f"INSERT INTO click ({', '.join(CLICK_COLUMNS)}) VALUES " + ", ".join([group] * len(chunk))
        connection.exec_driver_sql(sql, tuple(value for row in chunk for value in row))


def _state_query(connection: Connection) -> Executable:
    """Per link: its staff member's ``active``, and the latest counted click of each given
    visitor since a cutoff (a row with a NULL visitor when none).

    On SQLite the click index is named: left to itself the planner picks the (counted, at)
    index the reports use and reads every counted click of the last day, O(all clicks) per
    batch; the (link, visitor, at) index makes it one short seek per visitor."""
    return _STATE_SQLITE if connection.dialect.name == "sqlite" else _STATE_OTHER


def _state_text(hint: str) -> Executable:
    return (
        text(
            "SELECT l.id, s.active, c.visitor_hash, max(c.at) AS at "
            "FROM sharelink AS l JOIN staff AS s ON s.id = l.staff_id "
            f"LEFT JOIN click AS c {hint} ON c.share_link_id = l.id AND c.visitor_hash IN :hashes "
            "AND c.counted = :yes AND c.at > :cutoff "
            "WHERE l.id IN :links GROUP BY l.id, s.active, c.visitor_hash"
        )
        .bindparams(
            # Typed: an empty list (every event already decided) renders as an empty subquery,
            # which PostgreSQL compares by its type (an untyped one is an integer).
            bindparam("links", expanding=True, type_=Integer()),
            bindparam("hashes", expanding=True, type_=String()),
            bindparam("cutoff", type_=UTCDateTime()),
            bindparam("yes", value=True, type_=Boolean()),
        )
        .columns(id=Integer(), active=Boolean(), visitor_hash=String(), at=UTCDateTime())
    )


_STATE_SQLITE = _state_text("INDEXED BY ix_click_link_visitor_at")
_STATE_OTHER = _state_text("")


class RecorderOverloaded(StoreError):
    """More clicks are waiting for the database than the recorder will hold."""


# How often the helper thread checkpoints while clicks are being written. Each checkpoint's
# fsync slows the commit running beside it, so not after every commit; but a WAL left to grow
# for many seconds makes every read of it slower (10 s cost ~15 % of the redirect rate).
CHECKPOINT_EVERY = 1.0
Outcome = ClickReason | BaseException
Settle = Callable[[Outcome], None]
# A waiting request: an asyncio future and its loop, or (threads, tests) a plain callback.
Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[ClickReason]"] | Settle


class ClickRecorder:
    """The single writer of clicks. Requests hand it an event and wait; a thread takes every
    event waiting, stores them in one transaction (one fsync under ``synchronous=FULL``) and
    then wakes their requests. So a click is durable before its 302 is sent, and a crowd of
    visitors shares one commit instead of queueing for one each."""

    def __init__(
        self,
        engine: Engine,
        *,
        dedupe: timedelta,
        max_batch: int = 1000,
        max_pending: int = 50_000,
        retry_for: float = 30.0,
    ) -> None:
        self.engine = engine
        self.dedupe = dedupe
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.retry_for = retry_for
        self._queue: queue.SimpleQueue[tuple[ClickEvent, Waiter] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._committed = threading.Event()
        self._stopping = False
        self.batches = 0
        self.stored = 0
        self.checkpoints = 0

    def _submit(self, event: ClickEvent, waiter: Waiter) -> None:
        if self._queue.qsize() >= self.max_pending:
            raise RecorderOverloaded(f"{self.max_pending} clicks are already waiting for the database")
        self._ensure_thread()
        self._queue.put((event, waiter))

    async def record(self, event: ClickEvent) -> ClickReason:
        """Store one click; returns once it is committed (raises if it could not be)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ClickReason] = loop.create_future()
        self._submit(event, (loop, future))
        return await future

    def record_sync(self, event: ClickEvent, timeout: float = 60.0) -> ClickReason:
        done = threading.Event()
        box: list[Outcome] = []

        def settle(result: Outcome) -> None:
            box.append(result)
            done.set()

        self._submit(event, settle)
        if not done.wait(timeout):
            raise StoreError("the click was not stored in time")
        result = box[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        """Store what is waiting, then stop the writer."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=self.retry_for + 5)
        self._stopping = True
        self._committed.set()

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="loa-click-writer", daemon=True)
                self._thread.start()
                if self.engine.dialect.name == "sqlite":
                    threading.Thread(target=self._checkpoints, name="loa-click-checkpoint", daemon=True).start()

    def _writer_connection(self) -> Connection:
        """The writer's own connection, kept open: no pool checkout per batch, and (SQLite) no
        WAL checkpoint inside a click's commit — copying the log back into the database and
        fsyncing it took up to ~100 ms, which every waiting visitor paid. The helper thread
        below checkpoints instead, beside the writer (PASSIVE never blocks it)."""
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._connection = self.engine.connect()
            if self.engine.dialect.name == "sqlite":
                # On the driver's connection: through SQLAlchemy it would open a write transaction.
                driver = self._connection.connection.driver_connection
                assert driver is not None
                driver.execute("PRAGMA wal_autocheckpoint=0")
        return self._connection

    def _checkpoints(self) -> None:
        while not self._stopping:
            if not self._committed.wait(timeout=5.0):
                continue
            time.sleep(CHECKPOINT_EVERY)  # one checkpoint for all the commits of that second
            self._committed.clear()
            try:
                raw = self.engine.raw_connection()
                try:
                    driver = raw.driver_connection
                    assert driver is not None
                    driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    raw.close()
                self.checkpoints += 1
            except OperationalError as exc:  # busy or disk trouble: the next round tries again
                log.warning("WAL checkpoint failed: %s", exc)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            stop = item is None
            batch: list[tuple[ClickEvent, Waiter]] = [] if item is None else [item]
            # Everything that arrived while the previous commit was being fsynced rides this one.
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    continue
                batch.append(more)
            if batch:
                self._settle(batch, self._commit([event for event, _ in batch]))
            if stop:
                self._drop_connection()
                return

    def _commit(self, events: list[ClickEvent]) -> Sequence[Outcome]:
        deadline = time.monotonic() + self.retry_for
        delay = 0.05
        while True:
            try:
                reasons = store_clicks(self._writer_connection(), events, dedupe=self.dedupe)
            except OperationalError as exc:
                self._drop_connection()
                # A long recount or backup can hold the write lock beyond busy_timeout: wait it
                # out rather than lose the clicks; the requests simply wait a little longer.
                if time.monotonic() + delay > deadline:
                    log.error("could not store %d clicks: %s", len(events), exc)
                    return [StoreError(f"the click could not be stored: {exc.orig}")] * len(events)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            except Exception as exc:  # a bug must not kill the writer and strand every request
                log.exception("could not store %d clicks", len(events))
                self._drop_connection()
                return [exc] * len(events)
            self.batches += 1
            self.stored += len(events)
            self._committed.set()
            return reasons

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # it is being thrown away because it is broken
                connection.close()

    @staticmethod
    def _settle(batch: list[tuple[ClickEvent, Waiter]], outcomes: Sequence[Outcome]) -> None:
        # One wake-up per event loop for the whole batch, not one per request.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[ClickReason], Outcome]]] = {}
        for (_, waiter), outcome in zip(batch, outcomes, strict=True):
            if isinstance(waiter, tuple):
                by_loop.setdefault(waiter[0], []).append((waiter[1], outcome))
            else:
                waiter(outcome)
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_settle_futures, items)


def _settle_futures(items: list[tuple[asyncio.Future[ClickReason], Outcome]]) -> None:
    for future, outcome in items:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


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
    """Apply today's rules (crawler list, dedupe window) to every raw click again.

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
            ).order_by(col(Click.at), col(Click.id))
        ).all()
        last: dict[tuple[int, str], datetime] = {}
        changes: list[dict[str, Any]] = []
        before = after = 0
        for click_id, link_id, at, visitor, counted, reason, agent in rows:
            before += bool(counted)
            decided = _rederive(reason, agent, is_crawler)
            if decided is None:
                previous = last.get((link_id, visitor))
                if previous is not None and at - previous < window:
                    decided = ClickReason.repeat
                else:
                    decided = ClickReason.counted
                    last[(link_id, visitor)] = at
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
    with session_scope(engine) as session:
        audit.record(
            session,
            actor=actor,
            action="clicks.recount",
            details={"clicks": len(rows), "changed": len(changes), "counted_before": before, "counted_after": after},
        )
    return RecountSummary(clicks=len(rows), changed=len(changes), counted_before=before, counted_after=after)


# -- staff import --------------------------------------------------------------------------

# Header names are compared without accents, case or punctuation: "Họ tên" is ho_ten.
HEADER_ALIASES = {
    "ho_ten": "full_name",
    "ho_va_ten": "full_name",
    "full_name": "full_name",
    "name": "full_name",
    "don_vi": "unit",
    "unit": "unit",
    "so_dien_thoai": "phone",
    "dien_thoai": "phone",
    "sdt": "phone",
    "phone": "phone",
    "email": "email",
    "e_mail": "email",
}
PHONE_PATTERN = re.compile(r"^0(?:[35789]\d{8}|2\d{9})$")  # mobile 0xx xxx xxxx; landline 02xx xxxx xxxx
EMAIL_PATTERN = re.compile(r"^[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"'.]{2,}$")


def fold(text: str) -> str:
    """Vietnamese without accents ("Đơn vị" → "Don vi"): for matching, never for storing."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def header_key(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fold(header).lower()).strip("_")


def unit_code(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(name).lower()).strip("-")[:64]


def clean_text(value: str) -> str:
    return re.sub(r"\s+", " ", nfc(value)).strip()


def normalise_phone(raw: str) -> str | None:
    """A Vietnamese number as 0xxxxxxxxx, from '+84 912 345 678', '84912345678', '0912.345.678'
    or '912345678' (a spreadsheet dropped the leading zero); None if it is not one."""
    digits = re.sub(r"[\s.\-()/]", "", raw)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    elif len(digits) == 9 and digits[:1] in "35789":
        digits = "0" + digits
    return digits if PHONE_PATTERN.match(digits) else None


@dataclass(frozen=True)
class StaffRow:
    line: int
    full_name: str
    unit: str
    phone: str | None
    email: str | None


@dataclass
class ImportProblems:
    file: str
    items: list[str] = field(default_factory=list)

    def add(self, line: int, column: str, message: str) -> None:
        self.items.append(f"row {line}, column {column}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            shown = "; ".join(self.items[:20])
            more = f" (and {len(self.items) - 20} more)" if len(self.items) > 20 else ""
            raise InputError(
                f"{self.file}: {len(self.items)} problem(s), nothing imported: {shown}{more}",
                hint="fix these rows and import the whole file again",
                field="file",
            )


def _check_csv_encoding(path: Path) -> None:
    """Name the row and column of the first byte that is not UTF-8 (Excel's 'CSV' is cp1258)."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        index = raw[line_start : exc.start].count(b",")
        header = raw.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff").split(",")
        column = header[index].strip() if index < len(header) else f"#{index + 1}"
        raise InputError(
            f"{path.name}: row {line}, column {column}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); nothing imported",
            hint="save the sheet as 'CSV UTF-8 (Comma delimited)' or as .xlsx",
            field="file",
        ) from None


def read_staff_file(path: Path) -> tuple[list[StaffRow], dict[str, str]]:
    """Parse and check every row; raise one InputError naming every bad row and column.

    Returns the rows and the file's own name for each column (full_name, unit, phone, email)."""
    if not path.is_file():
        raise InputError(f"there is no file {path}", hint="check the path", field="file")
    if path.stat().st_size > STAFF_IMPORT_MAX_BYTES:
        raise InputError(f"{path.name} is larger than 20 MB", hint="split the file", field="file")
    if path.suffix.lower() in {".csv", ".txt"}:
        _check_csv_encoding(path)
    table = read_table(path)
    problems = ImportProblems(path.name)
    rows: list[StaffRow] = []
    seen_email: dict[str, int] = {}
    seen_phone: dict[str, int] = {}
    if not table:
        raise InputError(f"{path.name} has no staff rows", hint="the header is ho_ten,don_vi,so_dien_thoai,email")
    columns = {header_key(h): h for h in table[0][1]}
    mapped = {HEADER_ALIASES[k]: h for k, h in columns.items() if k in HEADER_ALIASES}
    missing = [c for c in ("full_name", "unit") if c not in mapped]
    if missing:
        raise InputError(
            f"{path.name}: the header has no {' or '.join(missing)} column (found: {', '.join(columns.values())})",
            hint="use the header ho_ten,don_vi,so_dien_thoai,email (or full_name,unit,phone,email)",
            field="file",
        )
    label = {k: mapped.get(k, k) for k in ("full_name", "unit", "phone", "email")}
    for line, values in table:

        def cell(name: str, values: dict[str, str] = values) -> str:
            header = mapped.get(name)
            return values.get(header, "") if header else ""

        name = clean_text(cell("full_name"))
        unit = clean_text(cell("unit"))
        raw_phone = cell("phone").strip()
        raw_email = cell("email").strip()
        if not name:
            problems.add(line, label["full_name"], "the name is empty")
        elif len(name) > 120:
            problems.add(line, label["full_name"], "the name is longer than 120 characters")
        if not unit:
            problems.add(line, label["unit"], "the unit is empty")
        elif not unit_code(unit):
            problems.add(line, label["unit"], f"the unit {unit!r} has no letters or digits")
        phone = normalise_phone(raw_phone) if raw_phone else None
        if raw_phone and phone is None:
            problems.add(
                line, label["phone"], f"{raw_phone!r} is not a Vietnamese phone number (e.g. 0912345678, +84912345678)"
            )
        email = raw_email.lower() if raw_email else None
        if email and not EMAIL_PATTERN.match(email):
            problems.add(line, label["email"], f"{raw_email!r} is not an email address")
            email = None
        if not raw_phone and not raw_email:
            problems.add(line, label["phone"], "give a phone number or an email (Loa tells staff apart by them)")
        if email:
            if email in seen_email:
                problems.add(line, label["email"], f"{email} is also on row {seen_email[email]}")
            seen_email.setdefault(email, line)
        if phone:
            if phone in seen_phone:
                problems.add(line, label["phone"], f"{phone} is also on row {seen_phone[phone]}")
            seen_phone.setdefault(phone, line)
        rows.append(StaffRow(line=line, full_name=name, unit=unit, phone=phone, email=email))
    problems.raise_if_any()
    return rows, label


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int
    units_created: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "units_created": self.units_created,
        }


# -- exports -------------------------------------------------------------------------------

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: str) -> str:
    """CSV cells that a spreadsheet would run as a formula get a leading quote (OWASP)."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """CSV (UTF-8 with BOM, so Excel reads the accents) or XLSX (every cell typed as text)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows([[neutralise_cell(cell) for cell in r] for r in rows])
        return
    if suffix != ".xlsx":
        raise InputError(f"cannot write {path.name}", hint="name the file .csv or .xlsx", field="output")
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("lien_ket")
    for values in [list(header), *[list(r) for r in rows]]:
        cells = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value)
            # Typed as a string, a cell is never a formula, whatever it starts with.
            cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    workbook.save(path)


# -- the service ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkTarget:
    """What a tracked link needs to answer a request, read once and cached."""

    share_link_id: int
    code: str
    staff_id: int
    publication_id: int
    destination: str | None  # a safe permalink of a published publication, else None
    title: str
    description: str
    image: str | None
    site_name: str


@dataclass(frozen=True)
class OfferedPost:
    post_id: int
    text: str
    cover: str | None
    published_at: datetime
    channels: list[str]
    # platform button → publication id whose tracked link it shares
    buttons: dict[str, int]


@dataclass(frozen=True)
class SharePageData:
    staff_id: int
    full_name: str
    unit: str
    posts: list[OfferedPost]
    shares_this_month: int
    clicks_this_month: int
    unit_rank: int
    unit_count: int
    days: int


def _new_token() -> str:
    return secrets.token_urlsafe(SHARE_TOKEN_BYTES)


def _new_code() -> str:
    return secrets.token_urlsafe(LINK_CODE_BYTES)


def month_start(settings: Settings, now: datetime) -> datetime:
    local = now.astimezone(settings.tz)
    return datetime(local.year, local.month, 1, tzinfo=settings.tz).astimezone(UTC)


def _first_line(text: str, limit: int) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _channel_name(settings: Settings, channel_id: str) -> str:
    for channel in settings.channels:
        if channel.id == channel_id:
            return channel.name
    return channel_id


def _summary(text: str, limit: int) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class SharingService:
    """Everything behind `loa staff …`, `loa share …`, the share page and tracked links."""

    def __init__(self, settings: Settings, engine: Engine, keys: SharingKeys | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self._keys = keys
        self.is_crawler = CrawlerDetector.from_settings(settings)

    @property
    def keys(self) -> SharingKeys:
        if self._keys is None:
            self._keys = load_keys(self.settings)
        return self._keys

    # -- addresses ----------------------------------------------------------------------

    def share_url(self, token: str) -> str:
        return f"{self.settings.public_url}/s/{token}"

    def link_url(self, code: str) -> str:
        return f"{self.settings.public_url}/l/{code}"

    def cover_for(self, publication: Publication) -> str | None:
        """The cover shown with a publication (and its og:image): the one rendered for it when
        the post was queued, else its channel's default cover, else any channel's."""
        channels: list[ChannelSettings] = [c for c in self.settings.channels if c.id == publication.channel_id]
        channels += [c for c in self.settings.channels if c.id != publication.channel_id]
        for index, channel in enumerate(channels):
            url = cover_url(self.settings, channel, publication.cover_file if index == 0 else None)
            if url:
                return url
        return None

    # -- staff --------------------------------------------------------------------------

    def import_staff(self, path: Path, *, actor: str = "cli") -> ImportSummary:
        rows, label = read_staff_file(path)
        problems = ImportProblems(path.name)
        created = updated = unchanged = 0
        new_units: list[str] = []
        with session_scope(self.engine) as session:
            units = {u.code: u for u in session.exec(select(Unit))}
            staff = list(session.exec(select(Staff)))
            by_email = {s.email: s for s in staff if s.email}
            by_phone = {s.phone: s for s in staff if s.phone}
            matched: dict[int, int] = {}
            plan: list[tuple[StaffRow, Staff | None]] = []
            for row in rows:
                existing = (by_email.get(row.email) if row.email else None) or (
                    by_phone.get(row.phone) if row.phone else None
                )
                if existing is not None and existing.id is not None:
                    if existing.id in matched:
                        problems.add(row.line, label["email"], f"same staff member as row {matched[existing.id]}")
                    matched[existing.id] = row.line
                owner = by_email.get(row.email) if row.email else None
                if owner is not None and owner is not existing:
                    problems.add(row.line, label["email"], f"{row.email} is another staff member's (id {owner.id})")
                owner = by_phone.get(row.phone) if row.phone else None
                if owner is not None and owner is not existing:
                    problems.add(row.line, label["phone"], f"{row.phone} is another staff member's (id {owner.id})")
                plan.append((row, existing))
            problems.raise_if_any()
            now = utcnow()
            for row, existing in plan:
                code = unit_code(row.unit)
                unit = units.get(code)
                if unit is None:
                    unit = Unit(code=code, name=row.unit)
                    session.add(unit)
                    session.flush()
                    units[code] = unit
                    new_units.append(row.unit)
                assert unit.id is not None
                if existing is None:
                    session.add(
                        Staff(
                            unit_id=unit.id,
                            full_name=row.full_name,
                            phone=row.phone,
                            email=row.email,
                            share_token=_new_token(),
                            created_at=now,
                        )
                    )
                    created += 1
                    continue
                before = (existing.full_name, existing.unit_id, existing.phone, existing.email)
                existing.full_name = row.full_name
                existing.unit_id = unit.id
                existing.phone = row.phone or existing.phone
                existing.email = row.email or existing.email
                if before == (existing.full_name, existing.unit_id, existing.phone, existing.email):
                    unchanged += 1
                else:
                    updated += 1
                    session.add(existing)
            audit.record(
                session,
                actor=actor,
                action="staff.import",
                object=path.name,
                details={"created": created, "updated": updated, "unchanged": unchanged, "units_created": new_units},
            )
        return ImportSummary(created=created, updated=updated, unchanged=unchanged, units_created=new_units)

    def list_staff(self, *, include_inactive: bool = False) -> list[dict[str, Any]]:
        with session_scope(self.engine, read_only=True) as session:
            query = select(Staff, Unit).join(Unit, col(Unit.id) == col(Staff.unit_id))
            if not include_inactive:
                query = query.where(col(Staff.active).is_(True))
            rows = list(session.exec(query))
        rows.sort(key=lambda pair: (fold(pair[1].name).lower(), fold(pair[0].full_name).lower(), pair[0].id or 0))
        return [
            {
                "id": s.id,
                "full_name": s.full_name,
                "unit": u.name,
                "phone": s.phone,
                "email": s.email,
                "share_url": self.share_url(s.share_token),
                "active": s.active,
            }
            for s, u in rows
        ]

    def find_staff(self, session: Session, ref: str) -> Staff:
        """STAFF as given on the command line: an id, an email or a phone number."""
        ref = ref.strip()
        found: Staff | None = None
        if ref.isdigit() and len(ref) < 9:
            found = session.get(Staff, int(ref))
        elif "@" in ref:
            found = session.exec(select(Staff).where(col(Staff.email) == ref.lower())).first()
        else:
            phone = normalise_phone(ref)
            if phone:
                found = session.exec(select(Staff).where(col(Staff.phone) == phone)).first()
        if found is None:
            raise NotFound(
                f"no staff member {ref!r}", hint="give an id, email or phone from `loa staff list`", field="staff"
            )
        return found

    def set_active(self, ref: str, active: bool, *, actor: str = "cli") -> dict[str, Any]:
        with session_scope(self.engine) as session:
            staff = self.find_staff(session, ref)
            if staff.active != active:
                staff.active = active
                staff.deactivated_at = None if active else utcnow()
                session.add(staff)
                audit.record(
                    session,
                    actor=actor,
                    action="staff.activate" if active else "staff.deactivate",
                    object=f"staff:{staff.id}",
                )
            return {"id": staff.id, "full_name": staff.full_name, "active": staff.active}

    # -- links --------------------------------------------------------------------------

    def link_for(self, session: Session, *, publication_id: int, staff_id: int) -> ShareLink:
        """The tracked link of a staff member × publication, made on first use."""
        query = select(ShareLink).where(
            col(ShareLink.publication_id) == publication_id, col(ShareLink.staff_id) == staff_id
        )
        link = session.exec(query).first()
        if link is not None:
            return link
        for _ in range(5):
            candidate = ShareLink(
                code=_new_code(), publication_id=publication_id, staff_id=staff_id, created_at=utcnow()
            )
            try:
                with session.begin_nested():
                    session.add(candidate)
            except IntegrityError:
                # Either the same pair was made meanwhile (take it) or the code collided (retry).
                link = session.exec(query).first()
                if link is not None:
                    return link
                continue
            return candidate
        raise StoreError("could not make a unique tracked-link code", hint="try again")

    def _post_publications(self, session: Session, post_id: int, channel: str | None) -> list[Publication]:
        if session.get(Post, post_id) is None:
            raise NotFound(f"there is no post #{post_id}", hint="see `loa post list`", field="post")
        query = select(Publication).where(col(Publication.post_id) == post_id).order_by(col(Publication.id))
        publications = [
            p for p in session.exec(query) if p.status not in {PublicationStatus.cancelled, PublicationStatus.draft}
        ]
        if channel is not None:
            self.settings.channel(channel)  # an unknown id is a NotFound naming the known ones
            publications = [p for p in publications if p.channel_id == channel]
            if not publications:
                raise NotFound(f"post #{post_id} has no publication on {channel}", field="channel")
        if not publications:
            raise InputError(f"post #{post_id} has no publication to share", hint="it was cancelled", field="post")
        return publications

    def links(self, *, post_id: int, staff_ref: str, channel: str | None = None) -> list[dict[str, Any]]:
        """`loa share link`: the staff member's tracked link(s) to a post (one per channel)."""
        with session_scope(self.engine) as session:
            staff = self.find_staff(session, staff_ref)
            assert staff.id is not None
            out = []
            for publication in self._post_publications(session, post_id, channel):
                assert publication.id is not None
                link = self.link_for(session, publication_id=publication.id, staff_id=staff.id)
                out.append(
                    {
                        "channel": publication.channel_id,
                        "publication": publication.id,
                        "status": publication.status.value,
                        "code": link.code,
                        "url": self.link_url(link.code),
                    }
                )
        return out

    def export_links(
        self, *, post_id: int, path: Path, channel: str | None = None, actor: str = "cli"
    ) -> dict[str, Any]:
        """Every active staff member's tracked link(s) to a post, as a sheet to send round."""
        rows: list[list[str]] = []
        with session_scope(self.engine) as session:
            publications = self._post_publications(session, post_id, channel)
            staff_rows = list(
                session.exec(
                    select(Staff, Unit)
                    .join(Unit, col(Unit.id) == col(Staff.unit_id))
                    .where(col(Staff.active).is_(True))
                )
            )
            staff_rows.sort(key=lambda pair: (fold(pair[1].name).lower(), fold(pair[0].full_name).lower()))
            for staff, unit in staff_rows:
                for publication in publications:
                    assert staff.id is not None and publication.id is not None
                    link = self.link_for(session, publication_id=publication.id, staff_id=staff.id)
                    rows.append(
                        [
                            staff.full_name,
                            unit.name,
                            staff.phone or "",
                            staff.email or "",
                            publication.channel_id,
                            self.link_url(link.code),
                            self.share_url(staff.share_token),
                        ]
                    )
            header = ["ho_ten", "don_vi", "so_dien_thoai", "email", "kenh", "lien_ket", "trang_chia_se"]
            path.parent.mkdir(parents=True, exist_ok=True)
            write_table(path, header, rows)
            audit.record(
                session,
                actor=actor,
                action="share.export",
                object=f"post:{post_id}",
                details={"file": str(path), "rows": len(rows)},
            )
        return {"file": str(path), "rows": len(rows), "staff": len(staff_rows), "publications": len(publications)}

    # -- shares -------------------------------------------------------------------------

    def record_offline(
        self,
        *,
        post_id: int,
        staff_ref: str,
        platform: str,
        note: str | None = None,
        channel: str | None = None,
        actor: str = "cli",
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """`loa share record`: a share reported by phone or seen in a Zalo group (kind self_report)."""
        if platform not in REPORT_PLATFORMS:
            raise InputError(f"unknown platform {platform!r}", hint="use facebook, zalo or other", field="platform")
        note = clean_text(note) if note else None
        if note and len(note) > MAX_NOTE:
            raise InputError(f"the note is longer than {MAX_NOTE} characters", field="note")
        with session_scope(self.engine) as session:
            staff = self.find_staff(session, staff_ref)
            if not staff.active:
                raise InputError(
                    f"staff member {staff.full_name} (id {staff.id}) is deactivated",
                    hint=f"`loa staff activate {staff.id}` first if the share is theirs",
                    field="staff",
                )
            publications = [
                p for p in self._post_publications(session, post_id, channel) if p.status == PublicationStatus.published
            ]
            if not publications:
                raise InputError(
                    f"post #{post_id} is not published yet", hint="record shares of published posts", field="post"
                )
            chosen = next((p for p in publications if p.platform == platform), publications[0])
            assert chosen.id is not None and staff.id is not None
            link = self.link_for(session, publication_id=chosen.id, staff_id=staff.id)
            assert link.id is not None
            share = Share(
                share_link_id=link.id, platform=platform, kind=ShareKind.self_report, at=at or utcnow(), note=note
            )
            session.add(share)
            session.flush()
            audit.record(
                session,
                actor=actor,
                action="share.record",
                object=f"share:{share.id}",
                details={"staff": staff.id, "publication": chosen.id, "platform": platform},
            )
            return {
                "id": share.id,
                "staff": staff.id,
                "publication": chosen.id,
                "channel": chosen.channel_id,
                "platform": platform,
                "kind": ShareKind.self_report.value,
                "note": note,
                "at": share.at.isoformat(),
            }

    def record_tap(self, *, staff_id: int, publication_id: int, platform: str) -> tuple[str, bool]:
        """A tap on a share button: (the tracked link's code, whether a new share was stored).

        Refuses (NotFound) a publication that is not published on a configured channel."""
        if platform not in SHARE_PLATFORMS:
            raise InputError(f"unknown platform {platform!r}", field="platform")
        channels = {c.id for c in self.settings.channels}
        with session_scope(self.engine) as session:
            publication = session.get(Publication, publication_id)
            if (
                publication is None
                or publication.status != PublicationStatus.published
                or publication.channel_id not in channels
            ):
                raise NotFound("no such published post", field="publication")
            link = self.link_for(session, publication_id=publication_id, staff_id=staff_id)
            assert link.id is not None
            now = utcnow()
            recent = session.exec(
                select(Share.id).where(
                    col(Share.share_link_id) == link.id,
                    col(Share.platform) == platform,
                    col(Share.kind) == ShareKind.button,
                    col(Share.at) > now - DOUBLE_TAP,
                )
            ).first()
            if recent is not None:
                return link.code, False
            session.add(Share(share_link_id=link.id, platform=platform, kind=ShareKind.button, at=now))
            return link.code, True

    # -- the share page -----------------------------------------------------------------

    def staff_by_token(self, token: str) -> Staff | None:
        """The active staff member a share token belongs to; None for anything else."""
        if not TOKEN_PATTERN.match(token):
            return None
        with session_scope(self.engine, read_only=True) as session:
            staff = session.exec(select(Staff).where(col(Staff.share_token) == token)).first()
        if staff is None or not staff.active or not hmac.compare_digest(staff.share_token, token):
            return None
        return staff

    def share_page(self, staff: Staff, *, now: datetime | None = None) -> SharePageData:
        now = now or utcnow()
        days = self.settings.sharing.page_days
        channels = {c.id: c for c in self.settings.channels}
        assert staff.id is not None
        with session_scope(self.engine, read_only=True) as session:
            unit = session.get(Unit, staff.unit_id)
            publications = list(
                session.exec(
                    select(Publication)
                    .where(
                        col(Publication.status) == PublicationStatus.published,
                        col(Publication.published_at) >= now - timedelta(days=days),
                        col(Publication.channel_id).in_(list(channels)),
                    )
                    .order_by(col(Publication.published_at).desc(), col(Publication.id))
                    .limit(200)
                )
            )
            start = month_start(self.settings, now)
            mine = session.exec(
                select(func.count())
                .select_from(Share)
                .join(ShareLink, col(ShareLink.id) == col(Share.share_link_id))
                .where(col(ShareLink.staff_id) == staff.id, col(Share.at) >= start)
            ).one()
            clicks = session.exec(
                select(func.count())
                .select_from(Click)
                .join(ShareLink, col(ShareLink.id) == col(Click.share_link_id))
                .where(col(ShareLink.staff_id) == staff.id, col(Click.counted).is_(True), col(Click.at) >= start)
            ).one()
            per_unit = dict(
                session.exec(
                    select(col(Staff.unit_id), func.count())
                    .select_from(Share)
                    .join(ShareLink, col(ShareLink.id) == col(Share.share_link_id))
                    .join(Staff, col(Staff.id) == col(ShareLink.staff_id))
                    .where(col(Share.at) >= start)
                    .group_by(col(Staff.unit_id))
                ).all()
            )
            unit_count = session.exec(select(func.count()).select_from(Unit)).one()
        grouped: dict[int, list[Publication]] = {}
        for publication in publications:
            grouped.setdefault(publication.post_id, []).append(publication)
        posts: list[OfferedPost] = []
        for post_id, group in grouped.items():
            by_platform = {p.platform: p for p in reversed(group)}
            text_source = by_platform.get("facebook") or group[0]
            buttons: dict[str, int] = {}
            for platform in SHARE_PLATFORMS:
                chosen = by_platform.get(platform) or by_platform.get("facebook") or group[0]
                assert chosen.id is not None
                buttons[platform] = chosen.id
            posts.append(
                OfferedPost(
                    post_id=post_id,
                    text=text_source.text,
                    cover=self.cover_for(text_source),
                    published_at=max(p.published_at or now for p in group),
                    channels=[channels[p.channel_id].name for p in group],
                    buttons=buttons,
                )
            )
        own = per_unit.get(staff.unit_id, 0)
        rank = 1 + sum(1 for count in per_unit.values() if count > own)
        return SharePageData(
            staff_id=staff.id,
            full_name=staff.full_name,
            unit=unit.name if unit else "",
            posts=posts[:30],
            shares_this_month=int(mine),
            clicks_this_month=int(clicks),
            unit_rank=rank,
            unit_count=max(int(unit_count), rank),
            days=days,
        )

    # -- tracked links ------------------------------------------------------------------

    def resolve(self, code: str) -> LinkTarget | None:
        """What /l/{code} needs; None for a code that does not exist."""
        if not CODE_PATTERN.match(code):
            return None
        with session_scope(self.engine, read_only=True) as session:
            found = session.exec(
                select(ShareLink, Publication)
                .join(Publication, col(Publication.id) == col(ShareLink.publication_id))
                .where(col(ShareLink.code) == code)
            ).first()
            if found is None:
                return None
            link, publication = found
            # A Facebook post has no title of its own; its Zalo twin's title previews better.
            titled = (
                publication.title
                or session.exec(
                    select(Publication.title).where(
                        col(Publication.post_id) == publication.post_id, col(Publication.title).is_not(None)
                    )
                ).first()
            )
        assert link.id is not None
        published = publication.status == PublicationStatus.published
        hosts = self.settings.sharing.redirect_hosts
        destination = safe_destination(publication.permalink, hosts) if published else None
        if published and destination is None:
            log.warning("publication %s has no permalink to redirect to: %r", publication.id, publication.permalink)
        return LinkTarget(
            share_link_id=link.id,
            code=link.code,
            staff_id=link.staff_id,
            publication_id=publication.id or 0,
            destination=destination,
            title=titled or _first_line(publication.text, 90),
            description=publication.description or _summary(publication.text, 200),
            image=self.cover_for(publication),
            site_name=_channel_name(self.settings, publication.channel_id),
        )


__all__ = [
    "DEFAULT_CRAWLER_PATTERNS",
    "ClickEvent",
    "ClickReason",
    "ClickRecorder",
    "CrawlerDetector",
    "SharingService",
    "client_address",
    "neutralise_cell",
    "precheck",
    "recount",
    "store_clicks",
    "visitor_hash",
]
