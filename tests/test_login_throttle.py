"""Login throttling under real concurrent guesses: over HTTP, many threads, on every backend.

The limit must hold however many guesses arrive at once: counting a try and deciding to
check its password is one atomic step, so no more passwords are checked than the limit.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlmodel import col, func, select

from scheduler.app import Loa
from scheduler.auth import THROTTLE_PER_USER_IP
from scheduler.config import load_settings
from scheduler.models import AuditEvent
from scheduler.serving import ThreadedServer
from scheduler.store import session_scope
from scheduler.web.app import create_app
from tests.conftest import CONSOLE_CHANNELS, CONSOLE_PASSWORD, seed_console_users, write_config

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
GUESSES = 40


@pytest.fixture
def served(tmp_path: Path, database_url: str, console_password_hash: str) -> Iterator[tuple[Loa, str]]:
    """A Loa with the console accounts, its web app listening on loopback."""
    path = write_config(tmp_path, channels=CONSOLE_CHANNELS, database_url=database_url)
    loa = Loa(load_settings(path))
    loa.init()
    seed_console_users(loa.engine, console_password_hash)
    try:
        with ThreadedServer(create_app(loa)) as server:
            yield loa, server.url
    finally:
        loa.close()


def _checked(loa: Loa, action: str) -> int:
    """How many passwords were verified and found wrong: each leaves one audit event."""
    with session_scope(loa.engine, read_only=True) as session:
        query = select(func.count()).select_from(AuditEvent).where(col(AuditEvent.action) == action)
        return int(session.exec(query).one())


def _all_at_once(count: int, attempt: Any) -> list[int]:
    """Run ``attempt(client)`` from ``count`` threads released together; their status codes."""
    ready = threading.Barrier(count)
    codes: list[int] = []
    guard = threading.Lock()

    def one() -> None:
        with requests.Session() as client:
            prepared = attempt(client)
            ready.wait()
            code = prepared()
        with guard:
            codes.append(code)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert len(codes) == count
    return codes


def test_concurrent_wrong_logins_check_no_more_passwords_than_the_limit(served: tuple[Loa, str]) -> None:
    loa, url = served

    def attempt(client: requests.Session) -> Any:
        token = TOKEN.search(client.get(f"{url}/login").text)
        assert token

        def send() -> int:
            form = {"username": "bientap", "password": "đoán sai mật khẩu", "csrf_token": token.group(1)}
            return client.post(f"{url}/login", data=form, allow_redirects=False, timeout=120).status_code

        return send

    codes = _all_at_once(GUESSES, attempt)
    assert _checked(loa, "auth.login_failed") <= THROTTLE_PER_USER_IP
    assert codes.count(400) <= THROTTLE_PER_USER_IP, codes
    assert codes.count(429) >= GUESSES - THROTTLE_PER_USER_IP
    # The right password is refused too while the address is throttled for this user.
    with requests.Session() as client:
        token = TOKEN.search(client.get(f"{url}/login").text)
        assert token
        form = {"username": "bientap", "password": CONSOLE_PASSWORD, "csrf_token": token.group(1)}
        assert client.post(f"{url}/login", data=form, allow_redirects=False, timeout=120).status_code == 429


def test_a_right_password_after_a_few_wrong_ones_still_logs_in(served: tuple[Loa, str]) -> None:
    """A reserved try that turns out right gives its place back: wrong tries before it do not pile up."""
    _, url = served
    with requests.Session() as client:
        for password in ["sai một lần nữa", "sai hai lần nữa", CONSOLE_PASSWORD]:
            token = TOKEN.search(client.get(f"{url}/login").text)
            assert token
            form = {"username": "duyet", "password": password, "csrf_token": token.group(1)}
            last = client.post(f"{url}/login", data=form, allow_redirects=False, timeout=120).status_code
        assert last == 303
    for _ in range(2):  # the failures of this user and address were cleared by the success
        with requests.Session() as client:
            token = TOKEN.search(client.get(f"{url}/login").text)
            assert token
            form = {"username": "duyet", "password": CONSOLE_PASSWORD, "csrf_token": token.group(1)}
            assert client.post(f"{url}/login", data=form, allow_redirects=False, timeout=120).status_code == 303


def test_concurrent_wrong_current_passwords_check_no_more_than_the_limit(served: tuple[Loa, str]) -> None:
    loa, url = served
    page = f"{url}/account/password"
    with requests.Session() as client:
        token = TOKEN.search(client.get(f"{url}/login").text)
        assert token
        form = {"username": "bientap", "password": CONSOLE_PASSWORD, "csrf_token": token.group(1)}
        assert client.post(f"{url}/login", data=form, allow_redirects=False, timeout=120).status_code == 303
        cookies = client.cookies.get_dict()
        form_token = TOKEN.search(client.get(page).text)
        assert form_token

    def attempt(client: requests.Session) -> Any:
        client.cookies.update(cookies)

        def send() -> int:
            form = {
                "current_password": "không phải mật khẩu",
                "new_password": "một mật khẩu mới 2027",
                "new_password2": "một mật khẩu mới 2027",
                "csrf_token": form_token.group(1),
            }
            return client.post(page, data=form, allow_redirects=False, timeout=120).status_code

        return send

    codes = _all_at_once(GUESSES, attempt)
    assert set(codes) == {400}
    assert _checked(loa, "auth.password_change_failed") <= THROTTLE_PER_USER_IP
