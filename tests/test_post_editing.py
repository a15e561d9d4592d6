"""Editing a post until it is claimed, duplicating it, editing a failed one to queue it again,
and the warning when the same words go to the same channel twice."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.store import claim_due
from tests.conftest import Cli
from tests.test_media_posts import COLOURS, photo
from tests.test_publishing import fault, page_posts

FB, ZALO = "fb-bhxh-nghean", "zalo-bhxh-nghean"


def later(hours: int = 3) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def statuses(post: dict[str, Any]) -> dict[str, str]:
    return {p["channel"]: p["status"] for p in post["publications"]}


def test_a_scheduled_post_is_edited_until_it_is_claimed(offline_loa: Cli, offline_config: Path) -> None:
    added = offline_loa("post", "add", "--text", "Bản đầu", "--channel", FB, "--at", later(), "--json").json()
    post_id = str(added["id"])
    when = later(5)
    edited = offline_loa(
        "post", "edit", post_id, "--text", "Bản đã sửa", "--channel", FB, "--channel", ZALO, "--at", when, "--json"
    )  # fmt: skip
    assert edited.code == 0, edited.stderr
    shown = edited.json()
    assert statuses(shown) == {FB: "scheduled", ZALO: "scheduled"}
    assert {p["text"] for p in shown["publications"]} == {"Bản đã sửa"}
    assert datetime.fromisoformat(shown["scheduled_at"]) == datetime.fromisoformat(when)
    # A channel taken off is cancelled, never silently dropped.
    fewer = offline_loa("post", "edit", post_id, "--channel", ZALO, "--json").json()
    assert statuses(fewer) == {FB: "cancelled", ZALO: "scheduled"}

    # Once claimed for publishing, the post is no longer edited: the reason names the status.
    loa = Loa(load_settings(offline_config))
    claims = claim_due(loa.engine, now=datetime.now(UTC) + timedelta(hours=6), owner="test", lease=timedelta(minutes=5))
    assert len(claims) == 1
    refused = offline_loa("post", "edit", post_id, "--text", "Quá muộn")
    assert refused.code == 2 and ZALO in refused.stderr and "Traceback" not in refused.stderr
    with sqlite3.connect(offline_config.parent / "posts.db") as db:
        texts = {row[0] for row in db.execute("SELECT text FROM publication")}
    assert texts == {"Bản đã sửa"}
    loa.close()


def test_duplicate_makes_a_draft_or_a_queued_copy(offline_loa: Cli) -> None:
    source = offline_loa(
        "post", "add", "--text", "Hội nghị tập huấn", "--title", "Tập huấn", "--channel", ZALO, "--at", later(),
        "--json",
    ).json()  # fmt: skip
    draft = offline_loa("post", "duplicate", str(source["id"]), "--json")
    assert draft.code == 0, draft.stderr
    copy = draft.json()
    assert copy["id"] != source["id"] and statuses(copy) == {ZALO: "draft"}
    assert copy["publications"][0]["title"] == "Tập huấn" and copy["words"] == source["words"]
    queued = offline_loa("post", "duplicate", str(source["id"]), "--at", later(30), "--json").json()
    assert statuses(queued) == {ZALO: "scheduled"}


def test_the_same_words_on_the_same_channel_are_warned_about(offline_loa: Cli) -> None:
    offline_loa("post", "add", "--text", "Cùng một nội dung", "--channel", FB, "--at", later(2))
    again = offline_loa("post", "add", "--text", "Cùng một nội dung", "--channel", FB, "--at", later(4), "--json")
    assert again.code == 0 and again.json()["id"]
    assert "Facebook" in again.stderr and FB in again.stderr
    other = offline_loa("post", "add", "--text", "Nội dung khác", "--channel", FB, "--at", later(4))
    assert other.code == 0 and "Facebook" not in other.stderr


def test_a_failed_post_is_edited_and_goes_out_once(loa: Cli, sandbox: Any, config_path: Path, tmp_path: Path) -> None:
    added = loa("post", "add", "--text", "Bài lỗi", "--channel", FB, "--now", "--json").json()
    fault(sandbox, platform="facebook", route="POST /{page}/feed", error={"code": 100, "message": "(#100) bad"})
    loa("publish-due")
    assert statuses(loa("post", "show", str(added["id"]), "--json").json()) == {FB: "failed"}
    media = loa("media", "add", str(photo(tmp_path, "a.jpg", COLOURS[1])), "--json").json()["media"]
    edited = loa("post", "edit", str(added["id"]), "--text", "Bài đã sửa", "--media", str(media[0]["id"]), "--json")
    assert edited.code == 0, edited.stderr
    assert statuses(edited.json()) == {FB: "scheduled"}
    assert loa("publish-due", "--json").json()["counts"]["published"] == 1
    (post,) = page_posts(sandbox)
    assert post["message"] == "Bài đã sửa" and len(post["photos"]) == 1
    # And a failed post can be cancelled instead.
    second = loa("post", "add", "--text", "Bài lỗi khác", "--channel", FB, "--now", "--json").json()
    fault(sandbox, platform="facebook", route="POST /{page}/feed", error={"code": 100, "message": "(#100) bad"})
    loa("publish-due")
    cancelled = loa("post", "cancel", str(second["id"]))
    assert cancelled.code == 0, cancelled.stderr
    assert statuses(loa("post", "show", str(second["id"]), "--json").json()) == {FB: "cancelled"}
