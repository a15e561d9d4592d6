"""`loa` under careless and hostile input: what it prints, how it refuses, which files it makes."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ADMIN_DSN, Cli, free_port, initialised, write_config

LOA = str(Path(sys.executable).with_name("loa"))
ESCAPES = "\x1b[2J\x1b]0;bị chiếm\x07\x9b31m"
FUTURE = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT08:00")


def _run(config: Path, *args: str | bytes, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([LOA, "--config", str(config), *args], capture_output=True, timeout=timeout, check=False)


def _no_control(text: str) -> None:
    bad = [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert not bad, f"control characters printed raw: {bad!r}"


# -- control characters -----------------------------------------------------------------------


def test_control_characters_from_variables_and_staff_names_are_never_printed_raw(
    offline_loa: Cli, tmp_path: Path
) -> None:
    variables = ["--var", f"hoat_dong=ra quân{ESCAPES}", "--var", "dia_diem=chợ Vinh", "--var", "ngay=06/05/2026"]
    added = offline_loa(
        "post", "add", "--template", "thang-van-dong", *variables, "--channel", "fb-bhxh-nghean", "--at", FUTURE
    )
    assert added.code == 0, added.stderr
    shown = [added, offline_loa("post", "list"), offline_loa("post", "show", "1")]
    shown.append(offline_loa("render", "message", "--template", "thang-van-dong", *variables))
    roster = tmp_path / "nhan-su.csv"
    roster.write_text(f"ho_ten,don_vi,so_dien_thoai,email\nLê Văn{ESCAPES} Cường,Văn phòng,0912345601,c@x.vn\n")
    shown += [offline_loa("staff", "import", str(roster)), offline_loa("staff", "list")]
    for result in shown:
        _no_control(result.stdout)
        _no_control(result.stderr)
    assert "ra quân" in shown[2].stdout and "Cường" in shown[-1].stdout
    assert "\\x1b" in shown[2].stdout, "the escape is shown, visibly, for what it is"


# -- arguments and output files ---------------------------------------------------------------


def test_invalid_utf8_arguments_exit_2_naming_the_argument(offline_config: Path) -> None:
    variables = ["--var", b"hoat_dong=ra qu\xe2n", "--var", "dia_diem=chợ Vinh", "--var", "ngay=06/05/2026"]
    result = _run(offline_config, "render", "message", "--template", "thang-van-dong", *variables)
    assert result.returncode == 2, result.stderr
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr and "UTF-8" in stderr and "unexpected error" not in stderr
    assert "\\xe2" in stderr, "the argument is named, its bad byte shown"


def test_an_unwritable_output_file_exits_2(offline_loa: Cli, tmp_path: Path) -> None:
    cover = ["render", "cover", "--layout", "default", "--var", "title=BHXH"]
    # /proc takes no new files, for root either.
    for place in (Path("/proc/loa-cover.jpg"), Path("/proc/loa/cover.jpg")):
        result = offline_loa(*cover, "-o", str(place))
        assert result.code == 2, (place, result.code, result.stderr)
        assert "unexpected error" not in result.stderr and str(place) in result.stderr.replace("\n", "")
    folder = offline_loa(*cover, "-o", str(tmp_path))
    assert folder.code == 2 and "unexpected error" not in folder.stderr
    made = offline_loa(*cover, "-o", str(tmp_path / "mới" / "bia.jpg"))
    assert made.code == 0 and (tmp_path / "mới" / "bia.jpg").is_file(), "missing folders are still made"
    if os.geteuid() == 0:
        return  # root writes into a read-only folder
    locked = tmp_path / "khoa"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = offline_loa(*cover, "-o", str(locked / "a.jpg"))
    finally:
        locked.chmod(0o700)
    assert result.code == 2, (result.code, result.stderr)


# -- files Loa makes ----------------------------------------------------------------------------


def test_the_database_its_wal_and_media_are_private_to_the_owner(tmp_path: Path) -> None:
    os.umask(0o022)  # a usual login shell's umask: files readable by everyone unless Loa says otherwise
    config = write_config(tmp_path)
    result = _run(config, "init", "--demo")
    assert result.returncode == 0, result.stderr
    cover = _run(config, "render", "cover", "--layout", "default", "--var", "title=BHXH", "-o", str(tmp_path / "c.jpg"))
    assert cover.returncode == 0, cover.stderr
    assert stat.S_IMODE((tmp_path / "c.jpg").stat().st_mode) & 0o077 == 0
    with sqlite3.connect(tmp_path / "posts.db") as db:  # leaves the WAL in place while open
        db.execute("SELECT count(*) FROM post").fetchone()
        for name in ("posts.db", "posts.db-wal"):
            path = tmp_path / name
            if path.exists():
                mode = stat.S_IMODE(path.stat().st_mode)
                assert mode & 0o077 == 0, f"{name} is {oct(mode)}"
    media = tmp_path / "media"
    if media.exists():
        assert stat.S_IMODE(media.stat().st_mode) & 0o077 == 0


# -- `loa run`: the port, a second process, a read-only or full database -----------------------


@pytest.fixture
def run_config(tmp_path: Path) -> Path:
    return initialised(write_config(tmp_path, extra=f"[web]\nport = {free_port()}\n"))


def _web_port(config: Path) -> int:
    text = config.read_text()
    return int(text.split("[web]\nport = ")[1].split("\n")[0])


@pytest.fixture
def running(run_config: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (run_config.parent / "run.log").open("wb")
    process = subprocess.Popen([LOA, "--config", str(run_config), "run"], stdout=subprocess.DEVNULL, stderr=log)
    port = _web_port(run_config)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert process.poll() is None, (run_config.parent / "run.log").read_text()
        time.sleep(0.2)
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def test_a_busy_port_exits_2_naming_the_port_and_the_setting(run_config: Path) -> None:
    port = _web_port(run_config)
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = _run(run_config, "run", timeout=60)
        sandbox = _run(run_config, "sandbox", "--port", str(port), timeout=60)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert str(port) in stderr and "web.port" in stderr and "Traceback" not in stderr
    assert sandbox.returncode == 2 and "--port" in sandbox.stderr.decode(), sandbox.stderr.decode()


def test_a_second_loa_run_on_the_same_sqlite_file_is_refused(
    run_config: Path, running: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    # Another port, so the refusal can only come from the database being in use.
    other = write_config(tmp_path, extra=f"[web]\nport = {free_port()}\n")
    result = _run(other, "run", timeout=60)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert str(running.pid) in stderr and "posts.db" in stderr and "Traceback" not in stderr
    assert running.poll() is None, "the first one keeps running"


@pytest.mark.parametrize("how", ["file mode", "read-only open"])
def test_loa_run_refuses_a_read_only_database(run_config: Path, tmp_path: Path, how: str) -> None:
    database = tmp_path / "posts.db"
    config = run_config
    if how == "file mode":
        if os.geteuid() == 0:
            pytest.skip("root writes to read-only files")
        database.chmod(0o400)
    else:  # SQLite opens the file read-only, as it does a file on a read-only mount
        port = _web_port(run_config)
        config = write_config(
            tmp_path, database_url=f"sqlite:///file:{database}?mode=ro&uri=true", extra=f"[web]\nport = {port}\n"
        )
    try:
        result = _run(config, "run", timeout=60)
    finally:
        database.chmod(0o600)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert "posts.db" in stderr and "chỉ cho đọc" in stderr, stderr
    assert "database.url" not in stderr


def test_a_full_database_says_it_is_full_not_check_the_url(offline_config: Path) -> None:
    from sqlalchemy import event

    from scheduler.app import Loa
    from scheduler.audit import record
    from scheduler.config import load_settings
    from scheduler.errors import StoreError
    from scheduler.store import session_scope

    loa = Loa(load_settings(offline_config))
    with sqlite3.connect(offline_config.parent / "posts.db") as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]

    def cap(connection: sqlite3.Connection, _record: object) -> None:
        # The database may not grow past its size now: SQLite answers SQLITE_FULL, as on a full disk.
        connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(loa.engine, "connect", cap)
    try:
        with pytest.raises(StoreError) as refused, session_scope(loa.engine) as session:
            for _ in range(50):
                record(session, actor="cli:test", action="test.fill", details={"blob": "x" * 20_000})
    finally:
        loa.close()
    text = str(refused.value)
    assert "đầy" in text and "giải phóng dung lượng" in text, text
    assert "database.url" not in text


@pytest.mark.postgres
def test_loa_run_refuses_a_read_only_postgresql_database(tmp_path: Path, postgres_url: str) -> None:
    import psycopg

    config = initialised(write_config(tmp_path, database_url=postgres_url, extra=f"[web]\nport = {free_port()}\n"))
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    result = _run(config, "run", timeout=60)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert "chỉ cho đọc" in stderr and "database.url" not in stderr


def test_a_write_to_a_read_only_database_says_read_only(
    offline_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import cli_for

    database = tmp_path / "posts.db"
    config = write_config(tmp_path, database_url=f"sqlite:///file:{database}?mode=ro&uri=true")
    variables = ["--var", "hoat_dong=ra quân", "--var", "dia_diem=chợ Vinh", "--var", "ngay=06/05/2026"]
    result = cli_for(config, capsys)(
        "post", "add", "--template", "thang-van-dong", *variables, "--channel", "fb-bhxh-nghean", "--at", FUTURE
    )
    assert result.code != 0 and "unexpected error" not in result.stderr
    assert "chỉ cho đọc" in result.stderr and "quyền ghi" in result.stderr, result.stderr
