"""`/healthz` tells the health of its own process's engine, and nobody else's.

Each branch: fresh, stale, a tick from the future, no engine at all, another process's tick
(a real `loa publish-due`) not counting, the database unreachable.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import update

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.engine import PublishingEngine
from scheduler.models import SchedulerTick, utcnow
from scheduler.serving import ThreadedServer
from scheduler.web.app import create_app


@pytest.fixture
def app(config_path: Path) -> Iterator[Loa]:
    loa = Loa(load_settings(config_path))
    loa.open()
    yield loa
    loa.close()


@pytest.fixture
def served(app: Loa) -> Iterator[str]:
    with ThreadedServer(create_app(app)) as server:
        yield server.url


def health(url: str) -> tuple[int, dict[str, Any]]:
    answer = requests.get(f"{url}/healthz", timeout=5)
    return answer.status_code, answer.json()


def started(app: Loa) -> PublishingEngine:
    app.publishing_engine = engine = PublishingEngine(app.settings, app.engine, app.vault, role="run")
    engine.start()
    return engine


def wait_healthy(url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while (answer := health(url))[0] != 200:
        assert time.monotonic() < deadline, answer
        time.sleep(0.05)
    return answer[1]


def date_own_tick(app: Loa, engine: PublishingEngine, delta: timedelta) -> None:
    with app.engine.begin() as connection:
        connection.execute(
            update(SchedulerTick)
            .where(SchedulerTick.role == engine.role, SchedulerTick.instance == engine.instance)  # type: ignore[arg-type]
            .values(at=utcnow() + delta)
        )


def publish_due(config: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scheduler", "--config", str(config), "publish-due"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_process_without_an_engine_is_never_green(app: Loa, served: str, config_path: Path) -> None:
    publish_due(config_path)  # another process ticks
    code, body = health(served)
    assert code == 503 and body["role"] is None and "không chạy bộ điều phối" in body["scheduler"]


def test_fresh_then_stale_while_another_process_ticks(app: Loa, served: str, config_path: Path) -> None:
    engine = started(app)
    body = wait_healthy(served)
    assert body["instance"] == engine.instance and 0 <= body["last_tick_age_seconds"] < 5
    engine.shutdown()  # this process's engine is dead; its web server is not
    stale = 3 * app.settings.publishing.tick_seconds + 60
    date_own_tick(app, engine, -timedelta(seconds=stale + 5))
    publish_due(config_path)  # a cron run on the same database is alive and ticking
    with app.engine.connect() as connection:
        roles = {row.role for row in connection.execute(SchedulerTick.__table__.select())}  # type: ignore[attr-defined]
    assert roles == {"run", "publish-due"}
    code, body = health(served)
    assert code == 503, body
    assert body["last_tick_age_seconds"] > stale and f"giới hạn {stale} giây" in body["scheduler"]


def test_a_tick_from_the_future_is_unhealthy(app: Loa, served: str) -> None:
    engine = started(app)
    try:
        wait_healthy(served)
        engine.dispatcher.stop()  # no pass overwrites the row meanwhile
        time.sleep(0.2)
        date_own_tick(app, engine, timedelta(hours=1))
        code, body = health(served)
        assert code == 503 and body["last_tick_age_seconds"] < -3500
        assert "đồng hồ máy vừa bị lùi" in body["scheduler"]
    finally:
        engine.shutdown()


def test_an_unreachable_database_is_unhealthy(tmp_path: Path, sandbox: Any) -> None:
    from tests.conftest import write_config

    config = write_config(tmp_path, sandbox_url=sandbox.url)
    loa = Loa(load_settings(config))
    loa.init()
    engine = started(loa)
    try:
        with ThreadedServer(create_app(loa)) as server:
            wait_healthy(server.url)
            engine.dispatcher.stop()
            # The queue's change signal reads the database too: a connection it opened while
            # the file is away would point at the empty stand-in after the file is back.
            engine.signal.stop()
            engine.signal.join(timeout=2.0)
            time.sleep(0.2)
            loa.engine.dispose()
            (tmp_path / "posts.db").rename(tmp_path / "away.db")  # SQLite opens an empty file there now
            try:
                code, body = health(server.url)
                assert code == 503 and body["database"].startswith("error:"), body
            finally:
                loa.engine.dispose()
                (tmp_path / "away.db").replace(tmp_path / "posts.db")
    finally:
        engine.shutdown()
        loa.close()
