"""Bounds (scheduler/bounds.py, [limits], docs/bounds.md): what one request may ask, refused past it, never a 500."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.app import Loa
from scheduler.auth import new_api_token
from scheduler.bounds import MAX_ID, BodyLimit, HeavyWork, parse_id
from scheduler.config import LimitsSettings, load_settings
from scheduler.errors import Busy
from scheduler.posts.requests import PostRequest
from tests.conftest import CONSOLE_CHANNELS, Cli, seed_console_users, write_config
from tests.console_support import Person, errors_on, logged_in

REPO = Path(__file__).resolve().parent.parent
BIG = str(2**63)  # one past the largest id a database column holds
VARS = {"hoat_dong": "ra quân tuyên truyền", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}


def _tolerant(person: Person) -> Person:
    """The in-process client answers a server error as HTTP 500 instead of raising it here."""
    person.http._transport.raise_server_exceptions = False  # type: ignore[attr-defined]
    return person


def _api(loa: Loa, username: str = "quantri") -> tuple[Any, dict[str, str]]:
    http = _tolerant(Person(loa)).http
    return http, {"authorization": f"Bearer {new_api_token(loa.engine, username, actor='test')}"}


def _draft(loa: Loa, *, by: str = "bientap") -> int:
    return loa.posts.add(
        PostRequest(
            template="thang-van-dong",
            channels=["zalo-bhxh-nghean"],
            variables=VARS,
            at=datetime.now(UTC) + timedelta(days=2),
            created_by=by,
            draft=True,
        )
    )


# -- ids past what a database column holds ---------------------------------------------------


def test_parse_id_takes_only_ids_a_column_holds() -> None:
    assert parse_id("7") == 7 and parse_id(str(MAX_ID)) == MAX_ID
    for bad in (BIG, "0", "-1", "²", "١٢", "1e3", "", None, "9" * 400):
        assert parse_id(bad) is None, bad


def test_console_ids_above_2_63_are_not_found_never_500(console_loa: Loa) -> None:
    admin = _tolerant(logged_in(console_loa, "quantri"))
    assert admin.get(f"/posts/{BIG}").status_code == 404
    assert admin.post(f"/posts/{BIG}/cancel").status_code == 404
    assert admin.post(f"/publications/{BIG}/retry").status_code == 404
    assert admin.get(f"/compose?post={BIG}").status_code == 404
    assert admin.get("/compose?post=²").status_code == 404
    assert admin.get(f"/audit?page={BIG}").status_code == 200


def test_api_ids_above_2_63_are_bad_input(console_loa: Loa) -> None:
    http, headers = _api(console_loa)
    assert http.get(f"/api/posts/{BIG}", headers=headers).status_code == 400
    assert http.post(f"/api/posts/{BIG}/cancel", headers=headers, json={}).status_code == 400


SHARE_TOKEN = "tok-lan-0001-share-page"


def _share_token(loa: Loa) -> str:
    """The seeded staff member's share token, made long enough to be one."""
    from sqlmodel import select

    from scheduler.models import Staff
    from scheduler.store import session_scope

    with session_scope(loa.engine) as session:
        staff = session.exec(select(Staff)).one()
        staff.share_token = SHARE_TOKEN
        session.add(staff)
    return SHARE_TOKEN


def test_share_form_with_a_publication_id_above_2_63_is_bad_input(console_loa: Loa) -> None:
    token = _share_token(console_loa)
    from scheduler.sharing.service import SharingService
    from scheduler.sharing.visitors import form_token

    service = SharingService(console_loa.settings, console_loa.engine)
    staff = service.staff_by_token(token)
    assert staff is not None and staff.id is not None
    visitor = _tolerant(Person(console_loa))
    assert visitor.get(f"/s/{token}").status_code == 200
    t = form_token(service.keys, staff.id)
    tapped = visitor.http.post(
        f"/s/{token}/share", data={"t": t, "platform": "zalo", "publication": BIG}
    )
    assert tapped.status_code == 400


# -- years 1 and 9999 ------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_calendar_at_the_ends_of_time_shows_loas_first_or_last_days(console_loa: Loa, day: str) -> None:
    editor = _tolerant(logged_in(console_loa, "bientap"))
    for view in ("week", "month"):
        shown = editor.get(f"/calendar?date={day}&view={view}")
        assert shown.status_code == 200, (view, shown.text[:300])
        assert ("2000" if day.startswith("0001") else "2099") in shown.text


