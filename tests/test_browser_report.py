"""The monthly summary's chart in a real Chromium at 360 px: it fits the phone, long unit
names are wrapped whole (not cut), and every bar's value can be seen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import Unit
from scheduler.serving import ThreadedServer
from scheduler.store import session_scope
from scheduler.web.app import create_app
from tests.conftest import free_port, seed_console_users, write_config
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, Watched, sync_api
from tests.test_reports import AN_TAM, seed

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (.ci/run installs it)")

# A unit name longer than a phone's line: it must come out on several lines, every word kept.
LONG_NAME = "Phòng Truyền thông và Phát triển đối tượng tham gia Bảo hiểm xã hội thành phố Vinh"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def report_site(tmp_path: Path, console_password_hash: str) -> Iterator[tuple[str, Loa]]:
    port = free_port()
    loa = Loa(load_settings(write_config(tmp_path, public_url=f"http://127.0.0.1:{port}", extra=AN_TAM)))
    loa.init()
    seed(loa)
    with session_scope(loa.engine) as session:
        # The seeded unit with shares takes the long name (and leaves its code to the console's accounts).
        vinh = session.exec(select(Unit).where(Unit.code == "vinh")).one()
        vinh.code, vinh.name = "tp-vinh", LONG_NAME
        session.add(vinh)
    seed_console_users(loa.engine, console_password_hash)
    with ThreadedServer(create_app(loa), port=port) as server:
        yield server.url, loa
    loa.close()


# Every text of the chart with its box on the screen, and what is drawn at its centre.
TEXTS = """() => {
  const svg = document.querySelector("svg.bar-chart");
  const box = svg.getBoundingClientRect();
  const texts = [...svg.querySelectorAll("text")].map((t) => {
    const r = t.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return {text: t.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom,
            height: r.height, seen: hit === t, fill: getComputedStyle(t).fill};
  });
  return {svg: {left: box.left, right: box.right, top: box.top, width: box.width},
          inner: window.innerWidth, texts};
}"""


def test_the_summary_chart_fits_a_phone_wraps_long_names_and_shows_every_value(
    browser: Any, report_site: tuple[str, Loa]
) -> None:
    base, loa = report_site
    from scheduler.reports.queries import monthly_summary

    summary = monthly_summary(loa.engine, loa.settings, 2026, 5)
    phone = Watched(browser, base, width=360, height=780)
    try:
        phone.login("duyet")
        phone.go("/reports/summary?month=2026-05")
        chart = phone.page.locator("svg.bar-chart")
        chart.scroll_into_view_if_needed()
        overflow = phone.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the summary scrolls sideways at 360 px ({overflow} px)"
        found = phone.page.evaluate(TEXTS)
        svg, texts = found["svg"], found["texts"]
        assert svg["left"] >= 0 and svg["right"] <= found["inner"] and svg["width"] > 250
        # Nothing drawn past the chart's edges: a cut label would stick out of it.
        for t in texts:
            assert svg["left"] - 0.5 <= t["left"] and t["right"] <= svg["right"] + 0.5, t

        # The long name: on several lines, which together say it whole, each inside the chart.
        words = LONG_NAME.split()
        start = next(i for i, t in enumerate(texts) if t["text"] and LONG_NAME.startswith(t["text"] + " "))
        lines: list[str] = []
        while len(" ".join(lines).split()) < len(words):
            lines.append(texts[start + len(lines)]["text"])
        assert len(lines) >= 2 and " ".join(lines) == LONG_NAME
        tops = [texts[start + k]["top"] for k in range(len(lines))]
        assert tops == sorted(tops) and len(set(tops)) == len(tops)  # one line under the other

        # Every unit's shares and clicks written on its bars, big enough to read and not covered.
        values = [t for t in texts if t["text"].replace(".", "").isdigit()]
        expected = [f"{v:,}".replace(",", ".") for u in summary.units for v in (u.row.shares, u.row.clicks)]
        assert [v["text"] for v in values] == expected
        for value in values:
            assert value["seen"], value
            assert value["height"] >= 9, value  # px on the phone's screen
            assert value["fill"] not in ("none", "rgb(255, 255, 255)"), value
        assert phone.problems == []
        phone.shot("report-chart-360")
    finally:
        phone.close()
