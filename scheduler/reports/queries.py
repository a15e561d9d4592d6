"""Read-only aggregates over the raw rows: staff shares and clicks, posts, reach, the monthly summary.

Every figure is one SQL aggregate over raw rows (``Share``, ``Click``, ``Publication``,
``MetricSnapshot``), never a Python loop over events, so that hand-written SQL reproduces it
and a large office's year stays fast. Totals are the sums of the rows they close.

Counting rules, in one place:

- A share is one ``Share`` row, dated by its own ``at``: ``button`` (tapped on the share
  page) plus ``self_report`` (recorded offline); both are also given separately.
- A click counts only when ``Click.counted`` is true. The tracked link decided that when the
  click arrived (one visitor per link per 24 h, no HEAD, no crawlers); raw rows keep the rest.
- A staff member's shares and clicks go to their current unit.
- A campaign's figures count only inside its dates (``starts_on``..``ends_on``, local days)
  and the period; every other share or click is on the row "Ngoài chiến dịch", so a report
  by campaign closes on the same totals as a report by staff.
- Periods are whole local days in the configured time zone, both ends included; days are
  local days. Everything is stored in UTC.
- Views and reach of a publication are its latest snapshot; a channel's or campaign's are
  the sums over its publications published in the period (reach summed per post, so a
  person reached by two posts counts twice — the platforms give no unique reach across
  posts). A figure no platform gave (Zalo has no reach) stays ``None``, never 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, case, func, null, or_
from sqlalchemy import select as sa_select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect
from sqlmodel import col

from scheduler.bounds import check_period_days, check_rows
from scheduler.channels.registry import registry
from scheduler.config import Settings
from scheduler.errors import InputError
from scheduler.formatting import parse_date, parse_month, vn_date
from scheduler.i18n import msg, translate
from scheduler.i18n.formats import format_day, format_int, format_share
from scheduler.models import (
    AudienceSnapshot,
    Campaign,
    Click,
    MetricSnapshot,
    Post,
    Publication,
    PublicationStatus,
    RollupDay,
    RollupPublicationDay,
    RollupStaffMonth,
    Share,
    ShareKind,
    ShareLink,
    Staff,
    Unit,
)
from scheduler.sharing.rollups import stored_zone
from scheduler.store import session_scope

OUTSIDE_CAMPAIGNS = "Ngoài chiến dịch"


class Dimension(StrEnum):
    staff = "staff"
    unit = "unit"
    campaign = "campaign"
    channel = "channel"
    day = "day"


def parse_dimension(value: str) -> Dimension:
    try:
        return Dimension(value.strip().lower())
    except ValueError:
        raise InputError(
            msg("error.not_a_dimension", value=value),
            hint=msg("hint.one_of", choices=", ".join(d.value for d in Dimension)),
            field="by",
        ) from None


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant a local day starts."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """Whole local days, ``start`` and ``end`` included."""

    start: date
    end: date
    tz: ZoneInfo

    @classmethod
    def parse(cls, start: str, end: str, tz: ZoneInfo) -> Period:
        first, last = parse_date(start, field="from"), parse_date(end, field="to")
        if last < first:
            raise InputError(
                msg("error.from_after_to", first=vn_date(first), last=vn_date(last)),
                hint=msg("hint.from_before_to"),
                field="from",
            )
        return cls(first, last, tz)

    @classmethod
    def month(cls, year: int, month: int, tz: ZoneInfo) -> Period:
        start = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls(start, following - timedelta(days=1), tz)

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """[first instant, first instant after) in UTC."""
        return local_midnight(self.start, self.tz), local_midnight(self.end + timedelta(days=1), self.tz)

    @property
    def length(self) -> int:
        """How many days the period has."""
        return (self.end - self.start).days + 1

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def clip(self, starts_on: date | None, ends_on: date | None) -> Period | None:
        """The part of this period inside [starts_on, ends_on] (open ends allowed), or None."""
        start = max(self.start, starts_on) if starts_on else self.start
        end = min(self.end, ends_on) if ends_on else self.end
        return Period(start, end, self.tz) if start <= end else None


@dataclass(frozen=True)
class Scope:
    """A report narrowed to one unit's staff and/or one campaign's publications (inside its dates).

    Empty, a report covers everything. A scoped report reads the staff × publication × day
    rollup (or the raw rows), since the coarser rollups cannot be narrowed."""

    unit_id: int | None = None
    campaign_id: int | None = None
    campaign_days: tuple[date, date] | None = None  # the campaign's dates inside the period
    # The units a unit-scoped account sees (its own and those below); None: every unit.
    unit_ids: frozenset[int] | None = None

    @property
    def empty(self) -> bool:
        return self.unit_id is None and self.campaign_id is None and self.unit_ids is None

    @property
    def narrows_units(self) -> bool:
        return self.unit_id is not None or self.unit_ids is not None

    def unit_condition(self) -> Any:
        """The staff condition of the units this scope keeps to."""
        if self.unit_id is not None and self.unit_ids is not None:
            return col(Staff.unit_id).in_(self.unit_ids & {self.unit_id})
        if self.unit_id is not None:
            return col(Staff.unit_id) == self.unit_id
        return col(Staff.unit_id).in_(self.unit_ids or frozenset())


EVERYTHING = Scope()


# -- rows --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareRow:
    key: str | int | None
    label: str
    unit: str | None
    shares: int
    button: int
    self_report: int
    clicks: int
    day: date | None = None  # rows of a report by day

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "shares": self.shares,
            "clicks": self.clicks,
            "button": self.button,
            "self_report": self.self_report,
        }


@dataclass(frozen=True)
class Totals:
    shares: int = 0
    button: int = 0
    self_report: int = 0
    clicks: int = 0

    @classmethod
    def of(cls, rows: Iterable[ShareRow]) -> Totals:
        rows = list(rows)
        return cls(
            shares=sum(r.shares for r in rows),
            button=sum(r.button for r in rows),
            self_report=sum(r.self_report for r in rows),
            clicks=sum(r.clicks for r in rows),
        )

    def as_json(self) -> dict[str, int]:
        return {"shares": self.shares, "clicks": self.clicks, "button": self.button, "self_report": self.self_report}


@dataclass(frozen=True)
class ShareReport:
    period: Period
    by: Dimension
    rows: list[ShareRow]

    @property
    def totals(self) -> Totals:
        return Totals.of(self.rows)

    def as_json(self) -> dict[str, Any]:
        """The shape of `loa report shares --format json` (docs/architecture.md, "Output shapes kept stable")."""
        return {
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "by": self.by.value,
            "rows": [row.as_json() for row in self.rows],
            "totals": self.totals.as_json(),
        }


# -- SQL building blocks -----------------------------------------------------------------


def _constant_offset(period: Period) -> timedelta | None:
    """The zone's UTC offset if it is the same on every day of the period (no DST change)."""
    offsets = {local_midnight(day, period.tz).astimezone(period.tz).utcoffset() for day in period.days()}
    offsets.add((local_midnight(period.end + timedelta(days=1), period.tz)).astimezone(period.tz).utcoffset())
    return offsets.pop() if len(offsets) == 1 else None


