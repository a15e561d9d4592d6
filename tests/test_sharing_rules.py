"""The counting rules' building blocks: visitors, crawlers, destinations, tokens, the writer."""

from __future__ import annotations

import ipaddress
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import Click, Post, Publication, PublicationStatus, ShareLink, Staff, Unit, ascii_url
from scheduler.sharing.counting import ClickEvent, ClickReason
from scheduler.sharing.crawlers import DEFAULT_CRAWLER_PATTERNS, CrawlerDetector
from scheduler.sharing.exports import neutralise_cell
from scheduler.sharing.recorder import ClickRecorder
from scheduler.sharing.service import TapLimiter, safe_destination
from scheduler.sharing.visitors import (
    SharingKeys,
    address_hash,
    client_address,
    form_token,
    form_token_ok,
    self_cookie_staff,
    self_cookie_value,
    visitor_hash,
    visitor_hashes,
)
from scheduler.staff.importing import normalise_phone
from scheduler.store import session_scope
from tests.conftest import write_config

KEYS = SharingKeys.from_secret(b"test key")
PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))

HUMANS = [
    "Mozilla/5.0 (Linux; Android 10; Redmi 9A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "Zalo iOS/25.07.01 ZaloTheme/light ZaloLanguage/vi",
    "Mozilla/5.0 (Linux; Android 13; SM-A536E; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0 "
    "Mobile Safari/537.36 Zalo android/12100621 ZaloTheme/light ZaloLanguage/vi",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "[FBAN/FBIOS;FBAV/470.0.0.39.109;FBBV/123;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5]",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) coc_coc_browser/128.0 "
    "Chrome/122.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 9; CUBOT_X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0 Mobile Safari/537.36",
]
ROBOTS = [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "facebookexternalhit/1.1;line-poker/1.0",
    "Facebot",
    "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
    "Mozilla/5.0 (compatible; coccocbot-web/1.0; +http://help.coccoc.com/searchengine)",
    "Twitterbot/1.0",
    "TelegramBot (like TwitterBot)",
    "WhatsApp/2.23.20.0 A",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "ZaloBot/1.0",  # UNVERIFIED: a guess at Zalo's preview fetcher
    "Mozilla/5.0 (compatible; SomethingNew/3.1; +https://example.org/bot)",
    "curl/8.5.0",
    "python-requests/2.32.3",
]


@pytest.mark.parametrize("agent", HUMANS)
def test_people_are_not_crawlers(agent: str) -> None:
    assert not CrawlerDetector(DEFAULT_CRAWLER_PATTERNS)(agent)


@pytest.mark.parametrize("agent", ROBOTS)
def test_known_robots_are_crawlers(agent: str) -> None:
    assert CrawlerDetector(DEFAULT_CRAWLER_PATTERNS)(agent)


def test_the_crawler_list_is_configurable(tmp_path: Path) -> None:
    path = write_config(tmp_path, extra='[sharing]\nextra_crawler_patterns = ["zalo-preview-x"]')
    detector = CrawlerDetector.from_settings(load_settings(path))
    assert detector("Zalo-Preview-X/1") and detector("Facebot")
    replaced = CrawlerDetector.from_settings(load_settings(path, environ={"LOA_SHARING_CRAWLER_PATTERNS": "onlythis"}))
    assert replaced("OnlyThis/1") and not replaced("Facebot")
    from scheduler.errors import ConfigError

    with pytest.raises(ConfigError, match="biểu thức chính quy"):
        load_settings(path, environ={"LOA_SHARING_EXTRA_CRAWLER_PATTERNS": "(unclosed"})


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    assert client_address("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"  # not a proxy: ignored
    assert client_address("10.0.0.2", None, PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", "198.51.100.7", PROXIES) == "198.51.100.7"
    # The left part is whatever the client sent; the right-most untrusted hop is the visitor.
    assert client_address("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.3", PROXIES) == "198.51.100.7"
    assert client_address("10.0.0.2", "not-an-ip", PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", "198.51.100.7", ()) == "10.0.0.2"  # no proxies configured


def test_trusted_proxies_setting(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    settings = load_settings(path, environ={"LOA_WEB_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16"})
    assert settings.web.trusted_proxies == ["10.0.0.1", "192.168.0.0/16"]
    from scheduler.errors import ConfigError

    with pytest.raises(ConfigError, match="trusted_proxies"):
        load_settings(path, environ={"LOA_WEB_TRUSTED_PROXIES": "proxy.local"})


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("0912345678", "0912345678"),
        ("+84 912 345 678", "0912345678"),
        ("84912345678", "0912345678"),
        ("0912.345.678", "0912345678"),
        ("(091) 234-5678", "0912345678"),
        ("912345678", "0912345678"),
        ("0238 3844 555", "02383844555"),
        ("+84 238 3844 555", "02383844555"),
        ("091234567", None),
        ("0123456789", None),
        ("+1 202 555 0100", None),
        ("09123456789", None),
        ("abc", None),
    ],
)
def test_vietnamese_phone_numbers(raw: str, phone: str | None) -> None:
    assert normalise_phone(raw) == phone


HOSTS = ("facebook.com", "fb.com", "zalo.me")


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://www.facebook.com/100000000000001/posts/4", True),
        ("https://zalo.me/s/579745863508352884/abc", True),
        ("http://www.facebook.com/x", False),
        ("https://facebook.com.evil.example/x", False),
        ("https://evilfacebook.com/x", False),
        ("https://www.facebook.com@evil.example/x", False),
        ("https://user:pass@www.facebook.com/x", False),
        ("https://www.facebook.com/x\r\nSet-Cookie: a=b", False),
        ("javascript:alert(1)", False),
        ("//evil.example", False),
        ("", False),
        (None, False),
    ],
)
def test_only_stored_https_permalinks_on_allowed_hosts(url: str | None, safe: bool) -> None:
    assert safe_destination(url, HOSTS) == (url if safe else None)


