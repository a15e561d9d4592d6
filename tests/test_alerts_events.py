"""Who hears about what: alerts raised where things happen, fanned out by role and by choice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from scheduler.alerts.outbox import Deliverer
from scheduler.alerts.recipients import Choice, choices, save_choices
from scheduler.alerts.watch import raise_digest, raise_token_expiry
from scheduler.models import Alert, Outbox, Publication, PublicationStatus, User
from scheduler.posts.requests import PostRequest
from scheduler.publishing.housekeeping import mark_missed
from scheduler.store import session_scope

VARS = {"hoat_dong": "ra quân tuyên truyền", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}
EMAILS = {"quantri": "quantri@example.vn", "bientap": "bientap@example.vn", "duyet": "duyet@example.vn"}


def with_addresses(loa: Any) -> Any:
    with session_scope(loa.engine) as session:
        for user in session.exec(select(User)):
            user.email = EMAILS.get(user.username)
            session.add(user)
    return loa


def fan_out(loa: Any) -> dict[str, list[tuple[str, str]]]:
    """Each alert event's messages as (kind, target), after one fan-out (no sending)."""
    Deliverer(loa.settings, loa.engine).fan_out()
    with session_scope(loa.engine, read_only=True) as session:
        alerts = {a.id: a.event for a in session.exec(select(Alert))}
        result: dict[str, list[tuple[str, str]]] = {}
        for row in session.exec(select(Outbox).order_by(col(Outbox.id))):
            target = row.target if row.kind != "console" else session.get(User, int(row.target)).username  # type: ignore[union-attr]
            result.setdefault(alerts[row.alert_id], []).append((row.kind, target))
    return result


def test_a_post_waiting_for_approval_reaches_the_approver_and_the_answer_its_author(console_loa: Any) -> None:
    loa = with_addresses(console_loa)
    post_id = loa.posts.add(
        PostRequest(
            template="thang-van-dong",
            channels=["fb-bhxh-nghean", "zalo-bhxh-nghean"],
            variables=VARS,
            at=datetime.now(UTC) + timedelta(hours=3),
            created_by="bientap",
        )
    )
    sent = fan_out(loa)
    assert sent == {"post.pending_approval": [("console", "duyet"), ("email", "duyet@example.vn")]}
    loa.posts.approve(post_id, actor="duyet")
    sent = fan_out(loa)
    assert sent["post.approved"] == [("console", "bientap"), ("email", "bientap@example.vn")]
    with session_scope(loa.engine, read_only=True) as session:
        (approved,) = session.exec(select(Alert).where(Alert.event == "post.approved"))
        assert json.loads(approved.data_json)["channels"] == ["fb-bhxh-nghean"]  # the one that waited
        (mail,) = session.exec(select(Outbox).where(Outbox.kind == "email", Outbox.alert_id == approved.id))
    assert mail.subject == f"[Loa] Bài #{post_id} đã được duyệt"
    assert "(người duyệt: duyet)" in (mail.body_text or "")


def test_a_sent_back_post_reaches_its_author_only(console_loa: Any) -> None:
    loa = with_addresses(console_loa)
    post_id = loa.posts.add(
        PostRequest(
            template="thang-van-dong",
            channels=["fb-bhxh-nghean"],
            variables=VARS,
            at=datetime.now(UTC) + timedelta(hours=3),
            created_by="bientap2",
        )
    )
    loa.posts.send_back(post_id, actor="duyet", reason="Sai địa điểm")
    sent = fan_out(loa)
    # bientap2 has no address: the console's list only; nobody else hears of it.
    assert sent["post.sent_back"] == [("console", "bientap2")]


def test_a_user_may_turn_an_alert_off_or_take_one_their_role_does_not(console_loa: Any) -> None:
    loa = with_addresses(console_loa)
    with session_scope(loa.engine) as session:
        duyet = session.exec(select(User).where(User.username == "duyet")).one()
        mine = choices(session, duyet)
        assert mine["post.pending_approval"] == Choice(True, True) and mine["publication.failed"] == Choice(
            False, False
        )
        mine["post.pending_approval"] = Choice(email=False, console=True)
        save_choices(session, duyet, mine)
    loa.posts.add(
        PostRequest(
            template="thang-van-dong",
            channels=["fb-bhxh-nghean"],
            variables=VARS,
            at=datetime.now(UTC) + timedelta(hours=3),
            created_by="bientap",
        )
    )
    assert fan_out(loa) == {"post.pending_approval": [("console", "duyet")]}


def test_a_missed_post_reaches_its_author_and_the_admins(console_loa: Any) -> None:
    loa = with_addresses(console_loa)
    due = datetime.now(UTC) + timedelta(minutes=5)
    loa.posts.add(
        PostRequest(
            template="thang-van-dong", channels=["zalo-bhxh-nghean"], variables=VARS, at=due, created_by="bientap"
        )
    )
    assert mark_missed(loa.engine, loa.settings, due + timedelta(hours=2))
    sent = fan_out(loa)
    assert sorted(sent["publication.missed"]) == sorted(
        [
            ("console", "quantri"),
            ("email", "quantri@example.vn"),
            ("console", "bientap"),
            ("email", "bientap@example.vn"),
        ]
    )


