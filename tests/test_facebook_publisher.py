"""FacebookPublisher against the real sandbox: what is sent, and how Graph errors map."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from scheduler.channels.base import ChannelAccess, OutgoingPost
from scheduler.channels.facebook.client import FacebookPublisher
from scheduler.errors import (
    AuthError,
    DuplicateContent,
    PermanentError,
    RateLimited,
    TransientError,
    UnknownOutcome,
)
from tests.test_publisher_contract import (
    FB_TOKEN,
    PAGE_ID,
    DictVault,
    add_fault,
    sandbox_state,
    set_engagement,
    small_jpeg,
)

if TYPE_CHECKING:
    from scheduler.sandbox.server import SandboxServer

FEED = "POST /{page}/feed"

@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the platforms' errors in English (LOA_LANG), the second language."""
    monkeypatch.setenv("LOA_LANG", "en")



def make(sandbox: SandboxServer, **kwargs: Any) -> FacebookPublisher:
    access = ChannelAccess(
        channel_id="fb-test",
        external_id=PAGE_ID,
        api_base=f"{sandbox.url}/v25.0",
        access_token=FB_TOKEN,
    )
    kwargs.setdefault("timeout", 5.0)
    return FacebookPublisher(access, vault=DictVault(), **kwargs)


def text() -> str:
    return f"Lịch tiếp dân tháng 5 — {uuid.uuid4().hex[:8]}"


def posts(sandbox: SandboxServer) -> list[dict[str, Any]]:
    page: dict[str, Any] = sandbox_state(sandbox)["facebook"]["pages"].get(PAGE_ID, {})
    return list(page.get("posts", []))


def fb_fault(sandbox: SandboxServer, route: str = FEED, **spec: Any) -> None:
    add_fault(sandbox, {"platform": "facebook", "route": route, **spec})


# ---------------------------------------------------------------------------- publishing


def test_text_post_with_link(sandbox: SandboxServer) -> None:
    message = text()
    result = make(sandbox).publish(OutgoingPost(text=message, link="https://example.gov.vn/a"))
    [post] = posts(sandbox)
    assert post["id"] == result.remote_id
    assert post["message"] == message
    assert post["link"] == "https://example.gov.vn/a"
    assert result.permalink == post["permalink_url"]  # read back, not guessed


def test_photo_post_returns_the_feed_post_not_the_photo(sandbox: SandboxServer) -> None:
    message = text()
    jpeg = small_jpeg("blue")
    result = make(sandbox).publish(OutgoingPost(text=message, cover_jpeg=jpeg))
    [post] = posts(sandbox)
    assert result.remote_id == post["id"]
    assert result.remote_id.startswith(f"{PAGE_ID}_")
    assert post["photo"]["bytes"] == len(jpeg)
    assert post["photo"]["caption"] == message


def test_photo_post_keeps_the_link_in_the_caption(sandbox: SandboxServer) -> None:
    message = text()
    make(sandbox).publish(OutgoingPost(text=message, link="https://example.gov.vn/b", cover_jpeg=small_jpeg()))
    [post] = posts(sandbox)
    assert post["photo"]["caption"] == f"{message}\n\nhttps://example.gov.vn/b"


def test_feed_post_reads_its_permalink_back_in_the_same_call(sandbox: SandboxServer) -> None:
    fb_fault(sandbox, "GET /{post}", status=500, error={"code": 2})  # a read-back would fail
    result = make(sandbox).publish(OutgoingPost(text=text()))
    assert result.permalink and result.permalink != f"https://www.facebook.com/{result.remote_id}"


def test_permalink_falls_back_when_the_read_back_fails(sandbox: SandboxServer) -> None:
    fb_fault(sandbox, "GET /{post}", status=500, error={"code": 2})
    result = make(sandbox).publish(OutgoingPost(text=text(), cover_jpeg=small_jpeg()))
    assert result.permalink == f"https://www.facebook.com/{result.remote_id}"
    assert result.published_at is not None


def test_read_back_timeout_does_not_fail_the_publish(sandbox: SandboxServer) -> None:
    fb_fault(sandbox, "GET /{post}", delay_s=1.0)
    result = make(sandbox, timeout=0.4).publish(OutgoingPost(text=text(), cover_jpeg=small_jpeg()))
    assert result.remote_id in [p["id"] for p in posts(sandbox)]


def test_same_text_twice_is_duplicate_content(sandbox: SandboxServer) -> None:
    publisher = make(sandbox)
    message = text()
    publisher.publish(OutgoingPost(text=message))
    with pytest.raises(DuplicateContent) as caught:
        publisher.publish(OutgoingPost(text=message))
    assert caught.value.code == 506
    assert "change the text" in (caught.value.hint or "").lower()
    assert len(posts(sandbox)) == 1