def _local_day(session: Session, period: Period) -> Callable[[Any], ColumnElement[Any]]:
    """SQL giving the local day (``YYYY-MM-DD``) of a stored UTC timestamp column."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        zone = str(period.tz.key)
        return lambda at: func.to_char(func.timezone(zone, func.timezone("UTC", at)), "YYYY-MM-DD")
    offset = _constant_offset(period)
    if offset is not None:
        modifier = f"{int(offset.total_seconds() // 60):+d} minutes"
        return lambda at: func.date(at, modifier)
    # A DST change inside the period: let Python's zoneinfo decide, row by row (slower, exact).
    tz = period.tz

    def local(stored: str | None) -> str | None:
        if stored is None:
            return None
        return datetime.fromisoformat(stored).replace(tzinfo=UTC).astimezone(tz).date().isoformat()

    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    raw.create_function("loa_local_day", 1, local, deterministic=True)
    return lambda at: func.loa_local_day(at)


@dataclass(frozen=True)
class _Window:
    campaign_id: int
    start: datetime
    end: datetime


def _campaign_windows(session: Session, period: Period) -> tuple[list[Campaign], list[_Window]]:
    """Campaigns overlapping the period, and each one's [start, end) in UTC inside it."""
    campaigns = list(session.scalars(sa_select(Campaign).order_by(col(Campaign.id))))
    windows: list[_Window] = []
    for campaign in campaigns:
        part = period.clip(campaign.starts_on, campaign.ends_on)
        if part is not None and campaign.id is not None:
            windows.append(_Window(campaign.id, *part.bounds))
    inside = {w.campaign_id for w in windows}
    return [c for c in campaigns if c.id in inside], windows


def _grouped_events(
    session: Session,
    period: Period,
    by: Dimension,
    event: type[Share] | type[Click],
    *,
    windows: Sequence[_Window] = (),
    day_of: Callable[[Any], ColumnElement[Any]] | None = None,
    scope: Scope = EVERYTHING,
) -> dict[Any, tuple[int, int, int]]:
    """key → (count, button, self_report) of one kind of event in the period, in one query."""
    at = col(event.at)
    link = col(event.share_link_id)
    lo, hi = period.bounds
    joins: list[tuple[Any, ColumnElement[bool]]] = []
    via_link = (ShareLink, col(ShareLink.id) == link)
    key: Any  # a column or an SQL expression
    if by is Dimension.day:
        assert day_of is not None
        key = day_of(at)
    elif by is Dimension.staff:
        key, joins = col(ShareLink.staff_id), [via_link]
    elif by is Dimension.unit:
        key, joins = col(Staff.unit_id), [via_link, (Staff, col(Staff.id) == col(ShareLink.staff_id))]
    elif by is Dimension.channel:
        key = col(Publication.channel_id)
        joins = [via_link, (Publication, col(Publication.id) == col(ShareLink.publication_id))]
    else:
        joins = [
            via_link,
            (Publication, col(Publication.id) == col(ShareLink.publication_id)),
            (Post, col(Post.id) == col(Publication.post_id)),
        ]
        # Inside a campaign's own dates the event is the campaign's; anywhere else it is not.
        key = (
            case(
                *[
                    (and_(col(Post.campaign_id) == w.campaign_id, at >= w.start, at < w.end), w.campaign_id)
                    for w in windows
                ]
            )
            if windows
            else null()
        )
    columns: list[Any] = [key.label("k"), func.count().label("n")]
    if event is Share:
        columns += [
            func.sum(case((col(Share.kind) == ShareKind.button, 1), else_=0)),
            func.sum(case((col(Share.kind) == ShareKind.self_report, 1), else_=0)),
        ]
    if not scope.empty:
        needed = [table for table, _ in joins]
        if ShareLink not in needed:
            joins.append(via_link)
        if scope.narrows_units and Staff not in needed:
            joins.append((Staff, col(Staff.id) == col(ShareLink.staff_id)))
        if scope.campaign_id is not None:
            if Publication not in needed:
                joins.append((Publication, col(Publication.id) == col(ShareLink.publication_id)))
            if Post not in needed:
                joins.append((Post, col(Post.id) == col(Publication.post_id)))
    query = sa_select(*columns).select_from(event)
    for table, on in joins:
        query = query.join(table, on)
    query = query.where(at >= lo, at < hi)
    if scope.narrows_units:
        query = query.where(scope.unit_condition())
    if scope.campaign_id is not None:
        query = query.where(col(Post.campaign_id) == scope.campaign_id)
        if scope.campaign_days is not None:
            first, last = Period(*scope.campaign_days, period.tz).bounds
            query = query.where(at >= first, at < last)
    if event is Click:
        query = query.where(col(Click.counted).is_(True))
    query = query.group_by(key)
    found: dict[Any, tuple[int, int, int]] = {}
    for row in session.execute(query):
        count = int(row[1])
        found[row[0]] = (count, int(row[2] or 0), int(row[3] or 0)) if event is Share else (count, 0, 0)
    return found


# -- the same aggregates over the rollups -------------------------------------------------


def uses_rollups(session: Session, period: Period) -> bool:
    """Whether the rollups answer this period: their days are local days of the period's zone.

    The rollups are written in the transaction of every raw row, so they hold whole and partial
    days alike; only a zone other than theirs (a report asked in another zone before
    `loa init` or `loa share recount` rebuilt them) sends a report back to the raw rows."""
    zone = stored_zone(session)
    return zone is not None and zone.key == period.tz.key


