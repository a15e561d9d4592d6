"""SIGTERM in the middle of a long pass: a real process stops at once, nothing lost or doubled.

`loa worker`, `loa run`, and `loa publish-due` as cron starts it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func
from sqlmodel import col, select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import Publication, PublicationStatus, PublishAttempt
from scheduler.posts.requests import PostRequest
from scheduler.store import session_scope
from tests.test_publishing import VARS, fault, page_posts

DUE = 600
LATENCY_S = 0.4  # each Facebook reply takes this long


@pytest.fixture
def app(config_path: Path) -> Loa:
    loa = Loa(load_settings(config_path))
    loa.open()
    return loa


def statuses(app: Loa) -> Counter[str]:
    with session_scope(app.engine, read_only=True) as session:
        rows = session.exec(select(Publication.status, func.count()).group_by(col(Publication.status))).all()
    return Counter({PublicationStatus(status).value: count for status, count in rows})


def attempts(app: Loa) -> int:
    with session_scope(app.engine, read_only=True) as session:
        return int(session.exec(select(func.count()).select_from(PublishAttempt)).one())


@pytest.mark.parametrize("command", ["worker", "run", "publish-due"])
def test_sigterm_during_a_pass_of_600_exits_at_once_and_hands_back_the_rest(
    app: Loa, sandbox: Any, config_path: Path, tmp_path: Path, command: str
) -> None:
    due = datetime.now(UTC) - timedelta(seconds=5)
    requests_ = [
        PostRequest(template="thang-van-dong", channels=["fb-bhxh-nghean"], variables={**VARS, "hoat_dong": f"đợt {n}"},
                    at=due)
        for n in range(DUE)
    ]  # fmt: skip
    app.posts.store([app.posts.prepare(r, now=due) for r in requests_])
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=DUE, delay_s=LATENCY_S)
    config = config_path
    if command == "run":  # the web server on a port of its own, beside the test's
        from tests.conftest import free_port

        config = tmp_path / "run.toml"
        config.write_text(config_path.read_text() + f"\n[web]\nhost = \"127.0.0.1\"\nport = {free_port()}\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--config", str(config), command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while statuses(app)["published"] < 20:
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.1)

    process.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    try:
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    took = time.monotonic() - stopped_at
    assert process.returncode == 0, err
    assert took < 3 * LATENCY_S + 2.5, f"{took:.1f} s to stop"

    # Nothing half-done: every row is published (the platform has it) or back in the queue.
    after = statuses(app)
    assert set(after) <= {"published", "scheduled"}, after
    assert after["published"] == len(page_posts(sandbox)) < DUE
    assert attempts(app) == after["published"]  # a handed-back claim leaves no attempt behind

    # A second run publishes the rest, each exactly once.
    requests.delete(f"{sandbox.url}/_sandbox/faults", timeout=5).raise_for_status()
    second = subprocess.run(
        [sys.executable, "-m", "scheduler", "--config", str(config_path), "publish-due", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert statuses(app) == Counter({"published": DUE})
    messages = Counter(post["message"] for post in page_posts(sandbox))
    assert len(messages) == DUE and set(messages.values()) == {1}
