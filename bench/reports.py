"""Reports on a large office's year: Loa's report functions against hand-written SQL.

The database is what a big province would hold after a year: 1,000 staff in 21 units,
23 channels (the province Fanpage and Zalo OA, 21 district Fanpages), 2,000 publications,
about 300,000 tracked links and 1,000,000 share and click events (40 % shares, 60 % clicks,
70 % of clicks counted), plus 40 metric snapshots per publication. It is built once with
``executemany`` in one transaction and cached under ``bench/results/`` (the file name
carries the sizes and a hash of the schema, so a new index rebuilds it).

Each report is timed end to end as a caller sees it (``share_report`` / ``monthly_summary``:
SQL, row assembly, zero rows, labels) and compared with the hand-written SQL aggregate that
answers the same question, run with ``sqlite3`` on the same file. Rounds alternate between
the two sides; the median round of each counts. Both sides' totals are checked equal.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import SQLModel

from scheduler.config import Settings
from scheduler.reports.queries import Dimension, Period, monthly_summary, share_report
from scheduler.sharing.rollups import rebuild
from scheduler.store import make_engine

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_SECONDS = 1.0
TARGET_RATIO = 2.0
YEAR = 2025
TZ_OFFSET = "+420 minutes"  # Asia/Ho_Chi_Minh, no DST: what the report's SQL uses too

FULL = {"staff": 1000, "units": 21, "publications": 2000, "events": 1_000_000}
QUICK = {"staff": 200, "units": 21, "publications": 400, "events": 100_000}

DISTRICTS = [
    "Vinh", "Cửa Lò", "Thái Hòa", "Hoàng Mai", "Nam Đàn", "Hưng Nguyên", "Nghi Lộc", "Diễn Châu", "Quỳnh Lưu",
    "Yên Thành", "Đô Lương", "Thanh Chương", "Anh Sơn", "Con Cuông", "Tương Dương", "Kỳ Sơn", "Quế Phong",
    "Quỳ Châu", "Quỳ Hợp", "Nghĩa Đàn", "Tân Kỳ",
]  # fmt: skip
CAMPAIGNS = [
    ("tet-2025", "Tết an toàn, an tâm", date(2025, 1, 15), date(2025, 2, 15)),
    ("thang-van-dong-2025", "Tháng Vận động BHXH, BHYT toàn dân năm 2025", date(2025, 5, 1), date(2025, 5, 31)),
    ("bhyt-hoc-sinh-2025", "BHYT học sinh, sinh viên năm học 2025–2026", date(2025, 8, 15), date(2025, 10, 15)),
    ("an-tam-2025", "BHXH tự nguyện, BHYT hộ gia đình năm 2025", None, None),
]  # fmt: skip


def _schema_hash() -> str:
    dialect = sqlite_dialect.dialect()
    parts = []
    for table in SQLModel.metadata.sorted_tables:
        parts.append(str(CreateTable(table).compile(dialect=dialect)))
        parts += sorted(str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:10]


def _stamp(moment: datetime) -> str:
    """The storage format of UTCDateTime on SQLite (naive UTC, microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _channels() -> list[tuple[str, str, str, str]]:
    """(id, platform, name, external id) of the 23 channels."""
    found = [
        ("fb-bhxh-nghean", "facebook", "BHXH tỉnh Nghệ An", "100000000000001"),
        ("zalo-bhxh-nghean", "zalo", "BHXH Nghệ An (Zalo OA)", "579745863508352884"),
    ]
    for n, district in enumerate(DISTRICTS, start=1):
        found.append((f"fb-bhxh-{n:02d}", "facebook", f"BHXH {district}", str(100000000000100 + n)))
    return found


def settings_for(path: Path) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{path}"},
            "channels": [
                {"id": cid, "platform": platform, "name": name, "external_id": external}
                for cid, platform, name, external in _channels()
            ],
            "base_dir": path.parent,
        }
    )


