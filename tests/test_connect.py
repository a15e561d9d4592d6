"""Connecting a Facebook Page and a Zalo OA through the sandbox's own login and consent pages,
over real HTTP: ``state`` checked once, PKCE verified, paging followed, tokens stored encrypted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from sqlmodel import select

from scheduler.app import Loa
from scheduler.channels import connecting
from scheduler.config import load_settings
from scheduler.errors import ConfigError, InputError
from scheduler.models import AuditEvent, ChannelState
from scheduler.publishing.dispatcher import Dispatcher
from scheduler.sandbox.server import SandboxServer
from scheduler.store import session_scope
from tests.conftest import cli_for, free_port
from tests.connect_support import connect_config, consent


@pytest.fixture
def connect_loa(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Loa:
    monkeypatch.setenv("LOA_FACEBOOK_APP_SECRET", "facebook-app-secret-for-tests")
    monkeypatch.setenv("LOA_ZALO_APP_SECRET", "zalo-app-secret-for-tests")
    loa = Loa(load_settings(connect_config(tmp_path, sandbox.url)))
    loa.init()
    yield loa
    loa.close()


def audit_actions(loa: Loa) -> list[str]:
    with session_scope(loa.engine, read_only=True) as session:
        return [e.action for e in session.exec(select(AuditEvent))]


def test_facebook_pages_are_connected_from_the_consent_page(
    connect_loa: Loa, sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    started = connecting.start(connect_loa, "facebook", actor="quantri")
    query = dict(parse_qsl(urlsplit(started.url).query))
    assert query["client_id"] == "100000000000999" and query["state"] == started.state
    assert "pages_manage_posts" in query["scope"] and "client_secret" not in started.url
    # The person leaves Cửa Lò unticked: Graph lists it without a token.
    back = consent(started.url, untick=("100000000000003",))
    assert back["state"] == started.state and back["code"]
    granted = connecting.callback(connect_loa, back, actor="quantri")
    assert granted.pick and not granted.added
    found = {a["external_id"]: a for a in granted.accounts}
    assert len(found) == 4  # two pages of two: paging.next followed
    assert found["100000000000001"]["problem"] is None
    assert found["100000000000002"]["problem"] is None
    assert "connect.problem.no_token" in found["100000000000003"]["problem"]
    assert "connect.problem.cannot_post" in found["100000000000004"]["problem"]

    with pytest.raises(InputError) as refused:
        connecting.finish(connect_loa, granted.state_hash, ["100000000000004"], actor="quantri")
    assert refused.value.msgid == "error.connect_cannot_add"

    added = connecting.finish(connect_loa, granted.state_hash, ["100000000000001", "100000000000002"], actor="quantri")
    assert len(added) == 2
    channels = {c.id: c for c in connect_loa.settings.channels}
    new = [channels[cid] for cid in added]
    assert {c.external_id for c in new} == {"100000000000001", "100000000000002"}
    assert {c.name for c in new} == {"BHXH tỉnh Nghệ An", "BHXH thành phố Vinh"}
    with session_scope(connect_loa.engine, read_only=True) as session:
        rows = [session.get(ChannelState, cid) for cid in added]
    for row in rows:
        assert row is not None and row.credentials_encrypted and "EAAG" not in row.credentials_encrypted
        assert row.token_scopes and "pages_manage_posts" in row.token_scopes
    token = connect_loa.vault.load(added[1])
    assert token and token["access_token"].startswith("EAAG")

    # A channel connected this way publishes with its stored Page token.
    loa_cli = cli_for(connect_loa.settings.base_dir / "config.toml", capsys)
    queued = loa_cli(
        "post",
        "add",
        "--template",
        "bhxh-tu-nguyen",
        "--var",
        "muc_dong_thap_nhat=330.000 đồng",
        "--var",
        "ho_tro=30%",
        "--channel",
        added[1],
        "--now",
        "--json",
    )
    assert queued.code == 0, queued.stderr
    # A dispatcher pass, as `loa publish-due` runs one (in-process here: the CLI's log set-up would stay).
    connect_loa.open()
    assert Dispatcher(connect_loa.settings, connect_loa.engine, connect_loa.vault).run_once().counts()["published"] == 1
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=10).json()
    assert state["facebook"]["pages"]["100000000000002"]["posts"], state["facebook"]["pages"].keys()
    assert "channel.connect" in audit_actions(connect_loa)


def test_a_replayed_or_unknown_state_is_refused_and_audited(connect_loa: Loa) -> None:
    started = connecting.start(connect_loa, "facebook", actor="quantri")
    back = consent(started.url)
    connecting.callback(connect_loa, back, actor="quantri")
    with pytest.raises(InputError) as replay:
        connecting.callback(connect_loa, back, actor="quantri")
    assert replay.value.msgid == "error.connect_state_replayed"
    with pytest.raises(InputError) as wrong:
        connecting.callback(connect_loa, {**back, "state": "someone-elses-state"}, actor="quantri")
    assert wrong.value.msgid == "error.connect_bad_state"
    assert audit_actions(connect_loa).count("channel.connect_refused") == 2


def test_a_declined_dialog_and_a_reused_code_explain_themselves(connect_loa: Loa, sandbox: SandboxServer) -> None:
    started = connecting.start(connect_loa, "facebook", actor="quantri")
    back = consent(started.url, decision="deny")
    assert back["error"] == "access_denied" and back["state"] == started.state
    with pytest.raises(InputError) as denied:
        connecting.callback(connect_loa, back, actor="quantri")
    assert denied.value.msgid == "error.connect_denied"

    started = connecting.start(connect_loa, "facebook", actor="quantri")
    back = consent(started.url)
    params = {
        "client_id": "100000000000999",
        "client_secret": "x",
        "code": back["code"],
        "redirect_uri": connecting.callback_url(connect_loa),
    }
    first = requests.get(f"{sandbox.url}/v25.0/oauth/access_token", params=params, timeout=10)
    assert first.status_code == 200 and first.json()["access_token"]
    with pytest.raises(InputError) as used:
        connecting.callback(connect_loa, back, actor="quantri")
    assert used.value.msgid == "error.connect_code_used"


def test_a_zalo_oa_is_connected_with_pkce(connect_loa: Loa, sandbox: SandboxServer) -> None:
    started = connecting.start(connect_loa, "zalo", actor="quantri")
    query = dict(parse_qsl(urlsplit(started.url).query))
    assert query["app_id"] == "4312201313250283251" and len(query["code_challenge"]) == 43
    assert "code_verifier" not in started.url
    back = consent(started.url, choose="579745863508352885")
    assert back["oa_id"] == "579745863508352885" and back["state"] == started.state
    granted = connecting.callback(connect_loa, back, actor="quantri")
    assert not granted.pick and len(granted.added) == 1  # added at once: the refresh token is single-use
    channel = connect_loa.settings.channel(granted.added[0])
    assert channel.name == "BHXH thành phố Vinh" and channel.external_id == "579745863508352885"
    stored = connect_loa.vault.load(channel.id)
    assert stored and stored["refresh_token"] and stored["access_token"]


def test_a_wrong_code_verifier_is_refused_by_the_sandbox(connect_loa: Loa, sandbox: SandboxServer) -> None:
    started = connecting.start(connect_loa, "zalo", actor="quantri")
    back = consent(started.url)
    answer = requests.post(
        f"{sandbox.url}/v4/oa/access_token",
        headers={"secret_key": "x"},
        data={
            "code": back["code"],
            "app_id": "4312201313250283251",
            "grant_type": "authorization_code",
            "code_verifier": "A" * 43,
        },
        timeout=10,
    ).json()
    assert answer["error"] == -14019 and "access_token" not in answer
    # The right verifier still works: the refusal did not spend the code.
    granted = connecting.callback(connect_loa, back, actor="quantri")
    assert granted.added


def test_missing_app_secret_names_the_variable(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOA_FACEBOOK_APP_SECRET", raising=False)
    loa = Loa(load_settings(connect_config(tmp_path, sandbox.url)))
    loa.init()
    try:
        with pytest.raises(ConfigError) as missing:
            connecting.start(loa, "facebook", actor="quantri")
        assert missing.value.params["name"] == "LOA_FACEBOOK_APP_SECRET"
    finally:
        loa.close()


def _cli(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOA_")}
    env.update(LANG="C.UTF-8", LOA_FACEBOOK_APP_SECRET="fb-secret", LOA_ZALO_APP_SECRET="zalo-secret")
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--config", str(config), *args],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_the_cli_connects_from_a_pasted_callback_url(connect_loa: Loa) -> None:
    config = connect_loa.settings.base_dir / "config.toml"
    process = _cli(config, "channels", "connect", "facebook", "--page", "100000000000003", "--json")
    assert process.stdout is not None and process.stdin is not None
    url = process.stdout.readline().strip()
    assert url.startswith("http") and "dialog/oauth" in url
    back = consent(url)
    # The browser lands on public_url, where nothing is served here: its address is pasted.
    process.stdin.write(f"{connecting.callback_url(connect_loa)}?{urlencode(back)}\n")
    process.stdin.flush()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    added = json.loads(out)["channels"]
    assert len(added) == 1
    # The Page that cannot be posted to is named on the way.
    assert "Đoàn thanh niên BHXH Nghệ An" in err and "CREATE_CONTENT" in err
    connect_loa.open()
    assert connect_loa.settings.channel(added[0]).external_id == "100000000000003"


def test_the_cli_connect_finishes_when_the_browser_reaches_loa(
    connect_loa: Loa, tmp_path: Path, sandbox: SandboxServer
) -> None:
    from scheduler.serving import ThreadedServer
    from scheduler.web.app import create_app

    port = free_port()
    (tmp_path / "served").mkdir()
    config = connect_config(tmp_path / "served", sandbox.url, public_url=f"http://127.0.0.1:{port}")
    served = Loa(load_settings(config))
    served.init()
    with ThreadedServer(create_app(served), port=port):
        process = _cli(config, "channels", "connect", "zalo", "--json")
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        back = consent(url)
        # The browser follows the redirect to Loa's callback: no console login for a terminal's flow.
        landed = requests.get(f"http://127.0.0.1:{port}/channels/connect/callback", params=back, timeout=10)
        assert landed.status_code == 200 and "dòng lệnh" in landed.text
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    (channel_id,) = json.loads(out)["channels"]
    # The OA is the one config.toml declared: the same channel is reconnected, its name kept.
    assert channel_id == "zalo-bhxh-nghean"
    stored = served.vault.load(channel_id)
    assert stored and stored["refresh_token"]
    served.close()


def test_a_bad_pasted_url_is_refused_with_exit_2(connect_loa: Loa) -> None:
    config = connect_loa.settings.base_dir / "config.toml"
    process = _cli(config, "channels", "connect", "zalo")
    assert process.stdout is not None and process.stdin is not None
    process.stdout.readline()
    forged = "http://127.0.0.1:8000/channels/connect/callback?code=x&oa_id=1&state=forged\n"
    _, err = process.communicate(forged, timeout=60)
    assert process.returncode == 2 and "state" in err and "Traceback" not in err


def test_an_expired_code_explains_itself(connect_loa: Loa, sandbox: SandboxServer) -> None:
    started = connecting.start(connect_loa, "facebook", actor="quantri")
    back = consent(started.url)
    # Eleven minutes on the platform's clock: the code has lapsed (Loa's own flow has not).
    requests.post(f"{sandbox.url}/_sandbox/clock", json={"advance_s": 11 * 60}, timeout=10).raise_for_status()
    with pytest.raises(InputError) as expired:
        connecting.callback(connect_loa, back, actor="quantri")
    assert expired.value.msgid == "error.connect_code_expired"
    assert "channel.connect_failed" in audit_actions(connect_loa)


def test_a_business_app_sends_its_configuration_id(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOA_FACEBOOK_APP_SECRET", "s")
    config = connect_config(tmp_path, sandbox.url)
    config.write_text(config.read_text().replace('accounts_page_size = 2', 'config_id = "998877665544"'))
    loa = Loa(load_settings(config))
    loa.init()
    try:
        query = dict(parse_qsl(urlsplit(connecting.start(loa, "facebook", actor="quantri").url).query))
        assert query["config_id"] == "998877665544" and "scope" not in query
    finally:
        loa.close()


def test_a_running_dispatcher_publishes_to_a_channel_another_process_connected(
    connect_loa: Loa, sandbox: SandboxServer
) -> None:
    connect_loa.open()
    running = Dispatcher(connect_loa.settings, connect_loa.engine, connect_loa.vault)  # as in `loa run`
    other = Loa(load_settings(connect_loa.settings.base_dir / "config.toml"))  # `loa channels connect`
    other.open()
    try:
        started = connecting.start(other, "facebook", actor="cli:admin")
        granted = connecting.callback(other, consent(started.url), actor="cli:admin")
        (channel_id,) = connecting.finish(other, granted.state_hash, ["100000000000003"], actor="cli:admin")
        from scheduler.models import utcnow
        from scheduler.posts.requests import PostRequest

        other.posts.add(PostRequest(template="bhxh-tu-nguyen", channels=[channel_id], at=utcnow(), created_by="cli",
                                    variables={"muc_dong_thap_nhat": "330.000 đồng", "ho_tro": "30%"}))  # fmt: skip
    finally:
        other.close()
    assert channel_id not in {c.id for c in connect_loa.settings.channels}
    summary = running.run_once()
    assert summary.counts()["published"] == 1, summary.counts()
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=10).json()
    assert state["facebook"]["pages"]["100000000000003"]["posts"]


def test_the_connect_button_says_which_variable_to_set(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, console_password_hash: str
) -> None:
    from tests.conftest import seed_console_users
    from tests.console_support import logged_in

    monkeypatch.delenv("LOA_FACEBOOK_APP_SECRET", raising=False)
    monkeypatch.setenv("LOA_ZALO_APP_SECRET", "zalo-secret")
    loa = Loa(load_settings(connect_config(tmp_path, sandbox.url)))
    loa.init()
    seed_console_users(loa.engine, console_password_hash)
    try:
        admin = logged_in(loa, "quantri")
        page = admin.get("/channels").text
        facebook = page[page.index('id="connect-facebook"'):page.index('id="connect-zalo"')]
        assert "LOA_FACEBOOK_APP_SECRET" in facebook and "disabled" in facebook
        assert 'action="/channels/connect/zalo"' in page
        # A hand-made request gets the same explanation, next to the button, nothing stored.
        refused = admin.post("/channels/connect/facebook", page="/channels")
        assert refused.status_code == 400 and "LOA_FACEBOOK_APP_SECRET" in refused.text
        editor = logged_in(loa, "bientap")
        assert editor.post("/channels/connect/zalo", page="/").status_code == 403
    finally:
        loa.close()


def test_a_fault_at_the_code_exchange_step_is_explained(connect_loa: Loa, sandbox: SandboxServer) -> None:
    started = connecting.start(connect_loa, "facebook", actor="quantri")
    back = consent(started.url)
    fault = {"platform": "facebook", "route": "GET /oauth/access_token", "times": 1, "status": 400,
             "error": {"code": 100, "error_subcode": 36007, "message": "This authorization code has expired."}}
    requests.post(f"{sandbox.url}/_sandbox/faults", json=fault, timeout=10).raise_for_status()
    with pytest.raises(InputError) as expired:
        connecting.callback(connect_loa, back, actor="quantri")
    assert expired.value.msgid == "error.connect_code_expired"
