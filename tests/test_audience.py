"""A channel's own audience end to end: `/_sandbox/engagement` sets a Page's insights and an
OA's follower count, `loa metrics audience` reads them through the real clients over HTTP,
the snapshots are stored, and the monthly report carries them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlmodel import select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import AudienceSnapshot
from scheduler.store import session_scope
from tests.conftest import Cli, cli_for, write_config

FB, ZALO = "fb-bhxh-nghean", "zalo-bhxh-nghean"
PAGE, OA = "100000000000001", "579745863508352884"


def control(sandbox: Any, payload: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{sandbox.url}/_sandbox/engagement", json=payload, timeout=5)
    response.raise_for_status()
    return dict(response.json())


@pytest.fixture
def config(tmp_path: Path, sandbox: Any, database_url: str) -> Path:
    return write_config(tmp_path, sandbox_url=sandbox.url, database_url=database_url)


@pytest.fixture
def app(config: Path) -> Iterator[Loa]:
    loa = Loa(load_settings(config))
    loa.init()
    yield loa
    loa.close()


@pytest.fixture
def loa(config: Path, app: Loa, capsys: pytest.CaptureFixture[str]) -> Cli:
    return cli_for(config, capsys)


def test_page_insights_and_followers_are_pulled_stored_and_reported(loa: Cli, app: Loa, sandbox: Any) -> None:
    control(sandbox, {"platform": "facebook", "page_id": PAGE, "followers": 12_840, "views": 5_400, "reach": 3_100})
    control(sandbox, {"platform": "zalo", "oa_id": OA, "followers": 4_200})
    first = loa("metrics", "audience", "--day", "2026-05-30", "--json")
    assert first.code == 0, first.stderr
    got = {r["channel"]: r for r in first.json()["audience"]}
    assert (got[FB]["followers"], got[FB]["views"], got[FB]["reach"], got[FB]["error"]) == (12_840, 5_400, 3_100, None)
    assert (got[ZALO]["followers"], got[ZALO]["views"], got[ZALO]["reach"]) == (4_200, None, None)
    # The client asked the Page's insights edge (the sandbox refuses removed metric names:
    # see the next test).
    log = requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).json()["requests"]
    assert any(r["path"].endswith(f"/{PAGE}/insights") and r["status"] == 200 for r in log)
    # The next day more followers, and the Page's day figures again.
    control(sandbox, {"platform": "facebook", "page_id": PAGE, "followers": 60, "mode": "add"})
    assert loa("metrics", "audience", "--day", "31/05/2026").code == 0
    with session_scope(app.engine, read_only=True) as session:
        rows = list(session.exec(select(AudienceSnapshot).order_by(AudienceSnapshot.id)))
    assert [(r.channel_id, r.day, r.followers) for r in rows] == [
        (FB, date(2026, 5, 30), 12_840), (ZALO, date(2026, 5, 30), 4_200),
        (FB, date(2026, 5, 31), 12_900), (ZALO, date(2026, 5, 31), 4_200),
    ]  # fmt: skip
    summary = loa("report", "summary", "--month", "2026-05", "--format", "json").json()
    audience = {a["channel"]: a for a in summary["audience"]}
    assert audience[FB] == {"channel": FB, "followers": 12_900, "views": 10_800, "reach": 6_200, "days": 2}
    assert audience[ZALO]["followers"] == 4_200 and audience[ZALO]["views"] is None


def test_a_removed_metric_is_refused_as_graph_refuses_it(loa: Cli, config: Path, sandbox: Any) -> None:
    page = 'external_id = "100000000000001"'
    text = config.read_text(encoding="utf-8").replace(page, page + '\naudience_metrics = {followers = "page_fans"}')
    config.write_text(text, encoding="utf-8")
    result = loa("metrics", "audience", "--day", "2026-05-30", "--json")
    assert result.code == 0, result.stderr
    got = {r["channel"]: r for r in result.json()["audience"]}
    assert got[FB]["error"] and got[FB]["followers"] is None
    assert got[ZALO]["error"] is None  # the other channel goes on