def test_too_long_text_is_refused_before_any_call(sandbox: SandboxServer) -> None:
    with pytest.raises(PermanentError, match="63206"):
        make(sandbox).publish(OutgoingPost(text="x" * 63207))
    assert posts(sandbox) == []


def test_too_large_cover_is_refused_before_any_call(sandbox: SandboxServer) -> None:
    with pytest.raises(PermanentError, match="4 MB"):
        make(sandbox).publish(OutgoingPost(text=text(), cover_jpeg=b"\xff" * (4 * 2**20 + 1)))


# ---------------------------------------------------------------------------- error mapping


@pytest.mark.parametrize("subcode", [458, 460, 463, 467])
def test_token_errors_are_auth_errors(sandbox: SandboxServer, subcode: int) -> None:
    fb_fault(sandbox, status=400, error={"code": 190, "error_subcode": subcode})
    with pytest.raises(AuthError) as caught:
        make(sandbox).publish(OutgoingPost(text=text()))
    assert caught.value.subcode == subcode
    assert caught.value.hint == "Reconnect the channel: paste a new Page token."
    assert FB_TOKEN not in f"{caught.value} {caught.value!r}"


def test_revoked_token_fails_check(sandbox: SandboxServer) -> None:
    publisher = make(sandbox)
    publisher.check()
    add_fault(sandbox, {"platform": "facebook", "revoke_token": FB_TOKEN})
    with pytest.raises(AuthError):
        publisher.check()


@pytest.mark.parametrize(("code", "least"), [(4, 60), (17, 60), (32, 60), (613, 60), (80001, 60)])
def test_throttle_codes_are_rate_limited(sandbox: SandboxServer, code: int, least: int) -> None:
    fb_fault(sandbox, status=400, error={"code": code})
    with pytest.raises(RateLimited) as caught:
        make(sandbox).publish(OutgoingPost(text=text()))
    assert caught.value.retry_after is not None and caught.value.retry_after >= least
    assert posts(sandbox) == []


def test_buc_regain_time_is_minutes(sandbox: SandboxServer) -> None:
    buc = {
        PAGE_ID: [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 40,
                "total_time": 40,
                "estimated_time_to_regain_access": 7,
            }
        ]
    }
    fb_fault(
        sandbox,
        status=400,
        error={"code": 80001},
        headers={"X-Business-Use-Case-Usage": buc},
    )
    with pytest.raises(RateLimited) as caught:
        make(sandbox).publish(OutgoingPost(text=text()))
    assert caught.value.retry_after == 7 * 60


def test_usage_at_100_percent_holds_the_next_call_back(sandbox: SandboxServer) -> None:
    publisher = make(sandbox)
    fb_fault(
        sandbox,
        "GET /{page}",
        headers={"X-App-Usage": {"call_count": 100, "total_time": 20, "total_cputime": 20}},
    )
    publisher.check()  # this call worked, but spent the quota
    with pytest.raises(RateLimited) as caught:
        publisher.publish(OutgoingPost(text=text()))
    assert caught.value.retry_after and caught.value.retry_after > 0
    assert posts(sandbox) == []  # never sent


def test_policy_block_pauses_the_channel_for_a_day(sandbox: SandboxServer) -> None:
    fb_fault(sandbox, status=400, error={"code": 368})
    with pytest.raises(RateLimited) as caught:
        make(sandbox).publish(OutgoingPost(text=text()))
    assert caught.value.retry_after == 24 * 3600
    assert "blocked" in caught.value.message


@pytest.mark.parametrize("code", [100, 10, 200, 299])
def test_parameter_and_permission_errors_are_permanent(sandbox: SandboxServer, code: int) -> None:
    fb_fault(sandbox, status=400, error={"code": code})
    with pytest.raises(PermanentError) as caught:
        make(sandbox).publish(OutgoingPost(text=text()))
    assert not isinstance(caught.value, DuplicateContent)
    assert caught.value.code == code


@pytest.mark.parametrize("error", [{"code": 1}, {"code": 2}, {"code": 100, "is_transient": True}])
def test_server_errors_on_publish_are_unknown_outcome(sandbox: SandboxServer, error: dict[str, Any]) -> None:
    status = 400 if error.get("is_transient") else 500
    fb_fault(sandbox, status=status, error=error)
    with pytest.raises(UnknownOutcome):
        make(sandbox).publish(OutgoingPost(text=text()))


