"""The publishing engine under injected faults (docs/reliability.md §6): nothing lost, nothing doubled.

Faults come from the sandbox's control API, or from real processes killed with SIGKILL.
Each test checks what is on the "page" and what a person would see in Loa.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlmodel import select

from scheduler.app import Loa
from scheduler.channels.service import channel_rows, reconnect
from scheduler.config import load_settings
from scheduler.i18n import translate
from scheduler.models import Publication, PublicationStatus
from scheduler.store import session_scope
from tests.conftest import cli_for
from tests.test_publishing import articles, dispatcher, fault, page_posts, queue, state

FB = ["fb-bhxh-nghean"]
ZALO = ["zalo-bhxh-nghean"]


@pytest.fixture
def app(config_path: Path) -> Loa:
    loa = Loa(load_settings(config_path))
    loa.init()
    return loa


def later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def publication(app: Loa, post_id: int) -> dict[str, Any]:
    return dict(app.posts.show(post_id)["publications"][0])


def publish_calls(sandbox: Any) -> int:
    """How many times the sandbox's Facebook was asked to create a feed post."""
    return sum(
        1
        for call in state(sandbox)["requests"]
        if call["platform"] == "facebook" and call["method"] == "POST" and call["path"].endswith("/feed")
    )


def row_of(app: Loa, post_id: int) -> Publication:
    with session_scope(app.engine, read_only=True) as session:
        row = session.exec(select(Publication).where(Publication.post_id == post_id)).one()
        return row


def search_calls(sandbox: Any) -> int:
    """How many times the sandbox's Facebook was asked for a Page's recent posts."""
    return sum(
        1
        for call in state(sandbox)["requests"]
        if call["platform"] == "facebook" and call["method"] == "GET" and call["path"].endswith("/published_posts")
    )


def channel(app: Loa, channel_id: str) -> dict[str, Any]:
    return next(row for row in channel_rows(app) if row["id"] == channel_id)


# -- rate limits ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001])
def test_each_throttle_code_pauses_only_its_channel(app: Loa, sandbox: Any, code: int) -> None:
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, status=400, error={"code": code})
    post_id = queue(app)
    summary = dispatcher(app).run_once()
    assert len(summary.deferred) == 1 and len(summary.published) == 1  # Zalo went on
    assert channel(app, "fb-bhxh-nghean")["status"] == "paused"
    assert publication(app, post_id)["status"] == "scheduled"
    assert dispatcher(app).run_once().published == []  # still paused: no retry storm
    assert len(dispatcher(app, clock=lambda: later(24 * 60 + 1)).run_once().published) == 1
    assert len(page_posts(sandbox)) == 1


def test_usage_header_regain_time_sets_the_pause(app: Loa, sandbox: Any) -> None:
    buc = {"100000000000001": [{"type": "pages", "call_count": 100, "total_cputime": 30, "total_time": 40,
                                "estimated_time_to_regain_access": 7}]}  # fmt: skip
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, status=400,
          error={"code": 80001}, headers={"X-Business-Use-Case-Usage": buc})  # fmt: skip
    queue(app, channels=FB)
    before = datetime.now(UTC)
    dispatcher(app).run_once()
    paused_until = datetime.fromisoformat(channel(app, "fb-bhxh-nghean")["paused_until"])
    assert timedelta(minutes=6) < paused_until - before < timedelta(minutes=8)


# -- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize("subcode", [460, 463, 467])
def test_expired_or_invalid_page_token_blocks_visibly(app: Loa, sandbox: Any, subcode: int) -> None:
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=5, status=400,
          error={"code": 190, "error_subcode": subcode})  # fmt: skip
    post_id = queue(app, channels=FB)
    assert len(dispatcher(app).run_once().blocked) == 1
    row = publication(app, post_id)
    assert row["status"] == "blocked" and row["error"]
    assert channel(app, "fb-bhxh-nghean")["status"] == "needs_reauth"
    assert publish_calls(sandbox) == 1
    for _ in range(3):
        dispatcher(app).run_once()
    # Held, not retried: the platform saw no further publish attempt.
    assert publish_calls(sandbox) == 1
    assert page_posts(sandbox) == []


@pytest.mark.parametrize("code", [-216, -220])
def test_zalo_token_error_refreshes_once_and_publishes(app: Loa, sandbox: Any, code: int) -> None:
    queue(app, channels=ZALO, hoat_dong="tin thứ nhất")
    assert len(dispatcher(app).run_once().published) == 1  # the vault now holds a pair
    fault(sandbox, platform="zalo", route="POST /v2.0/article/create", times=1, error={"error": code})
    post_id = queue(app, channels=ZALO, hoat_dong="tin thứ hai")
    assert len(dispatcher(app).run_once().published) == 1
    assert publication(app, post_id)["status"] == "published"
    assert len(articles(sandbox)) == 2


