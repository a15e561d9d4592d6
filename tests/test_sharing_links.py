"""Share pages and tracked links end to end: real HTTP to `create_app` on loopback, a real
database (SQLite, then PostgreSQL), posts really published through the sandbox.

One environment per module and backend (publishing takes a moment); each test makes its own
staff members, so counts never leak from one test to the next.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import text
from sqlmodel import col, func, select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import Click, Publication, PublicationStatus, Share, ShareKind, ShareLink
from scheduler.posts.requests import PostRequest
from scheduler.publishing.dispatcher import Dispatcher
from scheduler.sandbox.server import SandboxServer
from scheduler.serving import ThreadedServer
from scheduler.sharing.counting import ClickEvent, ClickReason, recount, store_clicks
from scheduler.sharing.service import SharingService
from scheduler.store import session_scope
from scheduler.web.app import create_app
from tests.conftest import BACKENDS, backend_database, cli_for, free_port, write_config

VARS = {"hoat_dong": "ra quân tuyên truyền", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}
CHANNELS = ["fb-bhxh-nghean", "zalo-bhxh-nghean"]
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 10; Redmi 9A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
)
ZALO_IN_APP_UA = (
    "Mozilla/5.0 (Linux; Android 13; SM-A536E; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
    "Chrome/125.0 Mobile Safari/537.36 Zalo android/12100621 ZaloTheme/light ZaloLanguage/vi"
)
FACEBOOK_IN_APP_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.39.109;FBBV/123;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5]"
)
FACEBOOK_PREVIEW_UA = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
_serial = count(1)


@dataclass
class Env:
    config: Path
    loa: Loa
    url: str
    service: SharingService
    post_id: int
    publications: dict[str, Publication]
    folder: Path


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """conftest's database_url, once per module here: `env` below is made once for each backend."""
    with backend_database(request.param, tmp_path_factory.mktemp("database")) as url:
        yield url


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Env]:
    folder = tmp_path_factory.mktemp("sharing")
    with SandboxServer(host="127.0.0.1", port=0) as sandbox:
        port = free_port()
        public_url = f"http://127.0.0.1:{port}"
        path = write_config(folder, sandbox_url=sandbox.url, public_url=public_url, database_url=database_url)
        loa = Loa(load_settings(path))
        loa.init()
        with ThreadedServer(create_app(loa), port=port) as server:
            post_id = loa.posts.add(PostRequest(template="thang-van-dong", channels=CHANNELS, variables=VARS))
            Dispatcher(loa.settings, loa.engine, loa.vault, one_shot=True).run_once()
            with session_scope(loa.engine, read_only=True) as session:
                publications = {
                    p.platform: p for p in session.exec(select(Publication).where(col(Publication.post_id) == post_id))
                }
            assert all(p.status == PublicationStatus.published for p in publications.values()), publications
            yield Env(path, loa, server.url, SharingService(loa.settings, loa.engine), post_id, publications, folder)
        loa.close()


def new_staff(env: Env, *, unit: str = "BHXH huyện Tân Kỳ") -> dict[str, Any]:
    """A fresh staff member, through the real import."""
    n = next(_serial)
    csv_path = env.folder / f"staff-{n}.csv"
    csv_path.write_text(f"ho_ten,don_vi,so_dien_thoai,email\nCán bộ {n},{unit},,can.bo{n}@bhxh.test\n", "utf-8")
    env.service.import_staff(csv_path)
    (row,) = [s for s in env.service.list_staff() if s["email"] == f"can.bo{n}@bhxh.test"]
    row["token"] = row["share_url"].rsplit("/", 1)[1]
    return row


def link_code(env: Env, staff: dict[str, Any], platform: str = "facebook") -> str:
    links = env.service.links(post_id=env.post_id, staff_ref=str(staff["id"]))
    return next(link["code"] for link in links if link["channel"] == env.publications[platform].channel_id)


def clicks(env: Env, code: str) -> list[Click]:
    with session_scope(env.loa.engine, read_only=True) as session:
        link = session.exec(select(ShareLink).where(col(ShareLink.code) == code)).one()
        return list(session.exec(select(Click).where(col(Click.share_link_id) == link.id).order_by(col(Click.id))))


def counted(env: Env, code: str) -> int:
    return sum(1 for c in clicks(env, code) if c.counted)


def shares(env: Env, staff_id: int) -> list[Share]:
    with session_scope(env.loa.engine, read_only=True) as session:
        return list(
            session.exec(
                select(Share)
                .join(ShareLink, col(ShareLink.id) == col(Share.share_link_id))
                .where(col(ShareLink.staff_id) == staff_id)
                .order_by(col(Share.id))
            )
        )


def visit(
    env: Env, code: str, *, agent: str | None = PHONE_UA, method: str = "GET", **kwargs: Any
) -> requests.Response:
    headers = {"User-Agent": agent if agent is not None else ""}  # "" : urllib3 would add its own
    session = kwargs.pop("session", None) or requests.Session()
    return session.request(method, f"{env.url}/l/{code}", headers=headers, allow_redirects=False, timeout=10, **kwargs)


