"""The publisher contract, checked for every registered platform against the real sandbox.

Each platform supplies a small harness (how to build a publisher for the sandbox, which
route publishes, what its faults look like); the tests themselves are the same for all.
A new platform in ``scheduler.channels.registry.registry()`` fails here until it has a harness.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
import requests
from PIL import Image

from scheduler.channels.base import ChannelAccess, OutgoingPost, Publisher
from scheduler.channels.registry import registry
from scheduler.errors import (
    AuthError,
    PublishError,
    RateLimited,
    UnknownOutcome,
)

if TYPE_CHECKING:
    from scheduler.sandbox.server import SandboxServer

PAGE_ID = "100000000000001"
OA_ID = "579745863508352884"
FB_TOKEN = "fb-page-token-SECRET-1"
ZALO_APP_SECRET = "zalo-app-secret-SECRET-2"
ZALO_REFRESH = "zalo-refresh-SECRET-3"
SECRETS = (FB_TOKEN, ZALO_APP_SECRET, ZALO_REFRESH)


# ---------------------------------------------------------------------------- helpers

@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the platforms' errors in English (LOA_LANG), the second language."""
    monkeypatch.setenv("LOA_LANG", "en")



class DictVault:
    """In-memory TokenVault; ``log`` is shared with RecordingSession to check ordering."""

    def __init__(self, log: list[tuple[str, str]] | None = None) -> None:
        self.data: dict[str, dict[str, str]] = {}
        self.saves: list[dict[str, str]] = []
        self.log = log if log is not None else []
        self.locks: dict[str, threading.Lock] = {}
        self.refreshing: set[str] = set()

    def load(self, channel_id: str) -> dict[str, str] | None:
        stored = self.data.get(channel_id)
        return dict(stored) if stored is not None else None

    def save(self, channel_id: str, secrets: Mapping[str, str]) -> None:
        self.data[channel_id] = dict(secrets)
        self.saves.append(dict(secrets))
        self.log.append(("save", secrets.get("access_token", "")))
        self.refreshing.discard(channel_id)

    def locked(self, channel_id: str) -> threading.Lock:
        return self.locks.setdefault(channel_id, threading.Lock())

    def begin_refresh(self, channel_id: str) -> None:
        self.refreshing.add(channel_id)


class RecordingSession(requests.Session):
    """A real Session that notes which access token each request carried."""

    def __init__(self, log: list[tuple[str, str]]) -> None:
        super().__init__()
        self.log = log

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        headers = kwargs.get("headers") or {}
        params = kwargs.get("params") or {}
        data = kwargs.get("data") or {}
        token = headers.get("access_token") or params.get("access_token")
        if not token and isinstance(data, dict):
            token = data.get("access_token")
        self.log.append(("use", str(token or "")))
        return super().request(method, url, *args, **kwargs)


def small_jpeg(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, format="JPEG")
    return buffer.getvalue()


@contextmanager
def serve_jpeg() -> Iterator[str]:
    """A loopback HTTP server with one JPEG at /cover.jpg (Zalo fetches covers by URL)."""
    payload = small_jpeg()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/cover.jpg":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cover.jpg"
    finally:
        server.shutdown()
        server.server_close()


def add_fault(sandbox: SandboxServer, spec: Mapping[str, Any]) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json=dict(spec), timeout=5)
    assert response.status_code < 300, response.text


def set_engagement(sandbox: SandboxServer, spec: Mapping[str, Any]) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/engagement", json=dict(spec), timeout=5)
    assert response.status_code < 300, response.text


def sandbox_state(sandbox: SandboxServer) -> dict[str, Any]:
    response = requests.get(f"{sandbox.url}/_sandbox/state", timeout=5)
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


def unique_text() -> str:
    return f"Thông báo lịch tiêm chủng {uuid.uuid4().hex[:8]}\nMời bà con đến trạm y tế xã."


# ---------------------------------------------------------------------------- harnesses


@dataclass
class Harness:
    """What the contract needs to know about one platform's sandbox."""

    platform: str
    publish_route: str
    auth_fault: dict[str, Any]
    rate_fault: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def make(self, sandbox: SandboxServer, vault: DictVault, cover_url: str, **kwargs: Any) -> Publisher:
        raise NotImplementedError

    def post(self, cover_url: str) -> OutgoingPost:
        raise NotImplementedError

    def remote_ids(self, sandbox: SandboxServer) -> list[str]:
        raise NotImplementedError

    def engagement(self, remote_id: str) -> tuple[dict[str, Any], dict[str, int | None]]:
        """The /_sandbox/engagement body and the metrics the publisher must then report."""
        raise NotImplementedError