def _months_and_days(period: Period) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """The period as whole local months (first and last month's first day) and the days left over."""
    first = period.start if period.start.day == 1 else _next_month(period.start)
    after = period.end + timedelta(days=1)
    last_start = after.replace(day=1)  # months starting before this one end inside the period
    if first >= last_start:
        return None, [(period.start, period.end)]
    days = []
    if period.start < first:
        days.append((period.start, first - timedelta(days=1)))
    if last_start <= period.end:
        days.append((last_start, period.end))
    last_month = _previous_month(last_start)
    return (first, last_month), days


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _previous_month(first_of_month: date) -> date:
    return date(first_of_month.year - (first_of_month.month == 1), (first_of_month.month - 2) % 12 + 1, 1)


_Figures = dict[Any, tuple[int, int, int]]


def _figures_of(session: Session, query: Any) -> tuple[_Figures, _Figures]:
    shares: _Figures = {}
    clicks: _Figures = {}
    for key, button, self_report, counted in session.execute(query):
        button, self_report, counted = int(button or 0), int(self_report or 0), int(counted or 0)
        old_shares = shares.get(key, _NONE)
        shares[key] = (old_shares[0] + button + self_report, old_shares[1] + button, old_shares[2] + self_report)
        clicks[key] = (clicks.get(key, _NONE)[0] + counted, 0, 0)
    return shares, clicks


def _merge(into: tuple[_Figures, _Figures], more: tuple[_Figures, _Figures]) -> tuple[_Figures, _Figures]:
    for target, extra in zip(into, more, strict=True):
        for key, (a, b, c) in extra.items():
            x, y, z = target.get(key, _NONE)
            target[key] = (x + a, y + b, z + c)
    return into


def _sums(table: Any) -> list[Any]:
    return [func.sum(col(table.button)), func.sum(col(table.self_report)), func.sum(col(table.clicks))]


def _grouped_rollups(
    session: Session, period: Period, by: Dimension, campaigns: Sequence[Campaign]
) -> tuple[_Figures, _Figures]:
    """key → figures, as :func:`_grouped_events` gives them, read from the rollups: whole
    months of a report by staff or unit from the staff × month rollup, the days around them
    from the staff × publication × day one; channels, campaigns and days from the
    publication × day rollup (a year of a whole country's publications is a few hundred
    thousand rows)."""
    if by in (Dimension.staff, Dimension.unit):
        months, days = _months_and_days(period)
        found: tuple[_Figures, _Figures] = ({}, {})
        grains: list[tuple[Any, Any, list[tuple[date, date]]]] = [
            (RollupStaffMonth, RollupStaffMonth.month, [months] if months else []),
            (RollupDay, RollupDay.day, days),
        ]
        for rollup, column, ranges in grains:
            if not ranges:
                continue
            staff_key = col(rollup.staff_id)
            group: Any = staff_key if by is Dimension.staff else col(Staff.unit_id)
            grouped = sa_select(group, *_sums(rollup)).select_from(rollup)
            if by is Dimension.unit:
                grouped = grouped.join(Staff, col(Staff.id) == staff_key)
            grouped = grouped.where(or_(*[col(column).between(lo, hi) for lo, hi in ranges])).group_by(group)
            _merge(found, _figures_of(session, grouped))
        return found
    table = RollupPublicationDay
    day = col(table.day)
    in_period = day.between(period.start, period.end)
    if by is Dimension.day:
        query = sa_select(day, *_sums(table)).where(in_period).group_by(day)
        shares, clicks = _figures_of(session, query)
        return {k.isoformat(): v for k, v in shares.items()}, {k.isoformat(): v for k, v in clicks.items()}
    if by is Dimension.channel:
        channel = col(table.channel_id)
        return _figures_of(session, sa_select(channel, *_sums(table)).where(in_period).group_by(channel))
    # Inside a campaign's own dates a day's figures are the campaign's; anywhere else they are not.
    parts = [(c.id, period.clip(c.starts_on, c.ends_on)) for c in campaigns]
    whens = [
        (and_(col(table.campaign_id) == cid, day.between(part.start, part.end)), cid)
        for cid, part in parts
        if part is not None
    ]
    key: Any = case(*whens) if whens else null()
    return _figures_of(session, sa_select(key, *_sums(table)).where(in_period).group_by(key))


def _scoped_from(query: Any, scope: Scope, *, staff: bool, posts: bool) -> Any:
    """The joins and conditions a scope (and the key) needs on the staff × publication × day rollup."""
    if staff or scope.narrows_units:
        query = query.join(Staff, col(Staff.id) == col(RollupDay.staff_id))
    if posts or scope.campaign_id is not None:
        query = query.join(Publication, col(Publication.id) == col(RollupDay.publication_id)).join(
            Post, col(Post.id) == col(Publication.post_id)
        )
    if scope.narrows_units:
        query = query.where(scope.unit_condition())
    if scope.campaign_id is not None:
        query = query.where(col(Post.campaign_id) == scope.campaign_id)
        if scope.campaign_days is not None:
            query = query.where(col(RollupDay.day).between(*scope.campaign_days))
    return query


def _scoped_rollups(
    session: Session, period: Period, by: Dimension, campaigns: Sequence[Campaign], scope: Scope
) -> tuple[_Figures, _Figures]:
    day = col(RollupDay.day)
    key: Any
    if by is Dimension.day:
        key = day
    elif by is Dimension.staff:
        key = col(RollupDay.staff_id)
    elif by is Dimension.unit:
        key = col(Staff.unit_id)
    elif by is Dimension.channel:
        key = col(Publication.channel_id)
    else:
        parts = [(c.id, period.clip(c.starts_on, c.ends_on)) for c in campaigns]
        whens = [
            (and_(col(Post.campaign_id) == cid, day.between(part.start, part.end)), cid)
            for cid, part in parts
            if part is not None
        ]
        key = case(*whens) if whens else null()
    query = sa_select(key, *_sums(RollupDay)).select_from(RollupDay)
    query = _scoped_from(query, scope, staff=by is Dimension.unit, posts=by in (Dimension.channel, Dimension.campaign))
    query = query.where(day.between(period.start, period.end)).group_by(key)
    shares, clicks = _figures_of(session, query)
    if by is Dimension.day:
        return {k.isoformat(): v for k, v in shares.items()}, {k.isoformat(): v for k, v in clicks.items()}
    return shares, clicks