def test_zalo_token_error_after_refresh_blocks(app: Loa, sandbox: Any) -> None:
    fault(sandbox, platform="zalo", route="POST /v2.0/article/create", times=3, error={"error": -216})
    post_id = queue(app, channels=ZALO)
    assert len(dispatcher(app).run_once().blocked) == 1
    assert publication(app, post_id)["status"] == "blocked"
    assert channel(app, "zalo-bhxh-nghean")["status"] == "needs_reauth"


def test_reused_zalo_refresh_token_asks_for_reconnection(app: Loa, sandbox: Any) -> None:
    seed = "oa:579745863508352884:sandbox-seed"
    grant = {"app_id": "a", "grant_type": "refresh_token", "refresh_token": seed}
    spent = requests.post(f"{sandbox.url}/v4/oa/access_token", headers={"secret_key": "s"}, data=grant, timeout=5)
    assert spent.json().get("access_token")
    post_id = queue(app, channels=ZALO)
    assert len(dispatcher(app).run_once().blocked) == 1
    assert publication(app, post_id)["status"] == "blocked"
    assert channel(app, "zalo-bhxh-nghean")["status"] == "needs_reauth"
    assert reconnect(app, "zalo-bhxh-nghean", "oa:579745863508352884:fresh-from-admin", actor="admin") == 1
    assert len(dispatcher(app).run_once().published) == 1
    assert len(articles(sandbox)) == 1


# -- unknown outcomes -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502])
def test_server_error_on_publish_is_never_retried_blindly(app: Loa, sandbox: Any, status: int) -> None:
    # The platform keeps the post but answers an error: the worst case for a blind retry.
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, drop_after_commit=True)
    post_id = queue(app, channels=FB)
    assert len(dispatcher(app).run_once().unknown) == 1
    assert publication(app, post_id)["status"] == "unknown"
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, status=status, error={"code": 1})
    queue(app, channels=["fb-bhxh-nghean"], hoat_dong="tin khác")
    dispatcher(app, clock=lambda: later(5)).run_once()
    assert publication(app, post_id)["status"] == "published"
    messages = [p["message"] for p in page_posts(sandbox)]
    assert len(messages) == len(set(messages))


@pytest.mark.parametrize("status", [500, 502, 503])
def test_failing_checks_back_off_then_wait_for_a_person(
    app: Loa, sandbox: Any, config_path: Path, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    # The post went out but its reply was lost; then the platform's search keeps failing.
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, drop_after_commit=True)
    post_id = queue(app, channels=FB)
    assert len(dispatcher(app).run_once().unknown) == 1
    fault(sandbox, platform="facebook", route="GET /{page}/published_posts", times=100, status=status,
          error={"code": 2})  # fmt: skip
    max_checks = app.settings.publishing.reconcile_max_checks
    waits: list[float] = []
    for _ in range(max_checks):
        due = row_of(app, post_id).next_attempt_at
        assert due is not None
        dispatcher(app, clock=lambda due=due: due + timedelta(seconds=1)).run_once()
        after = row_of(app, post_id).next_attempt_at
        if after is not None:
            waits.append((after - due).total_seconds())
    # Later each time, never beyond the cap: no flat retry every 30 s, forever.
    cap = app.settings.publishing.reconcile_backoff_cap_seconds
    assert len(waits) == max_checks - 1
    for failures, wait in enumerate(waits, start=1):
        ceiling = min(cap, 30 * 2 ** (failures - 1))
        assert ceiling / 2 - 1 <= wait <= ceiling + 1, (failures, waits)
    # Then a person is asked, with the reason, as `loa post show` says it.
    shown = cli_for(config_path, capsys)("post", "show", str(post_id), "--json")
    (row,) = shown.json()["publications"]
    assert row["status"] == "unknown"
    assert row["error"] == translate("vi", "reason.checks_exhausted")
    searches = search_calls(sandbox)
    for minutes in (60, 600, 6000):
        dispatcher(app, clock=lambda minutes=minutes: later(minutes)).run_once()
    assert search_calls(sandbox) == searches  # left alone until the person decides
    assert len(page_posts(sandbox)) == 1


