"""Token health: the daily check and the pre-flight an hour before a post find a revoked
permission or a lapsing token ahead of time, over real HTTP to the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from scheduler.app import Loa
from scheduler.channels import connecting
from scheduler.channels.health import due_checks, run_checks, warnings
from scheduler.config import load_settings
from scheduler.models import ChannelState, ChannelStatus, utcnow
from scheduler.publishing.dispatcher import Dispatcher
from scheduler.sandbox.server import SandboxServer
from scheduler.store import session_scope
from tests.conftest import cli_for
from tests.connect_support import connect_config, consent


@pytest.fixture
def connected(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Loa, str]]:
    monkeypatch.setenv("LOA_FACEBOOK_APP_SECRET", "facebook-app-secret-for-tests")
    monkeypatch.setenv("LOA_ZALO_APP_SECRET", "zalo-app-secret-for-tests")
    loa = Loa(load_settings(connect_config(tmp_path, sandbox.url)))
    loa.init()
    started = connecting.start(loa, "facebook", actor="quantri")
    granted = connecting.callback(loa, consent(started.url), actor="quantri")
    (channel_id,) = connecting.finish(loa, granted.state_hash, ["100000000000002"], actor="quantri")
    yield loa, channel_id
    loa.close()


def _row(loa: Loa, channel_id: str) -> ChannelState:
    with session_scope(loa.engine, read_only=True) as session:
        row = session.get(ChannelState, channel_id)
        assert row is not None
        return row


def test_a_token_nearing_its_end_is_announced_with_its_date(connected: tuple[Loa, str], sandbox: SandboxServer) -> None:
    loa, channel_id = connected
    health = run_checks(loa.settings, loa.engine, loa.vault, only=[channel_id])[channel_id]
    assert health.valid and health.expires_at is not None
    assert health.expires_at - utcnow() > timedelta(days=80)  # data access lasts 90 days from the login
    assert warnings(loa) == []
    # A Page whose login was eighty days ago: its data access closes within the 14 days Loa warns ahead.
    clock = f"{sandbox.url}/_sandbox/clock"
    requests.post(clock, json={"offset_s": -80 * 86400}, timeout=10).raise_for_status()
    started = connecting.start(loa, "facebook", actor="quantri")
    granted = connecting.callback(loa, consent(started.url), actor="quantri")
    (old,) = connecting.finish(loa, granted.state_hash, ["100000000000003"], actor="quantri")
    requests.post(clock, json={"offset_s": 0}, timeout=10).raise_for_status()
    health = run_checks(loa.settings, loa.engine, loa.vault, only=[old])[old]
    assert health.valid and health.expires_at is not None
    assert timedelta(days=9) < health.expires_at - utcnow() < timedelta(days=11)
    (warning,) = warnings(loa)
    assert warning["id"] == old and warning["expires_at"] and warning["problem"] is None


def test_the_preflight_finds_a_revoked_token_before_the_post_is_due(
    connected: tuple[Loa, str], sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    loa, channel_id = connected
    run_checks(loa.settings, loa.engine, loa.vault)  # today's daily check of every channel: well
    assert due_checks(loa.settings, loa.engine) == []
    with session_scope(loa.engine) as session:  # … which ran three hours ago, in the morning
        row = session.get(ChannelState, channel_id)
        assert row is not None and row.token_checked_at is not None
        row.token_checked_at -= timedelta(hours=3)
        session.add(row)
    assert due_checks(loa.settings, loa.engine) == []  # nothing due within the hour yet
    cli = cli_for(loa.settings.base_dir / "config.toml", capsys)
    soon = (utcnow() + timedelta(minutes=40)).astimezone(loa.settings.tz).strftime("%Y-%m-%d %H:%M")
    queued = cli("post", "add", "--template", "bhxh-tu-nguyen", "--var", "muc_dong_thap_nhat=330.000 đồng",
                 "--var", "ho_tro=30%", "--channel", channel_id, "--at", soon, "--json")  # fmt: skip
    assert queued.code == 0, queued.stderr
    # The admin removes Loa from the Page on Facebook: the Page token stops working.
    token = loa.vault.load(channel_id)
    assert token is not None
    revoke = {"platform": "facebook", "token": token["access_token"], "state": "revoked"}
    requests.post(f"{sandbox.url}/_sandbox/tokens", json=revoke, timeout=10).raise_for_status()
    # The post is due within the hour and the last check was before that hour began: a pre-flight.
    assert due_checks(loa.settings, loa.engine) == [channel_id]
    found = run_checks(loa.settings, loa.engine, loa.vault)
    assert not found[channel_id].valid
    row = _row(loa, channel_id)
    assert row.status == ChannelStatus.needs_reauth and row.token_problem and "health.invalid" in row.token_problem
    # … and the admins hear of it (the alert was written with the change).
    from sqlmodel import select

    from scheduler.models import Alert

    with session_scope(loa.engine, read_only=True) as session:
        raised = [(a.event, a.data_json) for a in session.exec(select(Alert))]
    assert [event for event, _ in raised if event == "channel.needs_reauth"] == ["channel.needs_reauth"]
    # Forty minutes before the post: held for the admin, not failed at its time.
    Dispatcher(loa.settings, loa.engine, loa.vault).run_once()
    shown = cli("post", "list", "--json")
    assert shown.code == 0
    channels = cli("channels", "--json").json()["channels"]
    mine = next(c for c in channels if c["id"] == channel_id)
    assert mine["status"] == "needs_reauth" and mine["token_problem"]


def test_a_zalo_refresh_token_is_aged_against_its_three_months(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOA_ZALO_APP_SECRET", "zalo-app-secret-for-tests")
    loa = Loa(load_settings(connect_config(tmp_path, sandbox.url)))
    loa.init()
    try:
        started = connecting.start(loa, "zalo", actor="quantri")
        back = consent(started.url, choose="579745863508352885")
        (channel_id,) = connecting.callback(loa, back, actor="quantri").added
        health = run_checks(loa.settings, loa.engine, loa.vault, only=[channel_id])[channel_id]
        assert health.valid and health.expires_at is not None
        assert timedelta(days=89) < health.expires_at - utcnow() <= timedelta(days=90)
        with session_scope(loa.engine) as session:  # the pair was last renewed 85 days ago
            row = session.get(ChannelState, channel_id)
            assert row is not None and row.credentials_updated_at is not None
            row.credentials_updated_at -= timedelta(days=85)
            session.add(row)
        health = run_checks(loa.settings, loa.engine, loa.vault, only=[channel_id])[channel_id]
        assert health.valid and [w["id"] for w in warnings(loa)] == [channel_id]  # five days left: announced
        with session_scope(loa.engine) as session:
            row = session.get(ChannelState, channel_id)
            assert row is not None and row.credentials_updated_at is not None
            row.credentials_updated_at -= timedelta(days=10)
            session.add(row)
        health = run_checks(loa.settings, loa.engine, loa.vault, only=[channel_id])[channel_id]
        assert not health.valid and _row(loa, channel_id).status == ChannelStatus.needs_reauth
    finally:
        loa.close()
