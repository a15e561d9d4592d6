"""Roles scoped to units, enforced on the server over real HTTP: a unit's editor sees and
composes only for its channels, its approver approves only them, the province's approver
approves for all; every cross-unit attempt is a 403 with an audit entry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlmodel import col, select

from scheduler.app import Loa
from scheduler.auth import add_user, new_api_token
from scheduler.channels.catalog import assign
from scheduler.config import load_settings
from scheduler.models import AuditEvent, Role, utcnow
from scheduler.posts.requests import PostRequest
from scheduler.serving import ThreadedServer
from scheduler.staff.units import add_unit
from scheduler.store import session_scope
from scheduler.web.app import create_app
from tests.conftest import CONSOLE_CHANNELS, CONSOLE_PASSWORD, free_port, write_config

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
VINH_CHANNEL = """
[[channels]]
id = "fb-bhxh-vinh"
platform = "facebook"
name = "BHXH thành phố Vinh"
external_id = "100000000000002"
approval = true
"""


@dataclass
class Site:
    base: str
    loa: Loa


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    port = free_port()
    config = write_config(tmp_path, public_url=f"http://127.0.0.1:{port}", channels=CONSOLE_CHANNELS + VINH_CHANNEL)
    loa = Loa(load_settings(config))
    loa.init()
    add_unit(loa.engine, "BHXH-NA", "BHXH tỉnh Nghệ An", actor="test")
    add_unit(loa.engine, "CS-VINH", "BHXH cơ sở thành phố Vinh", parent="BHXH-NA", actor="test")
    assign(loa, "fb-bhxh-vinh", "CS-VINH", actor="test")
    assign(loa, "fb-bhxh-nghean", "BHXH-NA", actor="test")
    for username, role, unit in (
        ("quantri", Role.admin, None),
        ("bientap", Role.editor, None),
        ("bientap-vinh", Role.editor, "CS-VINH"),
        ("duyet-vinh", Role.approver, "CS-VINH"),
        ("duyet-tinh", Role.approver, "BHXH-NA"),
    ):
        add_user(loa.engine, username=username, role=role, password=CONSOLE_PASSWORD, actor="test", unit=unit)
    with ThreadedServer(create_app(loa), port=port) as server:
        yield Site(server.url, loa)
    loa.close()


def browser(site: Site, username: str) -> requests.Session:
    http = requests.Session()
    page = http.get(f"{site.base}/login", timeout=10)
    token = TOKEN.search(page.text)
    assert token
    done = http.post(f"{site.base}/login", data={"username": username, "password": CONSOLE_PASSWORD,
                     "csrf_token": token.group(1), "next": "/"}, allow_redirects=False, timeout=10)  # fmt: skip
    assert done.status_code == 303, done.text[:300]
    return http


def token_of(http: requests.Session, site: Site, path: str) -> str:
    found = TOKEN.search(http.get(site.base + path, timeout=10).text)
    assert found
    return found.group(1)


def forbidden(site: Site, actor: str) -> list[AuditEvent]:
    with session_scope(site.loa.engine, read_only=True) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.action == "auth.forbidden", AuditEvent.actor == actor)
                            .order_by(col(AuditEvent.id)))  # fmt: skip
        return list(rows)


def queue(site: Site, channels: list[str], *, by: str = "bientap") -> int:
    request = PostRequest(
        template="bhxh-tu-nguyen",
        variables={"muc_dong_thap_nhat": "330.000 đồng", "ho_tro": "30%"},
        channels=channels,
        at=utcnow() + timedelta(days=1),
        created_by=by,
    )
    return site.loa.posts.add(request)


def compose_fields(channel: str) -> dict[str, Any]:
    tomorrow = (utcnow() + timedelta(days=1)).strftime("%d/%m/%Y")
    return {"template": "bhxh-tu-nguyen", "channels": channel, "var_muc_dong_thap_nhat": "330.000 đồng",
            "var_ho_tro": "30%", "date": tomorrow, "time": "08:00", "action": "queue"}  # fmt: skip


def test_a_unit_editor_sees_and_composes_only_for_its_channels(site: Site) -> None:
    editor = browser(site, "bientap-vinh")
    channels = editor.get(f"{site.base}/channels", timeout=10).text
    assert 'id="ch-fb-bhxh-vinh"' in channels and 'id="ch-fb-bhxh-nghean"' not in channels
    compose = editor.get(f"{site.base}/compose", timeout=10).text
    assert 'value="fb-bhxh-vinh"' in compose and 'value="fb-bhxh-nghean"' not in compose

    # A hand-made form for the province's Page: refused on the server, and audited.
    fields = compose_fields("fb-bhxh-nghean") | {"csrf_token": token_of(editor, site, "/compose")}
    refused = editor.post(f"{site.base}/compose", data=fields, allow_redirects=False, timeout=10)
    assert refused.status_code == 403
    (event,) = forbidden(site, "bientap-vinh")
    assert "other_unit" in (event.details or "") and "fb-bhxh-nghean" in (event.details or "")
    # Its own Page goes through.
    fields = compose_fields("fb-bhxh-vinh") | {"csrf_token": token_of(editor, site, "/compose")}
    queued = editor.post(f"{site.base}/compose", data=fields, allow_redirects=False, timeout=10)
    assert queued.status_code == 303, queued.text[:500]

    # The province's post is neither listed nor shown to the unit's editor.
    province = queue(site, ["fb-bhxh-nghean"])
    assert f'href="/posts/{province}"' not in editor.get(f"{site.base}/queue", timeout=10).text
    assert editor.get(f"{site.base}/posts/{province}", timeout=10).status_code == 403
    assert len(forbidden(site, "bientap-vinh")) == 2


def test_the_api_refuses_another_units_channel(site: Site) -> None:
    token = new_api_token(site.loa.engine, "bientap-vinh", actor="test")
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    body = {
        "template": "bhxh-tu-nguyen",
        "variables": {"muc_dong_thap_nhat": "330.000 đồng", "ho_tro": "30%"},
        "at": (utcnow() + timedelta(days=1)).astimezone(site.loa.settings.tz).strftime("%Y-%m-%d 08:00"),
    }
    refused = api.post(f"{site.base}/api/posts", json={**body, "channels": ["fb-bhxh-nghean"]}, timeout=10)
    assert refused.status_code == 403 and refused.json()["error"]["id"] == "error.account_may_not"
    created = api.post(f"{site.base}/api/posts", json={**body, "channels": ["fb-bhxh-vinh"]}, timeout=10)
    assert created.status_code == 201, created.text
    province = queue(site, ["fb-bhxh-nghean"])
    assert api.get(f"{site.base}/api/posts/{province}", timeout=10).status_code == 403
    listed = {p["id"] for p in api.get(f"{site.base}/api/posts", timeout=10).json()["posts"]}
    assert created.json()["id"] in listed and province not in listed
    assert len(forbidden(site, "bientap-vinh")) == 2


def test_a_unit_approver_approves_its_channels_and_the_province_approves_all(site: Site) -> None:
    both = queue(site, ["fb-bhxh-vinh", "fb-bhxh-nghean"])
    approver = browser(site, "duyet-vinh")
    token = token_of(approver, site, f"/posts/{both}")
    done = approver.post(f"{site.base}/posts/{both}/approve", data={"csrf_token": token}, allow_redirects=False,
                         timeout=10)  # fmt: skip
    assert done.status_code == 303, done.text[:300]
    statuses = {p["channel"]: p["status"] for p in site.loa.posts.show(both)["publications"]}
    assert statuses == {"fb-bhxh-vinh": "scheduled", "fb-bhxh-nghean": "pending_approval"}

    province_only = queue(site, ["fb-bhxh-nghean"])
    token = token_of(approver, site, "/")
    assert approver.post(f"{site.base}/posts/{province_only}/approve", data={"csrf_token": token},
                         allow_redirects=False, timeout=10).status_code == 403  # fmt: skip

    province = browser(site, "duyet-tinh")
    token = token_of(province, site, f"/posts/{both}")
    done = province.post(f"{site.base}/posts/{both}/approve", data={"csrf_token": token}, allow_redirects=False,
                         timeout=10)  # fmt: skip
    assert done.status_code == 303
    assert {p["status"] for p in site.loa.posts.show(both)["publications"]} == {"scheduled"}


def test_the_dashboard_shows_a_unit_only_its_channels_and_their_token_warnings(site: Site) -> None:
    from scheduler.models import ChannelState

    soon = utcnow() + timedelta(days=2)
    with session_scope(site.loa.engine) as session:
        for channel_id in ("fb-bhxh-vinh", "fb-bhxh-nghean"):
            row = session.get(ChannelState, channel_id)
            assert row is not None
            row.token_expires_at = soon
            session.add(row)
    unit = browser(site, "bientap-vinh").get(f"{site.base}/", timeout=10).text
    assert 'href="/channels#ch-fb-bhxh-vinh"' in unit and 'href="/channels#ch-fb-bhxh-nghean"' not in unit
    assert soon.astimezone(site.loa.settings.tz).strftime("%d/%m/%Y") in unit  # its own token's warning
    for everyone in ("quantri", "duyet-tinh"):
        page = browser(site, everyone).get(f"{site.base}/", timeout=10).text
        assert page.count('href="/channels#ch-fb-bhxh-nghean"') == 2, everyone  # the card and the warning
        assert page.count('href="/channels#ch-fb-bhxh-vinh"') == 2, everyone
    assert unit.count('href="/channels#ch-fb-bhxh-vinh"') == 2


def test_the_reports_show_a_unit_only_its_staff_and_channels(site: Site, tmp_path: Path) -> None:
    from scheduler.sharing.service import SharingService

    roster = tmp_path / "nhan-su.csv"
    roster.write_text("ho_ten,don_vi,email\nLê Thị Vinh,BHXH cơ sở thành phố Vinh,vinh@bhxh.gov.vn\n"
                      "Nguyễn Văn Tỉnh,BHXH tỉnh Nghệ An,tinh@bhxh.gov.vn\n", encoding="utf-8")  # fmt: skip
    SharingService(site.loa.settings, site.loa.engine).import_staff(roster, actor="test")
    unit = browser(site, "duyet-vinh")
    by_staff = unit.get(f"{site.base}/reports?by=staff", timeout=10)
    assert by_staff.status_code == 200
    assert "Lê Thị Vinh" in by_staff.text and "Nguyễn Văn Tỉnh" not in by_staff.text
    by_channel = unit.get(f"{site.base}/reports?by=channel", timeout=10).text
    # The province's Page (named as the province) is not among the unit's channels.
    assert "BHXH thành phố Vinh" in by_channel and "BHXH tỉnh Nghệ An" not in by_channel
    month = utcnow().astimezone(site.loa.settings.tz).strftime("%Y-%m")
    summary = unit.get(f"{site.base}/reports/summary?month={month}", timeout=10)
    assert summary.status_code == 200 and "BHXH cơ sở thành phố Vinh" in summary.text
    assert "BHXH tỉnh Nghệ An" not in summary.text  # neither the province's Page nor its staff
    # Another unit's figures asked for by hand: refused and audited.
    assert unit.get(f"{site.base}/reports/summary?month={month}&unit=BHXH-NA", timeout=10).status_code == 403
    (event,) = forbidden(site, "duyet-vinh")
    assert "other_unit" in (event.details or "")
    province = browser(site, "duyet-tinh")
    everyone = province.get(f"{site.base}/reports?by=staff", timeout=10).text
    assert "Lê Thị Vinh" in everyone and "Nguyễn Văn Tỉnh" in everyone
    assert "BHXH tỉnh Nghệ An" in province.get(f"{site.base}/reports/summary?month={month}", timeout=10).text