def test_a_slow_check_on_one_channel_holds_no_other_back(app: Loa, sandbox: Any) -> None:
    for n in range(10):
        fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, drop_after_commit=True)
        queue(app, channels=FB, hoat_dong=f"tin chưa rõ {n}")
        dispatcher(app).run_once()
    # Searching the Page takes 2.5 s (the calls' timeout is 3 s); a Zalo article is due meanwhile.
    fault(sandbox, platform="facebook", route="GET /{page}/published_posts", times=10, delay_s=2.5)
    zalo = queue(app, channels=ZALO, hoat_dong="bài Zalo đúng giờ")
    started = time.monotonic()
    seen: dict[str, float] = {}

    def watch() -> None:
        while "zalo" not in seen and time.monotonic() - started < 20:
            if publication(app, zalo)["status"] == "published":
                seen["zalo"] = time.monotonic() - started
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    summary = dispatcher(app, clock=lambda: later(1)).run_once()
    watcher.join()
    assert seen["zalo"] < 2.0, seen  # out before the Page's search answered
    assert len(summary.reconciled) == 10  # all ten found with one search of the Page
    assert search_calls(sandbox) == 1
    assert len(page_posts(sandbox)) == 10 and len(articles(sandbox)) == 1


def test_publish_timeout_is_unknown_and_reconciled(app: Loa, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOA_PUBLISHING_REQUEST_TIMEOUT_SECONDS", "0.5")
    slow = Loa(load_settings(app.settings.base_dir / "config.toml"))
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, delay_s=1.5)
    post_id = queue(slow, channels=FB)
    assert len(dispatcher(slow).run_once().unknown) == 1
    row = publication(slow, post_id)
    assert row["status"] == "unknown" and "bài có thể đã hoặc chưa có trên trang" in row["error"].lower()
    time.sleep(1.5)  # the platform finishes late
    assert len(page_posts(sandbox)) == 1
    dispatcher(slow, clock=lambda: later(5)).run_once()
    assert publication(slow, post_id)["status"] == "published"
    assert len(page_posts(sandbox)) == 1


def test_duplicate_error_after_unknown_outcome_counts_as_success(app: Loa, sandbox: Any) -> None:
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, drop_after_commit=True)
    post_id = queue(app, channels=FB)
    dispatcher(app).run_once()
    # Make the reconciler's search miss it, as when the feed is slow to show a new post.
    fault(sandbox, platform="facebook", route="GET /{page}/published_posts", times=1, status=500,
          error={"code": 2})  # fmt: skip
    dispatcher(app, clock=lambda: later(1)).run_once()
    with session_scope(app.engine) as session:
        row = session.get(Publication, publication(app, post_id)["id"])
        assert row is not None
        if row.status == PublicationStatus.unknown:
            # Force a second publish: the platform answers 506 for the same text.
            row.status = PublicationStatus.scheduled
            row.next_attempt_at = None
            session.add(row)
    dispatcher(app, clock=lambda: later(10)).run_once()
    assert publication(app, post_id)["status"] == "published"
    assert len(page_posts(sandbox)) == 1


# -- time -----------------------------------------------------------------------------------


def test_clock_jumps_forward_and_back_publish_each_post_once(app: Loa, sandbox: Any) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=30)
    post_id = queue(app, channels=FB, at=soon)
    assert dispatcher(app, clock=lambda: soon - timedelta(hours=1)).run_once().published == []  # clock back
    assert len(dispatcher(app, clock=lambda: soon + timedelta(minutes=59)).run_once().published) == 1  # forward
    assert dispatcher(app, clock=lambda: soon - timedelta(hours=2)).run_once().published == []  # back again
    assert dispatcher(app, clock=lambda: soon + timedelta(days=3650)).run_once().published == []  # year-ahead jump
    assert publication(app, post_id)["status"] == "published"
    assert len(page_posts(sandbox)) == 1


# -- processes ------------------------------------------------------------------------------


