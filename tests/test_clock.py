"""Real `loa run` processes whose wall clock is moved while they run (libfaketime).

The host's clock is moved back an hour, and forward to 2200 and back, under a running
process; each scenario checks what a person sees (`post show`, `/healthz`) and that the
dispatcher keeps working. libfaketime reads the offset from a file on every call
(``FAKETIME_NO_CACHE``), so the test moves the clock by writing that file. The monotonic
clock is left alone, as on a real host.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from scheduler.app import Loa
from scheduler.clock import TrustedClock
from scheduler.config import load_settings
from tests.conftest import REPO, free_port, write_config
from tests.test_publishing import page_posts, queue

FB = ["fb-bhxh-nghean"]
SHIM = REPO / "tests" / "faketime"


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


class MovedClock:
    """The control file of libfaketime: ``move(seconds)`` sets the offset from the real clock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.move(0)

    def move(self, seconds: int) -> None:
        self.offset = seconds
        self.path.write_text(f"{seconds:+d}\n")

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def environ(self) -> dict[str, str]:
        found = sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))
        if not found:
            pytest.fail("libfaketime is missing: apt-get install faketime (make install does it as root)")
        return {
            **os.environ,
            "LD_PRELOAD": str(found[0]),
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "LOA_LANG": "vi",
            "PYTHONPATH": os.pathsep.join([str(SHIM), str(REPO)]),
        }


class Running:
    """A `loa run` process (web server + engine) started under the moved clock."""

    def __init__(self, config: Path, port: int, clock: MovedClock) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "--config", str(config), "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clock.environ(),
        )

    def health(self) -> tuple[int, dict[str, Any]]:
        answer = requests.get(f"{self.url}/healthz", timeout=5)
        return answer.status_code, answer.json()

    def healthy(self) -> bool:
        try:
            return self.health()[0] == 200
        except requests.ConnectionError:
            return False

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def stop(self) -> str:
        self.process.terminate()
        _out, err = self.process.communicate(timeout=30)
        return err


@pytest.fixture
def clock(tmp_path: Path) -> MovedClock:
    return MovedClock(tmp_path / "faketime.rc")


@pytest.fixture
def setup(tmp_path: Path, sandbox: Any) -> Iterator[tuple[Loa, Path, int]]:
    port = free_port()
    extra = f"\n[web]\nhost = \"127.0.0.1\"\nport = {port}\n"
    config = write_config(tmp_path, sandbox_url=sandbox.url, public_url=f"http://127.0.0.1:{port}", extra=extra)
    text = config.read_text().replace("grace_minutes = 60\n", "grace_minutes = 60\ntick_seconds = 2\n")
    config.write_text(text)
    loa = Loa(load_settings(config))
    loa.init()
    yield loa, config, port
    loa.close()


@pytest.fixture
def running(setup: tuple[Loa, Path, int], clock: MovedClock) -> Iterator[Running]:
    _loa, config, port = setup
    process = Running(config, port, clock)
    try:
        assert wait_until(process.healthy, timeout=30), process.process.stderr
        yield process
    finally:
        if process.process.poll() is None:
            process.stop()


def status(loa: Loa, post_id: int) -> str:
    return str(loa.posts.show(post_id)["publications"][0]["status"])


def test_clock_moved_back_an_hour_keeps_publishing(
    setup: tuple[Loa, Path, int], clock: MovedClock, running: Running, sandbox: Any
) -> None:
    loa = setup[0]
    later = queue(loa, channels=FB, at=datetime.now(UTC) + timedelta(minutes=30), hoat_dong="sau nửa giờ")
    clock.move(-3600)
    answers: list[tuple[int, dict[str, Any]]] = []

    # Due on the host's new time: a post queued for "now", one for two seconds on.
    now_post = queue(loa, channels=FB, at=clock.now() - timedelta(seconds=1), hoat_dong="ngay")
    soon_post = queue(loa, channels=FB, at=clock.now() + timedelta(seconds=2), hoat_dong="sắp tới")

    def both_out() -> bool:
        answers.append(running.health())
        return status(loa, now_post) == status(loa, soon_post) == "published"

    assert wait_until(both_out, timeout=20), [status(loa, now_post), status(loa, soon_post)]
    assert len(page_posts(sandbox)) == 2
    # A tick from before the jump lies in the host's future: never reported as healthy.
    assert all(code == 503 for code, body in answers if (body["last_tick_age_seconds"] or 0) < 0), answers
    assert wait_until(running.healthy, timeout=10)
    code, body = running.health()
    assert code == 200 and 0 <= body["last_tick_age_seconds"] < 10 and body["clock"] == "ok"
    assert status(loa, later) == "scheduled"  # 90 minutes away on the host's clock now
    assert "đồng hồ máy bị lùi 3600 giây" in running.stop()