def _sharing_by_unit(session: Session, period: Period, scope: Scope = EVERYTHING) -> dict[Any, tuple[int, int]]:
    """unit code → (staff who shared in the period, of whom no longer active), from the rollups."""
    months, days = _months_and_days(period)
    if not scope.empty:  # the month rollup cannot be narrowed: every day from the day rollup
        months, days = None, [(period.start, period.end)]
    shared: list[Any] = []
    if months:
        shared.append(
            sa_select(col(RollupStaffMonth.staff_id).label("staff_id")).where(
                col(RollupStaffMonth.month).between(*months),
                col(RollupStaffMonth.button) + col(RollupStaffMonth.self_report) > 0,
            )
        )
    if days:
        shared.append(
            _scoped_from(
                sa_select(col(RollupDay.staff_id).label("staff_id")).select_from(RollupDay),
                scope,
                staff=False,
                posts=False,
            ).where(
                or_(*[col(RollupDay.day).between(lo, hi) for lo, hi in days]),
                col(RollupDay.button) + col(RollupDay.self_report) > 0,
            )
        )
    people = shared[0].union(*shared[1:]).subquery() if len(shared) > 1 else shared[0].distinct().subquery()
    query = (
        sa_select(
            col(Unit.code),
            func.count(people.c.staff_id),
            func.sum(case((col(Staff.active).is_(False), 1), else_=0)),
        )
        .select_from(people)
        .join(Staff, col(Staff.id) == people.c.staff_id)
        .join(Unit, col(Unit.id) == col(Staff.unit_id))
        .group_by(col(Unit.code))
    )
    return {code: (int(n), int(gone or 0)) for code, n, gone in session.execute(query)}


# -- the share report --------------------------------------------------------------------


def share_report(
    engine: Engine,
    settings: Settings,
    period: Period,
    by: Dimension | str,
    scope: Scope = EVERYTHING,
    *,
    channels: frozenset[str] | None = None,
) -> ShareReport:
    """Shares and counted clicks in the period, one row per staff/unit/campaign/channel/day.

    Every unit, every configured channel, every campaign of the period, every active staff
    member and every day has a row, zeros included: who did not share is part of the answer.
    """
    by = by if isinstance(by, Dimension) else parse_dimension(by)
    limits = settings.limits
    # Before any query: the work of a report grows with its days (rows by day, the zone's
    # offsets), so a period past the bound is refused, never computed.
    check_period_days(period.length, limits.report_max_days)
    with session_scope(engine, read_only=True) as session:
        windows: list[_Window] = []
        campaigns: list[Campaign] = []
        if by is Dimension.campaign:
            campaigns, windows = _campaign_windows(session, period)
        if uses_rollups(session, period):
            if scope.empty:
                shares, clicks = _grouped_rollups(session, period, by, campaigns)
            else:
                shares, clicks = _scoped_rollups(session, period, by, campaigns, scope)
        else:
            day_of = _local_day(session, period) if by is Dimension.day else None
            shares = _grouped_events(session, period, by, Share, windows=windows, day_of=day_of, scope=scope)
            clicks = _grouped_events(session, period, by, Click, windows=windows, day_of=day_of, scope=scope)
        rows = _rows(session, settings, period, by, shares, clicks, campaigns)
        if scope.unit_ids is not None or channels is not None:
            rows = _kept_rows(session, by, rows, scope.unit_ids, channels)
    check_rows(len(rows), limits.report_max_rows)
    return ShareReport(period=period, by=by, rows=rows)


def _kept_rows(
    session: Session,
    by: Dimension,
    rows: list[ShareRow],
    units: frozenset[int] | None,
    channels: frozenset[str] | None,
) -> list[ShareRow]:
    """The rows a unit-scoped account sees: its units and their people, its units' channels."""
    if by is Dimension.channel and channels is not None:
        return [r for r in rows if r.key in channels]
    if by in (Dimension.unit, Dimension.staff) and units is not None:
        named = session.execute(sa_select(col(Unit.code), col(Unit.name)).where(col(Unit.id).in_(units))).all()
        if by is Dimension.unit:
            return [r for r in rows if r.key in {code for code, _ in named}]
        return [r for r in rows if r.unit in {name for _, name in named}]
    return rows


def _row(
    key: str | int | None,
    label: str,
    unit: str | None,
    counted: tuple[int, int, int],
    clicks: int,
    day: date | None = None,
) -> ShareRow:
    return ShareRow(key, label, unit, counted[0], counted[1], counted[2], clicks, day)


_NONE = (0, 0, 0)


def _rows(
    session: Session,
    settings: Settings,
    period: Period,
    by: Dimension,
    shares: dict[Any, tuple[int, int, int]],
    clicks: dict[Any, tuple[int, int, int]],
    campaigns: list[Campaign],
) -> list[ShareRow]:
    def clicked(key: Any) -> int:
        return clicks.get(key, _NONE)[0]

    active = set(shares) | set(clicks)
    rows: list[ShareRow] = []
    if by is Dimension.day:
        for day in period.days():
            key = day.isoformat()
            rows.append(_row(key, vn_date(day), None, shares.get(key, _NONE), clicked(key), day))
        return rows
    if by is Dimension.staff:
        people = session.execute(
            sa_select(col(Staff.id), col(Staff.full_name), col(Staff.active), col(Unit.name)).join(
                Unit, col(Unit.id) == col(Staff.unit_id)
            )
        )
        for staff_id, name, is_active, unit_name in people:
            if is_active or staff_id in active:
                rows.append(_row(staff_id, name, unit_name, shares.get(staff_id, _NONE), clicked(staff_id)))
    elif by is Dimension.unit:
        # Merged units have handed their people to the unit they joined: each share counts once, there.
        current_units = sa_select(col(Unit.id), col(Unit.code), col(Unit.name)).where(
            col(Unit.merged_into_id).is_(None)
        )
        for unit_id, code, name in session.execute(current_units):
            rows.append(_row(code, name, name, shares.get(unit_id, _NONE), clicked(unit_id)))
    elif by is Dimension.channel:
        names = {c.id: c.name for c in settings.channels}
        for channel_id in list(names) + sorted(active - set(names)):
            rows.append(
                _row(
                    channel_id,
                    names.get(channel_id) or str(channel_id),
                    None,
                    shares.get(channel_id, _NONE),
                    clicked(channel_id),
                )
            )
    else:
        for campaign in campaigns:
            rows.append(_row(campaign.slug, campaign.name, None, shares.get(campaign.id, _NONE), clicked(campaign.id)))
        outside = _row(None, OUTSIDE_CAMPAIGNS, None, shares.get(None, _NONE), clicked(None))
        if outside.shares or outside.clicks:
            rows.append(outside)
        return rows  # campaigns in their own order (as declared); the rest last
    rows.sort(key=lambda r: (-r.shares, -r.clicks, r.label.casefold()))
    return rows


