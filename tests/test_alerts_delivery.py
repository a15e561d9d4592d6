"""Alerts reach people once: real SMTP (aiosmtpd) and a real webhook receiver on loopback.

The sandbox injects the fault, the dispatcher records it (and the alert, in the same
transaction), the outbox sends it; a dead or refusing server delays and never drops; a
process killed between the server's acceptance and the row's marking sends the same
Message-ID again, nothing else.
"""

from __future__ import annotations

import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlmodel import select

from scheduler.alerts.mail import Attachment, enqueue_mail
from scheduler.alerts.outbox import Deliverer
from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.errors import ConfigError
from scheduler.i18n import render_stored
from scheduler.models import Outbox, OutboxStatus, Role, User
from scheduler.posts.requests import PostRequest
from scheduler.publishing.dispatcher import Dispatcher
from scheduler.store import session_scope
from tests.alerts_support import Inbox, mail_config, self_signed, smtp_server, webhook_receiver
from tests.conftest import REPO, cli_for, free_port, write_config

FB_ONLY = """
[[channels]]
id = "fb-bhxh-nghean"
platform = "facebook"
name = "BHXH tỉnh Nghệ An"
external_id = "100000000000001"
"""
VARS = {"hoat_dong": "ra quân tuyên truyền", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}
SECRET = "khoá-bí-mật-webhook-2026"


def make_loa(
    folder: Path, extra: str, sandbox_url: str = "http://127.0.0.1:9", *, database_url: str | None = None
) -> Loa:
    folder.mkdir(parents=True, exist_ok=True)
    path = write_config(folder, sandbox_url=sandbox_url, extra=extra, channels=FB_ONLY, database_url=database_url)
    loa = Loa(load_settings(path, environ={**os.environ, "LOA_WEBHOOK_SECRET": SECRET}))
    loa.init()
    with session_scope(loa.engine) as session:
        now = datetime.now(UTC)
        session.add(User(username="quantri", role=Role.admin, email="quantri@example.vn", created_at=now))
        session.add(User(username="duyet", role=Role.approver, email="duyet@example.vn", created_at=now))
    return loa


def deliverer(loa: Loa) -> Deliverer:
    return Deliverer(loa.settings, loa.engine, environ={**os.environ, "LOA_WEBHOOK_SECRET": SECRET})


def fault(sandbox: Any, **payload: Any) -> None:
    requests.post(f"{sandbox.url}/_sandbox/faults", json=payload, timeout=5).raise_for_status()


def outbox(loa: Loa) -> list[Outbox]:
    with session_scope(loa.engine, read_only=True) as session:
        return list(session.exec(select(Outbox).where(Outbox.kind != "console").order_by(Outbox.id)))


def webhook_section(url: str) -> str:
    return f"""
[[webhooks]]
url = "{url}"
secret_env = "LOA_WEBHOOK_SECRET"
events = ["publication.failed", "channel.needs_reauth", "post.pending_approval"]
allow_private = true
"""


def test_a_refused_post_reaches_the_admin_once_by_mail_and_webhook(tmp_path: Path, sandbox: Any) -> None:
    inbox = Inbox()
    cert, key = self_signed(tmp_path)
    with smtp_server(inbox, starttls=(cert, key)) as port, webhook_receiver() as hook:
        extra = mail_config(port, security="starttls", ca_file=cert) + webhook_section(hook.url)
        loa = make_loa(tmp_path, extra, sandbox.url)
        fault(
            sandbox,
            platform="facebook",
            route="POST /{page}/feed",
            times=1,
            status=400,
            error={"code": 100, "message": "Invalid parameter"},
        )
        post_id = loa.posts.add(PostRequest(template="thang-van-dong", channels=["fb-bhxh-nghean"], variables=VARS))
        summary = Dispatcher(loa.settings, loa.engine, loa.vault, one_shot=True).run_once()
        assert len(summary.failed) == 1
        first = deliverer(loa).run_once()
        assert first.counts() == {"fanned_out": 1, "sent": 2, "retrying": 0}

        ((to, message),) = inbox.messages
        assert to == ["quantri@example.vn"]  # the approver has no business with a refused post
        assert message["Subject"] == f"[Loa] Đăng thất bại: bài #{post_id} trên BHXH tỉnh Nghệ An"
        text = message.get_body(preferencelist=("plain",)).get_content()
        assert "không đăng được lên BHXH tỉnh Nghệ An" in text
        assert "Lý do:" in text and f"/posts/{post_id}" in text
        html_part = message.get_body(preferencelist=("html",)).get_content()
        assert "Mở trên bảng điều khiển" in html_part and 'lang="vi"' in html_part

        (call,) = hook.calls
        expected = hmac.new(SECRET.encode(), call.body, sha256).hexdigest()
        assert hmac.compare_digest(call.headers["x-loa-signature"], expected)
        body = call.json()
        assert set(body) == {"event", "at", "id", "data"}
        assert body["event"] == "publication.failed" and body["data"]["post"] == post_id
        assert call.headers["x-loa-delivery"] == body["id"]

        # Nothing twice: later passes find nothing to send.
        assert deliverer(loa).run_once().counts() == {"fanned_out": 0, "sent": 0, "retrying": 0}
        assert len(inbox.messages) == 1 and len(hook.calls) == 1
        loa.close()


