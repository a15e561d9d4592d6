"""More fault cases of docs/reliability.md §6, each proved against the real sandbox or real processes.

Every test here fails when the behaviour it names is taken away (a success that ignores its usage
headers, a refresh counted twice, a lock answered with a bare 500, …).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.app import Loa
from scheduler.channels.service import channel_rows
from scheduler.config import load_settings
from tests.test_publishing import dispatcher, fault, page_posts, queue

FB = ["fb-bhxh-nghean"]
ZALO = ["zalo-bhxh-nghean"]
PAGE = "100000000000001"


@pytest.fixture
def app(config_path: Path) -> Loa:
    loa = Loa(load_settings(config_path))
    loa.init()
    return loa


def channel(app: Loa, channel_id: str) -> dict[str, Any]:
    return next(row for row in channel_rows(app) if row["id"] == channel_id)


def spent_quota(regain_minutes: float) -> dict[str, Any]:
    """Usage headers of a reply that worked but used the last of the quota (docs/platforms.md A7)."""
    buc = {PAGE: [{"type": "pages", "call_count": 100, "total_cputime": 40, "total_time": 60,
                   "estimated_time_to_regain_access": regain_minutes}]}  # fmt: skip
    return {"X-App-Usage": {"call_count": 100, "total_time": 20, "total_cputime": 20},
            "X-Business-Use-Case-Usage": buc}  # fmt: skip


# -- case 5: usage headers on a successful reply ---------------------------------------------


def test_usage_headers_on_a_success_pause_the_channel_until_regain(app: Loa, sandbox: Any) -> None:
    # The post goes through, but its reply says the quota is spent for 7 minutes.
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, headers=spent_quota(7))
    start = datetime.now(UTC)
    first = queue(app, channels=FB, hoat_dong="tin thứ nhất")
    second = queue(app, channels=FB, hoat_dong="tin thứ hai", at=start + timedelta(seconds=1))
    assert dispatcher(app).run_once().published == [app.posts.show(first)["publications"][0]["id"]]
    row = channel(app, "fb-bhxh-nghean")
    assert row["status"] == "paused" and row["last_error"]
    paused_until = datetime.fromisoformat(row["paused_until"])
    assert timedelta(minutes=6) < paused_until - start < timedelta(minutes=8)
    # Thirty seconds later the second post is due, and waits: a new process reads the pause.
    assert dispatcher(app, clock=lambda: start + timedelta(seconds=30)).run_once().published == []
    assert len(page_posts(sandbox)) == 1
    assert app.posts.show(second)["publications"][0]["status"] == "scheduled"
    after = dispatcher(app, clock=lambda: start + timedelta(minutes=7, seconds=5)).run_once()
    assert len(after.published) == 1 and len(page_posts(sandbox)) == 2


def test_the_next_post_waits_for_a_short_regain_time_in_real_time(app: Loa, sandbox: Any) -> None:
    regain_s = 3.0
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, headers=spent_quota(regain_s / 60))
    queue(app, channels=FB, hoat_dong="tin thứ nhất")
    queue(app, channels=FB, hoat_dong="tin thứ hai", at=datetime.now(UTC) + timedelta(seconds=0.5))
    assert len(dispatcher(app).run_once().published) == 1
    first_out = time.monotonic()
    second_out = None
    while second_out is None and time.monotonic() - first_out < 15:
        time.sleep(0.25)
        if dispatcher(app).run_once().published:
            second_out = time.monotonic()
    assert second_out is not None, "the second post never went out"
    assert second_out - first_out >= regain_s - 0.3  # not before the regain time (clock granularity)
    assert second_out - first_out < regain_s + 3
    assert len(page_posts(sandbox)) == 2
    assert channel(app, "fb-bhxh-nghean")["status"] == "ok"
