"""ZaloPublisher against the real sandbox: token rotation, article shape, verify, errors."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from scheduler.channels.base import ChannelAccess, OutgoingPost
from scheduler.channels.zalo.client import (
    ZaloPublisher,
    _seconds_until_morning,
    derive_description,
    derive_title,
    html_to_text,
    text_to_html,
)
from scheduler.errors import (
    AuthError,
    PermanentError,
    RateLimited,
    TransientError,
    UnknownOutcome,
    render_error,
)
from tests.test_publisher_contract import (
    OA_ID,
    ZALO_APP_SECRET,
    ZALO_REFRESH,
    DictVault,
    RecordingSession,
    add_fault,
    sandbox_state,
    serve_jpeg,
    set_engagement,
)

if TYPE_CHECKING:
    from scheduler.sandbox.server import SandboxServer

CHANNEL = "zalo-test"
CREATE = "POST /v2.0/article/create"
VERIFY = "POST /v2.0/article/verify"
OAUTH = "POST /v4/oa/access_token"

@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the platforms' errors in English (LOA_LANG), the second language."""
    monkeypatch.setenv("LOA_LANG", "en")



@pytest.fixture(scope="module")
def cover_url() -> Iterator[str]:
    with serve_jpeg() as url:
        yield url


def make(
    sandbox: SandboxServer,
    vault: DictVault | None = None,
    *,
    refresh_token: str | None = ZALO_REFRESH,
    **kwargs: Any,
) -> ZaloPublisher:
    access = ChannelAccess(
        channel_id=CHANNEL,
        external_id=OA_ID,
        api_base=sandbox.url,
        oauth_base=sandbox.url,
        app_id="1234567890",
        app_secret=ZALO_APP_SECRET,
        initial_refresh_token=refresh_token,
    )
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("verify_polls", 4)
    kwargs.setdefault("verify_interval", 0.05)
    return ZaloPublisher(access, vault=vault if vault is not None else DictVault(), **kwargs)


def text() -> str:
    return (
        f"Thông báo thu BHYT hộ gia đình {uuid.uuid4().hex[:6]}\n"
        "Từ ngày 1/6, bà con nộp tại UBND xã.\n\nMang theo <CCCD> & sổ hộ khẩu."
    )


def articles(sandbox: SandboxServer) -> list[dict[str, Any]]:
    oa: dict[str, Any] = sandbox_state(sandbox)["zalo"]["oas"].get(OA_ID, {})
    return list(oa.get("articles", []))


def zalo_fault(sandbox: SandboxServer, route: str = CREATE, **spec: Any) -> None:
    add_fault(sandbox, {"platform": "zalo", "route": route, **spec})


# ---------------------------------------------------------------------------- tokens


def test_first_use_seeds_the_vault_and_saves_before_use(sandbox: SandboxServer) -> None:
    log: list[tuple[str, str]] = []
    vault = DictVault(log)
    publisher = make(sandbox, vault, session=RecordingSession(log))
    publisher.check()

    [saved] = vault.saves
    assert saved["refresh_token"] not in ("", ZALO_REFRESH)  # rotated
    expires = datetime.fromisoformat(saved["expires_at"])
    # expires_in arrives as the string "90000" (25 h).
    assert abs((expires - datetime.now(UTC)).total_seconds() - 90000) < 60
    token = saved["access_token"]
    assert log.index(("save", token)) < log.index(("use", token))


def test_refresh_tokens_rotates_every_time(sandbox: SandboxServer) -> None:
    vault = DictVault()
    publisher = make(sandbox, vault)
    first = publisher.refresh_tokens()
    second = publisher.refresh_tokens()
    assert second >= first
    refresh_tokens = [s["refresh_token"] for s in vault.saves]
    assert len(set(refresh_tokens)) == 2
    publisher.check()  # the newest pair works
    assert len(vault.saves) == 2  # and needed no further refresh


def test_reused_refresh_token_is_auth_error(sandbox: SandboxServer) -> None:
    make(sandbox, DictVault()).check()  # spends ZALO_REFRESH
    other = make(sandbox, DictVault())  # a second copy of the same, now dead, token
    with pytest.raises(AuthError) as caught:
        other.check()
    # Said as what it is: spent (single-use), not merely "refused".
    assert caught.value.msgid == "error.refresh_token_spent"
    assert "một lần" in render_error(caught.value, "vi") and "single-use" in render_error(caught.value, "en")
    assert ZALO_REFRESH not in f"{caught.value} {caught.value!r}"
    assert ZALO_APP_SECRET not in f"{caught.value} {caught.value!r}"


def test_oauth_error_with_http_200_is_auth_error(sandbox: SandboxServer) -> None:
    zalo_fault(sandbox, OAUTH, error={"error": -14001})
    with pytest.raises(AuthError, match="renew"):
        make(sandbox).check()