def test_a_dead_server_delays_and_never_drops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens there yet
    loa = make_loa(tmp_path, mail_config(port))
    with session_scope(loa.engine) as session:
        enqueue_mail(
            session,
            to="quantri@example.vn",
            subject="Báo cáo tháng 5/2026",
            text="Kính gửi…",
            sender=loa.settings.mail.sender,
        )
    assert deliverer(loa).run_once().counts()["retrying"] == 1
    (row,) = outbox(loa)
    assert row.status == OutboxStatus.pending and row.attempts == 1 and row.next_attempt_at > datetime.now(UTC)
    shown = cli_for(tmp_path / "config.toml", capsys)("alerts", "list", "--json")
    assert shown.code == 0, shown.stderr
    (entry,) = shown.json()["deliveries"]
    assert entry["status"] == "pending" and entry["attempts"] == 1
    assert "Không kết nối được máy chủ thư" in (render_stored("vi", entry["last_error"]) or "")
    assert cli_for(tmp_path / "config.toml", capsys)("alerts", "list").code == 0

    inbox = Inbox()
    with smtp_server(inbox, port=port):
        later = datetime.now(UTC) + timedelta(hours=2)
        assert deliverer(loa).run_once(now=later).counts()["sent"] == 1
    assert [m["Subject"] for _, m in inbox.messages] == ["Báo cáo tháng 5/2026"]
    (row,) = outbox(loa)
    assert row.status == OutboxStatus.sent and row.attempts == 2 and row.last_error is None
    loa.close()


def test_refusals_and_silence_are_retried_with_the_reason(tmp_path: Path) -> None:
    inbox = Inbox(refuse=["451 4.3.0 Try again later", "554 5.7.1 Message rejected"])
    with smtp_server(inbox) as port:
        loa = make_loa(tmp_path, mail_config(port))
        with session_scope(loa.engine) as session:
            enqueue_mail(session, to="quantri@example.vn", subject="Thử", text="…", sender=loa.settings.mail.sender)
        now = datetime.now(UTC)
        reasons = []
        for hours in (0, 1, 2):
            deliverer(loa).run_once(now=now + timedelta(hours=hours))
            reasons.append(outbox(loa)[0].last_error)
        assert "451" in (reasons[0] or "") and "554" in (reasons[1] or "") and reasons[2] is None
        assert len(inbox.messages) == 1 and outbox(loa)[0].status == OutboxStatus.sent
        loa.close()

    # A server that takes the connection and never answers: a timeout, the row waits.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        loa = make_loa(
            tmp_path / "silent",
            mail_config(silent.getsockname()[1]).replace("timeout_seconds = 2", "timeout_seconds = 0.5"),
        )
        with session_scope(loa.engine) as session:
            enqueue_mail(session, to="quantri@example.vn", subject="Thử", text="…", sender=loa.settings.mail.sender)
        assert deliverer(loa).run_once().counts()["retrying"] == 1
        assert "trong 0.5 giây" in (render_stored("vi", outbox(loa)[0].last_error) or "")
        loa.close()
    finally:
        silent.close()


def test_a_kill_between_send_and_mark_sends_the_same_message_id_again(tmp_path: Path, database_url: str) -> None:
    inbox = Inbox()
    victim: dict[str, subprocess.Popen[bytes]] = {}

    def kill_the_sender() -> None:
        # The server has the message; the sender dies before it hears "250" and marks the row.
        process = victim.get("process")
        if process is not None and "killed" not in victim:
            victim["killed"] = process
            os.kill(process.pid, signal.SIGKILL)

    inbox.on_data = kill_the_sender
    with smtp_server(inbox) as port:
        loa = make_loa(tmp_path, mail_config(port), database_url=database_url)
        report = Attachment(
            "bao-cao-thang-05-2026.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            b"PK\x03\x04 b\xc3\xa1o c\xc3\xa1o",
        )
        with session_scope(loa.engine) as session:
            queued = enqueue_mail(
                session,
                to="quantri@example.vn",
                subject="Báo cáo tháng 5/2026",
                text="Kính gửi lãnh đạo…",
                attachments=[report],
                sender=loa.settings.mail.sender,
            )
            key = queued.key
        process = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "--config", str(tmp_path / "config.toml"), "alerts", "deliver"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        victim["process"] = process
        assert process.wait(timeout=60) == -signal.SIGKILL
        (row,) = outbox(loa)
        assert row.status == OutboxStatus.sending and row.claimed_by and f":{process.pid}:" in row.claimed_by

        # The next pass (the next lease holder) sees the sender is gone and sends it again.
        assert deliverer(loa).run_once().counts()["sent"] == 1
        assert deliverer(loa).run_once().counts()["sent"] == 0
    assert inbox.message_ids() == [f"<{key}>", f"<{key}>"]
    (kept,) = inbox.distinct().values()
    (attached,) = list(kept.iter_attachments())
    assert attached.get_filename() == "bao-cao-thang-05-2026.docx"
    assert attached.get_content() == report.data
    (row,) = outbox(loa)
    assert row.status == OutboxStatus.sent and row.attempts == 2
    loa.close()


