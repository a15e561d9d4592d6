"""Own password changes and the admin's account tools (password reset, staff link) in the console."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from scheduler.app import Loa
from scheduler.models import Staff, User, UserSession
from scheduler.store import session_scope
from tests.conftest import CONSOLE_PASSWORD
from tests.console_support import Person, audit_actions, errors_on, logged_in

NEW_PASSWORD = "một mật khẩu mới 2027"
PAGE = "/account/password"


def change(person: Person, current: str, new: str, again: str | None = None, **kwargs: Any) -> Any:
    data = {"current_password": current, "new_password": new, "new_password2": new if again is None else again}
    return person.post(PAGE, data, page=PAGE, **kwargs)


def sessions_of(loa: Loa, username: str) -> int:
    with session_scope(loa.engine, read_only=True) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return len(list(session.exec(select(UserSession).where(UserSession.user_id == user.id))))


def staff_id_of(loa: Loa, username: str) -> int | None:
    with session_scope(loa.engine, read_only=True) as session:
        return session.exec(select(User).where(User.username == username)).one().staff_id


def test_every_role_sees_the_page_and_its_header_link(console_loa: Loa) -> None:
    for username in ("quantri", "bientap", "duyet", "canbo"):
        person = logged_in(console_loa, username)
        assert 'href="/account/password"' in person.get("/").text
        page = person.get(PAGE)
        assert page.status_code == 200 and 'name="current_password"' in page.text
    assert Person(console_loa).get(PAGE).status_code == 303  # anonymous: to the login page


def test_wrong_current_password_mismatch_and_too_short_are_refused(console_loa: Loa) -> None:
    person = logged_in(console_loa, "bientap")
    wrong = change(person, "không phải mật khẩu", NEW_PASSWORD)
    assert wrong.status_code == 400
    assert errors_on(wrong.text) == {"current_password": "Mật khẩu hiện tại không đúng."}
    assert NEW_PASSWORD not in wrong.text and "không phải mật khẩu" not in wrong.text
    mismatch = change(person, CONSOLE_PASSWORD, NEW_PASSWORD, "một mật khẩu khác 2027")
    assert errors_on(mismatch.text) == {"new_password2": "Hai lần nhập mật khẩu không khớp."}
    short = change(person, CONSOLE_PASSWORD, "ngắn")
    assert "cần ít nhất 10" in errors_on(short.text)["new_password"]
    typed = {"current_password": CONSOLE_PASSWORD, "new_password": "short", "new_password2": "short"}
    english = person.post(PAGE + "?lang=en", typed, page=PAGE)
    assert "at least 10 are needed" in errors_on(english.text)["new_password"]
    assert CONSOLE_PASSWORD not in short.text
    assert Person(console_loa).login("bientap").status_code == 303, "the old password still works"
    assert ("bientap", "auth.password_change_failed", "user:bientap") in audit_actions(console_loa)
    assert not any(a == "auth.password_change" for _, a, _ in audit_actions(console_loa))


def test_success_ends_other_sessions_and_renews_this_one(console_loa: Loa) -> None:
    person = logged_in(console_loa, "canbo")  # a staff account changes its own password
    other = logged_in(console_loa, "canbo")
    before = person.session_cookie
    assert sessions_of(console_loa, "canbo") == 2
    done = change(person, CONSOLE_PASSWORD, NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["location"].startswith(PAGE)
    assert person.session_cookie and person.session_cookie != before
    assert person.get(PAGE).status_code == 200, "this browser stays signed in, under a new session id"
    assert other.get("/").status_code == 303, "the other browser is signed out"
    assert sessions_of(console_loa, "canbo") == 1
    assert Person(console_loa).login("canbo").status_code != 303
    assert Person(console_loa).login("canbo", NEW_PASSWORD).status_code == 303
    assert ("canbo", "auth.password_change", "user:canbo") in audit_actions(console_loa)


def test_csrf_token_is_required(console_loa: Loa) -> None:
    person = logged_in(console_loa, "duyet")
    for token in ("", "sai"):
        refused = change(person, CONSOLE_PASSWORD, NEW_PASSWORD, token=token)
        assert refused.status_code == 303 and "stale=1" in refused.headers["location"]
    assert Person(console_loa).login("duyet").status_code == 303, "the password is unchanged"
    assert not any(a == "auth.password_change" for _, a, _ in audit_actions(console_loa))


def test_admin_resets_another_users_password(console_loa: Loa) -> None:
    admin = logged_in(console_loa, "quantri")
    editor = logged_in(console_loa, "bientap")
    mismatch = admin.post("/users/bientap/password", {"password": NEW_PASSWORD, "password2": "x"}, page="/users")
    assert mismatch.status_code == 400 and "reset-password2-bientap" in errors_on(mismatch.text)
    short = admin.post("/users/bientap/password", {"password": "ngắn", "password2": "ngắn"}, page="/users")
    assert short.status_code == 400 and "cần ít nhất 10" in errors_on(short.text)["reset-password-bientap"]
    assert 'value="ngắn"' not in short.text
    own = admin.post("/users/quantri/password", {"password": NEW_PASSWORD, "password2": NEW_PASSWORD}, page="/users")
    assert own.status_code == 400
    done = admin.post("/users/bientap/password", {"password": NEW_PASSWORD, "password2": NEW_PASSWORD}, page="/users")
    assert done.status_code == 303
    assert NEW_PASSWORD not in admin.get(done.headers["location"]).text
    assert editor.get("/").status_code == 303, "the user's sessions end"
    assert Person(console_loa).login("bientap", NEW_PASSWORD).status_code == 303
    assert ("quantri", "user.password", "user:bientap") in audit_actions(console_loa)


def test_admin_links_and_unlinks_staff(console_loa: Loa) -> None:
    pytest.importorskip("scheduler.sharing.service", reason="the staff-sharing room is not in this tree")
    with session_scope(console_loa.engine, read_only=True) as session:
        lan = session.exec(select(Staff)).one().id
    admin = logged_in(console_loa, "quantri")
    assert "Nguyễn Thị Lan" in admin.get("/users").text
    assert admin.post("/users/duyet/staff", {"staff": str(lan)}, page="/users").status_code == 303
    assert staff_id_of(console_loa, "duyet") == lan
    assert admin.post("/users/canbo/staff", {"staff": ""}, page="/users").status_code == 303
    assert staff_id_of(console_loa, "canbo") is None
    unknown = admin.post("/users/canbo/staff", {"staff": "999"}, page="/users")
    assert unknown.status_code == 400 and staff_id_of(console_loa, "canbo") is None
    actions = audit_actions(console_loa)
    assert ("quantri", "user.staff_link", "user:duyet") in actions
    assert ("quantri", "user.staff_unlink", "user:canbo") in actions


def test_only_admin_may_reset_or_link(console_loa: Loa) -> None:
    for username in ("bientap", "duyet", "canbo"):
        person = logged_in(console_loa, username)
        reset = person.post("/users/bientap2/password", {"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
        assert reset.status_code == 403
        assert person.post("/users/bientap2/staff", {"staff": ""}).status_code == 403
    assert Person(console_loa).login("bientap2").status_code == 303
    assert staff_id_of(console_loa, "canbo") is not None
    forbidden = [o for a, act, o in audit_actions(console_loa) if act == "auth.forbidden"]
    assert "POST /users/bientap2/password" in forbidden
