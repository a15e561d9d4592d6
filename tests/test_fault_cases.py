"""More fault cases of docs/reliability.md §6, each proved against the real sandbox or real processes.

Every test here fails when the behaviour it names is taken away (a success that ignores its usage
headers, a refresh counted twice, a lock answered with a bare 500, …).
"""

from __future__ import annotations

import errno
import html
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import LargeBinary, PickleType, event, inspect
from sqlmodel import SQLModel
from starlette.testclient import TestClient

from scheduler.app import Loa
from scheduler.channels.service import channel_rows
from scheduler.config import load_settings
from scheduler.engine import PublishingEngine
from scheduler.errors import TemplateError, render_error
from scheduler.i18n import process_lang, translate
from scheduler.logs import Throttle
from scheduler.render.messages import MessageRenderer, PlatformLimits
from scheduler.serving import ThreadedServer
from scheduler.web.app import create_app
from tests.conftest import CONSOLE_CHANNELS, REPO, cli_for, initialised, seed_console_users, write_config
from tests.test_api import VARS, Api, new_post
from tests.test_publishing import dispatcher, fault, page_posts, queue, state

FB = ["fb-bhxh-nghean"]
ZALO = ["zalo-bhxh-nghean"]
PAGE = "100000000000001"
FACEBOOK_LIMITS = PlatformLimits("Facebook Page", 63206)


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


def test_posts_claimed_in_the_same_pass_wait_once_a_reply_spends_the_quota(config_path: Path, sandbox: Any) -> None:
    # One call at a time per channel: the second post of the pass starts after the first's reply.
    one_at_a_time = "[publishing]\nper_channel_concurrency = 1\n"
    config_path.write_text(config_path.read_text(encoding="utf-8").replace("[publishing]\n", one_at_a_time))
    app = Loa(load_settings(config_path))
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, headers=spent_quota(7))
    for n in range(3):
        queue(app, channels=FB, hoat_dong=f"tin số {n}")
    summary = dispatcher(app).run_once()
    # Two claimed together: the second waited for the slot, then saw the pause; the third is not claimed.
    assert len(summary.published) == 1 and len(summary.deferred) == 1
    assert len(page_posts(sandbox)) == 1  # nothing more was sent into the spent quota
    assert channel(app, "fb-bhxh-nghean")["status"] == "paused"
    app.close()


# -- case 17: another process holds the SQLite write lock past the busy timeout ---------------

LOCKER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold_write_lock(database: Path, seconds: float) -> subprocess.Popen[str]:
    """Another program (a real process) holding the database's write lock."""
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(database), str(seconds)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
    return locker


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refuses service" in r.getMessage()]


