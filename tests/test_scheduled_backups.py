"""Scheduled SQLite backups: `loa run` writes checked copies on its own, kept `backups.keep_days`."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.operations.backups import backups_in, due_in, run_round
from tests.conftest import Cli, cli_for, free_port, initialised, write_config


def settings_with_backups(folder: Path, **keys: int) -> Path:
    lines = "".join(f"{key} = {value}\n" for key, value in keys.items())
    return initialised(write_config(folder, extra=f"\n[backups]\nenabled = true\n{lines}"))


def test_a_copy_when_due_and_none_older_than_keep_days(tmp_path: Path) -> None:
    settings = load_settings(settings_with_backups(tmp_path, every_hours=24, keep_days=3))
    app = Loa(settings)
    start = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
    try:
        written = []
        for hour in range(0, 24 * 6, 6):  # every 6 hours for six days: one copy a day
            result = run_round(settings, app.engine, start + timedelta(hours=hour))
            if result.written is not None:
                written.append(result.written)
        assert len(written) == 6
        kept = [path for _, path in backups_in(settings.backups_path)]
        # Three days back from the last round (day 5, 18:00): the copies of days 3, 4 and 5.
        assert [p.name for p in kept] == ["posts-20260504-020000.db", "posts-20260505-020000.db",
                                          "posts-20260506-020000.db"]  # fmt: skip
        for path in kept:
            with sqlite3.connect(path) as copy:
                assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                assert copy.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
        assert due_in(settings, start + timedelta(days=5, hours=1)) == pytest.approx(23 * 3600)
        # A server that stopped for a month keeps its newest copy, however old.
        later = start + timedelta(days=40)
        for path in kept[1:]:
            path.unlink()
        (settings.backups_path / "posts-20260601-000000.db.part").write_bytes(b"")  # not a copy
        assert run_round(settings.model_copy(update={"backups": settings.backups.model_copy(
            update={"every_hours": 24 * 60})}), app.engine, later).deleted == []  # fmt: skip
        assert [p.name for _, p in backups_in(settings.backups_path)] == ["posts-20260504-020000.db"]
    finally:
        app.close()


def test_loa_run_backs_up_on_its_own_and_doctor_sees_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    config = initialised(
        write_config(
            tmp_path,
            public_url=f"http://127.0.0.1:{port}",
            extra=f'\n[web]\nport = {port}\n\n[backups]\nenabled = true\ndir = "{tmp_path / "copies"}"\n',
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--config", str(config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not list((tmp_path / "copies").glob("posts-*.db")):
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.1)
        loa: Cli = cli_for(config, capsys)
        checks = {c["check"]: c for c in loa("doctor", "--json").json()["checks"]}
        assert checks["backups"]["status"] == "ok", checks["backups"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    copies = list((tmp_path / "copies").glob("posts-*.db"))
    assert len(copies) == 1 and not list((tmp_path / "copies").glob("*.part"))