# -- publications and reach --------------------------------------------------------------


@dataclass(frozen=True)
class ReachFigures:
    """Publications published in a period and the sum of their latest snapshots."""

    publications: int = 0
    measured: int = 0  # publications with at least one snapshot
    views: int | None = None
    reach: int | None = None
    reactions: int | None = None
    comments: int | None = None
    shares: int | None = None  # as counted by the platform (Facebook shares.count, Zalo total_share)

    def as_json(self) -> dict[str, Any]:
        return {
            "publications": self.publications,
            "measured": self.measured,
            "views": self.views,
            "reach": self.reach,
            "reactions": self.reactions,
            "comments": self.comments,
            "platform_shares": self.shares,
        }


def _latest_snapshot_id() -> ScalarSelect[Any]:
    """The id of a publication's newest metric snapshot, correlated to the outer Publication row."""
    return (
        sa_select(col(MetricSnapshot.id))
        .where(col(MetricSnapshot.publication_id) == col(Publication.id))
        .order_by(col(MetricSnapshot.at).desc(), col(MetricSnapshot.id).desc())
        .limit(1)
        .correlate(Publication)
        .scalar_subquery()
    )


def _reach_by_channel(
    session: Session, lo: datetime, hi: datetime, campaign_id: int | None = None
) -> dict[str, ReachFigures]:
    latest = _latest_snapshot_id()
    query = (
        sa_select(
            col(Publication.channel_id),
            func.count(col(Publication.id)),
            func.count(col(MetricSnapshot.id)),
            func.sum(col(MetricSnapshot.views)),
            func.sum(col(MetricSnapshot.reach)),
            func.sum(col(MetricSnapshot.reactions)),
            func.sum(col(MetricSnapshot.comments)),
            func.sum(col(MetricSnapshot.shares)),
        )
        .select_from(Publication)
        .outerjoin(MetricSnapshot, col(MetricSnapshot.id) == latest)
        .where(
            col(Publication.status) == PublicationStatus.published,
            col(Publication.published_at) >= lo,
            col(Publication.published_at) < hi,
        )
        .group_by(col(Publication.channel_id))
    )
    if campaign_id is not None:
        query = query.join(Post, col(Post.id) == col(Publication.post_id)).where(col(Post.campaign_id) == campaign_id)
    found: dict[str, ReachFigures] = {}
    for channel_id, count, measured, views, reach, reactions, comments, shares in session.execute(query):
        found[channel_id] = ReachFigures(
            int(count), int(measured), _int(views), _int(reach), _int(reactions), _int(comments), _int(shares)
        )
    return found


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


def combine(figures: Iterable[ReachFigures]) -> ReachFigures:
    total = ReachFigures()
    for f in figures:
        total = ReachFigures(
            total.publications + f.publications,
            total.measured + f.measured,
            _add(total.views, f.views),
            _add(total.reach, f.reach),
            _add(total.reactions, f.reactions),
            _add(total.comments, f.comments),
            _add(total.shares, f.shares),
        )
    return total


@dataclass(frozen=True)
class ChannelFigures:
    channel: str
    label: str
    platform: str
    figures: ReachFigures

    def as_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "label": self.label, "platform": self.platform, **self.figures.as_json()}


@dataclass(frozen=True)
class CampaignFigures:
    slug: str
    name: str
    period: Period  # the campaign's dates inside the month
    figures: ReachFigures
    shares: int
    clicks: int

    def as_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            **self.figures.as_json(),
            "shares": self.shares,
            "clicks": self.clicks,
        }


@dataclass(frozen=True)
class KitUnit:
    """A unit's staff who put the campaign's avatar frame, its cover, either on their profile."""

    unit: str
    staff: int
    avatar: int
    cover: int
    any: int

    def as_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "staff": self.staff, "avatar": self.avatar, "cover": self.cover, "any": self.any}


@dataclass(frozen=True)
class KitFigures:
    """The campaign kit's "Tôi đã cập nhật" counts as of the month's end, per unit."""

    slug: str
    name: str
    units: list[KitUnit]

    @property
    def totals(self) -> KitUnit:
        return KitUnit(
            "",
            sum(u.staff for u in self.units),
            sum(u.avatar for u in self.units),
            sum(u.cover for u in self.units),
            sum(u.any for u in self.units),
        )

    def as_json(self) -> dict[str, Any]:
        totals = self.totals.as_json()
        del totals["unit"]
        return {"slug": self.slug, "name": self.name, **totals, "by_unit": [u.as_json() for u in self.units]}


@dataclass(frozen=True)
class BestPost:
    """One of the month's most viewed publications (its latest snapshot)."""

    publication_id: int
    channel: str
    label: str  # the channel's name
    platform: str
    title: str  # the post's first line
    published_on: date
    views: int | None
    reach: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "publication": self.publication_id,
            "channel": self.channel,
            "title": self.title,
            "published_on": self.published_on.isoformat(),
            "views": self.views,
            "reach": self.reach,
        }


BEST_POSTS = 5


def _best_posts(
    session: Session, settings: Settings, lo: datetime, hi: datetime, campaign_id: int | None = None
) -> list[BestPost]:
    latest = _latest_snapshot_id()
    query = (
        sa_select(
            col(Publication.id),
            col(Publication.channel_id),
            col(Publication.platform),
            col(Publication.title),
            col(Publication.text),
            col(Publication.published_at),
            col(MetricSnapshot.views),
            col(MetricSnapshot.reach),
        )
        .select_from(Publication)
        .join(MetricSnapshot, col(MetricSnapshot.id) == latest)
        .where(
            col(Publication.status) == PublicationStatus.published,
            col(Publication.published_at) >= lo,
            col(Publication.published_at) < hi,
            col(MetricSnapshot.views).is_not(None),
        )
        .order_by(col(MetricSnapshot.views).desc(), col(Publication.id))
        .limit(BEST_POSTS)
    )
    if campaign_id is not None:
        query = query.join(Post, col(Post.id) == col(Publication.post_id)).where(col(Post.campaign_id) == campaign_id)
    names = {c.id: c.name for c in settings.channels}
    found = []
    for pub_id, channel, platform, title, body, published_at, views, reach in session.execute(query):
        first = (title or body or "").strip().splitlines()
        heading = first[0] if first else ""
        assert pub_id is not None and published_at is not None
        found.append(
            BestPost(
                int(pub_id),
                channel,
                names.get(channel, channel),
                platform,
                heading if len(heading) <= 90 else heading[:89] + "…",
                published_at.astimezone(settings.tz).date(),
                _int(views),
                _int(reach),
            )
        )
    return found