@pytest.mark.parametrize("error", [{"code": 1}, {"code": 2}])
def test_server_errors_on_reads_are_transient(sandbox: SandboxServer, error: dict[str, Any]) -> None:
    fb_fault(sandbox, "GET /{page}", status=500, error=error)
    with pytest.raises(TransientError) as caught:
        make(sandbox).check()
    assert not isinstance(caught.value, RateLimited)


def test_non_json_reply_on_publish_is_unknown_outcome(sandbox: SandboxServer) -> None:
    fb_fault(sandbox, status=502, body="<html><body>502 Bad Gateway</body></html>")
    with pytest.raises(UnknownOutcome):
        make(sandbox).publish(OutgoingPost(text=text()))


def test_timeout_on_read_is_transient(sandbox: SandboxServer) -> None:
    fb_fault(sandbox, "GET /{page}", delay_s=1.0)
    with pytest.raises(TransientError) as caught:
        make(sandbox, timeout=0.3).check()
    assert FB_TOKEN not in str(caught.value)


def test_unreachable_graph_on_publish_is_transient_not_unknown() -> None:
    # Nothing listens on port 9 of loopback: the request provably never left.
    access = ChannelAccess(
        channel_id="fb-test",
        external_id=PAGE_ID,
        api_base="http://127.0.0.1:9/v25.0",
        access_token=FB_TOKEN,
    )
    publisher = FacebookPublisher(access, vault=DictVault(), timeout=1.0)
    with pytest.raises(TransientError) as caught:
        publisher.publish(OutgoingPost(text=text()))
    assert FB_TOKEN not in f"{caught.value} {caught.value.__cause__}"


def test_missing_token_is_auth_error(sandbox: SandboxServer) -> None:
    access = ChannelAccess(channel_id="fb-x", external_id=PAGE_ID, api_base=sandbox.url)
    with pytest.raises(AuthError, match="No Page token"):
        FacebookPublisher(access, vault=DictVault()).check()


def test_token_from_the_vault_is_used(sandbox: SandboxServer) -> None:
    vault = DictVault()
    vault.data["fb-x"] = {"access_token": FB_TOKEN}
    access = ChannelAccess(channel_id="fb-x", external_id=PAGE_ID, api_base=f"{sandbox.url}/v25.0")
    FacebookPublisher(access, vault=vault).check()


# ---------------------------------------------------------------------------- reads


def test_find_recent_pages_through_and_stops_at_since(sandbox: SandboxServer) -> None:
    publisher = make(sandbox, page_size=4)
    before = datetime.now(UTC) - timedelta(minutes=1)
    ids = [publisher.publish(OutgoingPost(text=f"{text()} #{n}")).remote_id for n in range(10)]
    found = publisher.find_recent(since=before)
    assert [p.remote_id for p in found] == ids[::-1]  # newest first, over three pages
    assert all(p.created_at is not None and p.permalink for p in found)
    assert publisher.find_recent(since=datetime.now(UTC) + timedelta(minutes=5)) == []


def test_metrics_come_from_fields_and_current_insights(sandbox: SandboxServer) -> None:
    publisher = make(sandbox)
    remote_id = publisher.publish(OutgoingPost(text=text())).remote_id
    fresh = publisher.fetch_metrics(remote_id)
    assert fresh.shares == 0  # Graph omits `shares` at zero
    assert fresh.views == 0 and fresh.reach == 0
    set_engagement(
        sandbox,
        {
            "platform": "facebook",
            "post_id": remote_id,
            "views": 500,
            "reach": 320,
            "reactions": {"like": 10, "love": 2},
            "comments": 5,
            "shares": 4,
        },
    )
    metrics = publisher.fetch_metrics(remote_id)
    assert (metrics.views, metrics.reach, metrics.reactions, metrics.comments, metrics.shares) == (
        500,
        320,
        12,
        5,
        4,
    )


def test_metrics_survive_missing_insights(sandbox: SandboxServer) -> None:
    publisher = make(sandbox)
    remote_id = publisher.publish(OutgoingPost(text=text())).remote_id
    set_engagement(sandbox, {"platform": "facebook", "post_id": remote_id, "shares": 2})
    fb_fault(
        sandbox,
        "GET /{post}/insights",
        status=400,
        error={"code": 100, "message": "(#100) The value must be a valid insights metric"},
    )
    metrics = publisher.fetch_metrics(remote_id)
    assert metrics.shares == 2
    assert metrics.views is None and metrics.reach is None
    assert "insights_error" in metrics.raw


def test_delete_then_delete_again(sandbox: SandboxServer) -> None:
    publisher = make(sandbox)
    remote_id = publisher.publish(OutgoingPost(text=text())).remote_id
    publisher.delete(remote_id)
    assert posts(sandbox) == []
    with pytest.raises(PermanentError):
        publisher.delete(remote_id)