def test_a_webhook_that_redirects_is_not_followed(tmp_path: Path) -> None:
    with webhook_receiver() as hook:
        hook.replies.append((302, {"Location": "http://169.254.169.254/latest/meta-data"}))
        loa = make_loa(tmp_path, mail_config(free_port()) + webhook_section(hook.url))
        with session_scope(loa.engine) as session:
            from scheduler.alerts.events import channel_alert

            channel_alert(session, "channel.needs_reauth", "fb-bhxh-nghean")
        deliverer(loa).run_once()
        assert [c.path for c in hook.calls] == ["/hooks/loa"]  # the redirect's target was never asked
        hooked = next(r for r in outbox(loa) if r.kind == "webhook")
        assert hooked.status == OutboxStatus.pending and "302" in (hooked.last_error or "")
        deliverer(loa).run_once(now=datetime.now(UTC) + timedelta(hours=1))
        assert len(hook.calls) == 2 and hook.calls[0].json()["id"] == hook.calls[1].json()["id"]
        loa.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://10.1.2.3/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://192.168.1.10/hook",
        "ftp://example.vn/hook",
    ],
)
def test_a_private_or_odd_webhook_url_is_refused_at_configuration(tmp_path: Path, url: str) -> None:
    path = write_config(tmp_path, extra=f'[[webhooks]]\nurl = "{url}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    text = str(caught.value)
    assert "webhooks.0" in text and url in text


def test_a_webhook_to_an_office_server_is_allowed_when_said_so(tmp_path: Path) -> None:
    path = write_config(tmp_path, extra='[[webhooks]]\nurl = "http://10.1.2.3/hook"\nallow_private = true\n')
    assert load_settings(path).webhooks[0].allow_private


def test_the_mail_settings_take_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, extra='[mail]\nhost = "smtp.example.vn"\nfrom = "Loa <loa@example.vn>"\n')
    settings = load_settings(path, environ={"LOA_MAIL_PORT": "2525", "LOA_MAIL_FROM": "Loa <tin@example.vn>"})
    assert settings.mail.effective_port == 2525 and settings.mail.sender == "Loa <tin@example.vn>"
    with pytest.raises(ConfigError):
        load_settings(path, environ={"LOA_MAIL_FROM": "không phải địa chỉ"})
    assert "password" not in repr(settings.mail)


def test_a_password_is_read_from_its_variable_and_a_missing_one_said(tmp_path: Path) -> None:
    inbox = Inbox()
    cert, key = self_signed(tmp_path)
    with smtp_server(inbox, starttls=(cert, key), password="mật-khẩu-thư") as port:
        extra = mail_config(
            port,
            security="starttls",
            ca_file=cert,
            extra='username = "loa@bhxh-nghean.example.vn"\npassword_env = "LOA_TEST_MAIL_PW"',
        )
        loa = make_loa(tmp_path, extra)
        with session_scope(loa.engine) as session:
            enqueue_mail(session, to="quantri@example.vn", subject="Thử", text="…", sender=loa.settings.mail.sender)
        missing = Deliverer(loa.settings, loa.engine, environ={}).run_once()
        assert missing.counts()["retrying"] == 1 and "LOA_TEST_MAIL_PW" in (outbox(loa)[0].last_error or "")
        later = datetime.now(UTC) + timedelta(hours=1)
        sent = Deliverer(loa.settings, loa.engine, environ={"LOA_TEST_MAIL_PW": "mật-khẩu-thư"}).run_once(now=later)
        assert sent.counts()["sent"] == 1
        assert inbox.logins == ["loa@bhxh-nghean.example.vn"] and len(inbox.messages) == 1
        loa.close()


