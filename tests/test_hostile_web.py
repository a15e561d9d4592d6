"""The console under careless and hostile requests: what it keeps, where it sends people."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import requests
from sqlmodel import select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import AuditEvent, LoginFailure
from scheduler.serving import ThreadedServer
from scheduler.store import session_scope
from scheduler.web.app import create_app
from tests.conftest import CONSOLE_CHANNELS, CONSOLE_PASSWORD, seed_console_users, write_config
from tests.console_support import Person, logged_in

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _stored_text(loa: Loa) -> str:
    with session_scope(loa.engine, read_only=True) as session:
        events = [f"{e.actor} {e.action} {e.object} {e.details}" for e in session.exec(select(AuditEvent))]
        failures = [f"{f.username} {f.ip}" for f in session.exec(select(LoginFailure))]
    return "\n".join(events + failures)


def test_a_password_typed_as_the_username_is_not_kept_in_clear(console_loa: Loa) -> None:
    person = Person(console_loa)
    typed = "Mật khẩu bí mật 2026"
    refused = person.login(typed, "")
    assert refused.status_code == 400
    stored = _stored_text(console_loa)
    assert "auth.login_failed" in stored
    assert typed.lower() not in stored and "bí mật" not in stored
    # A known account is still named, so an admin can see who is being guessed at.
    assert person.login("bientap", "sai mật khẩu rồi").status_code == 400
    assert "user:bientap" in _stored_text(console_loa)


def test_trailing_slash_redirects_never_name_the_host_the_client_sent(console_loa: Loa) -> None:
    person = logged_in(console_loa, "bientap")
    for path, target in [("/queue/", "/queue"), ("/login/", "/login"), ("/healthz/?a=1", "/healthz?a=1")]:
        response = person.get(path, headers={"host": "evil.example"})
        assert response.status_code in {307, 308}, path
        assert response.headers["location"] == target
    # A doubled slash would be a protocol-relative address to another site: not redirected at all.
    sneaky = person.get("//evil.example/", headers={"host": "evil.example"})
    assert "evil.example" not in sneaky.headers.get("location", "")


def test_logout_with_a_stale_token_ends_on_a_page_that_says_so(console_loa: Loa) -> None:
    person = logged_in(console_loa, "bientap")
    response = person.post("/logout", token="cũ rồi", headers={"referer": "http://testserver/queue"})
    assert response.status_code == 303
    landing = person.get(response.headers["location"])
    assert landing.status_code == 200, landing.status_code
    assert "Thao tác chưa được thực hiện vì trang đã cũ" in landing.text
    # Without a Referer the person lands on the dashboard, never on a bare 405.
    bare = person.post("/logout", token="cũ rồi")
    assert bare.status_code == 303
    assert person.get(bare.headers["location"]).status_code == 200


def _serve(tmp_path: Path, password_hash: str, *, extra: str = "") -> tuple[Loa, ThreadedServer]:
    path = write_config(tmp_path, channels=CONSOLE_CHANNELS, extra=extra)
    loa = Loa(load_settings(path))
    loa.init()
    seed_console_users(loa.engine, password_hash)
    return loa, ThreadedServer(create_app(loa))


def _sign_in(client: requests.Session, url: str, username: str) -> None:
    token = TOKEN.search(client.get(f"{url}/login").text)
    assert token
    form = {"username": username, "password": CONSOLE_PASSWORD, "csrf_token": token.group(1)}
    assert client.post(f"{url}/login", data=form, allow_redirects=False).status_code == 303


def test_forwarded_headers_from_an_untrusted_peer_are_told_once_and_shown_to_admins(
    tmp_path: Path, console_password_hash: str, caplog: pytest.LogCaptureFixture
) -> None:
    loa, server = _serve(tmp_path, console_password_hash)
    try:
        with server, caplog.at_level(logging.WARNING, logger="loa.web"):
            url = server.url
            with requests.Session() as plain:
                _sign_in(plain, url, "quantri")
                assert "web.trusted_proxies" not in plain.get(f"{url}/").text, "no header yet: nothing to say"
            for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
                requests.get(f"{url}/healthz", headers={header: "203.0.113.7"}, timeout=10)
            said = [r for r in caplog.records if "web.trusted_proxies" in r.getMessage()]
            assert len(said) == 1, "said once, not per request"
            assert "127.0.0.1" in said[0].getMessage() and "x-forwarded-for" in said[0].getMessage()
            with requests.Session() as admin:
                _sign_in(admin, url, "quantri")
                assert "web.trusted_proxies" in admin.get(f"{url}/").text
            with requests.Session() as editor:
                _sign_in(editor, url, "bientap")
                assert "web.trusted_proxies" not in editor.get(f"{url}/").text
    finally:
        loa.close()


def test_forwarded_headers_from_a_trusted_proxy_are_not_a_warning(
    tmp_path: Path, console_password_hash: str, caplog: pytest.LogCaptureFixture
) -> None:
    loa, server = _serve(tmp_path, console_password_hash, extra='[web]\ntrusted_proxies = ["127.0.0.1"]\n')
    try:
        with server, caplog.at_level(logging.WARNING, logger="loa.web"):
            requests.get(f"{server.url}/healthz", headers={"X-Forwarded-For": "203.0.113.7"}, timeout=10)
        assert not [r for r in caplog.records if "web.trusted_proxies" in r.getMessage()]
    finally:
        loa.close()
