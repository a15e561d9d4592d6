"""Reports at national scale: Loa's reports (on the rollups) against the raw-SQL aggregate.

The database is what the whole social-insurance service would hold after a year: 20,000
staff in 400 units, 70 channels (a Fanpage and a Zalo OA per province), 50,000
publications, 6,000,000 tracked links and **20,000,000** share and click events (40 %
shares, 60 % clicks, 70 % of clicks counted), 10 metric snapshots per publication.

It is generated inside SQLite by set-based SQL (a recursive counter joined to the rows it
derives from; the "random" choices are multiplicative hashes of the counter, so the same
sizes give the same database), indexes after the data, then the rollups are built by
Loa's own :func:`scheduler.sharing.rollups.rebuild` — the code `loa share recount` runs.
The file is cached under ``bench/results/`` (its name carries the sizes and a schema hash).

``LOA_BENCH_NATIONAL_EVENTS`` scales the events (and the links with them), e.g. ``2000000``
for a quicker run; ``--quick`` uses 1,000,000. Each report is timed end to end as a caller
sees it and compared with the hand-written SQL aggregate over the raw rows that answers the
same question (the same queries as ``bench/reports.py``); the raw side runs once per case
(it takes seconds), Loa's side the median of three rounds. Both sides' totals must agree.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench.reports import (
    _raw,
    _schema_hash,
    _stamp,
    _timed,
    build_once,
    create_indexes,
    create_tables,
    report_cases,
    run_facts,
    shares_agree,
)
from scheduler.config import Settings
from scheduler.reports.queries import Period
from scheduler.sharing.rollups import rebuild
from scheduler.store import make_engine

RESULTS = Path(__file__).resolve().parent / "results"
YEAR = 2025
YEAR_TARGET_SECONDS = 0.5
MONTH_TARGET_SECONDS = 0.1
TARGET_SPEEDUP = 10.0

FULL = {"staff": 20_000, "units": 400, "provinces": 35, "publications": 50_000, "events": 20_000_000}
QUICK = {"staff": 4_000, "units": 80, "provinces": 35, "publications": 10_000, "events": 1_000_000}

PROVINCES = [
    "Hà Nội", "Huế", "Lai Châu", "Điện Biên", "Sơn La", "Lạng Sơn", "Quảng Ninh", "Thanh Hóa", "Nghệ An",
    "Hà Tĩnh", "Cao Bằng", "Tuyên Quang", "Lào Cai", "Thái Nguyên", "Phú Thọ", "Bắc Ninh", "Hưng Yên",
    "Hải Phòng", "Ninh Bình", "Quảng Trị", "Đà Nẵng", "Quảng Ngãi", "Gia Lai", "Khánh Hòa", "Lâm Đồng",
    "Đắk Lắk", "Thành phố Hồ Chí Minh", "Đồng Nai", "Tây Ninh", "Cần Thơ", "Vĩnh Long", "Đồng Tháp",
    "Cà Mau", "An Giang", "Bắc Giang",
]  # fmt: skip


def sizes_from_env(quick: bool) -> dict[str, int]:
    sizes = dict(QUICK if quick else FULL)
    scaled = os.environ.get("LOA_BENCH_NATIONAL_EVENTS")
    if scaled and not quick:
        sizes["events"] = max(10_000, int(scaled))
    return sizes


def _channels(provinces: int) -> list[tuple[str, str, str, str]]:
    found = []
    for n, name in enumerate(PROVINCES[:provinces], start=1):
        found.append((f"fb-{n:02d}", "facebook", f"BHXH tỉnh {name}", str(100000000000000 + n)))
        found.append((f"zalo-{n:02d}", "zalo", f"BHXH {name} (Zalo OA)", str(579745863508352000 + n)))
    return found


def settings_for(path: Path, provinces: int) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{path}"},
            "channels": [
                {"id": cid, "platform": platform, "name": name, "external_id": external}
                for cid, platform, name, external in _channels(provinces)
            ],
            "base_dir": path.parent,
            "limits": {"report_max_rows": 50_000},
        }
    )


# Multiplicative hashes of the counter stand in for random choices: set-based and repeatable.
def _hash(column: str, multiplier: int, modulo: int) -> str:
    return f"(({column} * {multiplier}) % {modulo})"


def build(path: Path, sizes: dict[str, int]) -> dict[str, Any]:
    partial_path = path.with_name(path.name + ".partial")
    partial_path.unlink(missing_ok=True)
    db = sqlite3.connect(partial_path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-400000")
    create_tables(db)
    created = _stamp(datetime(YEAR - 1, 12, 1, tzinfo=UTC))
    start = datetime(YEAR, 1, 1, tzinfo=UTC) - timedelta(hours=7)
    staff, units, publications, events = sizes["staff"], sizes["units"], sizes["publications"], sizes["events"]
    links = max(publications, int(events * 0.3))
    per_publication = max(1, links // publications)
    links = per_publication * publications
    shares = int(events * 0.4)
    clicks = events - shares
    channels = _channels(sizes["provinces"])
    with db:
        db.executemany(
            "INSERT INTO channelstate (id, platform, status, origin, approval) VALUES (?, ?, 'ok', 'config', 0)",
            [c[:2] for c in channels],
        )
        db.executemany(
            "INSERT INTO campaign (id, slug, name, theme, starts_on, ends_on) VALUES (?, ?, ?, '', ?, ?)",
            [
                (1, "tet-2025", "Tết an toàn, an tâm", "2025-01-15", "2025-02-15"),
                (2, "thang-van-dong-2025", "Tháng Vận động BHXH, BHYT toàn dân năm 2025", "2025-05-01", "2025-05-31"),
                (3, "an-tam-2025", "BHXH tự nguyện, BHYT hộ gia đình năm 2025", None, None),
            ],
        )
        provinces = sizes["provinces"]
        db.executemany(
            "INSERT INTO unit (id, code, name) VALUES (?, ?, ?)",
            [
                (n, f"u{n:03d}", f"BHXH cơ sở số {n:03d} thuộc BHXH tỉnh {PROVINCES[(n - 1) % provinces]}")
                for n in range(1, units + 1)
            ],
        )
        db.executemany(
            "INSERT INTO staff (id, unit_id, full_name, share_token, active, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (n, (n * 7) % units + 1, f"Cán bộ {n:05d}", f"tok{n:06d}", 0 if n % 33 == 0 else 1, created)
                for n in range(1, staff + 1)
            ],
        )
        posts, pubs = [], []
        for n in range(1, publications // 2 + 1):
            at = start + timedelta(seconds=(n * 2654435761) % (365 * 86400 - 4 * 86400))
            local = (at + timedelta(hours=7)).date()
            campaign = 1 if date(2025, 1, 15) <= local <= date(2025, 2, 15) else None
            campaign = 2 if date(2025, 5, 1) <= local <= date(2025, 5, 31) else campaign
            campaign = campaign or (3 if n % 3 == 0 else None)
            posts.append((n, campaign, f"Tin bài số {n}", _stamp(at), created))
            province = n % provinces
            for channel in (channels[2 * province][0], channels[2 * province + 1][0]):
                pid = len(pubs) + 1
                platform = "zalo" if channel.startswith("zalo") else "facebook"
                pubs.append((pid, n, channel, platform, f"Tin bài số {n}", _stamp(at), f"r{pid}", _stamp(at)))
        db.executemany(
            "INSERT INTO post (id, campaign_id, template, variables_json, text, scheduled_at, created_at, created_by)"
            " VALUES (?, ?, 'bench', '{}', ?, ?, ?, 'bench')",
            posts,
        )
        db.executemany(
            "INSERT INTO publication (id, post_id, channel_id, platform, status, text, due_at, attempts, remote_id,"
            " published_at) VALUES (?, ?, ?, ?, 'published', ?, ?, 1, ?, ?)",
            pubs,
        )
        counter = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
        db.execute(
            counter + "INSERT INTO metricsnapshot (publication_id, at, views, reach, reactions, comments, shares) "
            "SELECT p.id, strftime('%Y-%m-%d %H:%M:%f', julianday(p.published_at) + n.i * n.i / 24.0) || '000', "
            f"n.i * {_hash('p.id', 40503, 97)}, n.i * {_hash('p.id', 40503, 97)} * 2 / 3, n.i * 3, n.i, n.i * 2 "
            "FROM publication AS p, n",
            {"count": 10},
        )
        # Each publication taken up by per_publication staff (distinct: 6007 is prime to the count).
        db.execute(
            counter + "INSERT INTO sharelink (id, code, publication_id, staff_id, created_at) "
            "SELECT (p.id - 1) * :per + n.i, 'L' || p.id || '-' || n.i, p.id, "
            "((p.id * 7919 + n.i * 6007) % :staff) + 1, p.published_at FROM publication AS p, n",
            {"count": per_publication, "per": per_publication, "staff": staff},
        )
        # An event's link, then its delay after the post: a product of two hashed uniforms
        # times three days (mean 18 h, most within the first day, none after three).
        delay = (
            f"({_hash('n.i', 2246822519, 1000003)} / 1000003.0) * ({_hash('n.i', 3266489917, 999983)} / 999983.0) * 3.0"
        )
        link = f"({_hash('n.i', 2654435761, links)} + 1)"
        at = f"strftime('%Y-%m-%d %H:%M:%f', julianday(l.created_at) + {delay}) || '000'"
        db.execute(
            counter + "INSERT INTO share (share_link_id, platform, kind, at) "
            f"SELECT l.id, CASE n.i % 4 WHEN 0 THEN 'zalo' WHEN 1 THEN 'copy' ELSE 'facebook' END, "
            f"CASE WHEN n.i % 5 = 0 THEN 'self_report' ELSE 'button' END, {at} "
            f"FROM n JOIN sharelink AS l ON l.id = {link}",
            {"count": shares},
        )
        db.execute(
            counter + "INSERT INTO click (share_link_id, at, visitor_hash, counted, reason) "
            f"SELECT l.id, {at}, printf('%x', n.i), n.i % 10 < 7, "
            "CASE WHEN n.i % 10 < 7 THEN 'counted' ELSE 'repeat' END "
            f"FROM n JOIN sharelink AS l ON l.id = ({_hash('n.i + 7', 2654435761, links)} + 1)",
            {"count": clicks},
        )
    create_indexes(db)
    db.close()
    settings = settings_for(partial_path, sizes["provinces"])
    engine = make_engine(settings.database_url)
    seconds, _ = _timed(lambda: rebuild(engine, settings.tz))
    engine.dispose()
    partial_path.replace(path)
    return {"links": links, "shares": shares, "clicks": clicks, "rollup_build_seconds": round(seconds, 1)}


def run(quick: bool) -> dict[str, Any]:
    sizes = sizes_from_env(quick)
    RESULTS.mkdir(exist_ok=True)
    tag = "-".join(str(sizes[k]) for k in ("staff", "units", "publications", "events"))
    path = RESULTS / f"national-{tag}-{_schema_hash()}.db"
    built = build_once(path, "national-*.db", lambda: build(path, sizes))
    settings = settings_for(path, sizes["provinces"])
    engine = make_engine(settings.database_url)
    db = sqlite3.connect(path)
    tz = settings.tz
    year = Period(date(YEAR, 1, 1), date(YEAR, 12, 31), tz)
    may = Period(date(YEAR, 5, 1), date(YEAR, 5, 31), tz)
    rows = []
    for name, kind, period, loa_fn, queries in report_cases(engine, settings, db, year, may):
        lo, hi = (_stamp(moment) for moment in period.bounds)
        raw_s, raw_value = _timed(partial(_raw, db, queries, lo, hi))
        loa_times = []
        loa_value: Any = None
        for _ in range(3):
            seconds, loa_value = _timed(loa_fn)
            loa_times.append(seconds)
        loa_s = statistics.median(loa_times)
        shares, agree = shares_agree(loa_value, raw_value)
        target = YEAR_TARGET_SECONDS if kind == "year" else MONTH_TARGET_SECONDS
        speedup = raw_s / loa_s if loa_s else float("inf")
        ok = loa_s <= target and agree and (kind != "year" or speedup >= TARGET_SPEEDUP)
        rows.append(
            {
                "report": name,
                "loa_s": round(loa_s, 4),
                "raw_sql_s": round(raw_s, 4),
                "speedup": round(speedup, 1),
                "target_s": target,
                "shares": shares,
                "totals_agree": agree,
                "ok": ok,
            }
        )
    engine.dispose()
    db.close()
    return {
        **run_facts(sizes, path, built),
        "targets": {"year_s": YEAR_TARGET_SECONDS, "month_s": MONTH_TARGET_SECONDS, "year_speedup": TARGET_SPEEDUP},
        "reports": rows,
        "all_ok": all(r["ok"] for r in rows),
    }


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    database = result["database"]
    sizes = result["sizes"]
    table = Table(
        title=f"National reports — {sizes['staff']:,} staff, {sizes['units']} units, "
        f"{sizes['publications']:,} publications, {sizes['events']:,} events ({database['megabytes']} MB, "
        f"SQLite {result['sqlite']}); Loa median of 3, raw SQL once"
    )
    for column in ("report", "Loa (s)", "raw SQL (s)", "speed-up", "target (s)", "shares", "ok"):
        table.add_column(column, justify="left" if column == "report" else "right")
    for row in result["reports"]:
        table.add_row(
            row["report"],
            f"{row['loa_s']:.3f}",
            f"{row['raw_sql_s']:.3f}",
            f"{row['speedup']:.1f}×",
            f"{row['target_s']}",
            f"{row['shares']:,}",
            "yes" if row["ok"] else "NO",
        )
    Console().print(table)
    if "build_seconds" in database:
        Console().print(
            f"database built in {database['build_seconds']} s, of which rollups {database['rollup_build_seconds']} s"
            " (cached for later runs)"
        )