@dataclass(frozen=True)
class ChannelAudience:
    """A channel's own audience over the period: followers on its last day with a reading,
    and the sums of its daily views and reach (each day's newest snapshot)."""

    channel: str
    label: str
    followers: int | None
    views: int | None
    reach: int | None
    days: int  # days with a reading

    def as_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "followers": self.followers,
            "views": self.views,
            "reach": self.reach,
            "days": self.days,
        }


def _audience(session: Session, settings: Settings, period: Period) -> list[ChannelAudience]:
    rows = session.execute(
        sa_select(
            col(AudienceSnapshot.channel_id),
            col(AudienceSnapshot.day),
            col(AudienceSnapshot.followers),
            col(AudienceSnapshot.views),
            col(AudienceSnapshot.reach),
        )
        .where(col(AudienceSnapshot.day).between(period.start, period.end))
        .order_by(col(AudienceSnapshot.channel_id), col(AudienceSnapshot.day), col(AudienceSnapshot.at))
    ).all()
    newest: dict[str, dict[date, tuple[int | None, int | None, int | None]]] = {}
    for channel_id, day, followers, views, reach in rows:
        newest.setdefault(channel_id, {})[day] = (followers, views, reach)  # later readings replace
    names = {c.id: c.name for c in settings.channels}
    found = []
    for channel_id in [c.id for c in settings.channels] + sorted(set(newest) - set(names)):
        days = newest.get(channel_id)
        if not days:
            continue
        ordered = [days[d] for d in sorted(days)]
        followers = next((f for f, _, _ in reversed(ordered) if f is not None), None)
        day_views = [v for _, v, _ in ordered if v is not None]
        day_reach = [r for _, _, r in ordered if r is not None]
        found.append(
            ChannelAudience(
                channel_id,
                names.get(channel_id, channel_id),
                followers,
                sum(day_views) if day_views else None,
                sum(day_reach) if day_reach else None,
                len(ordered),
            )
        )
    return found


@dataclass(frozen=True)
class UnitParticipation:
    """A unit's share row with how many of its people shared."""

    row: ShareRow
    staff: int  # active staff, plus anyone no longer active who shared in the period
    sharing: int  # distinct staff with at least one share in the period

    def as_json(self) -> dict[str, Any]:
        return {**self.row.as_json(), "staff": self.staff, "staff_sharing": self.sharing}


@dataclass(frozen=True)
class MonthlySummary:
    year: int
    month: int
    period: Period
    as_of: date | None  # set when the month is not over yet
    channels: list[ChannelFigures]
    campaigns: list[CampaignFigures]
    units: list[UnitParticipation]
    shares: ShareReport  # by unit: its totals are the month's shares and clicks
    staff: int = 0
    staff_sharing: int = 0
    best: list[BestPost] = field(default_factory=list)
    audience: list[ChannelAudience] = field(default_factory=list)
    unit: str | None = None  # the unit the staff figures are narrowed to (its name)
    campaign: str | None = None  # the campaign everything is narrowed to (its name)
    campaign_slug: str | None = None
    kit: list[KitFigures] = field(default_factory=list)  # campaigns whose kit someone put on
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def posts(self) -> ReachFigures:
        return combine(c.figures for c in self.channels)

    def as_json(self, lang: str = "vi") -> dict[str, Any]:
        totals = self.shares.totals
        return {
            "month": f"{self.year:04d}-{self.month:02d}",
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "publications": {
                "total": self.posts.as_json(),
                "by_channel": [c.as_json() for c in self.channels],
            },
            "shares": {
                **totals.as_json(),
                "staff": self.staff,
                "staff_sharing": self.staff_sharing,
                "by_unit": [u.as_json() for u in self.units],
            },
            "campaigns": [c.as_json() for c in self.campaigns],
            "best_posts": [b.as_json() for b in self.best],
            "audience": [a.as_json() for a in self.audience],
            "campaign_kit": [k.as_json() for k in self.kit],
            "filters": {"unit": self.unit, "campaign": self.campaign},
            "text": summary_text(self, lang),
        }


def month_period(text: str, settings: Settings, *, today: date | None = None) -> tuple[int, int, Period, date | None]:
    """Parse ``--month``; a month not begun yet is bad input. Returns year, month, period, as_of."""
    year, month = parse_month(text)
    today = today or datetime.now(settings.tz).date()
    if (year, month) > (today.year, today.month):
        raise InputError(
            msg("error.month_not_begun", month=text, today=vn_date(today)),
            hint=msg("hint.this_month_or_earlier", month=f"{today.year:04d}-{today.month:02d}"),
            field="month",
        )
    period = Period.month(year, month, settings.tz)
    as_of = today if period.start <= today < period.end else None
    return year, month, period, as_of


def summary_scope(
    engine: Engine, period: Period, *, unit: str | None = None, campaign: str | None = None
) -> tuple[Scope, Unit | None, Campaign | None]:
    """The scope of a summary narrowed to a unit (its code) and/or a campaign (its slug)."""
    with session_scope(engine, read_only=True) as session:
        unit_row = campaign_row = None
        if unit:
            unit_row = session.scalars(sa_select(Unit).where(col(Unit.code) == unit.strip())).first()
            if unit_row is None:
                raise InputError(
                    msg("error.report_unknown_unit", unit=unit), hint=msg("hint.report_unit_codes"), field="unit"
                )
        if campaign:
            campaign_row = session.scalars(sa_select(Campaign).where(col(Campaign.slug) == campaign.strip())).first()
            if campaign_row is None:
                raise InputError(
                    msg("error.unknown_campaign", campaign=campaign),
                    hint=msg("hint.report_campaign_slugs"),
                    field="campaign",
                )
    days: tuple[date, date] | None = None
    if campaign_row is not None:
        part = period.clip(campaign_row.starts_on, campaign_row.ends_on)
        # A campaign outside the month: nothing of it counts (an empty range of days).
        days = (part.start, part.end) if part else (period.end, period.start)
    scope = Scope(
        unit_id=unit_row.id if unit_row else None,
        campaign_id=campaign_row.id if campaign_row else None,
        campaign_days=days,
    )
    return scope, unit_row, campaign_row


