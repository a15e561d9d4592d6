"""A person at the console, as the in-process ASGI client sees them."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from scheduler.web.app import create_app
from tests.conftest import CONSOLE_PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Person:
    """One browser: its own cookie jar, logging in through the real login form."""

    def __init__(self, loa: Any, *, base_url: str = "http://testserver") -> None:
        self.loa = loa
        self.http = TestClient(create_app(loa), base_url=base_url, follow_redirects=False)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.http.get(path, **kwargs)

    def token(self, path: str = "/") -> str:
        page = self.http.get(path, follow_redirects=True)
        match = TOKEN.search(page.text)
        assert match, f"no CSRF token on {path}: {page.status_code} {page.text[:300]}"
        return match.group(1)

    def login(self, username: str, password: str = CONSOLE_PASSWORD) -> Any:
        token = self.token("/login")
        return self.http.post(
            "/login", data={"username": username, "password": password, "csrf_token": token, "next": "/"}
        )

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, page: str = "/", token: str | None = None, **kwargs: Any
    ) -> Any:
        """Submit a form the way a browser would: with the CSRF token of the page it came from."""
        fields = dict(data or {})
        fields.setdefault("csrf_token", token if token is not None else self.token(page))
        return self.http.post(path, data=fields, **kwargs)

    @property
    def session_cookie(self) -> str | None:
        return self.http.cookies.get("loa_session")


def logged_in(loa: Any, username: str) -> Person:
    person = Person(loa)
    response = person.login(username)
    assert response.status_code == 303, response.text[:500]
    return person


def audit_actions(loa: Any) -> list[tuple[str, str, str | None]]:
    from sqlmodel import col, select

    from scheduler.models import AuditEvent
    from scheduler.store import session_scope

    with session_scope(loa.engine, read_only=True) as session:
        return [(e.actor, e.action, e.object) for e in session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))]


def errors_on(html: str) -> dict[str, str]:
    """Field → message of every error shown next to a field."""
    import html as html_lib

    return {m[1]: html_lib.unescape(m[2]) for m in re.finditer(r'id="err-([^"]+)" role="alert">([^<]*)<', html)}
