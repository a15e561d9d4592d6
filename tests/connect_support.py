"""Clicking through the sandbox's login and consent pages over real HTTP, as a browser would."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

from tests.conftest import write_config


class FormReader(HTMLParser):
    """The first form of a page: its action, its fields (hidden and ticked) and its boxes."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.in_form = False
        self.fields: list[tuple[str, str]] = []
        self.boxes: list[tuple[str, str, bool]] = []  # name, value, ticked

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action, self.in_form = values.get("action", ""), True
        elif tag == "input" and self.in_form:
            kind = values.get("type", "text")
            if kind in ("checkbox", "radio"):
                self.boxes.append((values["name"], values["value"], "checked" in values))
            else:
                self.fields.append((values.get("name", ""), values.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False


def consent(
    url: str,
    *,
    decision: str = "allow",
    untick: tuple[str, ...] = (),
    choose: str | None = None,
) -> dict[str, str]:
    """Open the consent page at ``url``, submit it; the callback's query parameters."""
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text[:300]
    form = FormReader()
    form.feed(page.text)
    assert form.action is not None, page.text[:500]
    data = list(form.fields)
    for name, value, ticked in form.boxes:
        if choose is not None and name == "oa_id":
            ticked = value == choose
        if ticked and value not in untick:
            data.append((name, value))
    data.append(("decision", decision))
    target = urljoin(url, form.action) if form.action else url.split("?")[0]
    answer = requests.post(target, data=data, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:300]
    return dict(parse_qsl(urlsplit(answer.headers["location"]).query))


def connect_config(
    folder: Path,
    sandbox_url: str,
    *,
    extra: str = "",
    public_url: str = "http://127.0.0.1:8000",
    channels: str | None = None,
) -> Path:
    """A config whose apps point at the sandbox through their configurable bases (as live)."""
    apps = f"""
[facebook_app]
app_id = "100000000000999"
graph_base = "{sandbox_url}"
dialog_base = "{sandbox_url}"
accounts_page_size = 2

[zalo_app]
app_id = "4312201313250283251"
graph_base = "{sandbox_url}"
dialog_base = "{sandbox_url}"
oauth_base = "{sandbox_url}"
default_cover = "cover-default.jpg"
{extra}
"""
    return write_config(folder, sandbox_url=sandbox_url, public_url=public_url, extra=apps, channels=channels)
