"""The campaign kit on the share page: a real photo framed by Pillow, the cover, "Tôi đã cập nhật"."""

from __future__ import annotations

import io
import os
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlmodel import select
from starlette.testclient import TestClient

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import CampaignUpdate, Staff, Unit
from scheduler.store import session_scope
from scheduler.web.app import create_app
from tests.conftest import write_config

TOKEN = "kit-token-lan-000000000001"


def phone_photo(width: int = 4000, height: int = 3000) -> bytes:
    """A 12-megapixel JPEG with a phone's amount of detail: a gradient with grain, a red centre."""
    grain = Image.frombytes("L", (width // 8, height // 8), os.urandom(width // 8 * height // 8))
    base = Image.merge(
        "RGB",
        [
            grain.resize((width, height)),
            Image.linear_gradient("L").resize((width, height)),
            Image.new("L", (width, height), 90),
        ],
    )
    base.paste((200, 30, 30), (width // 2 - 300, height // 2 - 300, width // 2 + 300, height // 2 + 300))
    out = io.BytesIO()
    base.save(out, "JPEG", quality=88)
    return out.getvalue()


@pytest.fixture
def kit(tmp_path: Path) -> Any:
    loa = Loa(load_settings(write_config(tmp_path)))
    loa.init()
    with session_scope(loa.engine) as session:
        unit = Unit(code="vinh", name="BHXH thành phố Vinh")
        session.add(unit)
        session.flush()
        assert unit.id is not None
        session.add(Staff(unit_id=unit.id, full_name="Nguyễn Thị Lan", share_token=TOKEN, created_at=datetime.now(UTC)))
        session.add(
            Staff(
                unit_id=unit.id, full_name="Trần Văn Bình", share_token=TOKEN[:-1] + "2", created_at=datetime.now(UTC)
            )
        )
    client = TestClient(create_app(loa), base_url="http://127.0.0.1:8000", follow_redirects=False)
    yield loa, client
    loa.close()


def form_token(client: TestClient) -> str:
    import re

    page = client.get(f"/s/{TOKEN}/kit")
    assert page.status_code == 200, page.text[:300]
    match = re.search(r'name="t" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def test_a_phone_photo_comes_back_framed_and_nothing_is_kept(kit: Any) -> None:
    loa, client = kit
    assert f'href="/s/{TOKEN}/kit"' in client.get(f"/s/{TOKEN}").text
    media_before = (
        sorted(p.name for p in loa.settings.media_path.glob("**/*")) if loa.settings.media_path.exists() else []
    )
    reply = client.post(
        f"/s/{TOKEN}/kit/avatar",
        data={"t": form_token(client)},
        files={"photo": ("IMG_2026.jpg", phone_photo(), "image/jpeg")},
    )
    assert reply.status_code == 200, reply.text[:300]
    assert reply.headers["content-type"] == "image/jpeg" and "attachment" in reply.headers["content-disposition"]
    framed = Image.open(io.BytesIO(reply.content))
    assert framed.size == (1080, 1080)
    assert framed.getpixel((540, 540))[0] > 150  # the photo's red centre, under the frame
    r, _g, b = framed.getpixel((540, 10))[:3]  # the ring, inside the circle at the top
    assert b > 120 and r < 60
    corner = framed.getpixel((5, 5))  # outside the circle: the photo, no frame
    assert corner != framed.getpixel((540, 10))
    media_after = (
        sorted(p.name for p in loa.settings.media_path.glob("**/*")) if loa.settings.media_path.exists() else []
    )
    assert media_after == media_before
    with session_scope(loa.engine, read_only=True) as session:
        assert list(session.exec(select(CampaignUpdate))) == []  # framing is not "updated"


def png_bomb(side: int = 20_000) -> bytes:
    """A PNG whose header claims 400 megapixels, compressed to a few hundred kilobytes."""
    raw = zlib.compress(b"\x00" * (side // 8 + 1) * side, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("bao-cao.pdf", b"%PDF-1.7 not a photo", "không phải ảnh"),
        ("bom.png", png_bomb(), "quá nhiều điểm ảnh"),
        ("anh.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "không phải ảnh"),
    ],
)
def test_what_is_not_a_photo_gets_a_clear_message(kit: Any, name: str, data: bytes, words: str) -> None:
    _loa, client = kit
    reply = client.post(f"/s/{TOKEN}/kit/avatar", data={"t": form_token(client)}, files={"photo": (name, data)})
    assert reply.status_code == 400
    assert words in reply.text and "Chưa đóng khung được ảnh" in reply.text and "Traceback" not in reply.text


def test_the_cover_is_sized_for_a_profile_and_names_the_unit(kit: Any) -> None:
    _loa, client = kit
    reply = client.get(f"/s/{TOKEN}/kit/cover")
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(reply.content)).size == (1640, 624)


def test_i_have_updated_is_counted_once_per_staff_and_unit(kit: Any) -> None:
    loa, client = kit
    assert "đơn vị bạn: 0/2" in client.get(f"/s/{TOKEN}/kit").text
    for _ in range(2):
        done = client.post(f"/s/{TOKEN}/kit/done", data={"t": form_token(client), "kind": "avatar"})
        assert done.status_code == 303 and done.headers["location"] == f"/s/{TOKEN}/kit?done=avatar"
    page = client.get(f"/s/{TOKEN}/kit?done=avatar").text
    assert "Đã có 1 cán bộ cập nhật; đơn vị bạn: 1/2." in page and "Cảm ơn bạn!" in page
    stale = client.post(f"/s/{TOKEN}/kit/done", data={"t": "giả", "kind": "cover"})
    assert stale.status_code == 403
    from scheduler.campaign.service import updates_by_unit

    with session_scope(loa.engine, read_only=True) as session:
        (update,) = session.exec(select(CampaignUpdate))
        campaign_id = update.campaign_id
    assert updates_by_unit(loa.engine, campaign_id) == [
        {"unit": "BHXH thành phố Vinh", "staff": 2, "avatar": 1, "cover": 0, "any": 1}
    ]
    # A unit-scoped account's report sees only its own units' counts.
    with session_scope(loa.engine, read_only=True) as session:
        vinh = session.exec(select(Staff.unit_id).where(Staff.unit_id.is_not(None))).first()  # type: ignore[union-attr]
    assert vinh is not None
    assert [u["unit"] for u in updates_by_unit(loa.engine, campaign_id, within={vinh})] == ["BHXH thành phố Vinh"]
    assert updates_by_unit(loa.engine, campaign_id, within={vinh + 1000}) == []


def test_the_kit_report_counts_per_unit(kit: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import cli_for

    loa, client = kit
    client.post(f"/s/{TOKEN}/kit/done", data={"t": form_token(client), "kind": "cover"})
    loa_cli = cli_for(loa.settings.base_dir / "config.toml", capsys)
    result = loa_cli("report", "kit", "--json")
    assert result.code == 0, result.stderr
    assert result.json()["totals"] == {"staff": 2, "avatar": 0, "cover": 1, "any": 1}
    assert "BHXH thành phố Vinh" in loa_cli("report", "kit").stdout
    assert loa_cli("report", "kit", "--campaign", "khong-co").code == 2
    people = loa_cli("report", "kit", "--by", "staff", "--json").json()["rows"]
    assert [(r["staff"], r["cover"], r["any"]) for r in people] == [("Nguyễn Thị Lan", 1, 1), ("Trần Văn Bình", 0, 0)]
    assert "Nguyễn Thị Lan" in loa_cli("report", "kit", "--by", "staff").stdout
    assert loa_cli("report", "kit", "--by", "phong").code == 2


def test_the_console_summary_shows_the_kit_counts_equal_to_the_rows(console_loa: Loa) -> None:
    import html
    import re
    from datetime import timedelta

    from sqlmodel import func

    from scheduler.campaign.service import record_update
    from scheduler.models import Campaign
    from tests.console_support import logged_in

    today = datetime.now(UTC).astimezone(console_loa.settings.tz).date()
    with session_scope(console_loa.engine) as session:
        since = today - timedelta(days=40)
        campaign = Campaign(slug="khung-2026", name="Khung ảnh 2026", starts_on=since, ends_on=today)
        unit = Unit(code="ky-son", name="BHXH huyện Kỳ Sơn")
        session.add_all([campaign, unit])
        session.flush()
        people = [
            Staff(unit_id=unit.id or 0, full_name=name, share_token=f"tok-kit-{k}", created_at=datetime.now(UTC))
            for k, name in enumerate(["Lan", "Bình", "Chi"])
        ]
        session.add_all(people)
        session.flush()
        campaign_id, staff_ids = campaign.id or 0, [p.id or 0 for p in people]
    record_update(console_loa.engine, staff_id=staff_ids[0], campaign_id=campaign_id, kind="avatar")
    record_update(console_loa.engine, staff_id=staff_ids[0], campaign_id=campaign_id, kind="cover")
    record_update(console_loa.engine, staff_id=staff_ids[1], campaign_id=campaign_id, kind="cover")
    with session_scope(console_loa.engine, read_only=True) as session:
        counted = session.exec(
            select(func.count(func.distinct(CampaignUpdate.staff_id))).where(CampaignUpdate.campaign_id == campaign_id)
        ).one()
    page = logged_in(console_loa, "duyet").get(f"/reports/summary?month={today:%Y-%m}")
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert "BỘ NHẬN DIỆN “Khung ảnh 2026”" in text
    # The unit's row: staff, avatar frame, cover, updated — the last equal to the rows counted.
    kit_section = text[text.index("BỘ NHẬN DIỆN “Khung ảnh 2026”") :]
    row = re.search(r"<td[^>]*>BHXH huyện Kỳ Sơn</td>((?:<td[^>]*>[^<]*</td>)+)</tr>", kit_section)
    assert row is not None
    assert re.findall(r">([^<]*)</td>", row.group(1)) == ["3", "1", "2", str(counted)] == ["3", "1", "2", "2"]
    assert re.search(r"“Khung ảnh 2026”: 2/[0-9.]+ cán bộ, viên chức đã cập nhật", text)
