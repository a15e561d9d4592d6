"""Reach collection end to end: publish through the real dispatcher, set engagement in the
sandbox, collect over real HTTP, read it back with `loa post show`. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlmodel import col, select

from scheduler.app import Loa
from scheduler.config import MetricsSettings, load_settings
from scheduler.engine import METRICS_JOB, PublishingEngine
from scheduler.metrics.collector import MetricsCollector
from scheduler.metrics.schedule import PollingSchedule
from scheduler.models import MetricError, MetricPause, MetricSnapshot
from scheduler.posts.requests import PostRequest
from scheduler.publishing.dispatcher import Dispatcher
from scheduler.store import session_scope
from tests.conftest import Cli, served_config

FB = "fb-bhxh-nghean"
ZALO = "zalo-bhxh-nghean"
VARS = {"hoat_dong": "ra quân tuyên truyền", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}
GRAPH_FIELDS = "shares,reactions.limit(0).summary(true),comments.limit(0).summary(true)"
TOKEN = "sandbox-page-token-100000000000001"


def control(sandbox: Any, route: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{sandbox.url}/_sandbox/{route}", json=payload, timeout=5)
    response.raise_for_status()
    return dict(response.json())


def requests_log(sandbox: Any) -> list[dict[str, Any]]:
    return list(requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).json()["requests"])


@pytest.fixture
def config_path(tmp_path: Path, sandbox: Any, database_url: str) -> Iterator[Path]:
    """conftest's config_path (and so its `loa`), on each database backend."""
    with served_config(tmp_path, sandbox.url, database_url=database_url) as path:
        yield path


@pytest.fixture
def app(config_path: Path) -> Iterator[Loa]:
    loa = Loa(load_settings(config_path))
    loa.init()
    yield loa
    loa.close()


def publish(app: Loa, channels: list[str], **variables: str) -> dict[str, dict[str, Any]]:
    """Queue a post for now, publish it with the real dispatcher; publications by channel."""
    post_id = app.posts.add(PostRequest(template="thang-van-dong", channels=channels, variables={**VARS, **variables}))
    Dispatcher(app.settings, app.engine, app.vault).run_once()
    shown = app.posts.show(post_id)
    assert all(p["status"] == "published" for p in shown["publications"]), shown
    return {p["channel"]: p for p in shown["publications"]}


def test_collect_stores_what_each_platform_reports_and_post_show_shows_it(loa: Cli, app: Loa, sandbox: Any) -> None:
    added = loa(
        "post", "add", "--template", "thang-van-dong", *[f"--var={k}={v}" for k, v in VARS.items()],
        "--channel", FB, "--channel", ZALO, "--now", "--json",
    )  # fmt: skip
    assert added.code == 0, added.stderr
    post_id = added.json()["id"]
    assert loa("publish-due", "--json").json()["counts"]["published"] == 2
    pubs = {p["channel"]: p for p in loa("post", "show", str(post_id), "--json").json()["publications"]}
    fb_id, article_id = pubs[FB]["remote_id"], pubs[ZALO]["remote_id"]

    control(sandbox, "engagement", {
        "platform": "facebook", "post_id": fb_id, "views": 1234, "reach": 876,
        "reactions": {"like": 40, "love": 5}, "comments": 7, "shares": 12,
    })  # fmt: skip
    control(sandbox, "engagement", {"platform": "zalo", "article_id": article_id, "total_view": 321, "total_share": 9})

    collected = loa("metrics", "collect", "--json")
    assert collected.code == 0, collected.stderr
    assert collected.json()["counts"] == {"collected": 2, "errors": 0, "skipped": 0, "paused_channels": 0}

    shown = {p["channel"]: p["metrics"] for p in loa("post", "show", str(post_id), "--json").json()["publications"]}
    assert shown[FB] == {"views": 1234, "reach": 876, "reactions": 45, "comments": 7, "shares": 12}
    assert shown[ZALO] == {"views": 321, "reach": 0, "reactions": 0, "comments": 0, "shares": 9}

    # The same numbers as the platforms themselves answer for the same post.
    graph = f"{sandbox.url}/v25.0/{fb_id}"
    fields = requests.get(graph, params={"fields": GRAPH_FIELDS, "access_token": TOKEN}, timeout=5).json()
    insights = requests.get(
        f"{graph}/insights",
        params={"metric": "post_media_view,post_total_media_view_unique", "access_token": TOKEN},
        timeout=5,
    ).json()
    values = {m["name"]: m["values"][-1]["value"] for m in insights["data"]}
    assert shown[FB] == {
        "views": values["post_media_view"],
        "reach": values["post_total_media_view_unique"],
        "reactions": fields["reactions"]["summary"]["total_count"],
        "comments": fields["comments"]["summary"]["total_count"],
        "shares": fields["shares"]["count"],
    }
    token = (app.vault.load(ZALO) or {})["access_token"]
    detail = requests.get(
        f"{sandbox.url}/v2.0/article/getdetail", params={"id": article_id}, headers={"access_token": token}, timeout=5
    ).json()["data"]
    assert (shown[ZALO]["views"], shown[ZALO]["shares"]) == (detail["total_view"], detail["total_share"])

    # Counters grow; a new time-stamped snapshot is added and becomes the one shown.
    control(sandbox, "engagement", {"platform": "facebook", "post_id": fb_id, "views": 100, "mode": "add"})
    assert loa("metrics", "collect", "--json").json()["counts"]["collected"] == 2
    shown = {p["channel"]: p["metrics"] for p in loa("post", "show", str(post_id), "--json").json()["publications"]}
    assert shown[FB]["views"] == 1334
    text = loa("post", "show", str(post_id))
    assert "1334" in text.stdout or "1.334" in text.stdout