def test_a_lock_held_by_another_process_is_a_503_with_its_reason(
    console_loa: Loa, console_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    api = Api(console_loa, "bientap")
    visitor = TestClient(create_app(console_loa), follow_redirects=False)
    server = ThreadedServer(create_app(console_loa)).start()
    locker = hold_write_lock(console_config.parent / "posts.db", 40)
    try:
        started = time.monotonic()
        refused = api.post("/api/posts", new_post())
        assert time.monotonic() - started >= 9  # it waited out the busy timeout first
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "10"
        error = refused.json()["error"]
        assert error["message"] == translate(process_lang(), "error.web_database_busy")
        assert error["hint"] == translate(process_lang(), "hint.web_database_busy")
        # The console (a first visit opens a session: a write) says the same in Vietnamese, to
        # several visitors at once, each within one busy timeout (not one after the other).
        answers: list[tuple[float, requests.Response]] = []

        def visit() -> None:
            began = time.monotonic()
            page = requests.get(f"{server.url}/login", timeout=60, allow_redirects=False)
            answers.append((time.monotonic() - began, page))

        visitors = [threading.Thread(target=visit) for _ in range(4)]
        for thread in visitors:
            thread.start()
        for thread in visitors:
            thread.join()
        for waited, page in answers:
            assert page.status_code == 503 and "Internal Server Error" not in page.text
            assert translate("vi", "error.web_database_busy") in html.unescape(page.text)
            assert page.headers["retry-after"] == "10"
            assert waited < 16, f"a visitor waited {waited:.0f} s"
    finally:
        locker.kill()
        locker.wait()
        server.stop()
    # Five refusals, one log line: the next ones are counted, not repeated.
    assert len(outage_lines(caplog)) == 1
    assert api.post("/api/posts", new_post()).status_code == 201  # the lock is gone: back to normal
    assert visitor.get("/login").status_code == 200


def test_repeated_failures_are_logged_once_per_interval_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    throttle = Throttle(logging.getLogger("loa.test"), interval=0.5)
    written = [throttle.log(logging.WARNING, "locked", "click not recorded: %s", n) for n in range(3503)]
    assert written.count(True) == 1
    time.sleep(0.6)
    assert throttle.log(logging.WARNING, "locked", "click not recorded: %s", "again")
    lines = [r.getMessage() for r in caplog.records if r.name == "loa.test"]
    assert len(lines) == 2 and "3502 more like this" in lines[1]


# -- case 18: disk full ----------------------------------------------------------------------


def long_post() -> dict[str, Any]:
    """A post whose rows need new pages of the database (and new WAL frames)."""
    return new_post(channels=["fb-bhxh-nghean"], variables={**VARS, "ket_qua": "đã tư vấn cho người dân " * 1200})


def healthy(client: TestClient) -> tuple[int, dict[str, Any]]:
    """/healthz of a web app without its own engine: red for that, so the storage fields tell."""
    answer = client.get("/healthz")
    return answer.status_code, dict(answer.json())


def assert_full_refusal(answer: Any) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["message"] == translate(process_lang(), "error.web_database_full")
    assert answer.json()["error"]["hint"] == translate(process_lang(), "hint.web_database_full")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 24 MB file system (tmpfs), for a disk that really fills up."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)],
                       check=True, capture_output=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"no small file system can be mounted here (needs root): {exc}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False, capture_output=True, timeout=10)


def console_app(config: Path, password_hash: str) -> Loa:
    app = Loa(load_settings(config))
    app.init()
    seed_console_users(app.engine, password_hash)
    return app


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_is_a_clear_error_turns_health_red_and_recovers(
    tmp_path: Path, small_disk: Path, console_password_hash: str
) -> None:
    config = write_config(tmp_path, channels=CONSOLE_CHANNELS, database_url=f"sqlite:///{small_disk / 'posts.db'}")
    app = console_app(config, console_password_hash)
    try:
        api, web = Api(app, "bientap"), TestClient(create_app(app))
        assert healthy(web)[1]["database"] == "ok"
        raw = app.engine.raw_connection()  # an empty WAL: the next write must grow a file
        try:
            assert raw.driver_connection is not None
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()
        filler = fill(small_disk)
        # Within the tick: the check itself sees the disk, before any write failed.
        status, health = healthy(web)
        assert status == 503 and health["database"] == "error: full"
        assert health["database_free_bytes"] < 1_000_000
        assert_full_refusal(api.post("/api/posts", long_post()))
        filler.unlink()  # the administrator frees space; no restart
        assert api.post("/api/posts", long_post()).status_code == 201
        health = healthy(web)[1]
        assert health["database"] == "ok" and "database_error" not in health
    finally:
        app.close()


def test_a_database_that_cannot_grow_is_a_clear_error_and_health_follows_the_writes(
    console_loa: Loa,
) -> None:
    # Without a small file system to fill: SQLite's own ceiling on the file, on every connection.
    ceiling = [1 << 30]

    def cap(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={ceiling[0]}")

    event.listen(console_loa.engine, "checkout", cap)
    api, web = Api(console_loa, "bientap"), TestClient(create_app(console_loa))
    assert healthy(web)[1]["database"] == "ok"
    with console_loa.engine.connect() as connection:
        ceiling[0] = int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())
    assert_full_refusal(api.post("/api/posts", long_post()))
    status, health = healthy(web)  # at once, not after the tick goes stale
    assert status == 503 and health["database"] == "error: full" and health["database_error"]
    ceiling[0] = 1 << 30  # room again
    assert api.post("/api/posts", long_post()).status_code == 201
    assert healthy(web)[1]["database"] == "ok"


# -- case 23: the Zalo default cover, checked at start and at queue time ----------------------


def own_assets(tmp_path: Path, config: Path) -> Path:
    """A copy of the shipped assets/ the test may break, and the config pointed at it."""
    assets = tmp_path / "assets"
    shutil.copytree(REPO / "assets", assets)
    text = config.read_text(encoding="utf-8").replace(f'assets_dir = "{REPO / "assets"}"', f'assets_dir = "{assets}"')
    config.write_text(text, encoding="utf-8")
    return assets


def loa_command(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scheduler", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)  # fmt: skip


@pytest.mark.parametrize("command", ["run", "worker"])
@pytest.mark.parametrize("damage", ["missing", "html"])
def test_loa_refuses_to_start_with_a_broken_default_cover(tmp_path: Path, command: str, damage: str) -> None:
    config = initialised(write_config(tmp_path))
    assets = own_assets(tmp_path, config)
    if damage == "missing":
        (assets / "cover-default.jpg").unlink()
    else:
        (assets / "cover-default.jpg").write_text("<!doctype html><title>404</title>", encoding="utf-8")
    started = loa_command(config, command, timeout=15)
    assert started.returncode == 2, started.stdout + started.stderr
    assert "zalo-bhxh-nghean" in started.stderr and "cover-default.jpg" in started.stderr
    assert "Traceback" not in started.stderr


def test_a_default_cover_broken_after_start_is_refused_when_queueing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = initialised(write_config(tmp_path))
    assets = own_assets(tmp_path, config)
    loa = cli_for(config, capsys)
    at = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    add = ("post", "add", "--template", "thang-van-dong", "--var", "hoat_dong=ra quân", "--var", "dia_diem=Vinh",
           "--var", "ngay=06/05/2026", "--channel", "zalo-bhxh-nghean", "--at", at)  # fmt: skip
    assert loa(*add).code == 0
    (assets / "cover-default.jpg").write_bytes(b"GIF89a" + b"\0" * 10)  # damaged, under a .jpg name
    refused = loa(*add)
    assert refused.code == 2
    assert "zalo-bhxh-nghean" in refused.stderr and "cover-default.jpg" in refused.stderr
    assert len(loa("post", "list", "--json").json()["posts"]) == 1  # nothing more was stored


# -- case 22: hostile templates are refused naming their line ---------------------------------

HOSTILE = {
    "class walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "format escape": "{{ '{0.__class__}'.format(platform) }}",
    "huge range": "{% for i in range(10**9) %}x{% endfor %}",
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_templates_are_refused_naming_the_line(tmp_path: Path, body: str) -> None:
    folder = tmp_path / "templates"
    (folder / "messages").mkdir(parents=True)
    # The hostile line is the fourth, after ordinary text.
    source = f"Tin hoạt động\nNgày {{{{ ngay }}}}\n\n{body}\nHết.\n"
    (folder / "messages" / "doc-hai.j2").write_text(source, encoding="utf-8")
    renderer = MessageRenderer(folder)
    with pytest.raises(TemplateError) as caught:
        renderer.render("doc-hai", {"ngay": "06/05/2026"}, platform="facebook", limits=FACEBOOK_LIMITS)
    assert "doc-hai.j2, dòng 4" in render_error(caught.value, "vi")
    assert "doc-hai.j2, line 4" in render_error(caught.value, "en")


# -- cases 8 and 9: Zalo access and refresh tokens --------------------------------------------


def zalo_calls(sandbox: Any) -> dict[str, int]:
    """How many refresh grants and article creations the sandbox's Zalo received."""
    calls = state(sandbox)["requests"]
    return {
        "refresh": len([r for r in state(sandbox)["zalo"]["oauth"]["requests"] if r["grant_type"] == "refresh_token"]),
        "create": sum(1 for c in calls if c["platform"] == "zalo" and c["path"].endswith("/article/create")),
    }


def test_a_persisting_zalo_216_costs_exactly_one_refresh_and_one_retry(app: Loa, sandbox: Any) -> None:
    queue(app, channels=ZALO, hoat_dong="tin thứ nhất")
    assert len(dispatcher(app).run_once().published) == 1  # the vault now holds a pair
    before = zalo_calls(sandbox)
    assert before == {"refresh": 1, "create": 1}
    fault(sandbox, platform="zalo", route="POST /v2.0/article/create", times=10, error={"error": -216})
    post_id = queue(app, channels=ZALO, hoat_dong="tin thứ hai")
    assert len(dispatcher(app).run_once().blocked) == 1
    after = zalo_calls(sandbox)
    assert after["refresh"] - before["refresh"] == 1  # one refresh …
    assert after["create"] - before["create"] == 2  # … the call, and one retry: then stop
    assert app.posts.show(post_id)["publications"][0]["status"] == "blocked"
    assert channel(app, "zalo-bhxh-nghean")["status"] == "needs_reauth"
    for _ in range(3):  # and no loop afterwards
        dispatcher(app).run_once()
    assert zalo_calls(sandbox) == after


RENEWER = """
import sys, time
from scheduler.app import Loa
from scheduler.channels.factory import PublisherFactory
from scheduler.config import load_settings
from scheduler.engine import PublishingEngine
from scheduler.serving import ThreadedServer

loa = Loa(load_settings(sys.argv[1]))
loa.open()
publisher = PublisherFactory(loa.settings, loa.vault).build(loa.settings.channel("zalo-bhxh-nghean"))
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # both processes start together
publisher.check()
print("ok", flush=True)
"""


def test_two_processes_renewing_at_once_spend_the_refresh_token_once(
    app: Loa, sandbox: Any, config_path: Path
) -> None:
    # The grant takes a second: the second process arrives while the first holds the lease.
    fault(sandbox, platform="zalo", route="POST /v4/oa/access_token", times=1, delay_s=1.0)
    start = time.time() + 3.0
    command = [sys.executable, "-c", RENEWER, str(config_path), str(start)]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    processes = [subprocess.Popen(command, text=True, cwd=REPO, **pipes) for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0 and stdout.strip() == "ok", stderr
    assert zalo_calls(sandbox)["refresh"] == 1
    assert channel(app, "zalo-bhxh-nghean")["status"] == "ok"


def test_a_reused_refresh_token_is_reported_as_spent(app: Loa, sandbox: Any) -> None:
    seed = "oa:579745863508352884:sandbox-seed"
    grant = {"app_id": "a", "grant_type": "refresh_token", "refresh_token": seed}
    # Another program spends the channel's refresh token first.
    spent = requests.post(f"{sandbox.url}/v4/oa/access_token", headers={"secret_key": "s"}, data=grant, timeout=5)
    assert spent.json().get("access_token")
    post_id = queue(app, channels=ZALO)
    assert len(dispatcher(app).run_once().blocked) == 1
    said = translate(process_lang(), "error.refresh_token_spent", channel="zalo-bhxh-nghean", reason="")
    shown = app.posts.show(post_id)["publications"][0]["error"]
    assert said.split("(")[0] in shown  # "… it was already used or has expired"
    assert "single-use" in shown or "một lần" in shown
    assert channel(app, "zalo-bhxh-nghean")["status"] == "needs_reauth"


# -- case 15: a host whose own zone is not Vietnam's --------------------------------------------

# Vietnamese times that fall in the host zone's spring-forward gap (2027): 02:30 does not exist
# in New York on 14/03, nor 01:30 in London on 28/03. Vietnam has no DST: they are plain times.
HOST_GAPS = {
    "America/New_York": ("2027-03-14T14:30", "2027-03-14T07:30:00+00:00", "14/03/2027 14:30"),
    "Europe/London": ("2027-03-28T08:30", "2027-03-28T01:30:00+00:00", "28/03/2027 08:30"),
}


@pytest.mark.parametrize("host_zone", HOST_GAPS)
def test_a_host_in_another_zone_stores_shows_and_publishes_vietnamese_times(
    config_path: Path, sandbox: Any, host_zone: str
) -> None:
    text = config_path.read_text(encoding="utf-8").replace("[publishing]\n", "[publishing]\nhorizon_days = 200\n")
    config_path.write_text(text, encoding="utf-8")
    env = {**os.environ, "TZ": host_zone, "COLUMNS": "200"}

    def loa(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "scheduler", "--config", str(config_path), *args],
                              capture_output=True, text=True, timeout=60, cwd=REPO, env=env)  # fmt: skip

    add = ("post", "add", "--template", "thang-van-dong", "--var", "hoat_dong=ra quân", "--var", "dia_diem=Vinh",
           "--var", "ngay=06/05/2026", "--channel", "fb-bhxh-nghean", "--json")  # fmt: skip
    at, stored, shown = HOST_GAPS[host_zone]
    later_post = loa(*add, "--at", at)
    assert later_post.returncode == 0, later_post.stderr
    assert later_post.stdout and json.loads(later_post.stdout)["scheduled_at"] == stored
    now_post = loa(*add, "--now")
    assert now_post.returncode == 0, now_post.stderr
    due = datetime.fromisoformat(json.loads(now_post.stdout)["scheduled_at"])
    assert abs(due - datetime.now(UTC)) < timedelta(minutes=2)  # not shifted by the host's offset
    listed = loa("post", "list")
    assert shown.split()[0] in listed.stdout and shown.split()[1] in listed.stdout, listed.stdout
    published = loa("publish-due", "--json")
    assert published.returncode == 0, published.stderr
    assert json.loads(published.stdout)["counts"]["published"] == 1  # the one due now, only
    assert len(page_posts(sandbox)) == 1


# -- cases 12 and 13: the web app schedules nothing; no job is kept by name or pickle -----------


def test_the_web_app_alone_publishes_nothing_however_many_serve(app: Loa, config_path: Path, sandbox: Any) -> None:
    # config_path serves create_app() for its config, as each web worker would: two more here.
    servers = [ThreadedServer(create_app(Loa(load_settings(config_path)))).start() for _ in range(2)]
    try:
        post_id = queue(app, channels=FB)
        for server in servers:
            assert requests.get(f"{server.url}/healthz", timeout=5).status_code in (200, 503)
        time.sleep(3)
        assert app.posts.show(post_id)["publications"][0]["status"] == "scheduled"
        assert page_posts(sandbox) == []
        assert not [t.name for t in threading.enumerate() if "APScheduler" in t.name or "loa-publish" in t.name]
    finally:
        for server in servers:
            server.stop()


def test_the_database_keeps_no_job_by_name_or_pickle(app: Loa, sandbox: Any) -> None:
    engine = PublishingEngine(app.settings, app.engine, app.vault)
    engine.start()  # what `loa run` starts: its jobs live in memory and are rebuilt at each start
    try:
        queue(app, channels=FB)
        deadline = time.monotonic() + 15
        while not page_posts(sandbox) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(page_posts(sandbox)) == 1
    finally:
        engine.shutdown()
    tables = set(inspect(app.engine).get_table_names()) - {"alembic_version"}
    assert tables == set(SQLModel.metadata.tables)  # no job store table of any kind
    # Bytes that are a file's own content (a report mailed as an attachment), never a job.
    files = {("outboxattachment", "data")}
    for table in SQLModel.metadata.tables.values():
        for column in table.columns:
            assert not isinstance(column.type, PickleType), f"{table.name}.{column.name}"
            if (table.name, column.name) not in files:
                assert not isinstance(column.type, LargeBinary), f"{table.name}.{column.name}"
