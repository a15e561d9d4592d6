"""`loa restore`: a backup put back publishes nothing twice (docs/reliability.md §6, case 20).

The faults here are processes: `loa backup`, `loa publish-due`, `loa restore` and `loa run`
run as real commands against the sandbox on loopback, and what the sandbox holds is counted.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from scheduler.app import Loa
from scheduler.channels.service import channel_rows, reconnect
from scheduler.config import load_settings
from scheduler.errors import NotFound
from scheduler.i18n import translate
from scheduler.models import Lease, Restore
from scheduler.schema import head_revision
from scheduler.store import session_scope
from tests.conftest import Cli, cli_for, free_port, served_config, write_config
from tests.test_publishing import articles, fault, page_posts, queue

FB = ["fb-bhxh-nghean"]
ZALO = ["zalo-bhxh-nghean"]


def loa_command(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scheduler", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LOA_LANG": "en", **(env or {})},
    )


def loa_run(config: Path) -> subprocess.Popen[str]:
    """`loa run` in the background: scheduler and web (on a port of its own), no sandbox of its own."""
    env = {**os.environ, "LOA_LANG": "en", "LOA_WEB_PORT": str(free_port()), "LOA_PUBLISHING_TICK_SECONDS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    return stderr


def statuses(app: Loa, post_ids: list[int]) -> list[str]:
    return [p["status"] for post in post_ids for p in app.posts.show(post)["publications"]]


def channel_status(app: Loa, channel_id: str) -> str:
    return str(next(row for row in channel_rows(app) if row["id"] == channel_id)["status"])


def sandbox_messages(sandbox: Any) -> Counter[str]:
    """Every post and article on the sandbox, by its text (a Zalo article by its title)."""
    return Counter([p["message"] for p in page_posts(sandbox)] + [a["title"] for a in articles(sandbox)])


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.fixture
def app(config_path: Path) -> Loa:
    loa = Loa(load_settings(config_path))
    loa.init()
    return loa


def test_a_restored_backup_publishes_nothing_twice(app: Loa, sandbox: Any, config_path: Path, tmp_path: Path) -> None:
    # Five Facebook posts and a Zalo article are due: the backup holds them all as scheduled.
    facebook = [queue(app, channels=FB, hoat_dong=f"tin số {n}") for n in range(5)]
    zalo = queue(app, channels=ZALO, hoat_dong="bài Zalo")
    backup = tmp_path / "backups" / "posts-before.db"
    backup.parent.mkdir()
    made = loa_command(config_path, "backup", str(backup))
    assert made.returncode == 0, made.stderr
    # After the copy, the Facebook posts go out; the Zalo article is refused, so it is not there.
    fault(sandbox, platform="zalo", route="POST /v2.0/article/create", times=1, error={"error": -224})
    published = loa_command(config_path, "publish-due", "--json")
    assert published.returncode == 0, published.stderr
    assert statuses(app, facebook) == ["published"] * 5 and statuses(app, [zalo]) == ["failed"]
    on_the_page = {p["message"]: p["id"] for p in page_posts(sandbox)}
    assert len(on_the_page) == 5 and articles(sandbox) == []

    restored = loa_command(config_path, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert "6 publication(s)" in restored.stdout
    assert "zalo-bhxh-nghean" in restored.stdout  # its single-use token may be spent: said so
    assert statuses(app, [*facebook, zalo]) == ["unknown"] * 6  # checked first, not yet sent
    reason = app.posts.show(facebook[0])["publications"][0]["error"]
    assert reason == translate("vi", "reason.restored_check")

    process = loa_run(config_path)
    try:
        wait_until(lambda: statuses(app, facebook) == ["published"] * 5, 20, "the Facebook posts are found")
        # The copy holds the OA's refresh token as it was; Zalo spent it since. The article
        # cannot be looked for, so it waits, and the channel asks to be reconnected.
        wait_until(lambda: channel_status(app, ZALO[0]) == "needs_reauth", 20, "the OA asks to be reconnected")
        assert statuses(app, [zalo]) == ["unknown"] and articles(sandbox) == []
        reconnect(app, ZALO[0], "oa:579745863508352884:fresh-from-admin", actor="admin")
        wait_until(lambda: statuses(app, [zalo]) == ["published"], 20, "the article, surely absent, goes out")
        time.sleep(2)  # a few more passes: nothing more may go out
    finally:
        stderr = stop(process)
    assert process.returncode == 0, stderr
    messages = sandbox_messages(sandbox)
    assert all(count == 1 for count in messages.values()), messages
    assert len(page_posts(sandbox)) == 5 and len(articles(sandbox)) == 1  # the missing article, once
    # The Facebook posts were found, with the ids the platform gave them the first time.
    for post_id in facebook:
        row = app.posts.show(post_id)["publications"][0]
        assert row["remote_id"] == on_the_page[row["text"]]
    with session_scope(app.engine, read_only=True) as session:
        marks = list(session.exec(select(Restore)))
    assert len(marks) == 1 and marks[0].held == 6 and Path(marks[0].source) == backup.resolve()


def test_restore_is_refused_while_loa_runs(app: Loa, config_path: Path, tmp_path: Path) -> None:
    backup = tmp_path / "copy.db"
    assert loa_command(config_path, "backup", str(backup)).returncode == 0
    after_the_copy = queue(app, channels=FB, at=None, hoat_dong="viết sau khi sao lưu")
    process = loa_run(config_path)
    try:
        def holds_housekeeping() -> bool:
            with session_scope(app.engine, read_only=True) as session:
                lease = session.get(Lease, "housekeeping")
                return lease is not None and f":{process.pid}:" in lease.owner

        wait_until(holds_housekeeping, 20, "loa run takes the housekeeping lease")
        refused = loa_command(config_path, "restore", str(backup))
        assert refused.returncode == 2, refused.stdout
        assert "Loa is running" in refused.stderr and f"pid {process.pid}" in refused.stderr
        assert "loa run" in refused.stderr  # the fix: stop it first
        assert not list(tmp_path.glob("posts.before-restore-*"))  # nothing was touched
    finally:
        stderr = stop(process)
    assert process.returncode == 0, stderr
    assert app.posts.show(after_the_copy)["id"] == after_the_copy
    # Stopped cleanly, it gave the lease back: the restore goes ahead.
    done = loa_command(config_path, "restore", str(backup))
    assert done.returncode == 0, done.stderr
    with pytest.raises(NotFound):
        app.posts.show(after_the_copy)


def test_a_killed_loa_does_not_block_a_restore(app: Loa, config_path: Path, tmp_path: Path) -> None:
    backup = tmp_path / "copy.db"
    assert loa_command(config_path, "backup", str(backup)).returncode == 0
    process = loa_run(config_path)
    try:
        def holds() -> bool:
            with session_scope(app.engine, read_only=True) as session:
                return session.get(Lease, "housekeeping") is not None

        wait_until(holds, 20, "loa run takes the housekeeping lease")
    finally:
        process.kill()
        process.communicate(timeout=30)
    # Its lease has not run out, but its process is gone: no one is running.
    done = loa_command(config_path, "restore", str(backup))
    assert done.returncode == 0, done.stderr


def test_the_restored_file_is_whole_and_the_replaced_one_kept(offline_config: Path, tmp_path: Path) -> None:
    loa = Loa(load_settings(offline_config))
    database = Path(loa.settings.database_url.removeprefix("sqlite:///"))
    backup = tmp_path / "copy.db"
    assert loa_command(offline_config, "backup", str(backup)).returncode == 0
    restored = loa_command(offline_config, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert not Path(f"{database}-wal").exists() and not Path(f"{database}-shm").exists()
    (kept,) = tmp_path.glob("posts.before-restore-*.db")
    assert str(kept) in restored.stdout
    for path in (database, kept):
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head_revision()
    assert loa_command(offline_config, "post", "list").returncode == 0
    loa.close()


def test_bad_files_are_refused_with_the_reason(offline_config: Path, tmp_path: Path) -> None:
    database = tmp_path / "posts.db"
    before = database.read_bytes()
    missing = loa_command(offline_config, "restore", str(tmp_path / "nothing.db"))
    assert missing.returncode == 2 and "there is no file" in missing.stderr
    text = tmp_path / "notes.db"
    text.write_text("not a database", encoding="utf-8")
    garbage = loa_command(offline_config, "restore", str(text))
    assert garbage.returncode == 2 and "is not a SQLite database" in garbage.stderr
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (id INTEGER)")
    foreign = loa_command(offline_config, "restore", str(other))
    assert foreign.returncode == 2 and "is not a Loa database" in foreign.stderr
    newer = tmp_path / "newer.db"
    assert loa_command(offline_config, "backup", str(newer)).returncode == 0
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_from_a_newer_loa'")
    ahead = loa_command(offline_config, "restore", str(newer))
    assert ahead.returncode == 2 and "9999_from_a_newer_loa" in ahead.stderr and head_revision() in ahead.stderr
    damaged = tmp_path / "damaged.db"
    assert loa_command(offline_config, "backup", str(damaged)).returncode == 0
    raw = bytearray(damaged.read_bytes())
    raw[4096 * 3 : 4096 * 3 + 200] = b"\xff" * 200  # a page in the middle
    damaged.write_bytes(bytes(raw))
    broken = loa_command(offline_config, "restore", str(damaged))
    assert broken.returncode == 2 and ("damaged" in broken.stderr or "not a SQLite" in broken.stderr), broken.stderr
    for result in (missing, garbage, foreign, ahead, broken):
        assert "Traceback" not in result.stderr and "→" in result.stderr  # a reason and its fix
    assert database.read_bytes() == before
    assert not list(tmp_path.glob("posts.before-restore-*"))


def test_an_older_backup_is_restored_then_upgraded(offline_config: Path, tmp_path: Path) -> None:
    from tests.test_migrations import make_01_database

    old = tmp_path / "loa-0.1.db"
    make_01_database(f"sqlite:///{old}")
    restored = loa_command(offline_config, "restore", str(old))
    assert restored.returncode == 0, restored.stderr
    assert "schema 0.1" in restored.stdout and "upgraded" in restored.stdout
    posts = loa_command(offline_config, "post", "list", "--json")
    assert posts.returncode == 0, posts.stderr


def test_on_postgresql_restore_names_pg_restore_and_the_steps(tmp_path: Path, postgres_url: str) -> None:
    config = write_config(tmp_path, database_url=postgres_url)
    assert loa_command(config, "init").returncode == 0
    backup = tmp_path / "copy.db"
    backup.write_bytes(b"")
    refused = loa_command(config, "restore", str(backup))
    assert refused.returncode == 2, refused.stdout
    assert "PostgreSQL" in refused.stderr and "pg_restore" in refused.stderr and "loa init" in refused.stderr


def test_a_person_sees_why_a_restored_post_is_held(
    app: Loa, sandbox: Any, config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    post_id = queue(app, channels=FB, hoat_dong="không kiểm tra được")
    backup = tmp_path / "copy.db"
    assert loa_command(config_path, "backup", str(backup)).returncode == 0
    assert loa_command(config_path, "publish-due").returncode == 0
    assert len(page_posts(sandbox)) == 1
    assert loa_command(config_path, "restore", str(backup)).returncode == 0
    # The platform cannot be searched: the post is never published blind.
    fault(sandbox, platform="facebook", route="GET /{page}/published_posts", times=50, status=503, error={"code": 2})
    for _ in range(3):
        ran = loa_command(config_path, "publish-due", env={"LOA_PUBLISHING_RECONCILE_MAX_CHECKS": "1"})
        assert ran.returncode == 0, ran.stderr
    cli: Cli = cli_for(config_path, capsys)
    shown = cli("post", "show", str(post_id), "--json")
    assert shown.code == 0, shown.stderr
    (row,) = shown.json()["publications"]
    assert row["status"] == "unknown"
    assert row["error"] == translate("vi", "reason.checks_exhausted")
    assert len(page_posts(sandbox)) == 1


def test_a_rewound_postgresql_database_publishes_nothing_twice(tmp_path: Path, sandbox: Any, postgres_url: str) -> None:
    # The general rule behind restores: whatever put the database back (pg_restore here), a
    # publication overdue by more than publishing.check_overdue_minutes is looked for first.
    with served_config(tmp_path, sandbox.url, database_url=postgres_url) as config:
        app = Loa(load_settings(config))
        late = datetime.now(UTC) - timedelta(minutes=15)  # Loa was down; within the grace
        post_ids = [queue(app, channels=FB, at=late, hoat_dong=f"tin trễ {n}") for n in range(3)]
        app.close()
        dump = tmp_path / "loa.dump"
        subprocess.run(["pg_dump", "-Fc", "-f", str(dump), postgres_url], check=True, capture_output=True)
        first = loa_command(config, "publish-due", "--json")
        assert first.returncode == 0, first.stderr
        assert len(page_posts(sandbox)) == 3
        restored = subprocess.run(
            ["pg_restore", "--clean", "--if-exists", "-d", postgres_url, str(dump)], capture_output=True, text=True
        )
        assert restored.returncode == 0, restored.stderr
        assert statuses(app, post_ids) == ["scheduled"] * 3  # the rewound database knows nothing
        again = loa_command(config, "publish-due", "--json")
        assert again.returncode == 0, again.stderr
        assert statuses(app, post_ids) == ["published"] * 3
        assert len(page_posts(sandbox)) == 3
        assert all(count == 1 for count in sandbox_messages(sandbox).values())
        app.close()


def test_a_restored_post_long_overdue_and_absent_waits_for_a_person(app: Loa, sandbox: Any, tmp_path: Path) -> None:
    from scheduler.backup import backup_database
    from scheduler.publishing.dispatcher import Dispatcher
    from scheduler.restore import restore_database

    post_id = queue(app, channels=FB, hoat_dong="bị từ chối sau khi sao lưu")
    backup = tmp_path / "copy.db"
    backup_database(app.engine, backup)
    fault(sandbox, platform="facebook", route="POST /{page}/feed", times=1, status=400, error={"code": 100})
    Dispatcher(app.settings, app.engine, app.vault, one_shot=True).run_once()
    assert statuses(app, [post_id]) == ["failed"] and page_posts(sandbox) == []
    # Put back two hours later: absent, and far later than the grace — never a late burst.
    two_hours = datetime.now(UTC) + timedelta(hours=2)
    assert restore_database(app.engine, backup, now=two_hours).held == 1
    summary = Dispatcher(app.settings, app.engine, app.vault, one_shot=True, clock=lambda: two_hours).run_once()
    assert summary.missed == [app.posts.show(post_id)["publications"][0]["id"]]
    (row,) = app.posts.show(post_id)["publications"]
    assert row["status"] == "missed" and row["error"] == translate("vi", "reason.absent_past_grace")
    assert page_posts(sandbox) == []


def test_a_worker_without_any_lease_still_blocks_a_restore(app: Loa, config_path: Path, tmp_path: Path) -> None:
    from scheduler.models import utcnow

    backup = tmp_path / "copy.db"
    assert loa_command(config_path, "backup", str(backup)).returncode == 0
    # Another host's worker holds the time-based work, so this one holds no lease at all.
    with session_scope(app.engine) as session:
        session.add(Lease(name="housekeeping", owner="may-chu-khac:4242:abcd", until=utcnow() + timedelta(hours=1)))
    env = {**os.environ, "LOA_LANG": "en", "LOA_PUBLISHING_TICK_SECONDS": "1"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--config", str(config_path), "worker"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        lock = Path(f"{app.settings.database_url.removeprefix('sqlite:///')}.loa-lock")
        wait_until(lock.exists, 20, "the worker marks the database as in use")
        time.sleep(1.5)  # a pass or two
        refused = loa_command(config_path, "restore", str(backup))
        assert refused.returncode == 2, refused.stdout
        assert "`loa worker`" in refused.stderr and "Loa is running" in refused.stderr
        assert "pid 4242 @ may-chu-khac" in refused.stderr  # the other host's lease, named
    finally:
        stderr = stop(worker)
    assert worker.returncode == 0, stderr
    with session_scope(app.engine) as session:  # that host's worker has stopped too
        session.delete(session.get(Lease, "housekeeping"))
    assert loa_command(config_path, "restore", str(backup)).returncode == 0


def test_no_loa_process_starts_during_a_restore(app: Loa, config_path: Path) -> None:
    from scheduler.presence import alone

    with alone(app.engine) as only_us:
        assert only_us
        started = loa_command(config_path, "publish-due")
    assert started.returncode == 1 and "being restored" in started.stderr
    assert loa_command(config_path, "publish-due").returncode == 0


def test_a_backup_is_restored_onto_a_new_machine(offline_config: Path, tmp_path: Path) -> None:
    backup = tmp_path / "copy.db"
    assert loa_command(offline_config, "backup", str(backup)).returncode == 0
    elsewhere = tmp_path / "new-host"
    elsewhere.mkdir()
    config = write_config(elsewhere)  # no `loa init` there: no database file at all
    restored = loa_command(config, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    database = elsewhere / "posts.db"
    assert database.stat().st_mode & 0o777 == 0o600
    assert not list(elsewhere.glob("posts.before-restore-*"))  # nothing to keep aside
    assert loa_command(config, "post", "list").returncode == 0