def test_no_refresh_token_at_all_is_auth_error(sandbox: SandboxServer) -> None:
    with pytest.raises(AuthError, match="No Zalo token"):
        make(sandbox, refresh_token=None).check()


def test_refresh_is_proactive_near_expiry(sandbox: SandboxServer) -> None:
    vault = DictVault()
    publisher = make(sandbox, vault)
    publisher.check()
    stored = vault.data[CHANNEL]
    vault.data[CHANNEL] = {
        **stored,
        "expires_at": (datetime.now(UTC) + timedelta(minutes=10)).isoformat(),
    }
    publisher.check()
    assert len(vault.saves) == 2
    assert vault.data[CHANNEL]["access_token"] != stored["access_token"]


def test_pair_without_expiry_is_used_as_is(sandbox: SandboxServer) -> None:
    vault = DictVault()
    vault.data[CHANNEL] = {"access_token": "hand-pasted-access", "refresh_token": "hand-pasted-refresh"}
    make(sandbox, vault).check()
    assert vault.saves == []


def test_dead_access_token_is_refreshed_once_and_the_call_retried(sandbox: SandboxServer, cover_url: str) -> None:
    vault = DictVault()
    publisher = make(sandbox, vault)
    publisher.check()
    zalo_fault(sandbox, error={"error": -216})
    result = publisher.publish(OutgoingPost(text=text(), cover_url=cover_url))
    assert result.remote_id in [a["id"] for a in articles(sandbox)]
    assert len(vault.saves) == 2


def test_expired_access_token_in_sandbox_is_refreshed(sandbox: SandboxServer) -> None:
    vault = DictVault()
    publisher = make(sandbox, vault)
    publisher.check()
    add_fault(sandbox, {"platform": "zalo", "expire_token": vault.data[CHANNEL]["access_token"]})
    publisher.check()
    assert len(vault.saves) == 2


def test_concurrent_first_use_spends_the_refresh_token_once(sandbox: SandboxServer) -> None:
    vault = DictVault()
    publishers = [make(sandbox, vault) for _ in range(4)]
    failures: list[BaseException] = []

    def run(p: ZaloPublisher) -> None:
        try:
            p.check()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in publishers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(vault.saves) == 1


# ---------------------------------------------------------------------------- articles


def test_article_shape(sandbox: SandboxServer, cover_url: str) -> None:
    message = text()
    result = make(sandbox).publish(
        OutgoingPost(text=message, cover_url=cover_url, link="https://example.gov.vn/x?a=1&b=2")
    )
    [article] = articles(sandbox)
    assert article["id"] == result.remote_id
    assert article["title"] == message.splitlines()[0]
    assert article["description"] == "Từ ngày 1/6, bà con nộp tại UBND xã. Mang theo <CCCD> & sổ hộ khẩu."
    assert article["cover"] == {"cover_type": "photo", "photo_url": cover_url, "status": "show"}
    assert article["status"] == "show" and article["comment"] == "show"
    [block] = article["body"]
    assert block["type"] == "text"
    assert block["content"] == (
        f"<p>{message.splitlines()[0]}<br>Từ ngày 1/6, bà con nộp tại UBND xã.</p>"
        "<p>Mang theo &lt;CCCD&gt; &amp; sổ hộ khẩu.</p>"
        '<p><a href="https://example.gov.vn/x?a=1&amp;b=2">https://example.gov.vn/x?a=1&amp;b=2</a></p>'
    )
    assert result.permalink == article["link"]
    assert result.published_at is not None


def test_given_title_and_description_are_used(sandbox: SandboxServer, cover_url: str) -> None:
    publisher = make(sandbox, author="BHXH Nghệ An")
    publisher.publish(OutgoingPost(text=text(), title="Tiêu đề", description="Mô tả ngắn", cover_url=cover_url))
    [article] = articles(sandbox)
    assert (article["title"], article["description"], article["author"]) == (
        "Tiêu đề",
        "Mô tả ngắn",
        "BHXH Nghệ An",
    )


def test_long_title_is_cut_at_a_word_within_149() -> None:
    line = " ".join(["Thông báo"] * 40)
    title = derive_title(line + "\nsecond line")
    assert len(title) <= 149 and title.endswith("…")
    assert line.startswith(title[:-1])
    assert title[-2] != " "
    description = derive_description("Title\n" + "chữ " * 200)
    assert len(description) <= 300 and description.endswith("…")


def test_html_round_trip() -> None:
    original = "Dòng 1\nDòng 2 <b>&</b>\n\nĐoạn 2"
    assert html_to_text(text_to_html(original)) == original


def test_title_over_the_limit_is_refused(sandbox: SandboxServer, cover_url: str) -> None:
    with pytest.raises(PermanentError, match="title"):
        make(sandbox).publish(OutgoingPost(text=text(), title="x" * 150, cover_url=cover_url))
    assert articles(sandbox) == []