class FacebookHarness(Harness):
    def make(self, sandbox: SandboxServer, vault: DictVault, cover_url: str, **kwargs: Any) -> Publisher:
        cls = registry()["facebook"]
        access = ChannelAccess(
            channel_id="fb-test",
            external_id=PAGE_ID,
            api_base=f"{sandbox.url}/v25.0",
            access_token=FB_TOKEN,
        )
        return cls(access, vault=vault, timeout=kwargs.pop("timeout", 5.0), **kwargs)

    def post(self, cover_url: str) -> OutgoingPost:
        return OutgoingPost(text=unique_text(), link="https://example.gov.vn/tin/1")

    def remote_ids(self, sandbox: SandboxServer) -> list[str]:
        pages = sandbox_state(sandbox)["facebook"]["pages"]
        return [str(p["id"]) for p in pages.get(PAGE_ID, {}).get("posts", [])]

    def engagement(self, remote_id: str) -> tuple[dict[str, Any], dict[str, int | None]]:
        values = {"views": 340, "reach": 210, "reactions": 12, "comments": 4, "shares": 3}
        return (
            {"platform": "facebook", "post_id": remote_id, **values},
            dict(values),
        )


class ZaloHarness(Harness):
    def make(self, sandbox: SandboxServer, vault: DictVault, cover_url: str, **kwargs: Any) -> Publisher:
        cls = registry()["zalo"]
        access = ChannelAccess(
            channel_id="zalo-test",
            external_id=OA_ID,
            api_base=sandbox.url,
            oauth_base=sandbox.url,
            app_id="1234567890",
            app_secret=ZALO_APP_SECRET,
            initial_refresh_token=ZALO_REFRESH,
        )
        kwargs.setdefault("verify_polls", 4)
        kwargs.setdefault("verify_interval", 0.05)
        return cls(access, vault=vault, timeout=kwargs.pop("timeout", 5.0), **kwargs)

    def post(self, cover_url: str) -> OutgoingPost:
        return OutgoingPost(text=unique_text(), cover_url=cover_url)

    def remote_ids(self, sandbox: SandboxServer) -> list[str]:
        oas = sandbox_state(sandbox)["zalo"]["oas"]
        return [str(a["id"]) for a in oas.get(OA_ID, {}).get("articles", [])]

    def engagement(self, remote_id: str) -> tuple[dict[str, Any], dict[str, int | None]]:
        return (
            {"platform": "zalo", "article_id": remote_id, "views": 120, "shares": 7},
            {"views": 120, "shares": 7, "reach": None},
        )


HARNESSES: dict[str, Harness] = {
    "facebook": FacebookHarness(
        platform="facebook",
        publish_route="POST /{page}/feed",
        auth_fault={"status": 400, "error": {"code": 190, "error_subcode": 463}},
        rate_fault={"status": 400, "error": {"code": 32, "message": "Page request limit reached"}},
    ),
    "zalo": ZaloHarness(
        platform="zalo",
        publish_route="POST /v2.0/article/create",
        auth_fault={"error": {"error": -216, "message": "Access token is invalid"}},
        rate_fault={"error": {"error": -32, "message": "Your application reached limit call api"}},
    ),
}

PLATFORMS = sorted(registry())


@pytest.fixture(params=PLATFORMS)
def harness(request: pytest.FixtureRequest) -> Harness:
    platform = request.param
    assert platform in HARNESSES, f"add a contract harness for the {platform!r} publisher"
    return HARNESSES[platform]


@pytest.fixture(scope="module")
def cover_url() -> Iterator[str]:
    with serve_jpeg() as url:
        yield url


def fault(harness: Harness, **spec: Any) -> dict[str, Any]:
    return {"platform": harness.platform, "route": harness.publish_route, **spec}


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text), f"a secret leaked into {text!r}"


# ---------------------------------------------------------------------------- the contract


def test_registry_covers_both_platforms() -> None:
    assert {"facebook", "zalo"} <= set(registry())


def test_capabilities_are_class_data(harness: Harness) -> None:
    cls = registry()[harness.platform]
    assert cls.platform == harness.platform
    assert isinstance(cls.label, str) and cls.label
    assert isinstance(cls.max_text_length, int) and cls.max_text_length > 0
    assert isinstance(cls.max_image_bytes, int) and cls.max_image_bytes > 0
    assert isinstance(cls.supports_image, bool)


def test_platform_differences_are_declared(harness: Harness) -> None:
    """What the rest of Loa asks a platform instead of testing its name is all there."""
    cls = registry()[harness.platform]
    assert isinstance(cls.kind_label, str) and cls.kind_label
    assert isinstance(cls.avatar, str) and len(cls.avatar) == 1
    assert cls.cover_targets and all(t.max_jpeg_bytes > 0 and t.max_png_bytes > 0 for t in cls.cover_targets)
    assert len({t.name for t in cls.cover_targets}) == len(cls.cover_targets)
    assert all(t.max_jpeg_bytes <= cls.max_image_bytes for t in cls.cover_targets)
    assert not cls.needs_cover or cls.supports_image
    assert cls.live_api_base.startswith("https://")
    assert not cls.single_use_refresh_token or (cls.live_oauth_base or "").startswith("https://")
    if cls.share_dialog is not None:
        dialog = cls.share_dialog
        assert dialog.button_label
        # A tap either opens the platform's own dialog, or Loa's page with the link to paste.
        assert bool(dialog.sharer_url) != bool(dialog.paste_title)
        assert not dialog.plugin_markup or (dialog.plugin_script and dialog.plugin_csp)
    emulator = cls.emulator()
    assert emulator.name == cls.platform
    assert emulator.engagement_key


