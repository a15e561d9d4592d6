"""The one HTTP transport every platform client gets: proxies and CA bundle read once per session."""

from __future__ import annotations

from typing import Any

import requests

from scheduler.channels.factory import settle_environment


def settled(base: str, environ: dict[str, str]) -> requests.Session:
    session = requests.Session()
    settle_environment(session, base, environ)
    return session


def test_the_environments_proxy_is_kept_for_the_session_and_not_read_again() -> None:
    session = settled("https://graph.facebook.com/v25.0", {"HTTPS_PROXY": "http://proxy.so.vn:3128"})
    assert session.proxies == {"https": "http://proxy.so.vn:3128"}
    assert session.trust_env is False  # requests no longer reads the environment on each call


def test_lower_case_and_all_proxy_count_as_requests_counts_them() -> None:
    session = settled("https://openapi.zalo.me", {"all_proxy": "http://p:1", "http_proxy": "http://h:2"})
    assert session.proxies == {"http": "http://h:2", "https": "http://p:1"}


def test_no_proxy_names_and_domain_suffixes_go_direct() -> None:
    proxy = {"HTTPS_PROXY": "http://proxy:3128", "HTTP_PROXY": "http://proxy:3128"}
    for no_proxy in ("graph.facebook.com", ".facebook.com", "facebook.com", "localhost, facebook.com", "*"):
        session = settled("https://graph.facebook.com/v25.0", {**proxy, "NO_PROXY": no_proxy})
        assert session.proxies == {}, no_proxy
    assert settled("https://graph.facebook.com", {**proxy, "no_proxy": "book.com"}).proxies != {}


def test_a_ca_bundle_from_the_environment_is_used() -> None:
    assert settled("https://graph.facebook.com", {"REQUESTS_CA_BUNDLE": "/etc/ssl/office.pem"}).verify == (
        "/etc/ssl/office.pem"
    )
    assert settled("https://graph.facebook.com", {}).verify is True


def test_a_settled_session_still_reaches_the_sandbox(sandbox: Any) -> None:
    url = sandbox.url
    session = settled(url, {"HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1"})
    assert session.get(f"{url}/_sandbox/state", timeout=5).status_code == 200
