"""Several workers on PostgreSQL share the work through FOR UPDATE SKIP LOCKED claims.

Needs the PostgreSQL server at 127.0.0.1:5432 (user postgres, trust auth). Skipped with a
reason where it is absent, unless LOA_REQUIRE_POSTGRES=1 (as `.ci/run` sets): then it fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import Publication, PublicationStatus, PublishAttempt
from scheduler.posts.requests import PostRequest
from scheduler.store import session_scope
from tests.conftest import write_config
from tests.test_publishing import state

pytestmark = pytest.mark.postgres

PAGES = [f"1000000000001{n:02d}" for n in range(10)]
POSTS = 2000
WORKERS = 3


def test_three_workers_publish_2000_posts_exactly_once(tmp_path: Path, sandbox: Any, postgres_url: str) -> None:
    channels = "".join(
        f'\n[[channels]]\nid = "fb-{n}"\nplatform = "facebook"\nname = "Trang {n}"\nexternal_id = "{page}"\n'
        for n, page in enumerate(PAGES)
    )
    config = write_config(tmp_path, sandbox_url=sandbox.url, database_url=postgres_url, channels=channels)
    loa = Loa(load_settings(config))
    loa.init()
    now = datetime.now(UTC)
    prepared = [
        loa.posts.prepare(
            PostRequest(
                template="thang-van-dong",
                channels=[f"fb-{n % len(PAGES)}"],
                variables={"hoat_dong": f"ra quân đợt {n}", "dia_diem": "Vinh", "ngay": "06/05/2026"},
            ),
            now=now,
        )
        for n in range(POSTS)
    ]
    loa.posts.store(prepared)

    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "scheduler", "--config", str(config), "publish-due", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    results = [worker.communicate(timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), results

    pages = state(sandbox)["facebook"]["pages"]
    messages = [post["message"] for page in PAGES for post in pages.get(page, {}).get("posts", [])]
    assert len(messages) == POSTS
    assert len(set(messages)) == POSTS  # none twice
    with session_scope(loa.engine, read_only=True) as session:
        rows = list(session.exec(select(Publication)))
        attempts = list(session.exec(select(PublishAttempt)))
    assert {row.status for row in rows} == {PublicationStatus.published}
    assert len({row.remote_id for row in rows}) == POSTS
    assert len(attempts) == POSTS  # one attempt each: no publication was taken twice
    shares = [len(json.loads(out)["publications"].get("published", [])) for out, _ in results]
    assert sum(shares) == POSTS and all(share > 0 for share in shares), shares  # the work was shared
    loa.close()