def test_clock_to_2200_and_back_marks_nothing_missed_and_keeps_running(
    setup: tuple[Loa, Path, int], clock: MovedClock, running: Running, sandbox: Any
) -> None:
    loa = setup[0]
    future = queue(loa, channels=FB, at=datetime.now(UTC) + timedelta(minutes=10), hoat_dong="mười phút nữa")
    rss_before = running.rss_mb()
    clock.move(int((datetime(2200, 1, 1, tzinfo=UTC) - datetime.now(UTC)).total_seconds()))
    time.sleep(8)  # four ticks at 2200

    # Nothing believed yet: the post is not published early, nor marked missed; /healthz says why.
    assert status(loa, future) == "scheduled"
    code, body = running.health()
    assert code == 503 and "đồng hồ máy vừa nhảy tới" in body["clock"], body
    assert 0 <= body["last_tick_age_seconds"] < 10  # the dispatcher still runs on the time it trusts
    assert page_posts(sandbox) == []

    clock.move(0)
    soon = queue(loa, channels=FB, at=datetime.now(UTC) + timedelta(seconds=2), hoat_dong="sau khi đồng hồ về")
    assert wait_until(lambda: status(loa, soon) == "published", timeout=20), status(loa, soon)
    assert wait_until(running.healthy, timeout=10), running.health()
    assert status(loa, future) == "scheduled"
    assert len(page_posts(sandbox)) == 1
    assert running.rss_mb() - rss_before < 50, (rss_before, running.rss_mb())
    log = running.stop()
    assert "đồng hồ máy nhảy tới" in log and "bị huỷ" in log


def test_a_forward_jump_that_holds_is_believed_then(
    setup: tuple[Loa, Path, int], clock: MovedClock, sandbox: Any
) -> None:
    loa, config, port = setup
    confirm = "tick_seconds = 2\nclock_jump_confirm_seconds = 6\n"
    config.write_text(config.read_text().replace("tick_seconds = 2\n", confirm))
    process = Running(config, port, clock)
    try:
        assert wait_until(process.healthy, timeout=30), process.process.stderr
        overdue = queue(loa, channels=FB, at=datetime.now(UTC) + timedelta(minutes=30), hoat_dong="nửa giờ nữa")
        clock.move(3 * 3600)  # the host clock was three hours slow, and is now right
        time.sleep(3)
        assert status(loa, overdue) == "scheduled"  # not believed yet
        assert process.health()[0] == 503
        # Once the new time has held, it is the time: the post is 2½ h late, beyond the grace.
        assert wait_until(lambda: status(loa, overdue) == "missed", timeout=20), status(loa, overdue)
        assert wait_until(process.healthy, timeout=10), process.health()
        assert page_posts(sandbox) == []
        assert "đã được xác nhận" in process.stop()
    finally:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


# -- the trusted clock itself -----------------------------------------------------------------


class Clocks:
    def __init__(self) -> None:
        self.wall = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
        self.mono = 1000.0

    def pass_(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def trusted(clocks: Clocks) -> TrustedClock:
    return TrustedClock(confirm_after=120, wall=lambda: clocks.wall, monotonic=lambda: clocks.mono)


def test_a_forward_jump_is_believed_once_it_has_held(clocks: Clocks) -> None:
    clock = trusted(clocks)
    start = clocks.wall
    clocks.pass_(10)
    assert clock.now() == start + timedelta(seconds=10)
    clocks.wall += timedelta(days=365)  # the host clock jumps a year ahead
    assert clock.now() == start + timedelta(seconds=10)
    assert clock.pending is not None and clock.pending.by == timedelta(days=365)
    clocks.pass_(119)
    assert clock.now() == start + timedelta(seconds=129)  # still the time it trusts
    clocks.pass_(2)
    assert clock.now() == clocks.wall and clock.pending is None  # held 121 s: believed
    assert clock.jumps == 1


def test_a_forward_jump_undone_before_it_is_confirmed(clocks: Clocks) -> None:
    clock = trusted(clocks)
    clocks.wall += timedelta(days=60000)
    clocks.pass_(30)
    assert clock.now() < clocks.wall
    clocks.wall -= timedelta(days=60000)
    assert clock.now() == clocks.wall and clock.pending is None


def test_a_jump_back_is_taken_at_once_and_slewing_is_no_jump(clocks: Clocks) -> None:
    clock = trusted(clocks)
    clocks.pass_(5)
    clocks.wall -= timedelta(hours=1)
    assert clock.now() == clocks.wall and clock.pending is None and clock.jumps == 1
    for _ in range(100):  # NTP slewing: a few milliseconds a second, for minutes
        clocks.pass_(1)
        clocks.wall += timedelta(milliseconds=5)
        assert clock.now() == clocks.wall
    assert clock.jumps == 1
