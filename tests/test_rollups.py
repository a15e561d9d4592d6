"""The rollups equal the raw rows: after random event streams through Loa's own writers (the
click writer's batches, share taps, offline shares), after recounts under changed rules, and
in every report, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlmodel import select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import (
    Campaign,
    Click,
    Post,
    Publication,
    PublicationStatus,
    RollupDay,
    RollupPublicationDay,
    RollupStaffMonth,
    Share,
    ShareLink,
    Staff,
    Unit,
)
from scheduler.reports.queries import Dimension, Period, monthly_summary, share_report, summary_scope
from scheduler.sharing.counting import ClickEvent, recount, store_clicks
from scheduler.sharing.rollups import rebuild
from scheduler.sharing.service import SharingService
from scheduler.store import session_scope
from tests.conftest import write_config

FB, ZALO = "fb-bhxh-nghean", "zalo-bhxh-nghean"
CAMPAIGN = "thang-van-dong-2026"  # 01/05–31/05 in the tests' config
AGENTS = ["Mozilla/5.0 (Linux; Android 13) Chrome/125.0 Mobile", "Mozilla/5.0 (iPhone) Zalo iOS/25.07", "Tinybot/2.0"]


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    return write_config(tmp_path, database_url=database_url)


@pytest.fixture
def loa(config: Path) -> Iterator[Loa]:
    app = Loa(load_settings(config))
    app.init()
    yield app
    app.close()


def _world(app: Loa, staff_count: int = 6) -> tuple[list[int], list[int], list[tuple[int, int, int]]]:
    """Two units, staff, three published posts on two channels, every staff × publication link."""
    created = datetime(2026, 3, 1, tzinfo=UTC)
    with session_scope(app.engine) as s:
        units = [Unit(code="vinh", name="BHXH thành phố Vinh"), Unit(code="nam-dan", name="BHXH huyện Nam Đàn")]
        s.add_all(units)
        s.flush()
        staff = [
            Staff(
                unit_id=units[n % 2].id or 0,
                full_name=f"Cán bộ {n}",
                share_token=f"tok-{n:02d}" * 4,
                created_at=created,
            )
            for n in range(staff_count)
        ]
        s.add_all(staff)
        campaign = s.exec(select(Campaign).where(Campaign.slug == "thang-van-dong-2026")).one()
        posts = [
            Post(template="t", text=f"Tin {n}", scheduled_at=created, created_at=created, campaign_id=campaign.id)
            for n in range(3)
        ]
        posts[2].campaign_id = None
        s.add_all(posts)
        s.flush()
        pubs = [
            Publication(
                post_id=post.id or 0,
                channel_id=channel,
                platform="facebook" if channel == FB else "zalo",
                status=PublicationStatus.published,
                text=post.text,
                due_at=created,
                published_at=created,
                remote_id=f"r{post.id}{channel}",
            )
            for post in posts
            for channel in (FB, ZALO)
        ]
        s.add_all(pubs)
        s.flush()
        links = []
        for person in staff:
            for pub in pubs:
                link = ShareLink(
                    code=f"L{person.id}x{pub.id}",
                    publication_id=pub.id or 0,
                    staff_id=person.id or 0,
                    created_at=created,
                )
                s.add(link)
                s.flush()
                links.append((link.id or 0, person.id or 0, pub.id or 0))
        return [p.id or 0 for p in staff], [p.post_id for p in pubs], links


def _random_stream(app: Loa, links: list[tuple[int, int, int]], posts: list[int], seed: int, n: int = 400) -> None:
    """Clicks in writer batches (times around local midnights and month ends, repeats, crawlers)
    and offline shares, in random order."""
    rng = random.Random(seed)
    service = SharingService(app.settings, app.engine)
    start = datetime(2026, 4, 28, 16, 0, tzinfo=UTC)  # 23:00 in Vietnam, near a month's end
    visitors = [f"v{k}" for k in range(12)]
    done = 0
    while done < n:
        if rng.random() < 0.2:
            link = rng.choice(links)
            with session_scope(app.engine, read_only=True) as s:
                post_id = s.get(Publication, link[2]).post_id  # type: ignore[union-attr]
                staff = s.get(Staff, link[1])
                assert staff is not None
            if staff.active:
                at = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 6))
                service.record_offline(
                    post_id=post_id, staff_ref=str(link[1]), platform=rng.choice(["facebook", "zalo"]), at=at
                )
            done += 1
            continue
        batch = []
        for _ in range(rng.randrange(1, 40)):
            link = rng.choice(links)
            at = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 6), seconds=rng.random())
            batch.append(ClickEvent(link[0], at, rng.choice(visitors), rng.choice(AGENTS), None))
        batch.sort(key=lambda e: e.at)
        store_clicks(app.engine, batch, dedupe=timedelta(hours=2))
        done += len(batch)


def _raw_rollups(app: Loa) -> dict[str, Counter[Any]]:
    """The three grains computed in Python from the raw rows, independent of the SQL."""
    tz = app.settings.tz
    day: Counter[Any] = Counter()
    month: Counter[Any] = Counter()
    pub_day: Counter[Any] = Counter()
    with session_scope(app.engine, read_only=True) as s:
        owners = {link.id: (link.staff_id, link.publication_id) for link in s.exec(select(ShareLink))}
        events: list[tuple[datetime, int, str]] = [
            (sh.at, sh.share_link_id, sh.kind.value) for sh in s.exec(select(Share))
        ]
        events += [(c.at, c.share_link_id, "clicks") for c in s.exec(select(Click)) if c.counted]
    for at, link_id, kind in events:
        staff_id, pub_id = owners[link_id]
        local = at.astimezone(tz).date()
        day[(local, staff_id, pub_id, kind)] += 1
        month[(local.replace(day=1), staff_id, kind)] += 1
        pub_day[(local, pub_id, kind)] += 1
    return {"day": day, "month": month, "pub_day": pub_day}


def _stored_rollups(app: Loa) -> dict[str, Counter[Any]]:
    found: dict[str, Counter[Any]] = {"day": Counter(), "month": Counter(), "pub_day": Counter()}
    with session_scope(app.engine, read_only=True) as s:
        for r in s.exec(select(RollupDay)):
            for kind in ("button", "self_report", "clicks"):
                if getattr(r, kind):
                    found["day"][(r.day, r.staff_id, r.publication_id, kind)] += getattr(r, kind)
        for m in s.exec(select(RollupStaffMonth)):
            for kind in ("button", "self_report", "clicks"):
                if getattr(m, kind):
                    found["month"][(m.month, m.staff_id, kind)] += getattr(m, kind)
        for p in s.exec(select(RollupPublicationDay)):
            for kind in ("button", "self_report", "clicks"):
                if getattr(p, kind):
                    found["pub_day"][(p.day, p.publication_id, kind)] += getattr(p, kind)
    return found


def _reports(app: Loa, period: Period) -> dict[str, Any]:
    found: dict[str, Any] = {d.value: share_report(app.engine, app.settings, period, d).as_json() for d in Dimension}
    for month in (4, 5):
        for unit, campaign in ((None, None), ("vinh", None), (None, CAMPAIGN), ("nam-dan", CAMPAIGN)):
            summary = monthly_summary(app.engine, app.settings, 2026, month, unit=unit, campaign=campaign)
            found[f"summary {month} {unit} {campaign}"] = summary.as_json()
    scope, _, _ = summary_scope(app.engine, period, unit="nam-dan", campaign=CAMPAIGN)
    for d in Dimension:
        found[f"scoped {d.value}"] = share_report(app.engine, app.settings, period, d, scope).as_json()
    return found


VN = ZoneInfo("Asia/Ho_Chi_Minh")
PERIODS = [
    Period(date(2026, 4, 1), date(2026, 5, 31), VN),  # two whole months
    Period(date(2026, 4, 29), date(2026, 5, 2), VN),  # days on both sides of a month's end
    Period(date(2026, 4, 30), date(2026, 6, 1), VN),  # a day, a whole month, a day
]


def _reports_from_raw_rows(app: Loa, period: Period) -> dict[str, Any]:
    """The same reports with the rollups set aside (no zone recorded: the raw path)."""
    with app.engine.begin() as connection:
        zone = connection.execute(text("SELECT zone FROM rollupstate")).scalar_one()
        connection.execute(text("DELETE FROM rollupstate"))
    try:
        return _reports(app, period)
    finally:
        with app.engine.begin() as connection:
            connection.execute(text("INSERT INTO rollupstate (id, zone) VALUES (1, :zone)"), {"zone": zone})


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_equal_the_raw_rows_after_random_streams_and_recounts(loa: Loa, config: Path, seed: int) -> None:
    _, posts, links = _world(loa)
    _random_stream(loa, links, posts, seed)
    assert _stored_rollups(loa) == _raw_rollups(loa)
    assert sum(_raw_rollups(loa)["day"].values()) > 100  # the stream really counted something

    for period in PERIODS:
        assert _reports(loa, period) == _reports_from_raw_rows(loa, period)
    # The narrowed summaries really narrow: a unit's staff, a campaign's posts.
    may = _reports(loa, PERIODS[0])
    everything = may["summary 5 None None"]["shares"]["shares"]
    assert 0 < may["summary 5 vinh None"]["shares"]["shares"] < everything
    assert 0 < may[f"summary 5 None {CAMPAIGN}"]["shares"]["shares"] < everything
    assert [u["key"] for u in may["summary 5 vinh None"]["shares"]["by_unit"]] == ["vinh"]

    # A rule change: the crawler list grows, the dedupe window widens. The recount changes
    # counted flags and rebuilds the rollups in the same transaction.
    before = _raw_rollups(loa)
    stricter = load_settings(config, overrides={"sharing": {"extra_crawler_patterns": ["Tinybot"], "dedupe_hours": 12}})
    summary = recount(loa.engine, stricter)
    assert summary.changed > 0 and summary.counted_after < summary.counted_before
    after = _raw_rollups(loa)
    assert after != before
    assert _stored_rollups(loa) == after
    for period in PERIODS:
        assert _reports(loa, period) == _reports_from_raw_rows(loa, period)

    # More events after the recount are added to the rebuilt rollups.
    _random_stream(loa, links, posts, seed + 10, n=120)
    assert _stored_rollups(loa) == _raw_rollups(loa)


def test_share_taps_are_in_the_rollups_and_a_failed_write_is_not(loa: Loa) -> None:
    _, _, links = _world(loa, staff_count=2)
    service = SharingService(loa.settings, loa.engine)
    link_id, staff_id, pub_id = links[0]
    _, stored = service.record_tap(staff_id=staff_id, publication_id=pub_id, platform="facebook")
    _, again = service.record_tap(staff_id=staff_id, publication_id=pub_id, platform="facebook")
    assert stored and not again  # the second tap within the window stores nothing
    assert _stored_rollups(loa) == _raw_rollups(loa)
    assert sum(_stored_rollups(loa)["day"].values()) == 1
    # A batch that fails (an unknown link breaks the insert) leaves neither raw rows nor rollups.
    now = datetime.now(UTC)
    with pytest.raises(Exception):  # noqa: B017 - whichever integrity error the backend raises
        store_clicks(
            loa.engine,
            [ClickEvent(link_id, now, "v1", AGENTS[0], None), ClickEvent(10**9, now, "v2", AGENTS[0], None)],
            dedupe=timedelta(hours=1),
        )
    assert _stored_rollups(loa) == _raw_rollups(loa)


def test_recount_and_a_new_zone_rebuild_the_rollups(loa: Loa, config: Path) -> None:
    _, posts, links = _world(loa, staff_count=3)
    _random_stream(loa, links, posts, 7, n=150)
    with loa.engine.begin() as connection:  # rollups damaged behind Loa's back
        connection.execute(text("UPDATE rollupday SET clicks = clicks + 5"))
    assert _stored_rollups(loa) != _raw_rollups(loa)
    recount(loa.engine, loa.settings)
    assert _stored_rollups(loa) == _raw_rollups(loa)
    # Another zone: `loa init` builds the days again in it.
    berlin = Loa(load_settings(config, environ={"LOA_TIMEZONE": "Europe/Berlin"}))
    berlin.init()
    assert _stored_rollups(berlin) == _raw_rollups(berlin) != _raw_rollups(loa)
    berlin.close()
    rebuild(loa.engine, loa.settings.tz)
    assert _stored_rollups(loa) == _raw_rollups(loa)