def build(path: Path, sizes: dict[str, int]) -> dict[str, int]:
    """The whole database in one transaction of executemany calls."""
    rng = random.Random(6)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    # Tables first, indexes after the data: building an index once is faster than keeping
    # it sorted through a million inserts.
    db = sqlite3.connect(partial)
    create_tables(db)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    created = _stamp(datetime(YEAR - 1, 12, 1, tzinfo=UTC))
    start = datetime(YEAR, 1, 1, tzinfo=UTC) - timedelta(hours=7)
    with db:
        channels = _channels()
        db.executemany(
            "INSERT INTO channelstate (id, platform, status, origin, approval) VALUES (?, ?, 'ok', 'config', 0)",
            [c[:2] for c in channels],
        )
        db.executemany(
            "INSERT INTO campaign (id, slug, name, theme, starts_on, ends_on) VALUES (?, ?, ?, '', ?, ?)",
            [
                (n, slug, name, s and s.isoformat(), e and e.isoformat())
                for n, (slug, name, s, e) in enumerate(CAMPAIGNS, 1)
            ],
        )
        units = [(n, f"bhxh-{n:02d}", f"BHXH {d}") for n, d in enumerate(DISTRICTS[: sizes["units"]], start=1)]
        db.executemany("INSERT INTO unit (id, code, name) VALUES (?, ?, ?)", units)
        # The city office is larger than the mountain districts: weights fall along the list.
        weights = [3.0 if n == 1 else 1.0 + (len(units) - n) / len(units) for n in range(1, len(units) + 1)]
        staff_units = rng.choices([u[0] for u in units], weights=weights, k=sizes["staff"])
        db.executemany(
            "INSERT INTO staff (id, unit_id, full_name, share_token, active, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (n, unit, f"Cán bộ {n:04d}", f"tok{n:06d}", 1 if rng.random() > 0.03 else 0, created)
                for n, unit in enumerate(staff_units, start=1)
            ],
        )
        posts: list[tuple[Any, ...]] = []
        publications: list[tuple[Any, ...]] = []
        for n in range(1, sizes["publications"] // 2 + 1):
            at = start + timedelta(seconds=rng.uniform(0, 365 * 86400 - 3600))
            campaign = next(
                (
                    i
                    for i, (_, _, s, e) in enumerate(CAMPAIGNS, 1)
                    if s and e and s <= (at + timedelta(hours=7)).date() <= e
                ),
                4 if rng.random() < 0.3 else None,
            )
            posts.append((n, campaign, "thang-van-dong", "{}", f"Tin bài số {n}", _stamp(at), created))
            district = channels[2 + rng.randrange(len(DISTRICTS))][0]
            for channel in ("fb-bhxh-nghean", "zalo-bhxh-nghean" if rng.random() < 0.6 else district):
                platform = "zalo" if channel.startswith("zalo") else "facebook"
                publications.append(
                    (len(publications) + 1, n, channel, platform, "published", f"Tin bài số {n}", _stamp(at), 1,
                     f"r{len(publications) + 1}", _stamp(at + timedelta(seconds=rng.uniform(1, 5))))
                )  # fmt: skip
        db.executemany(
            "INSERT INTO post (id, campaign_id, template, variables_json, text, scheduled_at, created_at, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'bench')",
            posts,
        )
        db.executemany(
            "INSERT INTO publication (id, post_id, channel_id, platform, status, text, due_at, attempts, remote_id,"
            " published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            publications,
        )
        snapshots = []
        for pub in publications:
            published = datetime.strptime(pub[9], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
            views = 0
            for k in range(40):
                views += rng.randrange(0, 200)
                snapshots.append(
                    (pub[0], _stamp(published + timedelta(hours=k if k < 48 else 24 * (k - 46))), views, views * 2 // 3,
                     views // 20, views // 80, views // 50)
                )  # fmt: skip
        db.executemany(
            "INSERT INTO metricsnapshot (publication_id, at, views, reach, reactions, comments, shares)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            snapshots,
        )
        # Tracked links: each publication is taken up by a share of the staff (more for the
        # province page); every link gets shares and clicks, 1M events in all.
        link_target = int(sizes["events"] * 0.3)
        per_publication = max(1, link_target // len(publications))
        links: list[tuple[int, str, int, int, str]] = []
        for pub in publications:
            for staff_id in rng.sample(range(1, sizes["staff"] + 1), min(sizes["staff"], per_publication)):
                links.append((len(links) + 1, f"L{len(links) + 1:07d}", pub[0], staff_id, pub[9]))
        db.executemany(
            "INSERT INTO sharelink (id, code, publication_id, staff_id, created_at) VALUES (?, ?, ?, ?, ?)", links
        )
        shares_n = int(sizes["events"] * 0.4)
        clicks_n = sizes["events"] - shares_n

        def after(published: str) -> str:
            moment = datetime.strptime(published, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
            return _stamp(moment + timedelta(hours=min(24 * 30, rng.expovariate(1 / 18))))

        kinds = ("button", "button", "button", "button", "self_report")
        platforms = ("facebook", "facebook", "zalo", "copy")
        db.executemany(
            "INSERT INTO share (share_link_id, platform, kind, at) VALUES (?, ?, ?, ?)",
            (
                (link[0], rng.choice(platforms), rng.choice(kinds), after(link[4]))
                for link in (links[rng.randrange(len(links))] for _ in range(shares_n))
            ),
        )
        db.executemany(
            "INSERT INTO click (share_link_id, at, visitor_hash, counted, reason) VALUES (?, ?, ?, ?, ?)",
            (
                (link[0], after(link[4]), f"{rng.getrandbits(64):016x}", counted, "counted" if counted else "repeat")
                for link, counted in (
                    (links[rng.randrange(len(links))], 1 if rng.random() < 0.7 else 0) for _ in range(clicks_n)
                )
            ),
        )
    create_indexes(db)
    db.close()
    # The rollups, as `loa share recount` builds them: the reports read them.
    engine = make_engine(settings_for(partial).database_url)
    rebuild(engine, settings_for(partial).tz)
    engine.dispose()
    partial.replace(path)
    return {"links": len(links), "shares": shares_n, "clicks": clicks_n, "snapshots": len(snapshots)}


# -- hand-written SQL: the same questions, asked directly ------------------------------------

_SHARE_COLUMNS = "COUNT(*), SUM(s.kind = 'button'), SUM(s.kind = 'self_report')"
_RANGE_S = "s.at >= :lo AND s.at < :hi"
_RANGE_C = "c.at >= :lo AND c.at < :hi AND c.counted = 1"
RAW: dict[str, list[str]] = {
    "staff": [
        f"SELECT l.staff_id, {_SHARE_COLUMNS} FROM share s JOIN sharelink l ON l.id = s.share_link_id"
        f" WHERE {_RANGE_S} GROUP BY l.staff_id",
        f"SELECT l.staff_id, COUNT(*) FROM click c JOIN sharelink l ON l.id = c.share_link_id"
        f" WHERE {_RANGE_C} GROUP BY l.staff_id",
    ],
    "unit": [
        f"SELECT st.unit_id, {_SHARE_COLUMNS} FROM share s JOIN sharelink l ON l.id = s.share_link_id"
        f" JOIN staff st ON st.id = l.staff_id WHERE {_RANGE_S} GROUP BY st.unit_id",
        f"SELECT st.unit_id, COUNT(*) FROM click c JOIN sharelink l ON l.id = c.share_link_id"
        f" JOIN staff st ON st.id = l.staff_id WHERE {_RANGE_C} GROUP BY st.unit_id",
    ],
    "channel": [
        f"SELECT p.channel_id, {_SHARE_COLUMNS} FROM share s JOIN sharelink l ON l.id = s.share_link_id"
        f" JOIN publication p ON p.id = l.publication_id WHERE {_RANGE_S} GROUP BY p.channel_id",
        f"SELECT p.channel_id, COUNT(*) FROM click c JOIN sharelink l ON l.id = c.share_link_id"
        f" JOIN publication p ON p.id = l.publication_id WHERE {_RANGE_C} GROUP BY p.channel_id",
    ],
    "day": [
        f"SELECT date(s.at, '{TZ_OFFSET}') AS d, {_SHARE_COLUMNS} FROM share s WHERE {_RANGE_S} GROUP BY d",
        f"SELECT date(c.at, '{TZ_OFFSET}') AS d, COUNT(*) FROM click c WHERE {_RANGE_C} GROUP BY d",
    ],
}


def _campaign_sql(windows: list[tuple[int, str, str]], table: str, alias: str) -> str:
    cases = " ".join(
        f"WHEN po.campaign_id = {cid} AND {alias}.at >= '{lo}' AND {alias}.at < '{hi}' THEN {cid}"
        for cid, lo, hi in windows
    )
    counts = _SHARE_COLUMNS if table == "share" else "COUNT(*)"
    where = _RANGE_S if table == "share" else _RANGE_C
    return (
        f"SELECT CASE {cases} END AS k, {counts} FROM {table} {alias} JOIN sharelink l ON l.id = {alias}.share_link_id"
        f" JOIN publication p ON p.id = l.publication_id JOIN post po ON po.id = p.post_id WHERE {where} GROUP BY k"
    )


def _summary_sql() -> list[str]:
    latest = (
        "SELECT p.channel_id, COUNT(p.id), COUNT(m.id), SUM(m.views), SUM(m.reach), SUM(m.reactions),"
        " SUM(m.comments), SUM(m.shares) FROM publication p LEFT JOIN metricsnapshot m ON m.id = ("
        " SELECT m2.id FROM metricsnapshot m2 WHERE m2.publication_id = p.id ORDER BY m2.at DESC, m2.id DESC LIMIT 1)"
        " WHERE p.status = 'published' AND p.published_at >= :lo AND p.published_at < :hi GROUP BY p.channel_id"
    )
    participation = (
        "SELECT u.code, COUNT(DISTINCT l.staff_id), COUNT(DISTINCT CASE WHEN st.active = 0 THEN l.staff_id END)"
        " FROM share s JOIN sharelink l ON l.id = s.share_link_id JOIN staff st ON st.id = l.staff_id"
        f" JOIN unit u ON u.id = st.unit_id WHERE {_RANGE_S} GROUP BY u.code"
    )
    heads = (
        "SELECT u.code, COUNT(st.id) FROM unit u JOIN staff st ON st.unit_id = u.id WHERE st.active = 1 GROUP BY u.code"
    )
    return [*RAW["unit"], latest, participation, heads]


def create_tables(db: sqlite3.Connection) -> None:
    dialect = sqlite_dialect.dialect()
    for table in SQLModel.metadata.sorted_tables:
        db.execute(str(CreateTable(table).compile(dialect=dialect)))


def create_indexes(db: sqlite3.Connection) -> None:
    dialect = sqlite_dialect.dialect()
    with db:
        for table in SQLModel.metadata.sorted_tables:
            for index in table.indexes:
                db.execute(str(CreateIndex(index).compile(dialect=dialect)))


def build_once(path: Path, stale: str, build_fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Build the database at `path` unless a run before left it there (older builds matching the
    `stale` glob go first); what the report says about it."""
    built: dict[str, Any] = {"cached": path.exists()}
    if not path.exists():
        for old in RESULTS.glob(stale):
            old.unlink()
        seconds, counts = _timed(build_fn)
        built.update(counts, build_seconds=round(seconds, 1))
    return built


# (name, "year" or "month", period, Loa's report, the hand-written SQL for the same question)
ReportCase = tuple[str, str, Period, Callable[[], Any], list[str]]


def report_cases(
    engine: Engine, settings: Settings, db: sqlite3.Connection, year: Period, may: Period
) -> list[ReportCase]:
    """Every share report for the year and for May, then May's monthly summary."""
    cases: list[ReportCase] = []
    for period_name, period in (("year", year), ("month", may)):
        for by in Dimension:
            queries = RAW.get(by.value) or _campaign_queries(db, period)
            report: Callable[[], Any] = partial(share_report, engine, settings, period, by)
            cases.append((f"shares by {by.value}, {period_name}", period_name, period, report, queries))
    summary_queries = _summary_sql() + _campaign_queries(db, may)
    cases.append(
        ("monthly summary, May", "month", may, partial(monthly_summary, engine, settings, YEAR, 5), summary_queries)
    )
    return cases


def shares_agree(loa_value: Any, raw_value: list[list[Any]]) -> tuple[int, bool]:
    """The shares Loa's report (or monthly summary) counts, and whether the raw SQL counts as many."""
    shares = loa_value.totals.shares if hasattr(loa_value, "totals") else loa_value.shares.totals.shares
    return shares, shares == sum(r[1] for r in raw_value[0])


def run_facts(sizes: dict[str, int], path: Path, built: dict[str, Any]) -> dict[str, Any]:
    """What a report benchmark's result says about the data it ran on and the machine."""
    return {
        "sizes": sizes,
        "database": {"file": path.name, "megabytes": round(path.stat().st_size / 1e6, 1), **built},
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
    }


def _raw(db: sqlite3.Connection, queries: list[str], lo: str, hi: str) -> list[list[Any]]:
    return [db.execute(q, {"lo": lo, "hi": hi}).fetchall() for q in queries]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def run(quick: bool) -> dict[str, Any]:
    sizes = QUICK if quick else FULL
    RESULTS.mkdir(exist_ok=True)
    tag = "quick" if quick else "full"
    path = RESULTS / f"reports-{tag}-{_schema_hash()}.db"
    built = build_once(path, f"reports-{tag}-*.db", lambda: build(path, sizes))
    settings = settings_for(path)
    engine = make_engine(settings.database_url)
    db = sqlite3.connect(path)
    tz = settings.tz
    year = Period(date(YEAR, 1, 1), date(YEAR, 12, 31), tz)
    may = Period(date(YEAR, 5, 1), date(YEAR, 5, 31), tz)
    rounds = 3 if quick else 5
    rows = []
    for name, _, period, loa_fn, queries in report_cases(engine, settings, db, year, may):
        lo, hi = (_stamp(moment) for moment in period.bounds)
        loa_times, raw_times = [], []
        loa_value: Any = None
        raw_value: Any = None
        for _ in range(rounds):  # alternate, so both sides see the same machine conditions
            seconds, loa_value = _timed(loa_fn)
            loa_times.append(seconds)
            seconds, raw_value = _timed(partial(_raw, db, queries, lo, hi))
            raw_times.append(seconds)
        loa_s, raw_s = statistics.median(loa_times), statistics.median(raw_times)
        shares, agree = shares_agree(loa_value, raw_value)
        rows.append(
            {
                "report": name,
                "loa_s": round(loa_s, 4),
                "raw_sql_s": round(raw_s, 4),
                "ratio": round(loa_s / raw_s, 2),
                "shares": shares,
                "totals_agree": agree,
                "ok": loa_s <= TARGET_SECONDS and loa_s <= TARGET_RATIO * raw_s and agree,
            }
        )
    engine.dispose()
    db.close()
    return {
        **run_facts(sizes, path, built),
        "rounds": rounds,
        "targets": {"seconds": TARGET_SECONDS, "ratio": TARGET_RATIO},
        "reports": rows,
        "all_ok": all(r["ok"] for r in rows),
    }


def _campaign_queries(db: sqlite3.Connection, period: Period) -> list[str]:
    windows = []
    for cid, starts, ends in db.execute("SELECT id, starts_on, ends_on FROM campaign ORDER BY id"):
        part = period.clip(date.fromisoformat(starts) if starts else None, date.fromisoformat(ends) if ends else None)
        if part is not None:
            windows.append((cid, *(_stamp(moment) for moment in part.bounds)))
    return [_campaign_sql(windows, "share", "s"), _campaign_sql(windows, "click", "c")]


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    database = result["database"]
    sizes = result["sizes"]
    table = Table(
        title=f"Reports — {sizes['staff']:,} staff, {sizes['units']} units, {sizes['publications']:,} publications, "
        f"{sizes['events']:,} events ({database['megabytes']} MB, SQLite {result['sqlite']}); "
        f"median of {result['rounds']} rounds"
    )
    for column in ("report", "Loa (s)", "raw SQL (s)", "Loa / SQL", "shares", "ok"):
        table.add_column(column, justify="left" if column == "report" else "right")
    for row in result["reports"]:
        table.add_row(
            row["report"],
            f"{row['loa_s']:.3f}",
            f"{row['raw_sql_s']:.3f}",
            f"{row['ratio']:.2f}×",
            f"{row['shares']:,}",
            "yes" if row["ok"] else "NO",
        )
    Console().print(table)
    if "build_seconds" in database:
        Console().print(f"database built in {database['build_seconds']} s (cached for later runs)")