class FromAddress(HTTPAdapter):
    """Connections from one loopback address (all of 127.0.0.0/8 is this host): another device."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def device(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


def form_of(page: str, platform: str) -> dict[str, str]:
    """The hidden fields of the share form whose button is ``platform``."""
    for form in re.findall(r"<form[^>]*>(.*?)</form>", page, re.S):
        if f'value="{platform}"' in form:
            return dict(re.findall(r'name="(t|publication)" value="([^"]*)"', form))
    raise AssertionError(f"no {platform} form on the page")


# -- the share page ------------------------------------------------------------------------


def test_share_page_lists_published_posts_with_three_buttons(env: Env) -> None:
    staff = new_staff(env)
    response = requests.get(f"{env.url}/s/{staff['token']}", headers={"User-Agent": PHONE_UA}, timeout=10)
    assert response.status_code == 200
    page = response.text
    assert f"Xin chào, {staff['full_name']}" in page and "BHXH huyện Tân Kỳ" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    for label in ("Chia sẻ lên Facebook", "Chia sẻ lên Zalo", "Sao chép liên kết"):
        assert page.count(label) == 1
    assert "ra quân tuyên truyền" in page and 'class="cover"' in page
    # Works without JavaScript (the forms post); the one script is a file of ours, nothing inline for the CSP.
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/share/share.js" defer>']
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert "loa_self=" in cookie and "Path=/l/" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    css = requests.get(f"{env.url}/static/share/share.css", timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css") and len(css.content) < 4096


def test_share_page_speaks_english_when_asked_and_keeps_vietnamese_otherwise(env: Env) -> None:
    staff = new_staff(env)
    english = requests.get(f"{env.url}/s/{staff['token']}?lang=en", headers={"User-Agent": PHONE_UA}, timeout=10)
    assert english.status_code == 200 and '<html lang="en">' in english.text
    assert f"Hello, {staff['full_name']}" in english.text and "Share on Zalo" in english.text
    assert "Xin chào" not in english.text and "Chia sẻ lên" not in english.text
    # The console's language cookie carries over; an unknown language falls back to Vietnamese.
    cookie = requests.get(f"{env.url}/s/{staff['token']}", cookies={"loa_lang": "en"}, timeout=10)
    assert "Hello," in cookie.text
    other = requests.get(f"{env.url}/s/{staff['token']}?lang=fr", timeout=10)
    assert '<html lang="vi">' in other.text and "Xin chào" in other.text
    assert "Page not found" in requests.get(f"{env.url}/s/{'x' * 32}?lang=en", timeout=10).text


def test_unknown_or_deactivated_token_is_the_same_404(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    staff = new_staff(env)
    missing = requests.get(f"{env.url}/s/{'x' * 32}", timeout=10)
    malformed = requests.get(f"{env.url}/s/..%2F..%2Fetc", timeout=10)
    assert cli_for(env.config, capsys)("staff", "deactivate", str(staff["id"])).code == 0
    gone = requests.get(f"{env.url}/s/{staff['token']}", timeout=10)
    assert missing.status_code == malformed.status_code == gone.status_code == 404
    assert missing.text == gone.text and "Không tìm thấy trang" in gone.text


def test_a_tap_records_one_share_and_opens_facebook_with_the_tracked_link(env: Env) -> None:
    staff = new_staff(env)
    browser = requests.Session()
    browser.headers["User-Agent"] = PHONE_UA
    page = browser.get(f"{env.url}/s/{staff['token']}", timeout=10).text
    fields = form_of(page, "facebook")
    action = f"{env.url}/s/{staff['token']}/share"
    answer = browser.post(
        action, data={**fields, "platform": "facebook"}, headers={"Origin": env.url}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 303
    code = link_code(env, staff, "facebook")
    assert answer.headers["Location"] == (
        "https://www.facebook.com/sharer/sharer.php?u=" + quote(f"{env.url}/l/{code}", safe="")
    )
    # A double tap (the form sent twice) is still one share.
    again = browser.post(
        action, data={**fields, "platform": "facebook"}, headers={"Origin": env.url}, allow_redirects=False, timeout=10
    )
    assert again.status_code == 303
    recorded = shares(env, staff["id"])
    assert [(s.platform, s.kind) for s in recorded] == [("facebook", ShareKind.button)]

    zalo = browser.post(
        action, data={**form_of(page, "zalo"), "platform": "zalo"}, headers={"Origin": env.url}, timeout=10
    )
    assert zalo.status_code == 200 and urlsplit(zalo.url).path.endswith("/share")
    zalo_code = link_code(env, staff, "zalo")
    assert f'value="{env.url}/l/{zalo_code}"' in zalo.text
    assert 'class="zalo-share-button"' in zalo.text and 'data-oaid="579745863508352884"' in zalo.text
    assert "https://sp.zalo.me" in zalo.headers["Content-Security-Policy"]
    assert f"/s/{staff['token']}" not in zalo.url  # Zalo's script never runs on a page whose URL holds the token

    copy = browser.post(
        action, data={**form_of(page, "copy"), "platform": "copy"}, headers={"Origin": env.url}, timeout=10
    )
    assert copy.status_code == 200 and "zalo-share-button" not in copy.text
    assert "sp.zalo.me" not in copy.headers["Content-Security-Policy"]
    assert [s.platform for s in shares(env, staff["id"])] == ["facebook", "zalo", "copy"]

    # One tap: the page's script asks for JSON and gets the tracked link to copy; a repeat of the
    # same tap is not counted twice, as with the form.
    one_tap = browser.post(
        action,
        data={**form_of(page, "copy"), "platform": "copy"},
        headers={"Origin": env.url, "Accept": "application/json"},
        timeout=10,
    )
    assert one_tap.status_code == 200 and one_tap.json()["link"] in copy.text  # the link the second page showed
    assert [s.platform for s in shares(env, staff["id"])] == ["facebook", "zalo", "copy"]

    stats = browser.get(f"{env.url}/s/{staff['token']}", timeout=10).text
    assert re.search(r"Lượt bấm chia sẻ tháng này</dt><dd>3</dd>", stats)


def test_cross_site_or_stale_forms_record_nothing(env: Env) -> None:
    staff = new_staff(env)
    page = requests.get(f"{env.url}/s/{staff['token']}", timeout=10).text
    fields = form_of(page, "facebook")
    action = f"{env.url}/s/{staff['token']}/share"
    evil = requests.post(
        action, data={**fields, "platform": "facebook"}, headers={"Origin": "https://evil.example"}, timeout=10
    )
    null_origin = requests.post(action, data={**fields, "platform": "facebook"}, headers={"Origin": "null"}, timeout=10)
    referer = requests.post(
        action, data={**fields, "platform": "facebook"}, headers={"Referer": "https://evil.example/x"}, timeout=10
    )
    no_token = requests.post(
        action, data={"publication": fields["publication"], "platform": "facebook"}, headers={"Origin": env.url}
    )
    other = new_staff(env)
    others_form = requests.post(
        f"{env.url}/s/{other['token']}/share",
        data={**fields, "platform": "facebook"},
        headers={"Origin": env.url},
        timeout=10,
    )
    forged = requests.post(
        action, data={"t": "1.abc", "publication": fields["publication"], "platform": "facebook"}, timeout=10
    )
    assert [r.status_code for r in (evil, null_origin, referer, no_token, others_form, forged)] == [403] * 6
    bad_platform = requests.post(action, data={**fields, "platform": "tiktok"}, headers={"Origin": env.url})
    unknown = requests.post(
        action, data={**fields, "publication": "999999", "platform": "facebook"}, headers={"Origin": env.url}
    )
    assert (bad_platform.status_code, unknown.status_code) == (400, 404)
    assert shares(env, staff["id"]) == [] and shares(env, other["id"]) == []


# -- tracked links: the counting rules ----------------------------------------------------


def test_counting_rules_table(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    staff = new_staff(env)
    code = link_code(env, staff)
    permalink = env.publications["facebook"].permalink
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("a person", {"agent": PHONE_UA}, 302, "counted"),
        ("the same person again", {"agent": PHONE_UA}, 302, "repeat"),
        ("someone in Zalo's in-app browser", {"agent": ZALO_IN_APP_UA}, 302, "counted"),
        ("someone in Facebook's in-app browser", {"agent": FACEBOOK_IN_APP_UA}, 302, "counted"),
        ("a HEAD request", {"agent": PHONE_UA + " head", "method": "HEAD"}, 302, "head"),
        ("Facebook's link preview", {"agent": FACEBOOK_PREVIEW_UA}, 200, "crawler"),
        ("Facebot", {"agent": "Facebot"}, 200, "crawler"),
        ("a script", {"agent": "python-requests/2.32.3"}, 200, "crawler"),
        ("no User-Agent", {"agent": None}, 302, "empty_user_agent"),
    ]  # fmt: skip
    for name, kwargs, status, reason in cases:
        response = visit(env, code, **kwargs)
        assert response.status_code == status, name
        if status == 302:
            assert response.headers["Location"] == permalink, name
            assert response.headers["Cache-Control"] == "no-store", name
        assert clicks(env, code)[-1].reason == reason, name

    # The staff member's own browser: the cookie their share page set.
    own = requests.Session()
    own.headers["User-Agent"] = PHONE_UA + " own"
    own.get(f"{env.url}/s/{staff['token']}", timeout=10)
    assert visit(env, code, agent=PHONE_UA + " own", session=own).status_code == 302
    assert clicks(env, code)[-1].reason == "self"
    # Someone else's share page does not make this browser "self" for this link.
    neighbour = new_staff(env)
    other = device("127.0.3.1")  # another device: this address has counted its three already
    other.get(f"{env.url}/s/{neighbour['token']}", timeout=10)
    visit(env, code, agent=PHONE_UA + " neighbour", session=other)
    assert clicks(env, code)[-1].reason == "counted"

    # Deactivated: the link still takes people to the post, but stops counting.
    assert cli_for(env.config, capsys)("staff", "deactivate", staff["email"]).code == 0
    assert visit(env, code, agent=PHONE_UA + " late").status_code == 302
    assert clicks(env, code)[-1].reason == "inactive_staff"
    assert counted(env, code) == 4  # a person, the two in-app browsers, the neighbour
    assert all(
        c.visitor_hash and len(c.visitor_hash) == 32 and "127.0.0.1" not in c.visitor_hash for c in clicks(env, code)
    )


def test_crawlers_get_open_graph_tags_and_are_not_counted(env: Env) -> None:
    code = link_code(env, new_staff(env))
    response = visit(env, code, agent="facebookexternalhit/1.1")
    assert response.status_code == 200 and "Location" not in response.headers
    page = response.text
    title = re.search(r'<meta property="og:title" content="([^"]*)">', page)
    assert title and "Tháng Vận động" in title.group(1)
    assert re.search(r'<meta property="og:description" content="[^"]+">', page)
    assert f'<meta property="og:url" content="{env.url}/l/{code}">' in page
    image = re.search(r'<meta property="og:image" content="([^"]+)">', page)
    assert image and requests.get(image.group(1), timeout=10).headers["content-type"] == "image/jpeg"
    assert counted(env, code) == 0


def test_two_hundred_visitors_at_once_are_two_hundred_clicks(env: Env) -> None:
    code = link_code(env, new_staff(env))
    start = threading.Barrier(200)
    statuses: list[int] = []
    lock = threading.Lock()

    def visitor(n: int) -> None:
        start.wait()
        status = visit(env, code, agent=f"{PHONE_UA} visitor/{n}", session=device(f"127.0.1.{1 + n}")).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [302] * 200
    assert counted(env, code) == 200 and len(clicks(env, code)) == 200
    # The same crowd again inside 24 h: 200 raw rows more, not one counted click more.
    again = [
        threading.Thread(
            target=visit,
            args=(env, code),
            kwargs={"agent": f"{PHONE_UA} visitor/{n}", "session": device(f"127.0.1.{1 + n}")},
        )
        for n in range(200)
    ]
    for thread in again:
        thread.start()
    for thread in again:
        thread.join()
    assert counted(env, code) == 200 and len(clicks(env, code)) == 400


def test_one_visitor_clicking_many_times_at_once_counts_once(env: Env) -> None:
    code = link_code(env, new_staff(env))
    threads = [threading.Thread(target=visit, args=(env, code), kwargs={"agent": PHONE_UA}) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counted(env, code) == 1 and len(clicks(env, code)) == 30


@pytest.mark.parametrize(
    "path",
    [
        "/l/{code}?url=https://evil.example/",
        "/l/{code}?next=//evil.example&redirect=https%3A%2F%2Fevil.example",
        "/l/{code}?{code}=https://evil.example",
        "/l/{code}#https://evil.example",
    ],
)
def test_query_strings_never_change_the_destination(env: Env, path: str) -> None:
    code = link_code(env, new_staff(env))
    response = requests.get(env.url + path.format(code=code), headers={"User-Agent": PHONE_UA}, allow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"] == env.publications["facebook"].permalink


@pytest.mark.parametrize(
    "path",
    [
        "/l/%2F%2Fevil.example",
        "/l//evil.example",
        "/l/https:%2F%2Fevil.example",
        "/l/{code}%2F..%2F..%2Fevil.example",
        "/l/{code}/..%2F..%2Fhttps://evil.example",
        "/l/{code}%0d%0aLocation:%20https://evil.example",
        "/l/{code}@evil.example",
        "/l/{code}/",
        "/l/{code}x",
        "/l/%00",
        "/l/" + "A" * 300,
    ],
)
def test_path_tricks_are_404(env: Env, path: str) -> None:
    code = link_code(env, new_staff(env))
    response = requests.get(
        env.url + path.format(code=code),
        headers={"User-Agent": PHONE_UA, "Host": "evil.example"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 404, response.headers.get("Location")
    assert "evil" not in response.headers.get("Location", "")


def test_unpublished_or_unsafe_destinations_are_never_redirected_to(env: Env) -> None:
    staff = new_staff(env)
    later = datetime.now(UTC) + timedelta(hours=2)
    post_id = env.loa.posts.add(
        PostRequest(
            template="thang-van-dong", channels=["fb-bhxh-nghean"], variables={**VARS, "ngay": "07/05/2026"}, at=later
        )
    )
    (waiting,) = env.service.links(post_id=post_id, staff_ref=str(staff["id"]))
    response = visit(env, waiting["code"])
    assert response.status_code == 200 and "chưa được đăng" in response.text
    assert clicks(env, waiting["code"])[-1].reason == "not_published"
    # A stored permalink off the allowed hosts (a bad row) is refused as well.
    with session_scope(env.loa.engine) as session:
        row = session.get(Publication, waiting["publication"])
        assert row is not None
        row.status, row.permalink, row.published_at = (
            PublicationStatus.published,
            "https://evil.example/x",
            datetime.now(UTC),
        )
        session.add(row)
    fresh = new_staff(env)
    (bad,) = env.service.links(post_id=post_id, staff_ref=str(fresh["id"]))
    response = visit(env, bad["code"])
    assert response.status_code == 200 and "Location" not in response.headers


def test_unknown_code_is_404_and_stores_nothing(env: Env) -> None:
    with session_scope(env.loa.engine, read_only=True) as session:
        before = session.exec(select(func.count()).select_from(Click)).one()
    assert visit(env, "AAAAAAAA").status_code == 404
    with session_scope(env.loa.engine, read_only=True) as session:
        assert session.exec(select(func.count()).select_from(Click)).one() == before


# -- rules over raw events ------------------------------------------------------------------


def test_dedupe_window_and_recount(env: Env) -> None:
    staff = new_staff(env)
    code = link_code(env, staff)
    with session_scope(env.loa.engine, read_only=True) as session:
        link = session.exec(select(ShareLink).where(col(ShareLink.code) == code)).one()
    assert link.id is not None
    t0 = datetime(2026, 5, 6, 1, 0, tzinfo=UTC)
    events = [
        ClickEvent(link.id, t0, "v1", "Mozilla/5.0 Phone", None),
        ClickEvent(link.id, t0 + timedelta(hours=23, minutes=59), "v1", "Mozilla/5.0 Phone", None),
        ClickEvent(link.id, t0 + timedelta(hours=24, minutes=1), "v1", "Mozilla/5.0 Phone", None),
        ClickEvent(link.id, t0 + timedelta(minutes=5), "v2", "NewsPreviewer/2.0", None),
        ClickEvent(link.id, t0 + timedelta(minutes=6), "v3", "Mozilla/5.0 Phone", ClickReason.self),
    ]
    reasons = store_clicks(env.loa.engine, events, dedupe=timedelta(hours=24))
    assert reasons == [
        ClickReason.counted,
        ClickReason.repeat,
        ClickReason.counted,
        ClickReason.counted,
        ClickReason.self,
    ]
    # Later the office learns that NewsPreviewer is a link-preview fetcher: re-run the rules.
    settings = load_settings(env.config, overrides={"sharing": {"extra_crawler_patterns": ["newspreviewer"]}})
    summary = recount(env.loa.engine, settings)
    assert summary.changed == 1
    assert [c.reason for c in clicks(env, code)] == ["counted", "repeat", "counted", "crawler", "self"]
    assert recount(env.loa.engine, settings).changed == 0  # idempotent


def test_report_by_staff_agrees_with_raw_events(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    staff = new_staff(env, unit="BHXH thị xã Hoàng Mai")
    code = link_code(env, staff)
    for n in range(3):
        visit(env, code, agent=f"{PHONE_UA} report/{n}")
    visit(env, code, agent=f"{PHONE_UA} report/0")  # a repeat
    visit(env, code, agent="facebookexternalhit/1.1")
    cli = cli_for(env.config, capsys)
    assert cli("share", "record", "--post", str(env.post_id), "--staff", staff["email"], "--platform", "zalo",
               "--note", "thấy trong nhóm Zalo khu phố").code == 0  # fmt: skip
    today = datetime.now(UTC).astimezone(env.loa.settings.tz).date().isoformat()
    result = cli("report", "shares", "--from", today, "--to", today, "--by", "staff", "--format", "json")
    assert result.code == 0, result.stderr
    report = result.json()
    with session_scope(env.loa.engine, read_only=True) as session:
        raw_shares = dict(
            session.exec(
                select(col(ShareLink.staff_id), func.count())
                .select_from(Share)
                .join(ShareLink, col(ShareLink.id) == col(Share.share_link_id))
                .group_by(col(ShareLink.staff_id))
            ).all()
        )
        raw_clicks = dict(
            session.exec(
                select(col(ShareLink.staff_id), func.count())
                .select_from(Click)
                .join(ShareLink, col(ShareLink.id) == col(Click.share_link_id))
                .where(col(Click.counted).is_(True), col(Click.at) > datetime.now(UTC) - timedelta(hours=20))
                .group_by(col(ShareLink.staff_id))
            ).all()
        )
    rows = {str(r["key"]): r for r in report["rows"]}
    mine = rows[str(staff["id"])]
    assert (mine["shares"], mine["clicks"], mine["unit"]) == (1, 3, "BHXH thị xã Hoàng Mai")
    for key, row in rows.items():
        assert row["shares"] == raw_shares.get(int(key), 0), row
        assert row["clicks"] == raw_clicks.get(int(key), 0), row
    assert report["totals"]["shares"] == sum(raw_shares.values())
    assert report["totals"]["clicks"] == sum(raw_clicks.values())


def test_visitor_identity_is_a_keyed_hash_not_the_address(env: Env) -> None:
    code = link_code(env, new_staff(env))
    visit(env, code, agent=PHONE_UA)
    (click,) = clicks(env, code)
    assert re.fullmatch(r"[0-9a-f]{32}", click.visitor_hash)
    assert unicodedata.is_normalized("NFC", click.user_agent or "")
    # The same address and agent under another key is another hash: the table alone links nobody.
    from scheduler.sharing.visitors import SharingKeys, visitor_hash

    assert visitor_hash(SharingKeys.from_secret(b"other"), "127.0.0.1", PHONE_UA) != click.visitor_hash
    assert visitor_hash(env.service.keys, "127.0.0.1", PHONE_UA) == click.visitor_hash


def test_share_export_link_and_record_cli(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    staff = new_staff(env)
    cli = cli_for(env.config, capsys)
    link = cli("share", "link", "--post", str(env.post_id), "--staff", staff["email"], "--channel", "fb-bhxh-nghean")
    assert link.code == 0 and link.stdout.strip() == f"{env.url}/l/{link_code(env, staff)}"
    both = cli("share", "link", "--post", str(env.post_id), "--staff", str(staff["id"]), "--json").json()["links"]
    assert sorted(x["channel"] for x in both) == CHANNELS
    missing = cli("share", "link", "--post", "99999", "--staff", str(staff["id"]))
    assert missing.code == 2 and "99999" in missing.stderr
    bad = cli("share", "record", "--post", str(env.post_id), "--staff", str(staff["id"]), "--platform", "myspace")
    assert bad.code == 2 and shares(env, staff["id"]) == []
    recorded = cli("share", "record", "--post", str(env.post_id), "--staff", str(staff["id"]), "--platform", "facebook",
                   "--note", "báo qua điện thoại", "--json")  # fmt: skip
    assert recorded.code == 0 and recorded.json()["kind"] == "self_report"
    assert [(s.kind, s.note) for s in shares(env, staff["id"])] == [(ShareKind.self_report, "báo qua điện thoại")]


# -- hostile and careless input -------------------------------------------------------------


def published_post(env: Env, day: str) -> dict[str, Publication]:
    """Another post, really published through the sandbox (its rows are this test's own)."""
    post_id = env.loa.posts.add(
        PostRequest(template="thang-van-dong", channels=CHANNELS, variables={**VARS, "ngay": day})
    )
    Dispatcher(env.loa.settings, env.loa.engine, env.loa.vault, one_shot=True).run_once()
    with session_scope(env.loa.engine, read_only=True) as session:
        found = {p.platform: p for p in session.exec(select(Publication).where(col(Publication.post_id) == post_id))}
    assert all(p.status == PublicationStatus.published for p in found.values()), found
    return found


def raw_permalink(env: Env, publication_id: int) -> str:
    with env.loa.engine.connect() as connection:
        return str(
            connection.execute(
                text("SELECT permalink FROM publication WHERE id = :id"), {"id": publication_id}
            ).scalar()
        )


def test_a_vietnamese_permalink_is_stored_and_redirected_to_as_ascii(env: Env) -> None:
    publications = published_post(env, "08/05/2026")
    facebook, zalo = publications["facebook"], publications["zalo"]
    assert facebook.id is not None and zalo.id is not None
    encoded = "https://www.facebook.com/bhxh.nghean/b%C3%A0i-vi%E1%BA%BFt-th%C3%A1ng-v%E1%BA%ADn-%C4%91%E1%BB%99ng"
    # A row stored before permalinks were normalised: written straight into the table.
    with env.loa.engine.begin() as connection:
        connection.execute(
            text("UPDATE publication SET permalink = :p WHERE id = :id"),
            {"p": "https://www.facebook.com/bhxh.nghean/bài-viết-tháng-vận-động", "id": facebook.id},
        )
    # And one stored now, through the models: it goes in as ASCII.
    with session_scope(env.loa.engine) as session:
        row = session.get(Publication, zalo.id)
        assert row is not None
        row.permalink = "https://zalo.me/bài-viết?chủ_đề=bảo hiểm#đầu"
        session.add(row)
    staff = new_staff(env)
    links = {x["channel"]: x["code"] for x in env.service.links(post_id=facebook.post_id, staff_ref=str(staff["id"]))}
    for _ in range(2):  # twice: the second answer comes from the link cache
        response = visit(env, links[facebook.channel_id])
        assert response.status_code == 302, response.text[:200]
        assert response.headers["Location"] == encoded
    assert counted(env, links[facebook.channel_id]) == 1
    # A space stays refused (an odd character in a stored row), percent-encoding or not.
    response = visit(env, links[zalo.channel_id])
    assert response.status_code == 200 and "Location" not in response.headers
    assert (
        raw_permalink(env, zalo.id)
        == "https://zalo.me/b%C3%A0i-vi%E1%BA%BFt?ch%E1%BB%A7_%C4%91%E1%BB%81=b%E1%BA%A3o hi%E1%BB%83m#%C4%91%E1%BA%A7u"
    )
    with session_scope(env.loa.engine, read_only=True) as session:
        shown = session.get(Publication, facebook.id)
        assert shown is not None and shown.permalink == encoded  # read back as ASCII too


def test_a_tracked_link_that_fails_inside_answers_a_plain_page_not_a_500(env: Env) -> None:
    publications = published_post(env, "09/05/2026")
    facebook = publications["facebook"]
    staff = new_staff(env)
    links = {x["channel"]: x["code"] for x in env.service.links(post_id=facebook.post_id, staff_ref=str(staff["id"]))}
    code = links[facebook.channel_id]
    # A row no version of Loa writes (a careless hand in the database): reading it raises.
    if env.loa.engine.dialect.name == "postgresql":
        with env.loa.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ALTER TYPE publicationstatus ADD VALUE IF NOT EXISTS 'bogus'"))
    with env.loa.engine.begin() as connection:
        connection.execute(text("UPDATE publication SET status = 'bogus' WHERE id = :id"), {"id": facebook.id})
    try:
        response = visit(env, code)
        assert response.status_code == 503, response.text[:300]
        assert "Traceback" not in response.text and "Internal Server Error" not in response.text
        assert "thử lại" in response.text and response.headers.get("Retry-After")
    finally:
        with env.loa.engine.begin() as connection:
            connection.execute(text("UPDATE publication SET status = 'published' WHERE id = :id"), {"id": facebook.id})
    assert visit(env, code).status_code == 302


def test_one_address_rotating_user_agents_counts_a_bounded_number_of_clicks(env: Env) -> None:
    code = link_code(env, new_staff(env))
    phone = device("127.0.4.1")
    statuses = [visit(env, code, agent=f"{PHONE_UA} rotating/{n}", session=phone).status_code for n in range(100)]
    assert statuses == [302] * 100  # every visitor still reaches the post
    stored = clicks(env, code)
    assert len(stored) == 100  # raw events kept, each with its reason
    assert [c.reason for c in stored].count("counted") == 3
    assert [c.reason for c in stored].count("address_limit") == 97
    assert len({c.address_hash for c in stored}) == 1
    assert all(c.address_hash and re.fullmatch(r"[0-9a-f]{32}", c.address_hash) for c in stored)
    assert all(c.address_hash != c.visitor_hash and "127.0" not in (c.address_hash or "") for c in stored)
    # Another device counts on its own; the same one on another link does too.
    assert visit(env, code, agent=f"{PHONE_UA} rotating/0", session=device("127.0.4.2")).status_code == 302
    assert counted(env, code) == 4
    other = link_code(env, new_staff(env))
    visit(env, other, agent=f"{PHONE_UA} rotating/0", session=phone)
    assert counted(env, other) == 1


def test_recount_applies_the_address_bound_to_history(env: Env) -> None:
    code = link_code(env, new_staff(env))
    with session_scope(env.loa.engine, read_only=True) as session:
        link = session.exec(select(ShareLink).where(col(ShareLink.code) == code)).one()
    assert link.id is not None
    t0 = datetime(2026, 5, 6, 1, 0, tzinfo=UTC)
    # Stored as they were before the bound existed (per_address 0): one address, five agents,
    # then the same address a day later; and three old clicks that kept no address at all.
    history = [ClickEvent(link.id, t0 + timedelta(minutes=n), f"a{n}", f"Phone/{n}", None, "addr1") for n in range(5)]
    history.append(ClickEvent(link.id, t0 + timedelta(hours=25), "a9", "Phone/9", None, "addr1"))
    history += [ClickEvent(link.id, t0 + timedelta(minutes=10 + n), f"old{n}", "Phone", None) for n in range(3)]
    assert store_clicks(env.loa.engine, history, dedupe=timedelta(hours=24)) == [ClickReason.counted] * 9
    summary = recount(env.loa.engine, env.loa.settings)
    assert summary.changed >= 2
    by_agent = {c.visitor_hash: c.reason for c in clicks(env, code)}
    assert [by_agent[f"a{n}"] for n in range(5)] == ["counted"] * 3 + ["address_limit"] * 2
    assert by_agent["a9"] == "counted"  # outside the window of the first three
    assert [by_agent[f"old{n}"] for n in range(3)] == ["counted"] * 3  # no address: as they were
    assert recount(env.loa.engine, env.loa.settings).changed == 0
    # The bound turned off (0): the history counts as it did.
    unbounded = load_settings(env.config, overrides={"sharing": {"max_clicks_per_address": 0}})
    recount(env.loa.engine, unbounded)
    assert counted(env, code) == 9
    recount(env.loa.engine, env.loa.settings)
    assert counted(env, code) == 7


def tap(browser: requests.Session, env: Env, staff: dict[str, Any], page: str, platform: str) -> requests.Response:
    return browser.post(
        f"{env.url}/s/{staff['token']}/share",
        data={**form_of(page, platform), "platform": platform},
        headers={"Origin": env.url},
        allow_redirects=False,
        timeout=10,
    )


def test_tapping_again_later_is_not_another_share(env: Env) -> None:
    staff = new_staff(env)
    browser = requests.Session()
    page = browser.get(f"{env.url}/s/{staff['token']}", timeout=10).text
    assert tap(browser, env, staff, page, "facebook").status_code == 303
    # The same button an hour later (well past a double tap): the dialog opens, no new share.
    with session_scope(env.loa.engine) as session:
        (share,) = shares(env, staff["id"])
        row = session.get(Share, share.id)
        assert row is not None
        row.at = datetime.now(UTC) - timedelta(hours=1)
        session.add(row)
    again = tap(browser, env, staff, page, "facebook")
    assert again.status_code == 303 and again.headers["Location"].startswith("https://www.facebook.com/sharer/")
    assert len(shares(env, staff["id"])) == 1
    # Past the window it is a new share.
    with session_scope(env.loa.engine) as session:
        row = session.get(Share, share.id)
        assert row is not None
        row.at = datetime.now(UTC) - timedelta(hours=25)
        session.add(row)
    assert tap(browser, env, staff, page, "facebook").status_code == 303
    assert len(shares(env, staff["id"])) == 2


def test_scripted_taps_are_rate_limited_and_counted_once_per_button(env: Env) -> None:
    staff = new_staff(env)
    browser = requests.Session()
    page = browser.get(f"{env.url}/s/{staff['token']}", timeout=10).text
    # Ten at once on one button: one share (on PostgreSQL too, whose transactions run side by side).
    answers: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        status = tap(requests.Session(), env, staff, page, "zalo").status_code
        with lock:
            answers.append(status)

    threads = [threading.Thread(target=one) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [303] * 10
    assert len(shares(env, staff["id"])) == 1
    # A script tapping every button as fast as it can: a tap limit per minute, then 429.
    statuses = [tap(browser, env, staff, page, ("facebook", "zalo", "copy")[n % 3]).status_code for n in range(40)]
    limit = env.loa.settings.sharing.max_taps_per_minute
    assert statuses[: limit - 10] == [303] * (limit - 10)
    assert set(statuses[limit - 10 :]) == {429}
    refused = tap(browser, env, staff, page, "facebook")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "bấm" in refused.text
    assert sorted(s.platform for s in shares(env, staff["id"])) == ["copy", "facebook", "zalo"]
    # Another staff member is not held up by it.
    other = new_staff(env)
    other_page = browser.get(f"{env.url}/s/{other['token']}", timeout=10).text
    assert tap(browser, env, other, other_page, "facebook").status_code == 303


def test_live_address_bound_equals_recount_at_the_edge_of_the_window(env: Env) -> None:
    code = link_code(env, new_staff(env))
    with session_scope(env.loa.engine, read_only=True) as session:
        link = session.exec(select(ShareLink).where(col(ShareLink.code) == code)).one()
    assert link.id is not None
    t0 = datetime(2026, 5, 7, 1, 0, tzinfo=UTC)
    day = timedelta(hours=24)
    first = [ClickEvent(link.id, t0 + timedelta(seconds=n), f"e{n}", "Phone", None, "edge") for n in range(3)]
    assert store_clicks(env.loa.engine, first, dedupe=day, per_address=3) == [ClickReason.counted] * 3
    # One batch while the first of those leaves the window, then the second: each freed place
    # is taken once, exactly as a recount decides it.
    batch = [
        ClickEvent(link.id, t0 + day + timedelta(seconds=0.5), "f1", "Phone", None, "edge"),
        ClickEvent(link.id, t0 + day + timedelta(seconds=0.6), "f2", "Phone", None, "edge"),
        ClickEvent(link.id, t0 + day + timedelta(seconds=1.5), "f3", "Phone", None, "edge"),
        ClickEvent(link.id, t0 + day + timedelta(seconds=1.6), "f4", "Phone", None, "edge"),
    ]
    assert store_clicks(env.loa.engine, batch, dedupe=day, per_address=3) == [
        ClickReason.counted,
        ClickReason.address_limit,
        ClickReason.counted,
        ClickReason.address_limit,
    ]
    assert recount(env.loa.engine, env.loa.settings).changed == 0


def test_share_page_covers_come_as_phone_sized_webp_with_a_jpeg_fallback(env: Env) -> None:
    import html
    import io
    import re

    from PIL import Image

    staff = new_staff(env)
    page = requests.get(f"{env.url}/s/{staff['token']}", headers={"User-Agent": PHONE_UA}, timeout=10).text
    webp = re.search(r'<source type="image/webp" srcset="([^"]+)"', page)
    jpeg = re.search(r'<img class="cover" src="([^"]+)" srcset="([^"]+)"', page)
    assert webp and jpeg, page
    original = requests.get(html.unescape(jpeg.group(1)).split("?")[0], timeout=10)
    assert original.status_code == 200
    for srcset, kind in ((webp.group(1), "image/webp"), (jpeg.group(2), "image/jpeg")):
        entries = [entry.rsplit(" ", 1) for entry in html.unescape(srcset).split(", ")]
        assert [width for _url, width in entries] == ["480w", "960w"]
        for url, width in entries:
            first = requests.get(url, timeout=10)
            assert first.status_code == 200 and first.headers["content-type"] == kind
            with Image.open(io.BytesIO(first.content)) as image:
                assert image.width == min(int(width[:-1]), Image.open(io.BytesIO(original.content)).width)
            assert len(first.content) < len(original.content)
            again = requests.get(url, timeout=10)  # kept on disk: the same bytes, not made again
            assert again.content == first.content
    base = html.unescape(jpeg.group(1)).split("?")[0]
    for asked in ("?w=481&f=webp", "?w=960&f=gif", "?w=-1&f=jpeg", "?f=webp", "?w=99999999999999999999&f=webp"):
        assert requests.get(base + asked, timeout=10).status_code == 404, asked


def test_the_share_page_counts_its_owners_taps_and_counted_clicks_this_month_at_once(env: Env) -> None:
    def stats(staff: dict[str, Any]) -> list[str]:
        page = requests.get(f"{env.url}/s/{staff['token']}", headers={"User-Agent": PHONE_UA}, timeout=10).text
        return re.findall(r"<dd>([^<]*)</dd>", page)[:2]

    staff, other = new_staff(env), new_staff(env)
    assert stats(staff) == ["0", "0"]
    browser = requests.Session()
    browser.headers["User-Agent"] = PHONE_UA
    page = browser.get(f"{env.url}/s/{staff['token']}", timeout=10).text
    tapped = browser.post(
        f"{env.url}/s/{staff['token']}/share",
        data={**form_of(page, "facebook"), "platform": "facebook"},
        headers={"Origin": env.url},
        allow_redirects=False,
        timeout=10,
    )
    assert tapped.status_code == 303
    code = link_code(env, staff, "facebook")
    assert visit(env, code, session=device("127.0.9.1")).status_code == 302
    assert visit(env, code, session=device("127.0.9.2")).status_code == 302
    assert visit(env, code, session=device("127.0.9.3"), agent=FACEBOOK_PREVIEW_UA).status_code == 200  # not counted
    # The page's own figures are read fresh on every visit (only what all pages share is reused).
    assert stats(staff) == ["1", "2"]
    assert stats(other) == ["0", "0"]
