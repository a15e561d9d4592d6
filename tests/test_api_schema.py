"""Real answers of the API, over real HTTP, checked against the OpenAPI document it serves.

Every documented operation is called for success and for its refusals, with a real SQLite
file and the sandbox publishing on loopback; each JSON body must match the schema the
document gives for that path, method and status, with no field the schema does not name.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator, ValidationError

from scheduler.app import Loa
from scheduler.auth import new_api_token
from scheduler.config import load_settings
from scheduler.publishing.dispatcher import Dispatcher
from scheduler.serving import ThreadedServer
from scheduler.web.api import MAX_BODY
from scheduler.web.app import create_app
from tests.conftest import CONSOLE_CHANNELS, CONSOLE_PASSWORD, free_port, seed_console_users, write_config
from tests.console_support import TOKEN

VARS = {"hoat_dong": "ra quân tuyên truyền", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}
CHANNELS = ["fb-bhxh-nghean", "zalo-bhxh-nghean"]


def schema_for(document: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    """The JSON schema of one answer, resolvable on its own (the components travel with it)."""
    operation = document["paths"][path][method.lower()]
    responses = operation["responses"]
    answer = responses.get(str(status)) or responses.get(f"{status // 100}XX") or responses.get("default")
    assert answer is not None, f"{method} {path} answered {status}, which the document does not declare"
    schema = answer["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


def check(document: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    validator = Draft202012Validator(
        schema_for(document, path, method, status), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(body)


def template_of(document: dict[str, Any], path: str) -> str | None:
    """The documented path a concrete path is an instance of."""
    for template in document["paths"]:
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
            return template
    return None


@dataclass
class Served:
    loa: Loa
    url: str
    document: dict[str, Any] = field(default_factory=dict)
    # (documented path, method) → statuses seen, every one checked against the document.
    seen: dict[tuple[str, str], set[int]] = field(default_factory=dict)

    def client(self, username: str | None = None, **headers: str) -> Client:
        if username:
            headers["authorization"] = f"Bearer {new_api_token(self.loa.engine, username, actor='test')}"
        return Client(self, headers)


class Client:
    """One caller: each answer is checked against the document before the test sees it."""

    def __init__(self, served: Served, headers: dict[str, str]) -> None:
        self.served = served
        self.http = requests.Session()
        self.http.headers.update(headers)

    def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        response = self.http.request(method, self.served.url + path, timeout=10, allow_redirects=False, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text[:500]}"
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["x-content-type-options"] == "nosniff"
        document = self.served.document
        template = template_of(document, path.partition("?")[0])
        if template is None or method.lower() not in document["paths"][template]:  # no such route: still an Error
            Draft202012Validator({"$ref": "#/components/schemas/Error", **document}).validate(response.json())
        else:
            check(document, template, method, response.status_code, response.json())
            self.served.seen.setdefault((template, method), set()).add(response.status_code)
        return response

    def get(self, path: str, expect: int = 200, **kwargs: Any) -> Any:
        return self.call("GET", path, expect, **kwargs)

    def post(self, path: str, body: Any = None, expect: int = 200, **kwargs: Any) -> Any:
        if "data" not in kwargs and "json" not in kwargs:
            kwargs["json"] = {} if body is None else body
        return self.call("POST", path, expect, **kwargs)


@pytest.fixture
def served(tmp_path: Path, sandbox: Any, console_password_hash: str) -> Iterator[Served]:
    """`loa run`'s web app on loopback, with the sandbox behind its channels and the console's accounts."""
    port = free_port()
    config = write_config(
        tmp_path, sandbox_url=sandbox.url, public_url=f"http://127.0.0.1:{port}", channels=CONSOLE_CHANNELS
    )
    loa = Loa(load_settings(config))
    loa.init()
    seed_console_users(loa.engine, console_password_hash)
    with ThreadedServer(create_app(loa), port=port):
        served = Served(loa, f"http://127.0.0.1:{port}")
        served.document = requests.get(f"{served.url}/api/openapi.json", timeout=10).json()
        yield served
    loa.close()


def new_post(**changes: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    return {"template": "thang-van-dong", "channels": CHANNELS, "variables": VARS, "at": at, **changes}


def publish_due(loa: Loa) -> None:
    Dispatcher(loa.settings, loa.engine, loa.vault, one_shot=True).run_once()


def test_the_document_is_valid_openapi_3_1(served: Served) -> None:
    from openapi_spec_validator import validate

    response = requests.get(f"{served.url}/api/openapi.json", timeout=10)
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("cache-control", "")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    validate(document)
    assert document["servers"] == [{"url": served.url}]
    head = requests.head(f"{served.url}/api/openapi.json", timeout=10)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 1000
    # FastAPI's own 422 is never sent: a bad input is a 400 naming the field.
    assert "422" not in json.dumps({p: list(i) for p, i in document["paths"].items()})
    for item in document["paths"].values():
        for operation in item.values():
            assert "422" not in operation["responses"]
    # No interactive pages: they would load scripts from a CDN, which the CSP forbids.
    for path in ("/api/docs", "/api/redoc", "/docs", "/redoc"):
        assert requests.get(served.url + path, timeout=10).status_code == 404


def test_every_operation_answers_as_documented(served: Served) -> None:
    loa = served.loa
    anonymous, staff = served.client(), served.client("canbo")
    editor, other_editor = served.client("bientap"), served.client("bientap2")
    approver, admin = served.client("duyet"), served.client("quantri")

    # -- GET /api/posts
    assert editor.get("/api/posts").json() == {"posts": []}
    anonymous.get("/api/posts", expect=401)
    staff.get("/api/posts", expect=403)
    for bad in ("limit=0", "limit=abc", "limit=1001", "status=bogus", "channel=fb-khong-co", "campaign=khong-co"):
        field_name = bad.partition("=")[0]
        assert editor.get(f"/api/posts?{bad}", expect=400).json()["error"]["field"] == field_name

    # -- POST /api/posts
    created = editor.post("/api/posts", new_post(campaign="thang-van-dong-2026"), expect=201)
    post_id = created.json()["id"]
    assert created.headers["location"] == f"/api/posts/{post_id}"
    now_post = editor.post(
        "/api/posts",
        {
            "template": "thang-van-dong",
            "channel": CHANNELS[1],
            "now": True,
            "var": [f"{k}={v}" for k, v in VARS.items()],
        },
        expect=201,
    )
    editor.post("/api/posts", new_post(draft=True, cover="default"), expect=201)
    anonymous.post("/api/posts", new_post(), expect=401)
    staff.post("/api/posts", new_post(), expect=403)
    for change, field_name in [
        ({"colour": "đỏ"}, "colour"),
        ({"template": 7}, "template"),
        ({"template": "  "}, "template"),
        ({"channels": "fb-khong-co"}, "channel"),
        ({"channels": [1]}, "channels"),
        ({"variables": {"ngay": True}}, "ngay"),
        ({"var": ["khong-bang"]}, "var"),
        ({"now": "yes"}, "now"),
        ({"at": None}, "at"),
        ({"at": "hôm qua"}, "at"),
        ({"link": "ftp://x"}, "link"),
    ]:
        refused = editor.post("/api/posts", new_post(**change), expect=400)
        assert refused.json()["error"]["field"] == field_name, (change, refused.json())
    editor.post("/api/posts", expect=400, data="{not json", headers={"content-type": "application/json"})
    editor.post("/api/posts", expect=400, data="[1, 2]", headers={"content-type": "application/json"})
    editor.post("/api/posts", expect=415, data={"template": "x"})
    too_big = json.dumps(new_post(variables={**VARS, "thua": "x" * MAX_BODY}))
    editor.post("/api/posts", expect=413, data=too_big, headers={"content-type": "application/json"})
    assert len(editor.get("/api/posts").json()["posts"]) == 3  # nothing refused was stored

    # -- GET /api/posts/{post_id}
    assert editor.get(f"/api/posts/{post_id}").json() == loa.posts.show(post_id)
    editor.get("/api/posts/999", expect=404)
    editor.get("/api/posts/0", expect=400)
    editor.get(f"/api/posts/{2**63}", expect=400)
    editor.get("/api/posts/abc", expect=404)  # not a post id: no such route
    anonymous.get(f"/api/posts/{post_id}", expect=401)
    staff.get(f"/api/posts/{post_id}", expect=403)

    # -- POST /api/posts/{post_id}/approve
    anonymous.post(f"/api/posts/{post_id}/approve", expect=401)
    staff.post(f"/api/posts/{post_id}/approve", expect=403)
    editor.post(f"/api/posts/{post_id}/approve", expect=403)  # neither the editor's role nor the author
    approver.post("/api/posts/999/approve", expect=404)
    approver.post(f"/api/posts/{post_id}/approve", {"channels": "fb-bhxh-nghean"}, expect=400)
    approver.post(f"/api/posts/{post_id}/approve", expect=415, data="x", headers={"content-type": "text/plain"})
    approver.post(
        f"/api/posts/{post_id}/approve",
        expect=413,
        headers={"content-type": "application/json"},
        data="[" * (MAX_BODY + 1),
    )
    approved = approver.post(f"/api/posts/{post_id}/approve", {"channels": ["fb-bhxh-nghean"]}).json()
    assert {p["status"] for p in approved["publications"]} == {"scheduled"}
    approver.post(f"/api/posts/{post_id}/approve", expect=409)

    # A published post: remote ids, permalinks and times filled in, checked the same way.
    publish_due(loa)
    published = editor.get(f"/api/posts/{now_post.json()['id']}").json()
    assert [p["status"] for p in published["publications"]] == ["published"], published
    assert published["publications"][0]["published_at"] and published["publications"][0]["remote_id"]

    # -- POST /api/posts/{post_id}/cancel
    anonymous.post(f"/api/posts/{post_id}/cancel", expect=401)
    staff.post(f"/api/posts/{post_id}/cancel", expect=403)
    other_editor.post(f"/api/posts/{post_id}/cancel", expect=403)
    admin.post("/api/posts/999/cancel", expect=404)
    admin.post(f"/api/posts/{post_id}/cancel", expect=400, data="{", headers={"content-type": "application/json"})
    admin.post(f"/api/posts/{post_id}/cancel", expect=415, data={"x": "y"})
    admin.post(f"/api/posts/{post_id}/cancel", expect=413, json={"x": "y" * MAX_BODY})
    cancelled = editor.post(f"/api/posts/{post_id}/cancel").json()
    assert {p["status"] for p in cancelled["publications"]} == {"cancelled"}
    editor.post(f"/api/posts/{post_id}/cancel", expect=409)
    editor.post(f"/api/posts/{now_post.json()['id']}/cancel", expect=409)  # already out

    # -- GET /api/reports/shares
    for by in ("staff", "unit", "campaign", "channel", "day", "Unit"):
        report = approver.get(f"/api/reports/shares?from=2026-05-01&to=2026-05-03&by={by}").json()
        assert report["rows"], by
    anonymous.get("/api/reports/shares?from=2026-05-01&to=2026-05-31", expect=401)
    staff.get("/api/reports/shares?from=2026-05-01&to=2026-05-31", expect=403)
    for bad, field_name in [
        ("to=2026-05-31", "from"),
        ("from=2026-05-01", "to"),
        ("from=2026-05-31&to=2026-05-01", "from"),
        ("from=hôm-qua&to=2026-05-01", "from"),
        ("from=2026-05-01&to=2026-05-31&by=tinh", "by"),
    ]:
        assert approver.get(f"/api/reports/shares?{bad}", expect=400).json()["error"]["field"] == field_name
    # Every heavy slot taken (others' charts and spreadsheets): after a short wait, "try again".
    with ExitStack() as taken:
        for _ in range(loa.heavy.slots):
            taken.enter_context(loa.heavy.slot())
        busy = approver.get("/api/reports/shares?from=2026-05-01&to=2026-05-31", expect=503)
    assert int(busy.headers["retry-after"]) >= 1

    # -- POST /api/media, GET /api/media
    import io

    from PIL import Image

    picture = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 120, 200)).save(picture, "JPEG")
    photo = ("anh.jpg", picture.getvalue(), "image/jpeg")
    stored = editor.post("/api/media", expect=201, files={"file": photo}, data={"alt": "Ảnh hội nghị"}).json()
    (item,) = stored["media"]
    assert item["kind"] == "photo" and item["alt"] == "Ảnh hội nghị"
    assert approver.get("/api/media").json()["media"] == stored["media"]
    assert editor.get("/api/media?limit=0", expect=400).json()["error"]["field"] == "limit"
    anonymous.get("/api/media", expect=401)
    staff.get("/api/media", expect=403)
    anonymous.post("/api/media", expect=401, files={"file": photo})
    staff.post("/api/media", expect=403, files={"file": photo})
    fake = ("anh2.jpg", b"<html>not a photo</html>", "image/jpeg")
    assert "anh2.jpg" in editor.post("/api/media", expect=400, files={"file": fake}).json()["error"]["message"]
    editor.post("/api/media", expect=415, json={"file": "x"})
    # Sent without a length (chunked): refused before a byte is read.
    editor.post(
        "/api/media", expect=413, data=iter([b"x"]), headers={"content-type": "multipart/form-data; boundary=x"}
    )

    # -- PATCH /api/posts/{post_id}
    draft = editor.post("/api/posts", new_post(draft=True), expect=201).json()
    edited = editor.call(
        "PATCH", f"/api/posts/{draft['id']}", 200, json={"text": "Nội dung mới", "media": [item["id"]]}
    ).json()
    assert {p["text"] for p in edited["publications"]} == {"Nội dung mới"} and edited["media"][0]["id"] == item["id"]
    anonymous.call("PATCH", f"/api/posts/{draft['id']}", 401, json={"text": "x"})
    staff.call("PATCH", f"/api/posts/{draft['id']}", 403, json={"text": "x"})
    other_editor.call("PATCH", f"/api/posts/{draft['id']}", 403, json={"text": "x"})
    admin.call("PATCH", "/api/posts/999", 404, json={"text": "x"})
    editor.call("PATCH", f"/api/posts/{draft['id']}", 400, json={"media": [999]})
    editor.call("PATCH", f"/api/posts/{draft['id']}", 413, json={"text": "x" * MAX_BODY})
    editor.call("PATCH", f"/api/posts/{draft['id']}", 415, data="x", headers={"content-type": "text/plain"})
    editor.call("PATCH", f"/api/posts/{now_post.json()['id']}", 409, json={"text": "x"})  # already out

    # -- GET /api/openapi.json needs no credentials
    anonymous.get("/api/openapi.json")

    # -- no such route, or not that method: the same error shape
    editor.get("/api/khong-co", expect=404)
    editor.call("DELETE", f"/api/posts/{post_id}", expect=405)

    # Every documented answer but the catch-all 4XX (and 501, only without the reports room) was seen.
    for path, item in served.document["paths"].items():
        for method, operation in item.items():
            declared = {int(s) for s in operation["responses"] if s.isdigit()} - {501}
            seen = served.seen.get((path, method.upper()), set())
            assert declared <= seen, f"{method.upper()} {path}: never saw {sorted(declared - seen)}"


def test_a_session_needs_its_csrf_token_and_answers_the_same_shapes(served: Served) -> None:
    person = served.client()
    page = person.http.get(f"{served.url}/login", timeout=10)
    token = TOKEN.search(page.text)
    assert token
    login = person.http.post(
        f"{served.url}/login",
        data={"username": "bientap", "password": CONSOLE_PASSWORD, "csrf_token": token.group(1), "next": "/"},
        allow_redirects=False,
        timeout=10,
    )
    assert login.status_code == 303
    person.get("/api/posts")
    person.post("/api/posts", new_post(), expect=403)
    csrf = TOKEN.search(person.http.get(f"{served.url}/compose", timeout=10).text)
    assert csrf
    person.post("/api/posts", new_post(), expect=201, headers={"x-csrf-token": csrf.group(1)})


def test_a_body_declared_too_large_is_refused_before_it_is_read(served: Served) -> None:
    """A client announcing 10 MiB gets its 413 at once: the server does not wait for the bytes."""
    token = new_api_token(served.loa.engine, "bientap", actor="test")
    port = int(served.url.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(
            (
                "POST /api/posts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {token}\r\nContent-Length: {10 * 1024 * 1024}\r\n\r\n{{"
            ).encode()
        )
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = connection.recv(65536)
            assert chunk, "the server closed the connection without answering"
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_a_field_the_document_does_not_name_fails_validation(served: Served) -> None:
    """What would catch a field added to a response but not to its model."""
    editor, approver = served.client("bientap"), served.client("duyet")
    post = editor.post("/api/posts", new_post(), expect=201).json()
    post.pop("warnings")  # only the answer to queueing has it; the post read back has not
    report = approver.get("/api/reports/shares?from=2026-05-01&to=2026-05-02&by=channel").json()
    error = editor.get("/api/posts/999", expect=404).json()
    document = served.document
    publication = post["publications"][0]
    cases: list[tuple[str, str, int, Any]] = [
        ("/api/posts/{post_id}", "GET", 200, {**post, "extra": 1}),
        ("/api/posts/{post_id}", "GET", 200, {**post, "publications": [{**publication, "extra": 1}]}),
        (
            "/api/posts/{post_id}",
            "GET",
            200,
            {**post, "publications": [{**publication, "metrics": {**publication["metrics"], "extra": 1}}]},
        ),
        ("/api/posts", "GET", 200, {"posts": [post], "extra": 1}),
        ("/api/reports/shares", "GET", 200, {**report, "extra": 1}),
        ("/api/reports/shares", "GET", 200, {**report, "rows": [{**report["rows"][0], "extra": 1}]}),
        ("/api/reports/shares", "GET", 200, {**report, "totals": {**report["totals"], "extra": 1}}),
        ("/api/posts/{post_id}", "GET", 404, {**error, "extra": 1}),
        ("/api/posts/{post_id}", "GET", 404, {"error": {**error["error"], "extra": 1}}),
    ]
    check(document, "/api/posts/{post_id}", "GET", 200, post)  # the untouched bodies pass
    check(document, "/api/reports/shares", "GET", 200, report)
    for path, method, status, body in cases:
        with pytest.raises(ValidationError, match="Additional properties"):
            check(document, path, method, status, body)
    # A field that goes missing fails too.
    with pytest.raises(ValidationError, match="required"):
        check(document, "/api/posts/{post_id}", "GET", 200, {k: v for k, v in post.items() if k != "campaign"})


def test_every_response_schema_forbids_unnamed_fields(served: Served) -> None:
    schemas = served.document["components"]["schemas"]
    answers = {
        "Error",
        "ErrorDetail",
        "Metrics",
        "Publication",
        "Post",
        "QueuedPost",
        "PostList",
        "MediaEntry",
        "MediaList",
        "ShareRow",
        "ShareTotals",
        "ShareReport",
    }
    for name in answers:
        assert schemas[name].get("additionalProperties") is False, name
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name
    # Every schema an answer refers to, however deep, is one of them (or the status enum).
    responses = [op["responses"] for item in served.document["paths"].values() for op in item.values()]
    referenced: set[str] = set()
    todo = _refs(responses)
    while todo:
        name = todo.pop()
        referenced.add(name)
        todo |= _refs(schemas[name]) - referenced
    assert referenced - {"PublicationStatus"} == answers


def _refs(value: Any) -> set[str]:
    return set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(value)))


def test_report_dimensions_are_the_reports_own() -> None:
    from typing import get_args

    from scheduler.reports.queries import Dimension
    from scheduler.web.api.models import Dimension as ApiDimension

    assert list(get_args(ApiDimension)) == [d.value for d in Dimension]