def test_the_morning_digest_is_raised_once_a_day_with_the_queue(console_loa: Any) -> None:
    loa = with_addresses(console_loa)
    tz = loa.settings.tz
    morning = datetime(2026, 5, 6, 7, 5, tzinfo=tz)
    loa.posts.add(
        PostRequest(
            template="thang-van-dong",
            channels=["zalo-bhxh-nghean"],
            variables=VARS,
            at=datetime(2026, 5, 6, 9, 0, tzinfo=tz),
            created_by="bientap",
        ),
        now=morning - timedelta(days=1),
    )
    assert not raise_digest(loa.settings, loa.engine, datetime(2026, 5, 6, 6, 59, tzinfo=tz))
    assert raise_digest(loa.settings, loa.engine, morning)
    assert not raise_digest(loa.settings, loa.engine, morning + timedelta(hours=3))
    Deliverer(loa.settings, loa.engine).fan_out()
    with session_scope(loa.engine, read_only=True) as session:
        mails = list(session.exec(select(Outbox).where(Outbox.kind == "email")))
    assert sorted(m.target for m in mails) == sorted(EMAILS.values())
    body = mails[0].body_text or ""
    assert mails[0].subject == "[Loa] Bản tin sáng 06/05/2026"
    assert "06/05/2026 09:00 — bài #1 trên BHXH Nghệ An (Zalo OA)" in body
    assert "Hôm qua: 0 bài đã đăng" in body


def test_a_credential_about_to_lapse_is_raised_once(console_loa: Any) -> None:
    loa = with_addresses(console_loa)
    now = datetime.now(UTC)
    loa.vault.save(
        "fb-bhxh-nghean", {"access_token": "EAAB-dài-hạn", "expires_at": (now + timedelta(days=3)).isoformat()}
    )
    assert raise_token_expiry(loa.settings, loa.engine, loa.vault, now) == ["fb-bhxh-nghean"]
    assert raise_token_expiry(loa.settings, loa.engine, loa.vault, now + timedelta(hours=1)) == []
    sent = fan_out(loa)
    assert ("email", "quantri@example.vn") in sent["channel.token_expiring"]
    assert all(target != "bientap@example.vn" for _, target in sent["channel.token_expiring"])


def test_the_alert_is_lost_with_the_change_that_failed(console_loa: Any, tmp_path: Path) -> None:
    # Same transaction: an approval refused half-way leaves neither the change nor the alert.
    loa = with_addresses(console_loa)
    post_id = loa.posts.add(
        PostRequest(
            template="thang-van-dong",
            channels=["fb-bhxh-nghean"],
            variables=VARS,
            at=datetime.now(UTC) + timedelta(hours=3),
            created_by="bientap",
        )
    )
    import pytest

    from scheduler.errors import InputError

    with pytest.raises(InputError):
        loa.posts.approve(post_id, actor="bientap")  # nobody approves their own post
    with session_scope(loa.engine, read_only=True) as session:
        assert [a.event for a in session.exec(select(Alert))] == ["post.pending_approval"]
        (row,) = session.exec(select(Publication))
        assert row.status == PublicationStatus.pending_approval


def test_an_account_gets_its_alert_address_on_the_command_line(offline_loa: Any) -> None:
    bad = offline_loa("user", "add", "--username", "tin", "--role", "editor", "--no-password", "--email", "tin@")
    assert bad.code == 2 and "tin@" in bad.stderr
    good = offline_loa("user", "add", "--username", "tin", "--role", "editor", "--no-password", "--email", "t@bhxh.vn")
    assert good.code == 0, good.stderr


def test_an_account_of_a_unit_hears_about_its_units_channels_only(console_loa: Any) -> None:
    from scheduler.models import ChannelState, Role, Unit

    loa = with_addresses(console_loa)
    with session_scope(loa.engine) as session:
        vinh = session.exec(select(Unit).where(Unit.code == "vinh")).one()
        other = Unit(code="dien-chau", name="BHXH huyện Diễn Châu")
        session.add(other)
        session.flush()
        state = session.get(ChannelState, "zalo-bhxh-nghean")
        assert state is not None
        state.unit_id = vinh.id
        session.add(state)
        now = datetime.now(UTC)
        session.add(User(username="qt-vinh", role=Role.admin, unit_id=vinh.id, email="vinh@example.vn", created_at=now))
        session.add(User(username="qt-dc", role=Role.admin, unit_id=other.id, email="dc@example.vn", created_at=now))
    due = datetime.now(UTC) + timedelta(minutes=5)
    loa.posts.add(
        PostRequest(template="thang-van-dong", channels=["zalo-bhxh-nghean"], variables=VARS, at=due, created_by="x")
    )
    mark_missed(loa.engine, loa.settings, due + timedelta(hours=2))
    mails = {target for kind, target in fan_out(loa)["publication.missed"] if kind == "email"}
    assert mails == {"quantri@example.vn", "vinh@example.vn"}  # the office's admin and the unit's, not Diễn Châu's