@pytest.mark.parametrize(("start", "end"), [("01/01/0001", "02/01/0001"), ("30/12/9999", "31/12/9999")])
def test_reports_for_years_1_and_9999_are_refused_beside_the_field(console_loa: Loa, start: str, end: str) -> None:
    approver = _tolerant(logged_in(console_loa, "duyet"))
    for by in ("unit", "day"):
        page = approver.get(f"/reports?from={start}&to={end}&by={by}")
        assert page.status_code == 400
        assert "01/01/2000" in errors_on(page.text)["from"]
        assert approver.get(f"/reports/shares.png?from={start}&to={end}&by={by}").status_code == 400
    http, headers = _api(console_loa, "duyet")
    first, last = (datetime.strptime(text, "%d/%m/%Y").date().isoformat() for text in (start, end))
    answer = http.get(f"/api/reports/shares?from={first}&to={last}&by=day", headers=headers)
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "from"


@pytest.mark.parametrize("at", ["0001-01-01T00:30+07:00", "9999-12-31T23:30-07:00", "9999-12-31T23:30"])
def test_api_post_at_the_ends_of_time_is_bad_input(console_loa: Loa, at: str) -> None:
    http, headers = _api(console_loa)
    body = {"template": "thang-van-dong", "channels": ["zalo-bhxh-nghean"], "variables": VARS, "at": at}
    answer = http.post("/api/posts", headers=headers, json=body)
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "at"


def test_cli_years_1_and_9999_exit_2(offline_loa: Cli) -> None:
    for args in (
        ["report", "shares", "--from", "0001-01-01", "--to", "0001-01-31"],
        ["report", "shares", "--from", "9999-12-01", "--to", "9999-12-31", "--by", "day"],
        ["report", "summary", "--month", "0001-01"],
        ["post", "add", "--template", "thang-van-dong", "--channel", "zalo-bhxh-nghean",
         "--at", "0001-01-01T00:30+07:00", *[f"--var={k}={v}" for k, v in VARS.items()]],
        ["post", "add", "--template", "thang-van-dong", "--channel", "zalo-bhxh-nghean",
         "--at", "9999-12-31T23:30-07:00", *[f"--var={k}={v}" for k, v in VARS.items()]],
    ):  # fmt: skip
        result = offline_loa(*args)
        assert result.code == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr and "2000" in result.stderr


# -- a draft that stopped being one ------------------------------------------------------------


def test_saving_an_edit_of_a_post_that_was_submitted_meanwhile_says_so(console_loa: Loa) -> None:
    post_id = _draft(console_loa)
    author = _tolerant(logged_in(console_loa, "bientap"))
    token = author.token(f"/compose?post={post_id}")
    assert 'name="opened" value="draft"' in author.get(f"/compose?post={post_id}").text
    console_loa.posts.submit(post_id, actor="bientap")  # from another tab
    saved = author.post(
        "/compose",
        {
            "post": str(post_id),
            "opened": "draft",  # what the page opened on a draft sends
            "template": "thang-van-dong",
            "channels": "zalo-bhxh-nghean",
            "date": (datetime.now(UTC) + timedelta(days=3)).astimezone(console_loa.settings.tz).strftime("%d/%m/%Y"),
            "time": "09:00",
            "action": "draft",
            **{f"var_{k}": v for k, v in VARS.items()},
        },
        token=token,
    )
    assert saved.status_code == 400
    assert f"#{post_id}" in errors_on(saved.text).get("form", "") or f"#{post_id}" in saved.text
    assert 'value="chợ Quán Lau (TP Vinh)"' in saved.text, "what was typed is kept"


# -- JSON bodies ---------------------------------------------------------------------------------


def test_deeply_nested_json_and_lone_surrogates_are_bad_input(console_loa: Loa) -> None:
    http, headers = _api(console_loa)
    json_headers = {**headers, "content-type": "application/json"}
    for body in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"template": "x", "variables": ' + b'{"a": ' * 40 + b"1" + b"}" * 41,
        b'{"template": "\\ud800", "now": true, "channels": ["zalo-bhxh-nghean"]}',
        b'{"template": "thang-van-dong", "now": true, "variables": {"\\udc00": "x"}}',
    ):
        answer = http.post("/api/posts", headers=json_headers, content=body)
        assert answer.status_code == 400, (body[:60], answer.text[:200])
        assert {"message", "hint", "field"} <= set(answer.json()["error"])


