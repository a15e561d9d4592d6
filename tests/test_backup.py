"""`loa backup` while another process writes: a consistent copy with every committed row."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.posts.requests import PostRequest
from tests.conftest import Cli


def test_backup_during_writes_is_consistent(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    loa = Loa(load_settings(offline_config))
    loa.init()
    at = datetime.now(UTC) + timedelta(days=1)
    request = PostRequest(
        template="bhyt-ho-gia-dinh",
        channels=["fb-bhxh-nghean"],
        variables={"muc_dong_nguoi_dau": "1.263.600 đồng", "nam": "2026"},
        at=at,
    )
    committed: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            committed.append(loa.posts.add(request))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(committed) < 20:
            pass
        before = len(committed)
        result = offline_loa("backup", str(tmp_path / "copy.db"))
    finally:
        stop.set()
        thread.join()
    assert result.code == 0, result.stderr
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {row[0] for row in copy.execute("SELECT id FROM post")}
        publications = copy.execute("SELECT count(*) FROM publication").fetchone()[0]
    assert set(committed[:before]) <= ids  # everything committed before the backup began
    assert publications == len(ids)  # no post without its publication: a consistent snapshot
    loa.close()


def test_backup_refuses_a_missing_folder(offline_loa: Cli, tmp_path: Path) -> None:
    result = offline_loa("backup", str(tmp_path / "nope" / "copy.db"))
    assert result.code == 2 and "không tồn tại" in result.stderr
