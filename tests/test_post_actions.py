"""Decisions on queued posts: drafts, approval, send back, reschedule, retry, confirm — all audited."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import Cli, cli_for, initialised, write_config

VARS = ["--var", "hoat_dong=ra quân", "--var", "dia_diem=Vinh", "--var", "ngay=06/05/2026"]
APPROVAL_CHANNELS = """
[[channels]]
id = "fb-bhxh-nghean"
platform = "facebook"
name = "BHXH tỉnh Nghệ An"
external_id = "100000000000001"
approval = true

[[channels]]
id = "fb-bhxh-vinh"
platform = "facebook"
name = "BHXH TP Vinh"
external_id = "100000000000002"
"""


@pytest.fixture
def approval_loa(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return cli_for(initialised(write_config(tmp_path, channels=APPROVAL_CHANNELS)), capsys)


def audit(tmp_path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(tmp_path / "posts.db") as db:
        return [tuple(r) for r in db.execute("SELECT actor, action, object FROM auditevent ORDER BY id")]


def statuses(result_json: dict[str, object]) -> dict[str, str]:
    return {p["channel"]: p["status"] for p in result_json["publications"]}  # type: ignore[index,union-attr]


def add(cli: Cli, *extra: str) -> dict[str, object]:
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    result = cli("post", "add", "--template", "thang-van-dong", *VARS, "--channel", "fb-bhxh-nghean",
                 "--channel", "fb-bhxh-vinh", "--at", at, "--json", *extra)  # fmt: skip
    assert result.code == 0, result.stderr
    return dict(result.json())


def test_approval_is_per_channel_and_never_by_the_author(approval_loa: Cli, tmp_path: Path) -> None:
    post = add(approval_loa)
    assert statuses(post) == {"fb-bhxh-nghean": "pending_approval", "fb-bhxh-vinh": "scheduled"}
    own = approval_loa("post", "approve", str(post["id"]))
    assert own.code == 2 and "người soạn không thể tự duyệt" in own.stderr
    approved = approval_loa("post", "approve", str(post["id"]), "--by", "truong-phong", "--json")
    assert approved.code == 0, approved.stderr
    assert statuses(approved.json()) == {"fb-bhxh-nghean": "scheduled", "fb-bhxh-vinh": "scheduled"}
    assert approval_loa("post", "approve", str(post["id"]), "--by", "x").code == 2
    assert ("cli:truong-phong", "post.approve", f"post:{post['id']}") in audit(tmp_path)


def test_send_back_makes_a_draft_and_submit_queues_it_again(approval_loa: Cli, tmp_path: Path) -> None:
    post = add(approval_loa)
    no_reason = approval_loa("post", "send-back", str(post["id"]), "--reason", " ")
    assert no_reason.code == 2
    back = approval_loa("post", "send-back", str(post["id"]), "--reason", "Sửa lại địa điểm", "--json").json()
    assert statuses(back)["fb-bhxh-nghean"] == "draft"
    assert "Sửa lại địa điểm" in back["publications"][0]["error"]
    submitted = approval_loa("post", "submit", str(post["id"]), "--json").json()
    assert statuses(submitted)["fb-bhxh-nghean"] == "pending_approval"
    actions = [a for _, a, _ in audit(tmp_path)]
    assert actions == ["post.send_back", "post.submit"]


def test_draft_is_not_queued(approval_loa: Cli) -> None:
    post = add(approval_loa, "--draft")
    assert set(statuses(post).values()) == {"draft"}
    listed = approval_loa("post", "list", "--status", "scheduled", "--json").json()
    assert listed == {"posts": []}


def test_reschedule_checks_the_time_and_moves_every_open_publication(approval_loa: Cli, tmp_path: Path) -> None:
    post = add(approval_loa)
    past = approval_loa("post", "reschedule", str(post["id"]), "--at", "2020-01-01T08:00")
    assert past.code == 2 and "đã qua" in past.stderr
    moved = approval_loa("post", "reschedule", str(post["id"]), "--at", "2026-12-24T08:00", "--json").json()
    assert moved["scheduled_at"] == "2026-12-24T01:00:00+00:00"
    entry = [json.loads(d) for a, d in _details(tmp_path) if a == "post.reschedule"]
    assert entry and entry[0]["to"] == "2026-12-24T01:00:00+00:00"


def _details(tmp_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(tmp_path / "posts.db") as db:
        return [tuple(r) for r in db.execute("SELECT action, details FROM auditevent ORDER BY id")]


def test_retry_and_confirm_refuse_the_wrong_states(approval_loa: Cli) -> None:
    post = add(approval_loa)
    publication = post["publications"][1]["id"]  # type: ignore[index]
    retry = approval_loa("post", "retry", str(publication))
    assert retry.code == 2 and "không đăng lại được" in retry.stderr
    confirm = approval_loa("post", "confirm", str(publication), "--published")
    assert confirm.code == 2 and "không cần xác nhận" in confirm.stderr
    missing = approval_loa("post", "retry", "999")
    assert missing.code == 2 and "Không có lượt đăng #999" in missing.stderr


def test_channel_pause_and_resume(offline_loa: Cli, offline_config: Path) -> None:
    paused = offline_loa("channels", "pause", "fb-bhxh-nghean")
    assert paused.code == 0
    assert offline_loa("channels", "--json").json()["channels"][0]["status"] == "paused"
    assert offline_loa("channels", "resume", "fb-bhxh-nghean").code == 0
    assert offline_loa("channels", "--json").json()["channels"][0]["status"] == "ok"
    unknown = offline_loa("channels", "pause", "khong-co")
    assert unknown.code == 2 and "các kênh hiện có" in unknown.stderr