def test_an_api_call_without_a_body_needs_no_content_type(console_loa: Loa) -> None:
    post_id = _draft(console_loa)
    http, headers = _api(console_loa)
    cancelled = http.post(f"/api/posts/{post_id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert http.post(f"/api/posts/{post_id}/cancel", headers=headers, content=b"x").status_code == 415


def test_an_api_path_with_a_trailing_slash_is_no_route_not_a_redirect(console_loa: Loa) -> None:
    http, headers = _api(console_loa)
    answer = http.get("/api/posts/", headers={**headers, "host": "evil.example"})
    assert answer.status_code == 404 and "location" not in answer.headers
    assert {"message", "hint", "field"} <= set(answer.json()["error"])


# -- request bodies ----------------------------------------------------------------------------


def test_bodies_past_the_bound_are_refused_before_they_are_read(console_loa: Loa) -> None:
    limit = console_loa.settings.limits.request_body_bytes
    visitor = _tolerant(Person(console_loa))
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert visitor.http.post("/login", content=b"username=" + b"a" * limit, headers=form).status_code == 413
    assert visitor.http.post(f"/s/{SHARE_TOKEN}/share", content=b"t=" + b"a" * limit, headers=form).status_code == 413

    def streamed() -> Any:
        for _ in range(limit // 65536 + 2):
            yield b"a" * 65536

    # No Content-Length: the body is cut off as it streams.
    assert visitor.http.post("/login", content=streamed(), headers=form).status_code in {400, 413}
    http, headers = _api(console_loa)
    json_headers = {**headers, "content-type": "application/json"}
    too_big = http.post("/api/posts", headers=json_headers, content=b" " * (limit + 1))
    assert too_big.status_code == 413 and "error" in too_big.json()


async def _no_app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the app must not be reached")


def test_body_limit_answers_413_from_content_length_alone() -> None:
    import asyncio

    sent: list[dict[str, Any]] = []

    async def run() -> None:
        async def receive() -> dict[str, Any]:
            raise AssertionError("no byte of the body may be read")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "path": "/login", "headers": [(b"content-length", b"999999999")]}
        await BodyLimit(_no_app, body_bytes=1024, upload_bytes=2048)(scope, receive, send)

    asyncio.run(run())
    assert sent[0]["status"] == 413


# -- NUL bytes in public file names -------------------------------------------------------------


def test_nul_bytes_in_public_file_names_are_not_found(console_loa: Loa) -> None:
    anonymous = _tolerant(Person(console_loa))
    for path in ("/assets/a%00.png", "/assets/%00", "/media/a%00.png", "/media/%00", "/assets/" + "a" * 5000 + ".png"):
        assert anonymous.get(path).status_code == 404, path


# -- report periods, rows and charts -----------------------------------------------------------


def test_a_century_by_day_is_refused_everywhere_naming_the_bound(console_loa: Loa, tmp_path: Path) -> None:
    limits = console_loa.settings.limits
    approver = _tolerant(logged_in(console_loa, "duyet"))
    asked = "from=01/01/2000&to=31/12/2099&by=day"
    page = approver.get(f"/reports?{asked}")
    assert page.status_code == 400 and "1.096" in errors_on(page.text)["from"]
    for fmt in ("png", "xlsx", "csv"):
        assert approver.get(f"/reports/shares.{fmt}?{asked}").status_code == 400
    http, headers = _api(console_loa, "duyet")
    answer = http.get("/api/reports/shares?from=2000-01-01&to=2099-12-31&by=day", headers=headers)
    assert answer.status_code == 400 and "report_max_days" in answer.json()["error"]["hint"]
    assert limits.report_max_days == 1096


def test_cli_refuses_periods_and_charts_past_the_bounds(offline_loa: Cli, tmp_path: Path) -> None:
    century = offline_loa("report", "shares", "--from", "2000-01-01", "--to", "2099-12-31", "--by", "day")
    assert century.code == 2 and "report_max_days" in century.stderr
    chart = offline_loa(
        "report", "shares", "--from", "2026-01-01", "--to", "2027-01-02", "--by", "day", "-o", str(tmp_path / "c.png")
    )
    assert chart.code == 2 and "chart_max_bars" in chart.stderr
    assert not (tmp_path / "c.png").exists()


def test_the_worst_chart_within_the_bounds_stays_bounded(offline_config: Path, tmp_path: Path) -> None:
    """The largest chart a person may ask for: a year by day. Its image has a fixed ceiling."""
    from PIL import Image

    from scheduler.errors import InputError
    from scheduler.reports import exports
    from scheduler.reports.queries import Dimension, Period, share_report

    loa = Loa(load_settings(offline_config))
    try:
        limits = loa.settings.limits
        start = date(2026, 1, 1)
        period = Period(start, start + timedelta(days=limits.chart_max_bars - 1), loa.settings.tz)
        report = share_report(loa.engine, loa.settings, period, Dimension.day)
        png = exports.share_chart(report, max_bars=limits.chart_max_bars)
        width, height = Image.open(__import__("io").BytesIO(png)).size
        assert width <= exports.CHART_MAX_INCHES * 110 + 1 and height <= 5 * 110 + 1
        longest = Period(start, start + timedelta(days=limits.report_max_days - 1), loa.settings.tz)
        assert len(share_report(loa.engine, loa.settings, longest, Dimension.day).rows) == limits.report_max_days
        with pytest.raises(InputError) as refused:
            exports.share_chart(share_report(loa.engine, loa.settings, longest, Dimension.day))
        assert refused.value.msgid == "error.chart_too_many_bars"
    finally:
        loa.close()


def test_report_rows_past_the_bound_are_refused(tmp_path: Path) -> None:
    from scheduler.errors import InputError
    from scheduler.models import Staff, Unit
    from scheduler.reports.queries import Dimension, Period, share_report
    from scheduler.store import session_scope

    path = write_config(tmp_path, extra="[limits]\nreport_max_rows = 100\n")
    loa = Loa(load_settings(path))
    try:
        loa.init()
        with session_scope(loa.engine) as session:
            unit = Unit(code="vinh", name="BHXH thành phố Vinh")
            session.add(unit)
            session.flush()
            assert unit.id is not None
            for n in range(101):
                session.add(Staff(unit_id=unit.id, full_name=f"Cán bộ {n}", share_token=f"tok-{n:04d}",
                                  created_at=datetime.now(UTC)))  # fmt: skip
        period = Period(date(2026, 5, 1), date(2026, 5, 31), loa.settings.tz)
        assert len(share_report(loa.engine, loa.settings, period, Dimension.unit).rows) == 1
        with pytest.raises(InputError) as refused:
            share_report(loa.engine, loa.settings, period, Dimension.staff)
        assert refused.value.msgid == "error.report_too_many_rows"
    finally:
        loa.close()


# -- heavy work ------------------------------------------------------------------------------------


def test_heavy_work_runs_a_bounded_number_at_once_and_refuses_the_rest() -> None:
    gate = HeavyWork(slots=1, wait_seconds=0.2)
    with gate.slot():
        with pytest.raises(Busy) as busy, gate.slot():
            pass  # pragma: no cover
        assert busy.value.retry_after >= 1
    with gate.slot():
        assert gate.running == 1
    assert gate.running == 0


def test_heavy_work_lets_only_a_few_wait() -> None:
    gate = HeavyWork(slots=1, wait_seconds=2.0)
    release = threading.Event()
    outcomes: list[str] = []

    def hold() -> None:
        with gate.slot():
            release.wait(5)

    def ask() -> None:
        try:
            with gate.slot():
                outcomes.append("ran")
        except Busy:
            outcomes.append("busy")

    holder = threading.Thread(target=hold)
    holder.start()
    while gate.running == 0:
        pass
    askers = [threading.Thread(target=ask) for _ in range(10)]
    for thread in askers:
        thread.start()
    threading.Event().wait(0.3)
    release.set()
    for thread in [holder, *askers]:
        thread.join(5)
    # 4 may wait behind the one slot (HEAVY_QUEUE_PER_SLOT); the other 6 are told at once.
    assert outcomes.count("busy") >= 6 and outcomes.count("ran") >= 1


@pytest.fixture
def busy_loa(tmp_path: Path, console_password_hash: str) -> Any:
    extra = "[limits]\nheavy_renders = 1\nheavy_wait_seconds = 0\n"
    path = write_config(tmp_path, channels=CONSOLE_CHANNELS, extra=extra)
    app = Loa(load_settings(path))
    app.init()
    seed_console_users(app.engine, console_password_hash)
    yield app
    app.close()


def test_charts_files_and_reports_wait_for_a_slot_or_answer_busy(busy_loa: Loa) -> None:
    approver = _tolerant(logged_in(busy_loa, "duyet"))
    http, headers = _api(busy_loa, "duyet")
    asked = "from=01/05/2026&to=31/05/2026&by=day"
    assert approver.get(f"/reports/shares.png?{asked}").status_code == 200
    with busy_loa.heavy.slot():  # another person's chart is being drawn
        for path in (f"/reports/shares.png?{asked}", f"/reports/shares.xlsx?{asked}", f"/reports?{asked}"):
            answer = approver.get(path)
            assert answer.status_code == 503 and answer.headers["retry-after"], path
            assert "thử lại" in answer.text
        api = http.get("/api/reports/shares?from=2026-05-01&to=2026-05-31", headers=headers)
        assert api.status_code == 503 and api.headers["retry-after"]
        assert {"message", "hint", "field"} <= set(api.json()["error"])
        admin = _tolerant(logged_in(busy_loa, "quantri"))
        roster = "ho_ten,don_vi,email\nTrần Văn Nam,BHXH thành phố Vinh,nam@example.vn\n".encode()
        upload = admin.post("/staff/import", files={"file": ("ds.csv", roster, "text/csv")}, page="/staff")
        assert upload.status_code == 503, upload.text[:300]
        # Tracked links, share pages and health never wait for a slot.
        assert Person(busy_loa).get(f"/s/{_share_token(busy_loa)}").status_code == 200
    assert approver.get(f"/reports?{asked}").status_code == 200


# -- the bounds, written down once ----------------------------------------------------------------


def test_limits_are_settings_with_environment_overrides(tmp_path: Path) -> None:
    from scheduler.errors import ConfigError

    path = write_config(tmp_path, extra="[limits]\nreport_max_days = 4000\n")
    settings = load_settings(path, environ={"LOA_LIMITS_CHART_MAX_BARS": "120"})
    assert settings.limits.report_max_days == 4000 and settings.limits.chart_max_bars == 120
    with pytest.raises(ConfigError, match=r"limits\.heavy_renders"):
        load_settings(write_config(tmp_path, extra="[limits]\nheavy_renders = 0\n"))


def test_docs_list_every_limit_with_its_default() -> None:
    text = (REPO / "docs/bounds.md").read_text(encoding="utf-8")
    for name, field in LimitsSettings.model_fields.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}`")), None)
        assert row is not None, f"docs/bounds.md has no row for limits.{name}"
        default = field.default
        shown = f"{default:,}".replace(",", ".") if isinstance(default, int) else f"{default:g}"
        assert f"| {shown} " in row or f"| {shown}" in row, (name, shown, row)
    shipped = (REPO / "config.toml").read_text(encoding="utf-8")
    assert "[limits]" in shipped and "docs/bounds.md" in shipped


def test_a_declared_huge_body_is_refused_at_once_over_real_http(console_loa: Loa) -> None:
    """Content-Length of 1 GB and 10 bytes sent: the answer comes without waiting for the rest."""
    import socket
    import time

    from scheduler.serving import ThreadedServer
    from scheduler.web.app import create_app
    from tests.conftest import free_port

    token = new_api_token(console_loa.engine, "quantri", actor="test")
    port = free_port()
    with ThreadedServer(create_app(console_loa), host="127.0.0.1", port=port):
        for path, extra in (("/api/posts", f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"),
                            ("/login", "Content-Type: application/x-www-form-urlencoded\r\n")):  # fmt: skip
            with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
                started = time.monotonic()
                connection.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Content-Length: 1000000000\r\n\r\n".encode()
                    + b"0123456789"
                )
                answer = connection.recv(4096).decode("latin-1")
                assert answer.startswith("HTTP/1.1 413"), (path, answer[:200])
                assert time.monotonic() - started < 5