def monthly_summary(
    engine: Engine,
    settings: Settings,
    year: int,
    month: int,
    *,
    as_of: date | None = None,
    unit: str | None = None,
    campaign: str | None = None,
    within: frozenset[int] | None = None,
    channels_within: frozenset[str] | None = None,
) -> MonthlySummary:
    """The month's report: publications and reach per channel and campaign, staff shares per unit.

    ``unit`` (a code) narrows the staff figures to that unit; ``campaign`` (a slug) narrows
    everything to that campaign's publications inside its dates."""
    period = Period.month(year, month, settings.tz)
    scope, unit_row, campaign_row = summary_scope(engine, period, unit=unit, campaign=campaign)
    if within is not None:  # a unit-scoped account: its units' staff, its units' channels
        scope = dataclasses.replace(scope, unit_ids=within)
    units_report = share_report(engine, settings, period, Dimension.unit, scope)
    if unit_row is not None:
        units_report = ShareReport(period, Dimension.unit, [r for r in units_report.rows if r.key == unit_row.code])
    campaign_report = share_report(engine, settings, period, Dimension.campaign, scope)
    lo, hi = period.bounds
    if scope.campaign_days is not None:
        first, last = scope.campaign_days
        lo, hi = Period(first, last, settings.tz).bounds if first <= last else (lo, lo)
    with session_scope(engine, read_only=True) as session:
        reach = _reach_by_channel(session, lo, hi, scope.campaign_id)
        names = {c.id: c for c in settings.channels}
        if channels_within is not None:
            reach = {k: v for k, v in reach.items() if k in channels_within}
        shown = [c for c in settings.channels if channels_within is None or c.id in channels_within]
        channels = [ChannelFigures(c.id, c.name, c.platform, reach.get(c.id, ReachFigures())) for c in shown]
        for channel_id in sorted(set(reach) - set(names)):
            platform = session.scalars(
                sa_select(col(Publication.platform)).where(col(Publication.channel_id) == channel_id).limit(1)
            ).first()
            channels.append(ChannelFigures(channel_id, channel_id, platform or "", reach[channel_id]))
        campaigns, windows = _campaign_windows(session, period)
        if campaign_row is not None:
            kept = [(c, w) for c, w in zip(campaigns, windows, strict=True) if c.id == campaign_row.id]
            campaigns, windows = [c for c, _ in kept], [w for _, w in kept]
        by_slug = {row.key: row for row in campaign_report.rows}
        campaign_figures: list[CampaignFigures] = []
        for each, window in zip(campaigns, windows, strict=True):
            assert each.id is not None
            part = period.clip(each.starts_on, each.ends_on)
            assert part is not None
            row = by_slug.get(each.slug)
            campaign_figures.append(
                CampaignFigures(
                    each.slug,
                    each.name,
                    part,
                    combine(
                        v
                        for k, v in _reach_by_channel(session, window.start, window.end, each.id).items()
                        if channels_within is None or k in channels_within
                    ),
                    row.shares if row else 0,
                    row.clicks if row else 0,
                )
            )
        units, staff, sharing = _participation(session, period, units_report, scope)
        best = _best_posts(session, settings, lo, hi, scope.campaign_id)
        audience = _audience(session, settings, period)
        if channels_within is not None:
            best = [b for b in best if b.channel in channels_within]
            audience = [a for a in audience if a.channel in channels_within]
    kit = _kit(engine, period, campaigns, unit_row.id if unit_row else None, within)
    return MonthlySummary(
        year=year,
        month=month,
        period=period,
        as_of=as_of,
        channels=channels,
        campaigns=campaign_figures,
        units=units,
        shares=units_report,
        staff=staff,
        staff_sharing=sharing,
        best=best,
        audience=audience,
        unit=unit_row.name if unit_row else None,
        campaign=campaign_row.name if campaign_row else None,
        campaign_slug=campaign_row.slug if campaign_row else None,
        kit=kit,
    )


def _kit(
    engine: Engine,
    period: Period,
    campaigns: Sequence[Campaign],
    unit_id: int | None,
    within: frozenset[int] | None = None,
) -> list[KitFigures]:
    """The kit counts of the month's campaigns, as reported up to the month's end (none: left out)."""
    from scheduler.campaign.service import updates_by_unit

    _lo, hi = period.bounds
    found: list[KitFigures] = []
    for campaign in campaigns:
        assert campaign.id is not None
        rows = updates_by_unit(engine, campaign.id, until=hi, unit_id=unit_id, within=within)
        units = [KitUnit(str(r["unit"]), *(int(str(r[k])) for k in ("staff", "avatar", "cover", "any"))) for r in rows]
        if any(u.any for u in units):
            found.append(KitFigures(campaign.slug, campaign.name, units))
    return found


def _sharing_by_unit_raw(
    session: Session, period: Period, lo: datetime, hi: datetime, scope: Scope = EVERYTHING
) -> dict[Any, tuple[int, int]]:
    sharing_query = (
        sa_select(
            col(Unit.code),
            func.count(func.distinct(col(ShareLink.staff_id))),
            func.count(func.distinct(case((col(Staff.active).is_(False), col(ShareLink.staff_id)), else_=None))),
        )
        .select_from(Share)
        .join(ShareLink, col(ShareLink.id) == col(Share.share_link_id))
        .join(Staff, col(Staff.id) == col(ShareLink.staff_id))
        .join(Unit, col(Unit.id) == col(Staff.unit_id))
        .where(col(Share.at) >= lo, col(Share.at) < hi)
        .group_by(col(Unit.code))
    )
    if scope.narrows_units:
        sharing_query = sharing_query.where(scope.unit_condition())
    if scope.campaign_id is not None:
        sharing_query = (
            sharing_query.join(Publication, col(Publication.id) == col(ShareLink.publication_id))
            .join(Post, col(Post.id) == col(Publication.post_id))
            .where(col(Post.campaign_id) == scope.campaign_id)
        )
        if scope.campaign_days is not None:
            first, last = Period(*scope.campaign_days, period.tz).bounds
            sharing_query = sharing_query.where(col(Share.at) >= first, col(Share.at) < last)
    return {code: (int(n), int(gone)) for code, n, gone in session.execute(sharing_query)}


