"""`GET /metrics`: Prometheus's own parser reads it, and its figures move with real work.

Posts go out through `loa publish-due` to the sandbox and tracked links are followed over
HTTP; the counters are read back from the page the web app serves on loopback.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import Post, Publication, PublicationStatus, ShareLink, Staff, Unit
from scheduler.posts.requests import PostRequest
from scheduler.serving import ThreadedServer
from scheduler.store import session_scope
from scheduler.web.app import create_app
from tests.conftest import Cli, free_port, write_config
from tests.test_publishing import VARS

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(base: str, **headers: str) -> Samples:
    answer = requests.get(f"{base}/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def linked(loa: Loa, code: str) -> None:
    """A staff member's tracked link to a published Facebook post."""
    now = datetime.now(UTC)
    with session_scope(loa.engine) as session:
        unit = Unit(code="vinh", name="Vinh")
        session.add(unit)
        session.flush()
        token = "tok-metrics-0123456789"
        staff = Staff(unit_id=unit.id or 0, full_name="Nguyễn Văn A", share_token=token, created_at=now)
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
            permalink="https://www.facebook.com/100000000000001/posts/42",
        )
        session.add(publication)
        session.flush()
        session.add(ShareLink(code=code, publication_id=publication.id or 0, staff_id=staff.id or 0, created_at=now))


def test_counters_move_when_posts_publish_and_links_are_followed(loa: Cli, config_path: Path) -> None:
    settings = load_settings(config_path)
    base = settings.public_url
    app = Loa(settings)
    before = scrape(base)
    assert value(before, "loa_queue_depth", status="scheduled") == 0
    # Every family is there from the start, the alert deliveries included (zero until alerts land).
    names = {name for name, _ in before}
    assert {"loa_click_writer_batch_size_count", "loa_queue_depth"} <= names

    due = datetime.now(UTC) - timedelta(seconds=30)
    requests_ = [
        PostRequest(template="thang-van-dong", channels=["fb-bhxh-nghean"], variables={**VARS, "hoat_dong": f"đợt {n}"},
                    at=due)
        for n in range(3)
    ]  # fmt: skip
    prepared = [app.posts.prepare(r, now=due) for r in requests_]
    app.posts.store(prepared)
    queued = scrape(base)
    assert value(queued, "loa_queue_depth", status="scheduled") == 3

    published = loa("publish-due", "--json")
    assert published.code == 0, published.stderr
    after = scrape(base)
    outcome = {"platform": "facebook", "outcome": "published"}
    assert value(after, "loa_publications_total", **outcome) - value(before, "loa_publications_total", **outcome) == 3
    lateness = "loa_publish_lateness_seconds_count"
    assert value(after, lateness, platform="facebook") - value(before, lateness, platform="facebook") == 3
    # They were 30 s late at least: none falls in the 10-second bucket.
    assert value(after, "loa_publish_lateness_seconds_bucket", platform="facebook", le="10.0") == value(
        before, "loa_publish_lateness_seconds_bucket", platform="facebook", le="10.0"
    )
    assert value(after, "loa_queue_depth", status="scheduled") == 0
    assert value(after, "loa_queue_depth", status="published") == 3

    linked(app, "metrics01")
    browser = {"User-Agent": "Mozilla/5.0 (Linux; Android 14) Mobile"}
    for _ in range(2):  # the second visit is the same visitor again: stored, not counted
        answer = requests.get(f"{base}/l/metrics01", headers=browser, allow_redirects=False, timeout=10)
        assert answer.status_code == 302
    crawler = requests.get(f"{base}/l/metrics01", headers={"User-Agent": "facebookexternalhit/1.1"}, timeout=10)
    assert crawler.status_code == 200
    clicked = scrape(base)
    moved = {
        reason: value(clicked, "loa_tracked_link_clicks_total", counted=counted, reason=reason)
        - value(after, "loa_tracked_link_clicks_total", counted=counted, reason=reason)
        for counted, reason in (("yes", "counted"), ("no", "repeat"), ("no", "crawler"))
    }
    assert moved == {"counted": 1, "repeat": 1, "crawler": 1}
    batches = value(clicked, "loa_click_writer_batch_size_count") - value(after, "loa_click_writer_batch_size_count")
    assert 1 <= batches <= 3
    app.close()


def test_only_loopback_without_a_proxy_or_the_token(
    tmp_path: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOA_TEST_METRICS_TOKEN", "a-long-random-metrics-token")
    port = free_port()
    extra = '\n[web]\nmetrics_token_env = "LOA_TEST_METRICS_TOKEN"\n'
    config = write_config(tmp_path, sandbox_url=sandbox.url, public_url=f"http://127.0.0.1:{port}", extra=extra)
    app = Loa(load_settings(config))
    app.init()
    base = f"http://127.0.0.1:{port}"
    try:
        with ThreadedServer(create_app(app), port=port):
            assert requests.get(f"{base}/metrics", timeout=10).status_code == 200
            # Through a reverse proxy on the same host the peer is loopback too: refused.
            proxied = requests.get(f"{base}/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10)
            assert proxied.status_code == 403 and "metrics_token_env" in proxied.text
            wrong = {"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer wrong"}
            assert requests.get(f"{base}/metrics", headers=wrong, timeout=10).status_code == 403
            scrape(base, **{"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer a-long-random-metrics-token"})
    finally:
        app.close()


def test_json_log_lines_carry_the_request_id(offline_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import logging

    from starlette.testclient import TestClient

    from scheduler.logs import configure

    app = Loa(load_settings(offline_config))
    configure(json_lines=True)
    try:
        with TestClient(create_app(app)) as client:
            capsys.readouterr()
            answer = client.get("/healthz", headers={"X-Request-ID": "caddy-7f3a", "X-Forwarded-For": "198.51.100.7"})
            assert answer.headers["x-request-id"] == "caddy-7f3a"
            fresh = client.get("/healthz").headers["x-request-id"]
            assert len(fresh) == 16 and fresh != "caddy-7f3a"
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
        warned = [line for line in lines if line["logger"] == "loa.web"]
        assert warned and warned[0]["request_id"] == "caddy-7f3a" and warned[0]["level"] == "WARNING"
    finally:
        logging.getLogger().handlers.clear()
        app.close()