def test_one_device_is_an_ipv4_address_or_an_ipv6_64() -> None:
    same_64 = ("2001:db8:1:2::10", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:DB8:1:2:0:0:0:1")
    assert len({address_hash(KEYS, a) for a in same_64}) == 1
    assert address_hash(KEYS, "2001:db8:1:3::10") != address_hash(KEYS, same_64[0])
    assert address_hash(KEYS, "203.0.113.7") != address_hash(KEYS, "203.0.113.8")
    assert address_hash(KEYS, "::ffff:203.0.113.7") == address_hash(KEYS, "203.0.113.7")
    assert address_hash(KEYS, "not an address") != address_hash(KEYS, "203.0.113.7")  # hashed, never raised
    # Its own key: the address hash never equals, nor reveals, a visitor hash or the address.
    visitor, address = visitor_hashes(KEYS, "203.0.113.7", "Phone")
    assert visitor == visitor_hash(KEYS, "203.0.113.7", "Phone") and address == address_hash(KEYS, "203.0.113.7")
    assert address != visitor and "203" not in address
    assert address_hash(SharingKeys.from_secret(b"other"), "203.0.113.7") != address


@pytest.mark.parametrize(
    ("url", "ascii"),
    [
        ("https://www.facebook.com/bhxh/posts/1", "https://www.facebook.com/bhxh/posts/1"),
        ("https://www.facebook.com/bhxh/bài-viết", "https://www.facebook.com/bhxh/b%C3%A0i-vi%E1%BA%BFt"),
        ("https://zalo.me/a?q=tiếng việt#đ", "https://zalo.me/a?q=ti%E1%BA%BFng vi%E1%BB%87t#%C4%91"),
        ("https://bảohiểm.vn/x", "https://xn--bohim-v11b9i.vn/x"),
        ("https://x.com/%C3%A0-à", "https://x.com/%C3%A0-%C3%A0"),  # escapes already there stay
        ("https://x.com/\udc80", "https://x.com/%ED%B2%80"),  # a lone surrogate: still no exception
        ("https://" + "à" * 70 + ".vn/", "https://" + "à" * 70 + ".vn/"),  # not a host: left for the reader
    ],
)
def test_permalinks_become_ascii(url: str, ascii: str) -> None:
    assert ascii_url(url) == ascii


def test_a_non_ascii_permalink_is_safe_as_ascii_and_a_broken_one_is_refused() -> None:
    hosts = ["facebook.com", "zalo.me"]
    assert safe_destination("https://www.facebook.com/bhxh/bài-viết", hosts) == (
        "https://www.facebook.com/bhxh/b%C3%A0i-vi%E1%BA%BFt"
    )
    assert safe_destination("https://" + "à" * 70 + ".facebook.com/", hosts) is None
    assert safe_destination("https://[::1/x", hosts) is None


def test_taps_are_limited_per_staff_member_per_minute() -> None:
    now = [1000.0]
    limiter = TapLimiter(3, clock=lambda: now[0])
    assert [limiter.wait(1) for _ in range(3)] == [0, 0, 0]
    assert limiter.wait(1) == 60 and limiter.wait(2) == 0
    now[0] += 59.0
    assert limiter.wait(1) > 0
    now[0] += 1.0
    assert [limiter.wait(1) for _ in range(4)] == [0, 0, 0, 60]  # a minute since the first three


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("+84912", "'+84912"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=x", "'\t=x"),
     ("Nguyễn Văn A", "Nguyễn Văn A")],
)  # fmt: skip
def test_spreadsheet_formulas_are_neutralised(value: str, cell: str) -> None:
    assert neutralise_cell(value) == cell


