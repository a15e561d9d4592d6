"""The console's JSON API: bearer tokens and sessions, roles, CSRF, shapes, the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.app import Loa
from scheduler.auth import new_api_token
from tests.console_support import Person, audit_actions, logged_in

VARS = {"hoat_dong": "ra quân tuyên truyền", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}


class Api:
    """Calls with one user's bearer token."""

    def __init__(self, loa: Loa, username: str) -> None:
        self.http = Person(loa).http
        self.headers = {"authorization": f"Bearer {new_api_token(loa.engine, username, actor='test')}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.http.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.http.post(path, json=body if body is not None else {}, headers=self.headers, **kwargs)


def new_post(**changes: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    return {
        "template": "thang-van-dong",
        "channels": ["fb-bhxh-nghean", "zalo-bhxh-nghean"],
        "variables": VARS,
        "at": at,
        **changes,
    }


def served_api_routes(loa: Loa) -> set[tuple[str, str]]:
    """(path, method) of every route the web app answers under /api, as the document spells paths."""
    from starlette.routing import Mount, Route

    from scheduler.web.app import create_app

    served: set[tuple[str, str]] = set()
    for route in create_app(loa).routes:
        if isinstance(route, Mount) and route.path == "/api":
            inner = [(f"/api{r.path_format}", r.methods) for r in route.routes if isinstance(r, Route)]
            assert len(inner) == len(route.routes), "the API serves something that is not a plain route"
        elif isinstance(route, Route | Mount) and route.path.startswith("/api"):
            raise AssertionError(f"{route.path} is served beside the API app, not by it")
        else:
            continue
        served |= {(path, m) for path, methods in inner for m in (methods or set()) if m != "HEAD"}
    return served


def test_openapi_lists_every_api_route(console_loa: Loa) -> None:
    response = Person(console_loa).get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    assert served_api_routes(console_loa) == documented
    for required in (
        "/api/posts",
        "/api/posts/{post_id}",
        "/api/posts/{post_id}/approve",
        "/api/posts/{post_id}/cancel",
        "/api/reports/shares",
    ):
        assert required in document["paths"]
    assert set(document["components"]["securitySchemes"]) == {"bearer", "session", "csrf"}


def test_head_answers_as_get_without_a_body(console_loa: Loa) -> None:
    editor = Api(console_loa, "bientap")
    head = editor.http.head("/api/posts", headers=editor.headers)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "application/json"
    assert head.headers["x-content-type-options"] == "nosniff"
    assert editor.http.head("/api/posts").status_code == 401


def test_no_or_bad_credentials_are_401(console_loa: Loa) -> None:
    http = Person(console_loa).http
    plain = http.get("/api/posts")
    assert plain.status_code == 401 and plain.json()["error"]["message"]
    assert plain.headers["www-authenticate"].startswith("Bearer")
    assert (
        plain.headers["x-content-type-options"] == "nosniff"
        and "frame-ancestors 'none'" in plain.headers["content-security-policy"]
    )
    assert http.get("/api/posts", headers={"authorization": "Bearer loa_not-a-real-token"}).status_code == 401
    assert http.get("/api/posts", headers={"authorization": "Basic cXVhbnRyaTp4"}).status_code == 401


def test_post_add_through_the_api_has_the_clis_fields_and_shape(console_loa: Loa) -> None:
    editor = Api(console_loa, "bientap")
    created = editor.post("/api/posts", new_post(campaign="thang-van-dong-2026"))
    assert created.status_code == 201, created.text
    post = created.json()
    assert created.headers["location"] == f"/api/posts/{post['id']}"
    # The shape of `loa post show --json`, and what is worth knowing though not refused.
    assert post.pop("warnings") == []
    assert post == console_loa.posts.show(post["id"])
    assert {p["channel"]: p["status"] for p in post["publications"]} == {
        "fb-bhxh-nghean": "pending_approval",
        "zalo-bhxh-nghean": "scheduled",
    }
    assert post["created_by"] == "bientap" and post["campaign"] == "thang-van-dong-2026"
    for key in ("id", "status", "scheduled_at", "text", "campaign", "publications"):
        assert key in post
    assert set(post["publications"][0]) >= {
        "id",
        "channel",
        "platform",
        "status",
        "remote_id",
        "permalink",
        "published_at",
        "error",
        "metrics",
    }
    as_cli = editor.post(
        "/api/posts",
        {
            "template": "thang-van-dong",
            "channel": "zalo-bhxh-nghean",
            "now": True,
            "var": [f"{k}={v}" for k, v in VARS.items()],
        },
    )
    assert as_cli.status_code == 201 and as_cli.json()["publications"][0]["status"] == "scheduled"
    listed = editor.get("/api/posts").json()["posts"]
    assert [p["id"] for p in listed] == [post["id"], as_cli.json()["id"]]  # latest scheduled time first
    assert [p["id"] for p in editor.get("/api/posts?status=pending_approval").json()["posts"]] == [post["id"]]
    assert editor.get(f"/api/posts/{post['id']}").json() == post
    assert editor.get("/api/posts/999").status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"at": "2020-01-01T08:00"}, "at", "đã qua"),
        ({"at": "hôm qua"}, "at", "Không đọc được thời gian"),
        ({"now": True}, "at", "đúng một trong at và now"),
        ({"channels": []}, "channels", "Chưa chọn kênh nào"),
        ({"channels": ["fb-khong-co"]}, "channel", "Không có kênh «fb-khong-co»"),
        ({"template": "khong-co"}, "template", "Không có mẫu tin «khong-co»"),
        ({"variables": {"hoat_dong": "x", "dia_diem": "y"}}, "ngay", "cần biến «ngay»"),
        ({"campaign": "khong-co"}, "campaign", "Không có chiến dịch"),
        ({"link": "ftp://x"}, "link", "không phải địa chỉ http(s)"),
        ({"colour": "đỏ"}, "colour", "Không có trường"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_stores_nothing(
    console_loa: Loa, change: dict[str, Any], field: str, words: str
) -> None:
    editor = Api(console_loa, "bientap")
    body = new_post(**change)
    if change.get("now"):
        body["now"] = True
    refused = editor.post("/api/posts", body)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["field"] == field and words in error["message"]
    assert editor.get("/api/posts").json()["posts"] == []


def test_roles_are_enforced_and_refusals_logged(console_loa: Loa) -> None:
    staff = Api(console_loa, "canbo")
    assert staff.get("/api/posts").status_code == 403
    assert staff.post("/api/posts", new_post()).status_code == 403
    editor = Api(console_loa, "bientap")
    post_id = editor.post("/api/posts", new_post()).json()["id"]
    assert staff.post(f"/api/posts/{post_id}/approve").status_code == 403
    assert staff.get("/api/reports/shares?from=2026-05-01&to=2026-05-31").status_code == 403
    # The author cannot approve their own post, whatever their role.
    assert editor.post(f"/api/posts/{post_id}/approve").status_code == 403
    other_editor = Api(console_loa, "bientap2")
    assert other_editor.post(f"/api/posts/{post_id}/cancel").status_code == 403
    statuses = {p["channel"]: p["status"] for p in console_loa.posts.show(post_id)["publications"]}
    assert statuses == {"fb-bhxh-nghean": "pending_approval", "zalo-bhxh-nghean": "scheduled"}
    refusals = [(actor, obj) for actor, action, obj in audit_actions(console_loa) if action == "auth.forbidden"]
    assert ("canbo", "GET /api/posts") in refusals and ("canbo", "POST /api/posts") in refusals
    assert ("canbo", f"POST /api/posts/{post_id}/approve") in refusals
    assert ("bientap2", f"post:{post_id}") in refusals
    approver = Api(console_loa, "duyet")
    approved = approver.post(f"/api/posts/{post_id}/approve")
    assert approved.status_code == 200 and approved.json()["publications"][0]["status"] == "scheduled"
    assert approver.post(f"/api/posts/{post_id}/approve").status_code == 409  # nothing waits any more
    assert approver.post(f"/api/posts/{post_id}/cancel").status_code == 403
    cancelled = editor.post(f"/api/posts/{post_id}/cancel")
    assert cancelled.status_code == 200 and {p["status"] for p in cancelled.json()["publications"]} == {"cancelled"}
    assert editor.post(f"/api/posts/{post_id}/cancel").status_code == 409


def test_session_calls_need_the_csrf_header_on_post(console_loa: Loa) -> None:
    person = logged_in(console_loa, "bientap")
    assert person.http.get("/api/posts").status_code == 200
    without = person.http.post("/api/posts", json=new_post())
    assert without.status_code == 403 and "X-CSRF-Token" in without.json()["error"]["message"]
    assert person.http.get("/api/posts").json()["posts"] == []
    token = person.token("/compose")
    with_header = person.http.post("/api/posts", json=new_post(), headers={"X-CSRF-Token": token})
    assert with_header.status_code == 201
    form_encoded = Api(console_loa, "bientap").http.post(
        "/api/posts",
        data={"template": "x"},
        headers={"authorization": Api(console_loa, "bientap").headers["authorization"]},
    )
    assert form_encoded.status_code == 415


def test_a_disabled_users_token_stops_working(console_loa: Loa) -> None:
    from scheduler.auth import disable_user

    editor = Api(console_loa, "bientap")
    assert editor.get("/api/posts").status_code == 200
    disable_user(console_loa.engine, "bientap", actor="test")
    assert editor.get("/api/posts").status_code == 401


def test_share_report_matches_the_cli(
    console_loa: Loa, console_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("scheduler.reports.queries", reason="the reports room is not in this tree")
    from tests.conftest import cli_for

    approver = Api(console_loa, "duyet")
    response = approver.get("/api/reports/shares?from=2026-05-01&to=2026-05-31&by=unit")
    assert response.status_code == 200, response.text
    cli = cli_for(console_config, capsys)(
        "report", "shares", "--from", "2026-05-01", "--to", "2026-05-31", "--by", "unit", "--format", "json"
    )
    assert cli.code == 0, cli.stderr
    assert response.json() == cli.json()
    bad = approver.get("/api/reports/shares?from=2026-05-31&to=2026-05-01")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "from"
    assert approver.get("/api/reports/shares?to=2026-05-01").json()["error"]["field"] == "from"


def test_refusals_speak_the_callers_language_and_carry_the_message_id(console_loa: Loa) -> None:
    editor = Api(console_loa, "bientap")
    past = new_post(at="2020-01-01T08:00")
    vietnamese = editor.post("/api/posts", past).json()["error"]
    assert vietnamese["message"].startswith("Thời điểm") and vietnamese["id"] == "error.time_in_past"
    by_query = editor.post("/api/posts?lang=en", past).json()["error"]
    assert by_query["message"].startswith("the time") and "is in the past" in by_query["message"]
    assert by_query["hint"] == "give a future time, or --now to publish at once"
    assert by_query["id"] == vietnamese["id"] and by_query["field"] == "at"
    by_header = editor.http.post(
        "/api/posts", json=past, headers={**editor.headers, "accept-language": "en-US,en;q=0.9"}
    ).json()["error"]
    assert by_header["message"] == by_query["message"]
    # The console's language switch (its cookie) counts, and ?lang= wins over it.
    editor.http.cookies.set("loa_lang", "en")
    assert editor.get("/api/posts/999").json()["error"]["message"] == "there is no post 999"
    assert editor.get("/api/posts/999?lang=vi").json()["error"]["message"] == "Không có bài #999"
    # pydantic's own refusals are worded from their type, in the reader's language.
    limit = editor.get("/api/posts?limit=many&lang=en").json()["error"]
    assert limit["field"] == "limit" and "whole number" in limit["message"]