def test_the_sandbox_has_one_catch_all_emulator() -> None:
    assert sum(cls.emulator().catch_all for cls in registry().values()) == 1


def test_publish_find_metrics_delete(sandbox: SandboxServer, harness: Harness, cover_url: str) -> None:
    vault = DictVault()
    publisher = harness.make(sandbox, vault, cover_url)
    before = datetime.now(UTC) - timedelta(minutes=1)
    post = harness.post(cover_url)

    result = publisher.publish(post)

    assert result.remote_id in harness.remote_ids(sandbox)
    assert result.permalink and result.permalink.startswith("http")
    assert result.published_at is not None and result.published_at.tzinfo is not None

    found = {p.remote_id: p for p in publisher.find_recent(since=before)}
    assert result.remote_id in found
    assert post.text.splitlines()[0] in found[result.remote_id].text

    body, expected = harness.engagement(result.remote_id)
    set_engagement(sandbox, body)
    metrics = publisher.fetch_metrics(result.remote_id)
    for name, value in expected.items():
        assert getattr(metrics, name) == value, name

    publisher.delete(result.remote_id)
    assert result.remote_id not in harness.remote_ids(sandbox)
    publisher.check()
    publisher.close()


def test_rejected_credentials_raise_auth_error(sandbox: SandboxServer, harness: Harness, cover_url: str) -> None:
    publisher = harness.make(sandbox, DictVault(), cover_url)
    # Enough times to outlast any refresh-and-retry the publisher is entitled to.
    add_fault(sandbox, fault(harness, times=5, **harness.auth_fault))
    with pytest.raises(AuthError) as caught:
        publisher.publish(harness.post(cover_url))
    assert caught.value.hint and "reconnect" in caught.value.hint.lower()
    assert_no_secret(caught.value, caught.value.hint, repr(publisher))
    assert harness.remote_ids(sandbox) == []


def test_lost_reply_is_unknown_outcome_and_post_is_findable(
    sandbox: SandboxServer, harness: Harness, cover_url: str
) -> None:
    publisher = harness.make(sandbox, DictVault(), cover_url)
    before = datetime.now(UTC) - timedelta(minutes=1)
    post = harness.post(cover_url)
    add_fault(sandbox, fault(harness, times=1, drop_after_commit=True))

    with pytest.raises(UnknownOutcome) as caught:
        publisher.publish(post)

    assert_no_secret(caught.value)
    # The post exists; the reconciler must be able to find it by its text.
    created = harness.remote_ids(sandbox)
    assert len(created) == 1
    found = publisher.find_recent(since=before)
    assert [p.remote_id for p in found] == created
    assert post.text.splitlines()[0] in found[0].text


def test_timeout_on_publish_is_unknown_outcome(sandbox: SandboxServer, harness: Harness, cover_url: str) -> None:
    publisher = harness.make(sandbox, DictVault(), cover_url, timeout=0.3)
    add_fault(sandbox, fault(harness, times=1, delay_s=0.8))
    with pytest.raises(UnknownOutcome) as caught:
        publisher.publish(harness.post(cover_url))
    assert_no_secret(caught.value)


def test_throttling_is_rate_limited_with_retry_after(sandbox: SandboxServer, harness: Harness, cover_url: str) -> None:
    publisher = harness.make(sandbox, DictVault(), cover_url)
    add_fault(sandbox, fault(harness, times=1, **harness.rate_fault))
    with pytest.raises(RateLimited) as caught:
        publisher.publish(harness.post(cover_url))
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    assert harness.remote_ids(sandbox) == []


def test_errors_and_repr_hold_no_secret(sandbox: SandboxServer, harness: Harness, cover_url: str) -> None:
    vault = DictVault()
    publisher = harness.make(sandbox, vault, cover_url)
    publisher.check()  # may seed tokens into the vault
    stored = [v for saved in vault.saves for v in saved.values()]
    errors: list[PublishError] = []
    for spec in (harness.auth_fault, harness.rate_fault):
        add_fault(sandbox, fault(harness, times=5, **spec))
        try:
            publisher.publish(harness.post(cover_url))
        except PublishError as exc:
            errors.append(exc)
        requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)
    assert len(errors) == 2
    for error in errors:
        text = f"{error} {error.hint} {error!r}"
        assert_no_secret(text)
        for secret in stored:
            if len(secret) > 8 and not secret[:4].isdigit():  # tokens, not dates
                assert secret not in text
    assert_no_secret(repr(publisher), repr(publisher.access))