def test_self_cookie_and_form_token_cannot_be_forged() -> None:
    cookie = self_cookie_value(KEYS, 7)
    assert self_cookie_staff(KEYS, cookie) == 7
    assert self_cookie_staff(KEYS, "8" + cookie[1:]) is None
    assert self_cookie_staff(SharingKeys.from_secret(b"other"), cookie) is None
    assert self_cookie_staff(KEYS, None) is None and self_cookie_staff(KEYS, "garbage") is None
    now = datetime(2026, 5, 6, 1, 0, tzinfo=UTC)
    token = form_token(KEYS, 7, now=now)
    assert form_token_ok(KEYS, 7, token, now=now + timedelta(hours=30))
    assert not form_token_ok(KEYS, 8, token, now=now)  # another staff member's page
    assert not form_token_ok(KEYS, 7, token, now=now + timedelta(days=3))  # too old
    assert not form_token_ok(KEYS, 7, None) and not form_token_ok(KEYS, 7, "123.abc")


def published_link(loa: Loa, *, token: str, code: str) -> int:
    """One staff member's tracked link to one published publication; its id."""
    now = datetime.now(UTC)
    with session_scope(loa.engine) as session:
        unit = Unit(code="vinh", name="Vinh")
        session.add(unit)
        session.flush()
        staff = Staff(unit_id=unit.id or 0, full_name="A", share_token=token, created_at=now)
        post = Post(template="x", text="x", scheduled_at=now, created_at=now)
        session.add_all([staff, post])
        session.flush()
        publication = Publication(
            post_id=post.id or 0,
            channel_id="fb-bhxh-nghean",
            platform="facebook",
            status=PublicationStatus.published,
            text="x",
            due_at=now,
        )
        session.add(publication)
        session.flush()
        link = ShareLink(code=code, publication_id=publication.id or 0, staff_id=staff.id or 0, created_at=now)
        session.add(link)
        session.flush()
        return link.id or 0


def test_the_writer_commits_many_clicks_per_transaction(tmp_path: Path) -> None:
    loa = Loa(load_settings(write_config(tmp_path)))
    loa.init()
    link_id = published_link(loa, token="t" * 32, code="abcdefgh")
    recorder = ClickRecorder(loa.engine, dedupe=timedelta(hours=24))
    reasons: list[ClickReason] = []
    lock = threading.Lock()

    def click(n: int) -> None:
        reason = recorder.record_sync(ClickEvent(link_id, datetime.now(UTC), f"visitor-{n % 250}", "Mozilla/5.0", None))
        with lock:
            reasons.append(reason)

    threads = [threading.Thread(target=click, args=(n,)) for n in range(500)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.close()
    assert reasons.count(ClickReason.counted) == 250 and reasons.count(ClickReason.repeat) == 250
    assert recorder.stored == 500 and recorder.batches < 500  # commits were shared
    with session_scope(loa.engine, read_only=True) as session:
        rows = list(session.exec(select(Click).where(col(Click.share_link_id) == link_id)))
    assert len(rows) == 500 and sum(r.counted for r in rows) == 250
    loa.close()


def test_the_batch_lookup_reads_counted_clicks_only(tmp_path: Path) -> None:
    """One script repeating one visitor (or one address) thousands of times must not make every
    later batch read all its uncounted clicks: SQLite's plan for the recorder's one lookup seeks
    on ``counted`` in both indexes. Checked on the statement the recorder really runs."""
    from sqlalchemy import event

    from scheduler.sharing.counting import store_clicks

    loa = Loa(load_settings(write_config(tmp_path)))
    loa.init()
    now = datetime.now(UTC)
    link_id = published_link(loa, token="u" * 32, code="abcdefgi")
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(loa.engine, "before_cursor_execute", capture)
    try:
        events = [ClickEvent(link_id, now, "v", "Phone", None, "a")]
        store_clicks(loa.engine, events, dedupe=timedelta(hours=24), per_address=3)
    finally:
        event.remove(loa.engine, "before_cursor_execute", capture)
    ((statement, parameters),) = seen
    with loa.engine.connect() as connection:
        plan = [row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    click_steps = [step for step in plan if "ix_click_" in step]
    assert len(click_steps) == 2, plan
    assert all("counted=?" in step for step in click_steps), plan
    loa.close()
