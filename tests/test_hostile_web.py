"""The console under careless and hostile requests: what it keeps, where it sends people."""

from __future__ import annotations

from sqlmodel import select

from scheduler.app import Loa
from scheduler.models import AuditEvent, LoginFailure
from scheduler.store import session_scope
from tests.console_support import Person, logged_in


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
