""""Now" means now from any process: a running `loa worker` hears the CLI of another process.

Real processes on real SQLite and PostgreSQL: the worker's safety tick is set to 10 minutes,
so a post it publishes within the test's wait was heard through the database's change signal
(SQLite's data_version, PostgreSQL's LISTEN/NOTIFY), not found by a sweep. The waits are
generous (the machine is shared); the tick is what they are generous against.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import SchedulerTick
from scheduler.store import session_scope
from tests.conftest import initialised, write_config
from tests.test_publishing import VARS, page_posts

TICK_SECONDS = 600
HEARD_WITHIN = 20.0  # seconds: well under the tick, loose enough for a loaded machine

CHANNELS = """
[[channels]]
id = "fb-bhxh-nghean"
platform = "facebook"
name = "BHXH tỉnh Nghệ An"
external_id = "100000000000001"

[[channels]]
id = "fb-duyet"
platform = "facebook"
name = "BHXH Nghệ An (cần duyệt)"
external_id = "100000000000001"
approval = true
"""


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "scheduler", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def variables(n: int) -> list[str]:
    values = {**VARS, "hoat_dong": f"đợt {n} nghe từ tiến trình khác"}
    return [part for key, value in values.items() for part in ("--var", f"{key}={value}")]


@pytest.fixture
def worker(tmp_path: Path, sandbox: Any, database_url: str) -> Iterator[Path]:
    config = initialised(
        write_config(
            tmp_path,
            sandbox_url=sandbox.url,
            database_url=database_url,
            channels=CHANNELS,
            extra="\n[metrics]\nenabled = false\n",
        )
    )
    text = config.read_text(encoding="utf-8")
    slow_tick = text.replace("[publishing]\n", f"[publishing]\ntick_seconds = {TICK_SECONDS}\n")
    config.write_text(slow_tick, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--config", str(config), "worker"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    loa = Loa(load_settings(config))
    try:
        deadline = time.monotonic() + 60
        while not ticks(loa):  # the first pass ran on an empty queue and armed the long tick
            assert time.monotonic() < deadline and process.poll() is None, "the worker never ran a pass"
            time.sleep(0.1)
        time.sleep(1.5)
        yield config
    finally:
        loa.close()
        process.terminate()
        try:
            _out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _out, err = process.communicate()
        assert process.returncode == 0, err


def ticks(loa: Loa) -> int:
    with session_scope(loa.engine, read_only=True) as session:
        return int(session.exec(select(func.count()).select_from(SchedulerTick)).one())


def heard(sandbox: Any, count: int) -> float:
    """Seconds until the platform holds ``count`` posts (fails after HEARD_WITHIN)."""
    started = time.monotonic()
    while len(page_posts(sandbox)) < count:
        waited = time.monotonic() - started
        assert waited < HEARD_WITHIN, f"not published {waited:.0f} s after the other process's change"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_post_queued_now_by_another_process_is_published_at_once(worker: Path, sandbox: Any) -> None:
    cli(worker, "post", "add", "--template", "thang-van-dong", "--channel", "fb-bhxh-nghean", "--now", *variables(1))
    heard(sandbox, 1)


def test_an_approval_and_a_reschedule_from_another_process_are_heard(worker: Path, sandbox: Any) -> None:
    added = cli(
        worker, "post", "add", "--template", "thang-van-dong", "--channel", "fb-duyet", "--now", "--json", *variables(2)
    )
    waiting = json.loads(added.stdout)["id"]
    time.sleep(2)  # the worker looks, and finds nothing it may publish yet
    assert page_posts(sandbox) == []
    cli(worker, "post", "approve", str(waiting), "--by", "lanh-dao")
    heard(sandbox, 1)

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")
    later = cli(
        worker, "post", "add", "--template", "thang-van-dong", "--channel", "fb-bhxh-nghean", "--at", tomorrow,
        "--json", *variables(3),
    )  # fmt: skip
    post_id = json.loads(later.stdout)["id"]
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat(timespec="seconds")
    cli(worker, "post", "reschedule", str(post_id), "--at", soon)
    heard(sandbox, 2)