def test_the_engine_delivers_within_its_interval(tmp_path: Path) -> None:
    from scheduler.engine import PublishingEngine

    inbox = Inbox()
    with smtp_server(inbox) as port:
        loa = make_loa(
            tmp_path, mail_config(port).replace("digest = false", "digest = false\ndeliver_every_seconds = 1")
        )
        engine = PublishingEngine(loa.settings, loa.engine, loa.vault, role="run")
        engine.start()
        try:
            with session_scope(loa.engine) as session:
                from scheduler.alerts.events import channel_alert

                channel_alert(session, "channel.needs_reauth", "fb-bhxh-nghean", reason=None)
            deadline = time.monotonic() + 30
            while not inbox.messages and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            engine.shutdown()
        ((to, message),) = inbox.messages
        assert to == ["quantri@example.vn"] and message["Subject"] == "[Loa] Kênh BHXH tỉnh Nghệ An cần kết nối lại"
        loa.close()


def test_the_test_command_says_what_went_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inbox = Inbox()
    with smtp_server(inbox) as port:
        make_loa(tmp_path, mail_config(port)).close()
        result = cli_for(tmp_path / "config.toml", capsys)("alerts", "test", "--to", "lan@example.vn", "--json")
        assert result.code == 0, result.stderr
        assert [d["status"] for d in result.json()["deliveries"]] == ["sent"]
    ((to, message),) = inbox.messages
    assert to == ["lan@example.vn"] and message["Subject"] == "[Loa] Thư thử cảnh báo"
    assert json.dumps(result.json())  # one JSON document


def test_an_expired_token_reaches_the_admin_as_held_post_and_channel_to_reconnect(
    tmp_path: Path, sandbox: Any, database_url: str
) -> None:
    inbox = Inbox()
    with smtp_server(inbox) as port, webhook_receiver() as hook:
        loa = make_loa(tmp_path, mail_config(port) + webhook_section(hook.url), sandbox.url, database_url=database_url)
        fault(
            sandbox,
            platform="facebook",
            route="POST /{page}/feed",
            times=2,
            status=400,
            error={"code": 190, "error_subcode": 463},
        )
        for _ in range(2):
            loa.posts.add(PostRequest(template="thang-van-dong", channels=["fb-bhxh-nghean"], variables=VARS))
        summary = Dispatcher(loa.settings, loa.engine, loa.vault, one_shot=True).run_once()
        assert len(summary.blocked) >= 1
        deliverer(loa).run_once()
        subjects = sorted(str(m["Subject"]) for _, m in inbox.messages)
        # One "reconnect" for the channel, however many of its posts the refusal held.
        assert subjects.count("[Loa] Kênh BHXH tỉnh Nghệ An cần kết nối lại") == 1
        assert any(s.startswith("[Loa] Bài #") and s.endswith("cần kết nối lại") for s in subjects)
        assert [c.json()["event"] for c in hook.calls] == ["channel.needs_reauth"]  # its events list
        assert deliverer(loa).run_once().counts()["sent"] == 0
        loa.close()


def test_an_account_that_reads_english_gets_its_mail_in_english(tmp_path: Path, sandbox: Any) -> None:
    inbox = Inbox()
    with smtp_server(inbox) as port:
        loa = make_loa(tmp_path, mail_config(port), sandbox.url)
        with session_scope(loa.engine) as session:
            # What the settings page stores when an admin picks English (tests/test_console_alerts.py).
            now = datetime.now(UTC)
            english = User(username="admin-en", role=Role.admin, email="admin@example.org", lang="en", created_at=now)
            session.add(english)
        fault(
            sandbox,
            platform="facebook",
            route="POST /{page}/feed",
            times=1,
            status=400,
            error={"code": 100, "message": "Invalid parameter"},
        )
        post_id = loa.posts.add(PostRequest(template="thang-van-dong", channels=["fb-bhxh-nghean"], variables=VARS))
        assert len(Dispatcher(loa.settings, loa.engine, loa.vault, one_shot=True).run_once().failed) == 1
        assert deliverer(loa).run_once().counts()["sent"] == 2
        by_address = {tuple(to): message for to, message in inbox.messages}
        assert set(by_address) == {("quantri@example.vn",), ("admin@example.org",)}

        in_english = by_address[("admin@example.org",)]
        assert in_english["Subject"] == f"[Loa] Publishing failed: post #{post_id} on BHXH tỉnh Nghệ An"
        text = in_english.get_body(preferencelist=("plain",)).get_content()
        assert f"Post #{post_id} could not be published on BHXH tỉnh Nghệ An" in text
        assert "không đăng được" not in text
        html_part = in_english.get_body(preferencelist=("html",)).get_content()
        assert "Open in the console" in html_part and 'lang="en"' in html_part

        # Vietnamese stays the default: the account that chose nothing reads Vietnamese.
        vietnamese = by_address[("quantri@example.vn",)]
        assert vietnamese["Subject"] == f"[Loa] Đăng thất bại: bài #{post_id} trên BHXH tỉnh Nghệ An"
        assert 'lang="vi"' in vietnamese.get_body(preferencelist=("html",)).get_content()
        loa.close()
