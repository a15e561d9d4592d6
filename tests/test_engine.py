"""The alarm clock: the engine wakes at the next due time and when told, not on a coarse tick."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.engine import PublishingEngine
from tests.test_publishing import page_posts, queue


@pytest.fixture
def running(config_path: Path) -> Any:
    loa = Loa(load_settings(config_path))
    loa.init()
    engine = PublishingEngine(loa.settings, loa.engine, loa.vault)  # tick: 30 s
    engine.start()
    loa.queue_listeners.append(engine.wake)
    yield loa, engine
    engine.shutdown()
    loa.close()


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_wakes_at_the_due_time_not_the_tick(running: Any, sandbox: Any) -> None:
    loa, _engine = running
    time.sleep(0.3)  # the first pass ran on an empty queue and armed the 30 s tick
    due = datetime.now(UTC) + timedelta(seconds=2)
    queue(loa, channels=["fb-bhxh-nghean"], at=due)
    assert wait_until(lambda: len(page_posts(sandbox)) == 1, timeout=8)
    # The platform has it before the result's group commit lands in the database.
    assert wait_until(lambda: loa.posts.list()[0]["publications"][0]["published_at"] is not None, timeout=5)
    published_at = datetime.fromisoformat(loa.posts.list()[0]["publications"][0]["published_at"])
    assert published_at >= due - timedelta(seconds=1)


def test_a_post_queued_for_now_goes_out_at_once(running: Any, sandbox: Any) -> None:
    loa, _engine = running
    time.sleep(0.3)
    queue(loa, channels=["fb-bhxh-nghean"])
    assert wait_until(lambda: len(page_posts(sandbox)) == 1, timeout=5)


def test_shutdown_during_a_pass_waits_for_it_and_returns(config_path: Path, sandbox: Any) -> None:
    from tests.test_publishing import fault

    loa = Loa(load_settings(config_path))
    loa.init()
    engine = PublishingEngine(loa.settings, loa.engine, loa.vault)
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, delay_s=1.0)
    queue(loa, channels=["fb-bhxh-nghean"])
    engine.start()
    assert wait_until(lambda: loa.posts.list()[0]["publications"][0]["status"] == "publishing", timeout=5)
    time.sleep(0.3)  # the call is under way (a claim not yet started would be handed back)
    stopper = threading.Thread(target=engine.shutdown)
    stopper.start()
    stopper.join(timeout=15)
    assert not stopper.is_alive(), "shutdown hung while a dispatch pass was re-arming its alarm"
    # The pass in progress finished before shutdown returned: nothing left half-done.
    assert loa.posts.list()[0]["publications"][0]["status"] == "published"
    loa.close()