def test_snapshots_are_time_stamped_and_kept(app: Loa, sandbox: Any) -> None:
    pubs = publish(app, [FB])
    times = iter([datetime(2026, 5, 6, 1, 0, tzinfo=UTC), datetime(2026, 5, 6, 2, 0, tzinfo=UTC)])
    for views in (10, 25):
        control(sandbox, "engagement", {"platform": "facebook", "post_id": pubs[FB]["remote_id"], "views": views})
        moment = next(times)
        collector = MetricsCollector(app.settings, app.engine, app.vault, clock=partial(_fixed, moment))
        collector.run_once(only_due=False, post_id=_post_of(app, pubs[FB]["id"]))
    with session_scope(app.engine, read_only=True) as session:
        rows = list(session.exec(select(MetricSnapshot).order_by(col(MetricSnapshot.at))))
    assert [(r.at, r.views) for r in rows] == [
        (datetime(2026, 5, 6, 1, 0, tzinfo=UTC), 10),
        (datetime(2026, 5, 6, 2, 0, tzinfo=UTC), 25),
    ]


def _fixed(moment: datetime) -> datetime:
    return moment


def _post_of(app: Loa, publication_id: int) -> int:
    from scheduler.models import Publication

    with session_scope(app.engine, read_only=True) as session:
        row = session.get(Publication, publication_id)
        assert row is not None
        return row.post_id


def test_a_platform_error_skips_that_snapshot_with_its_reason_and_nothing_else(
    app: Loa, loa: Cli, sandbox: Any
) -> None:
    pubs = publish(app, [FB, ZALO])
    control(sandbox, "engagement", {"platform": "zalo", "article_id": pubs[ZALO]["remote_id"], "total_view": 55})
    reason = "(#100) Unsupported get request. Object does not exist, cannot be loaded due to missing permissions"
    control(sandbox, "faults", {
        "platform": "facebook", "route": "GET /{post}", "times": 2, "status": 400,
        "error": {"code": 100, "message": reason},
    })  # fmt: skip

    report = MetricsCollector(app.settings, app.engine, app.vault).run_once(only_due=False)

    assert [s["publication"] for s in report.snapshots] == [pubs[ZALO]["id"]]
    (error,) = report.errors
    assert error["publication"] == pubs[FB]["id"] and error["kind"] == "permanent" and error["code"] == "100"
    assert "Unsupported get request" in error["reason"]
    with session_scope(app.engine, read_only=True) as session:
        (stored,) = session.exec(select(MetricError)).all()
        snapshots = session.exec(select(MetricSnapshot)).all()
    assert stored.publication_id == pubs[FB]["id"] and "Unsupported get request" in stored.message
    assert [s.publication_id for s in snapshots] == [pubs[ZALO]["id"]]
    shown = {p["channel"]: p["metrics"] for p in app.posts.show(_post_of(app, pubs[FB]["id"]))["publications"]}
    assert shown[ZALO]["views"] == 55 and shown[FB]["views"] == 0
    # The failed attempt counts for the schedule: no retry storm on the next tick.
    assert MetricsCollector(app.settings, app.engine, app.vault).targets(datetime.now(UTC)) == []
    history = loa("metrics", "show", str(_post_of(app, pubs[FB]["id"])), "--json").json()
    by_channel = {p["channel"]: p for p in history["publications"]}
    assert by_channel[FB]["snapshots"] == [] and "Unsupported get request" in by_channel[FB]["errors"][0]["reason"]
    assert by_channel[ZALO]["snapshots"][0]["views"] == 55 and by_channel[ZALO]["errors"] == []
    printed = loa("metrics", "show", str(_post_of(app, pubs[FB]["id"])))
    assert printed.code == 0 and "Unsupported get request" in printed.stdout