def loa_process(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_status(app: Loa, post_id: int, status: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while publication(app, post_id)["status"] != status:
        assert time.monotonic() < deadline, f"publication never became {status}"
        time.sleep(0.05)


def test_kill_9_after_the_platform_accepted(app: Loa, sandbox: Any, config_path: Path) -> None:
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, delay_s=2.0)
    post_id = queue(app, channels=FB)
    process = loa_process(config_path, "publish-due")
    wait_for_status(app, post_id, "publishing")
    time.sleep(0.5)  # the publish call is in flight
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(2.0)  # the platform finishes and keeps the post; its reply goes nowhere
    assert len(page_posts(sandbox)) == 1
    assert publication(app, post_id)["status"] == "publishing"
    # The lease has not run out, but its process is gone: noticed at once.
    dispatcher(app, clock=lambda: later(1)).run_once()
    row = publication(app, post_id)
    assert row["status"] == "published" and row["remote_id"] == page_posts(sandbox)[0]["id"]
    assert len(page_posts(sandbox)) == 1


def test_kill_9_before_the_publish_call(app: Loa, sandbox: Any, config_path: Path) -> None:
    # The Zalo channel's first use renews its token; the process dies during that call,
    # before any article was created — and after Zalo spent the single-use refresh token.
    fault(sandbox, platform="zalo", route="POST /v4/oa/access_token", times=1, delay_s=2.0)
    post_id = queue(app, channels=ZALO)
    process = loa_process(config_path, "publish-due")
    wait_for_status(app, post_id, "publishing")
    time.sleep(0.5)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(2.0)
    assert articles(sandbox) == []
    from scheduler.channels.tokens import report_interrupted_refresh

    assert report_interrupted_refresh(app.engine, app.vault, "zalo-bhxh-nghean", now=later(2))
    assert "chưa xong (tiến trình đã dừng)" in channel(app, "zalo-bhxh-nghean")["last_error"]
    lease_over = later(app.settings.publishing.lease_seconds / 60 + 1)
    dispatcher(app, clock=lambda: lease_over).run_once()
    # The refresh token is spent: Loa cannot look, and says the OA must be reconnected.
    assert publication(app, post_id)["status"] == "unknown"
    assert channel(app, "zalo-bhxh-nghean")["status"] == "needs_reauth"
    reconnect(app, "zalo-bhxh-nghean", "oa:579745863508352884:fresh-from-admin", actor="admin")
    dispatcher(app, clock=lambda: later(30)).run_once()  # checks: absent → publish again
    dispatcher(app, clock=lambda: later(31)).run_once()
    assert publication(app, post_id)["status"] == "published"
    assert len(articles(sandbox)) == 1


def test_two_dispatcher_processes_share_the_due_set(app: Loa, sandbox: Any, config_path: Path) -> None:
    for n in range(40):
        queue(app, channels=FB, hoat_dong=f"đợt {n}")
    processes = [loa_process(config_path, "publish-due", "--json") for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    assert len(page_posts(sandbox)) == 40
    assert len({p["message"] for p in page_posts(sandbox)}) == 40


def test_posts_held_for_hours_go_out_once_the_channel_is_reconnected(app: Loa, sandbox: Any) -> None:
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, status=400,
          error={"code": 190, "error_subcode": 460})  # fmt: skip
    post_id = queue(app, channels=FB)
    dispatcher(app).run_once()
    assert publication(app, post_id)["status"] == "blocked"
    # The admin reconnects three hours later, well past the grace for overdue posts.
    reconnect(app, "fb-bhxh-nghean", "EAAB-new-page-token-2026", actor="admin")
    summary = dispatcher(app, clock=lambda: later(180)).run_once()
    assert summary.missed == [] and len(summary.published) == 1
    assert len(page_posts(sandbox)) == 1


def test_a_long_pass_claims_with_the_time_of_each_claim(tmp_path: Path, sandbox: Any) -> None:
    from tests.conftest import write_config

    one_channel = '[[channels]]\nid = "fb-bhxh-nghean"\nplatform = "facebook"\nname = "Trang"\n'
    config = write_config(tmp_path, sandbox_url=sandbox.url, channels=one_channel + 'external_id = "100000000000001"\n')
    config.write_text(
        config.read_text(encoding="utf-8").replace("[publishing]", "[publishing]\nmax_parallel = 1"), encoding="utf-8"
    )
    loa = Loa(load_settings(config))
    loa.init()
    start = datetime.now(UTC)
    queue(loa, channels=FB, at=start, hoat_dong="đến hạn trước")
    queue(loa, channels=FB, at=start + timedelta(minutes=5), hoat_dong="đến hạn trong lượt")
    ticks = iter(range(1000))

    def clock() -> datetime:  # ten minutes pass between any two readings: a very long pass
        return start + timedelta(minutes=10 * next(ticks))

    summary = dispatcher(loa, clock=clock).run_once()
    # The second fell due while the first was being published; its claim used the time of
    # the claim (so its lease is not already running out), and it went out in the same pass.
    assert len(summary.published) == 2
    assert len(page_posts(sandbox)) == 2
    loa.close()
