"""`systemctl restart loa` during a burst: a real `loa run` gets SIGTERM while posts go out and
visitors follow a tracked link. Every click that was answered is stored, nothing is published
twice, no claim is left behind, and the next `loa run` publishes the rest once each.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.posts.requests import PostRequest
from tests.conftest import free_port, initialised, write_config
from tests.test_operations_metrics import linked
from tests.test_publishing import VARS, fault, page_posts
from tests.test_stopping import statuses

DUE = 200
LATENCY_S = 0.3
FACEBOOK_ONLY = """
[[channels]]
id = "fb-bhxh-nghean"
platform = "facebook"
name = "BHXH tỉnh Nghệ An"
external_id = "100000000000001"
"""


def start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--config", str(config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_until(condition: Any, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)


def test_sigterm_during_a_burst_loses_no_answered_click_and_publishes_nothing_twice(
    tmp_path: Path, sandbox: Any
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    extra = f"\n[web]\nport = {port}\n"
    config = initialised(write_config(tmp_path, sandbox_url=sandbox.url, public_url=base, extra=extra,
                                      channels=FACEBOOK_ONLY))  # fmt: skip
    app = Loa(load_settings(config))
    linked(app, "restart01")
    due = datetime.now(UTC) - timedelta(seconds=5)
    requests_ = [
        PostRequest(template="thang-van-dong", channels=["fb-bhxh-nghean"], variables={**VARS, "hoat_dong": f"đợt {n}"},
                    at=due)
        for n in range(DUE)
    ]  # fmt: skip
    app.posts.store([app.posts.prepare(r, now=due) for r in requests_])
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=DUE, delay_s=LATENCY_S)

    first = start(config)
    wait_until(lambda: statuses(app)["published"] >= 10, first)

    answered: list[str] = []
    refused = threading.Event()

    def visitor(n: int) -> None:
        with requests.Session() as browser:
            for visit in range(10_000):
                agent = f"Mozilla/5.0 (Linux; Android 14) visitor-{n}-{visit}"
                try:
                    reply = browser.get(f"{base}/l/restart01", headers={"User-Agent": agent},
                                        allow_redirects=False, timeout=10)  # fmt: skip
                except requests.RequestException:
                    refused.set()  # the server is gone: what was answered is what counts
                    return
                if reply.status_code == 302:
                    answered.append(agent)

    visitors = [threading.Thread(target=visitor, args=(n,)) for n in range(8)]
    for thread in visitors:
        thread.start()
    wait_until(lambda: len(answered) >= 200, first)
    first.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    _, err = first.communicate(timeout=60)
    took = time.monotonic() - stopped_at
    for thread in visitors:
        thread.join(timeout=30)
    assert first.returncode == 0, err
    assert refused.is_set()
    assert took < 3 * LATENCY_S + 5, f"{took:.1f} s to stop"

    with app.engine.connect() as connection:
        stored = {row[0] for row in connection.execute(text("SELECT user_agent FROM click"))}
        left = connection.execute(text("SELECT count(*) FROM publication WHERE status = 'publishing'")).scalar()
    missing = [agent for agent in answered if agent not in stored]
    assert not missing, f"{len(missing)} of {len(answered)} answered clicks were not stored"
    assert left == 0
    after = statuses(app)
    assert after["published"] + after["scheduled"] == DUE + 1  # the linked publication, published before
    assert after["scheduled"] > 0, "the burst ended before the restart: nothing was handed back"

    # The restart: the new process publishes the rest, each exactly once.
    second = start(config)
    try:
        wait_until(lambda: statuses(app)["published"] == DUE + 1, second, seconds=120)
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    messages = Counter(post["message"] for post in page_posts(sandbox))
    assert len(messages) == DUE and set(messages.values()) == {1}
    app.close()