def test_a_throttle_pauses_that_channel_until_regain_and_the_others_go_on(app: Loa, sandbox: Any) -> None:
    pubs = publish(app, [FB, ZALO])
    control(sandbox, "faults", {
        "platform": "facebook", "route": "GET /{post}", "times": 1, "status": 400,
        "error": {"code": 80001, "message": "(#80001) There have been too many calls to this Page account."},
    })  # fmt: skip
    first = MetricsCollector(app.settings, app.engine, app.vault).run_once(only_due=False)
    assert [s["channel"] for s in first.snapshots] == [ZALO]
    assert [e["kind"] for e in first.errors] == ["rate_limited"]
    (pause,) = first.paused_channels
    assert pause["channel"] == FB
    until = datetime.fromisoformat(pause["until"])
    assert until > datetime.now(UTC) + timedelta(minutes=1)  # the regain time Graph sent, not "now"

    seen = len(requests_log(sandbox))
    # A later run (another process, another collector) honours the stored pause.
    second = MetricsCollector(app.settings, app.engine, app.vault).run_once(only_due=False)
    assert [s["channel"] for s in second.snapshots] == [ZALO]
    assert [s["publication"] for s in second.skipped] == [pubs[FB]["id"]]
    assert "kênh đang tạm dừng" in second.skipped[0]["reason"]
    assert not [r for r in requests_log(sandbox)[seen:] if r["platform"] == "facebook"]
    with session_scope(app.engine, read_only=True) as session:
        stored = session.get(MetricPause, FB)
    assert stored is not None and stored.until == until


def test_usage_headers_near_the_limit_leave_the_rest_for_publishing(app: Loa, sandbox: Any) -> None:
    for n in range(3):
        publish(app, [FB], dia_diem=f"xã số {n}")
    control(sandbox, "faults", {
        "platform": "facebook", "route": "GET /{post}", "times": 1,
        "headers": {"X-App-Usage": {"call_count": 95, "total_time": 12, "total_cputime": 9}},
    })  # fmt: skip
    report = MetricsCollector(app.settings, app.engine, app.vault).run_once(only_due=False)
    assert len(report.snapshots) == 1 and len(report.skipped) == 2 and report.errors == []
    assert all("95%" in s["reason"] for s in report.skipped)
    assert [p["channel"] for p in report.paused_channels] == [FB]


def test_calls_are_batched_where_the_api_allows(app: Loa, sandbox: Any) -> None:
    zalo = [publish(app, [ZALO], dia_diem=f"phường {n}")[ZALO] for n in range(3)]
    facebook = [publish(app, [FB], dia_diem=f"xã {n}")[FB] for n in range(2)]
    for n, pub in enumerate(zalo):
        control(sandbox, "engagement", {"platform": "zalo", "article_id": pub["remote_id"], "total_view": 10 + n})
    seen = len(requests_log(sandbox))
    report = MetricsCollector(app.settings, app.engine, app.vault).run_once(only_due=False)
    assert len(report.snapshots) == 5 and not report.errors
    views = {s["publication"]: s["views"] for s in report.snapshots}
    assert [views[p["id"]] for p in zalo] == [10, 11, 12]
    assert [views[p["id"]] for p in facebook] == [0, 0]
    calls = [(r["method"], r["path"]) for r in requests_log(sandbox)[seen:]]
    zalo_calls = [path for method, path in calls if "/article/" in path]
    assert zalo_calls == ["/v2.0/article/getslice"]  # three articles, one listing call
    graph_calls = [path for method, path in calls if path.startswith("/v25.0/")]
    assert len(graph_calls) == 2 and not any(path.endswith("/insights") for path in graph_calls)


def test_polling_schedule_is_often_while_young_rarely_after_never_when_old() -> None:
    schedule = PollingSchedule.from_settings(MetricsSettings())
    t0 = datetime(2026, 5, 6, 1, 0, tzinfo=UTC)

    def due(last: timedelta | None, now: timedelta) -> bool:
        return schedule.is_due(published_at=t0, last_attempt=None if last is None else t0 + last, now=t0 + now)

    assert due(None, timedelta(minutes=1))
    assert not due(timedelta(hours=1), timedelta(hours=1, minutes=30))
    assert due(timedelta(hours=1), timedelta(hours=1, minutes=58))  # half a tick early is on time
    assert due(timedelta(hours=40), timedelta(hours=41))  # hourly for two days
    assert not due(timedelta(hours=50), timedelta(hours=60))  # then daily
    assert due(timedelta(hours=50), timedelta(hours=74))
    assert not due(timedelta(days=29, hours=12), timedelta(days=30, hours=12))  # never past 30 days
    assert schedule.next_due(published_at=t0, last_attempt=t0 + timedelta(days=29, hours=12)) is None


def test_collect_due_only_skips_what_was_just_polled_and_bad_post_is_exit_2(loa: Cli, app: Loa) -> None:
    publish(app, [FB])
    assert loa("metrics", "collect", "--due-only", "--json").json()["counts"]["collected"] == 1
    assert loa("metrics", "collect", "--due-only", "--json").json()["counts"]["collected"] == 0
    assert loa("metrics", "collect", "--json").json()["counts"]["collected"] == 1  # "now" ignores the schedule
    missing = loa("metrics", "collect", "--post", "999")
    assert missing.code == 2 and "999" in missing.stderr


def test_loa_run_engine_schedules_the_metrics_job(app: Loa) -> None:
    engine = PublishingEngine(app.settings, app.engine, app.vault)
    engine.start()
    try:
        alarm = engine.alarms.get(METRICS_JOB)
        assert alarm is not None
        assert alarm.every == timedelta(minutes=app.settings.metrics.tick_minutes)
    finally:
        engine.shutdown()