def test_missing_cover_is_refused_before_any_call(sandbox: SandboxServer) -> None:
    log: list[tuple[str, str]] = []
    publisher = make(sandbox, DictVault(log), session=RecordingSession(log))
    with pytest.raises(PermanentError) as caught:
        publisher.publish(OutgoingPost(text=text()))
    assert "cover" in caught.value.message and "--cover" in (caught.value.hint or "")
    assert log == []


def test_verify_is_polled_until_ready(sandbox: SandboxServer, cover_url: str) -> None:
    zalo_fault(sandbox, VERIFY, times=2, error={"error": -214})
    result = make(sandbox).publish(OutgoingPost(text=text(), cover_url=cover_url))
    assert result.remote_id in [a["id"] for a in articles(sandbox)]


def test_verify_never_ready_is_unknown_outcome_and_findable(sandbox: SandboxServer, cover_url: str) -> None:
    publisher = make(sandbox, verify_polls=3)
    before = datetime.now(UTC) - timedelta(minutes=1)
    post = OutgoingPost(text=text(), cover_url=cover_url)
    zalo_fault(sandbox, VERIFY, times=10, error={"error": -214})
    with pytest.raises(UnknownOutcome, match="still processing"):
        publisher.publish(post)
    [found] = publisher.find_recent(since=before)
    assert found.text == post.text


def test_unreachable_cover_is_permanent_at_verify(sandbox: SandboxServer, cover_url: str) -> None:
    missing = cover_url.replace("cover.jpg", "missing.jpg")
    with pytest.raises(PermanentError, match="could not fetch the cover image") as caught:
        make(sandbox).publish(OutgoingPost(text=text(), cover_url=missing))
    assert caught.value.code == -200
    assert articles(sandbox) == []


@pytest.mark.parametrize(
    ("code", "kind", "least"),
    [
        (-32, RateLimited, 30),
        (-211, RateLimited, 3600),
        (-234, TransientError, 1),
        (-201, PermanentError, None),
        (-209, PermanentError, None),
        (-210, PermanentError, None),
        (-224, PermanentError, None),
        (-999, PermanentError, None),
    ],
)
def test_error_codes(
    sandbox: SandboxServer,
    cover_url: str,
    code: int,
    kind: type[Exception],
    least: int | None,
) -> None:
    zalo_fault(sandbox, error={"error": code, "message": f"message for {code}"})
    with pytest.raises(kind) as caught:
        make(sandbox).publish(OutgoingPost(text=text(), cover_url=cover_url))
    error = caught.value
    assert getattr(error, "code", None) == code
    if least is not None:
        retry_after = getattr(error, "retry_after", None)
        assert retry_after is not None and retry_after >= least
    if kind is PermanentError:
        assert f"message for {code}" in str(error)
    assert articles(sandbox) == []


def test_night_ban_waits_until_morning_in_vietnam() -> None:
    late = datetime(2026, 5, 6, 16, 0, tzinfo=UTC)  # 23:00 in Vietnam
    assert _seconds_until_morning(late) == 7 * 3600 + 5 * 60


def test_server_error_on_create_is_unknown_outcome(sandbox: SandboxServer, cover_url: str) -> None:
    zalo_fault(sandbox, status=502, body="<html>Bad Gateway</html>")
    with pytest.raises(UnknownOutcome):
        make(sandbox).publish(OutgoingPost(text=text(), cover_url=cover_url))


def test_server_error_on_read_is_transient(sandbox: SandboxServer) -> None:
    zalo_fault(sandbox, "GET /v2.0/oa/getoa", status=500)
    with pytest.raises(TransientError):
        make(sandbox).check()


# ---------------------------------------------------------------------------- reads


def test_find_recent_pages_and_returns_body_text(sandbox: SandboxServer, cover_url: str) -> None:
    publisher = make(sandbox)
    before = datetime.now(UTC) - timedelta(minutes=1)
    sent = {}
    for n in range(11):  # more than one getslice page of 10
        post = OutgoingPost(text=f"{text()} #{n}", cover_url=cover_url)
        sent[publisher.publish(post).remote_id] = post.text
    found = publisher.find_recent(since=before)
    assert {p.remote_id: p.text for p in found} == sent
    assert all(p.permalink and p.created_at for p in found)
    assert publisher.find_recent(since=datetime.now(UTC) + timedelta(minutes=5)) == []


def test_metrics_and_delete(sandbox: SandboxServer, cover_url: str) -> None:
    publisher = make(sandbox)
    remote_id = publisher.publish(OutgoingPost(text=text(), cover_url=cover_url)).remote_id
    set_engagement(sandbox, {"platform": "zalo", "article_id": remote_id, "views": 9, "shares": 2})
    metrics = publisher.fetch_metrics(remote_id)
    assert (metrics.views, metrics.shares, metrics.reach) == (9, 2, None)
    publisher.delete(remote_id)
    assert articles(sandbox) == []
    with pytest.raises(PermanentError):
        publisher.fetch_metrics(remote_id)