def _participation(
    session: Session, period: Period, units_report: ShareReport, scope: Scope = EVERYTHING
) -> tuple[list[UnitParticipation], int, int]:
    lo, hi = period.bounds
    # Per unit: distinct staff who shared, and of them those no longer active (they count in
    # the unit's head count for this period, or the rate could pass 100 %).
    if uses_rollups(session, period):
        sharing = _sharing_by_unit(session, period, scope)
    else:
        sharing = _sharing_by_unit_raw(session, period, lo, hi, scope)
    head_count_query = (
        sa_select(col(Unit.code), func.count(col(Staff.id)))
        .join(Staff, col(Staff.unit_id) == col(Unit.id))
        .where(col(Staff.active).is_(True))
        .group_by(col(Unit.code))
    )
    head_count: dict[Any, int] = {code: int(n) for code, n in session.execute(head_count_query)}
    units: list[UnitParticipation] = []
    for row in units_report.rows:
        shared, gone = sharing.get(row.key, (0, 0))
        units.append(UnitParticipation(row, int(head_count.get(row.key, 0)) + gone, shared))
    return units, sum(u.staff for u in units), sum(u.sharing for u in units)


# -- the summary in words ----------------------------------------------------------------


def _channel_name(channel: ChannelFigures, lang: str = "vi") -> str:
    platform = registry().get(channel.platform)
    kind = platform.kind_label if platform else translate(lang, "summary.channel")
    return translate(lang, "summary.channel_name", kind=kind, name=channel.label)


def _publication_words(figures: ReachFigures, lang: str = "vi") -> list[str]:
    """ "N tin bài; N lượt xem; N lượt tiếp cận" — leaving out what a platform does not report."""
    n = partial(format_int, lang=lang)
    parts = [translate(lang, "summary.n_posts", n=n(figures.publications))]
    if figures.views is not None:
        parts.append(translate(lang, "summary.n_views", n=n(figures.views)))
    if figures.reach is not None:
        parts.append(translate(lang, "summary.n_reach", n=n(figures.reach)))
    return parts


def summary_month(summary: MonthlySummary) -> str:
    """``5/2026``, the way the office's reports name a month, in both languages."""
    return f"{summary.month}/{summary.year}"


def summary_text(summary: MonthlySummary, lang: str = "vi") -> str:
    """The month in words, worded like the office's own report (the seed article); Vietnamese first."""
    t = partial(translate, lang)
    n = partial(format_int, lang=lang)
    month_name = summary_month(summary)
    period = summary.period
    totals = summary.shares.totals
    posts = summary.posts
    start, end = format_day(period.start, lang), format_day(period.end, lang)
    heading = t("summary.month_line", month=month_name, start=start, end=end)
    if summary.as_of:
        heading += t("summary.as_of", day=format_day(summary.as_of, lang))
    lines = [t("summary.title"), heading, ""]
    published = "; ".join(
        t("summary.channel_posts", channel=_channel_name(c, lang), n=n(c.figures.publications))
        for c in summary.channels
        if c.figures.publications
    )
    reach_words = []
    if posts.views is not None:
        reach_words.append(t("summary.n_views", n=n(posts.views)))
    if posts.reach is not None:
        reach_words.append(t("summary.n_reach", n=n(posts.reach)))
    overview = t("summary.overview_posts", month=month_name, n=n(posts.publications))
    if published:
        overview += f" ({published})"
    if reach_words:
        overview += t("summary.overview_reach", reach=t("summary.and").join(reach_words))
    overview += t("summary.overview_shares", shares=n(totals.shares), clicks=n(totals.clicks))
    lines.append(overview)
    lines += ["", t("summary.section_channels")]
    for channel in summary.channels:
        f = channel.figures
        parts = _publication_words(f, lang)
        if f.reactions is not None:
            parts.append(t("summary.n_reactions", n=n(f.reactions)))
        if f.comments is not None:
            parts.append(t("summary.n_comments", n=n(f.comments)))
        if f.shares is not None:
            parts.append(t("summary.n_platform_shares", n=n(f.shares)))
        lines.append(f"- {_channel_name(channel, lang)}: {'; '.join(parts)}.")
    lines += [
        "",
        t("summary.section_staff"),
        "- "
        + t(
            "summary.staff_total",
            shares=n(totals.shares),
            button=n(totals.button),
            self_report=n(totals.self_report),
            clicks=n(totals.clicks),
        ),
        "- "
        + t(
            "summary.staff_sharing",
            sharing=n(summary.staff_sharing),
            staff=n(summary.staff),
            share=format_share(summary.staff_sharing, summary.staff, lang),
        ),
        "- " + t("summary.by_unit"),
    ]
    for unit in summary.units:
        words = t(
            "summary.unit_line",
            unit=unit.row.label,
            shares=n(unit.row.shares),
            clicks=n(unit.row.clicks),
            sharing=n(unit.sharing),
            staff=n(unit.staff),
            share=format_share(unit.sharing, unit.staff, lang),
        )
        lines.append(f"  + {words}")
    if summary.campaigns:
        lines += ["", t("summary.section_campaigns")]
        for campaign in summary.campaigns:
            f = campaign.figures
            parts = _publication_words(f, lang)
            parts.append(t("summary.n_staff_shares", n=n(campaign.shares)))
            parts.append(t("summary.n_clicks", n=n(campaign.clicks)))
            when = t(
                "summary.campaign_period",
                name=campaign.name,
                start=format_day(campaign.period.start, lang),
                end=format_day(campaign.period.end, lang),
            )
            lines.append(f"- {when}: {'; '.join(parts)}.")
    if summary.kit:
        lines += ["", t("summary.section_kit")]
        for kit in summary.kit:
            total = kit.totals
            lines.append(
                "- "
                + t(
                    "summary.kit_line",
                    name=kit.name,
                    any=n(total.any),
                    staff=n(total.staff),
                    share=format_share(total.any, total.staff, lang),
                    avatar=n(total.avatar),
                    cover=n(total.cover),
                )
            )
            for kit_unit in kit.units:
                words = t(
                    "summary.kit_unit_line",
                    unit=kit_unit.unit,
                    any=n(kit_unit.any),
                    staff=n(kit_unit.staff),
                    avatar=n(kit_unit.avatar),
                    cover=n(kit_unit.cover),
                )
                lines.append(f"  + {words}")
    return "\n".join(lines) + "\n"
