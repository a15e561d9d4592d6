"""The unit tree with its history: renames and merges keep old names findable, a staff file
using an old name lands in today's unit, and a report over a period crossing a merger counts
each share once, under the unit it is today."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.conftest import Cli


def publish_once(config: Path) -> None:
    """One dispatcher pass, as `loa publish-due` runs (without the CLI's process-wide log set-up)."""
    from scheduler.app import Loa
    from scheduler.config import load_settings
    from scheduler.publishing.dispatcher import Dispatcher

    loa = Loa(load_settings(config))
    try:
        loa.open()
        assert Dispatcher(loa.settings, loa.engine, loa.vault).run_once().counts()["published"] == 1
    finally:
        loa.close()


def _import(loa: Cli, folder: Path, name: str, rows: str) -> None:
    path = folder / name
    path.write_text("ho_ten,don_vi,email\n" + rows, encoding="utf-8")
    done = loa("staff", "import", str(path), "--json")
    assert done.code == 0, done.stderr


def _units(loa: Cli) -> dict[str, dict[str, object]]:
    listed = loa("units", "list", "--json")
    assert listed.code == 0, listed.stderr
    return {u["name"]: u for u in listed.json()["units"]}


def test_a_merger_keeps_history_and_counts_each_share_once(loa: Cli, tmp_path: Path) -> None:
    assert loa("units", "add", "--code", "BHXH-NA", "--name", "BHXH tỉnh Nghệ An").code == 0
    _import(loa, tmp_path, "before.csv",
            "Nguyễn Văn An,BHXH huyện Nghi Lộc,an@example.vn\n"
            "Trần Thị Bình,BHXH huyện Nghi Lộc,binh@example.vn\n"
            "Lê Văn Cường,BHXH thị xã Cửa Lò,cuong@example.vn\n")  # fmt: skip
    units = _units(loa)
    nghi_loc, cua_lo = str(units["BHXH huyện Nghi Lộc"]["code"]), str(units["BHXH thị xã Cửa Lò"]["code"])

    queued = loa("post", "add", "--template", "bhxh-tu-nguyen", "--var", "muc_dong_thap_nhat=330.000 đồng",
                 "--var", "ho_tro=30%", "--channel", "fb-bhxh-nghean", "--now", "--json")  # fmt: skip
    assert queued.code == 0, queued.stderr
    post = str(queued.json()["id"])
    publish_once(tmp_path / "config.toml")
    assert loa("share", "record", "--post", post, "--staff", "an@example.vn", "--platform", "facebook").code == 0

    # 1 Jul 2025-style reorganisation: Cửa Lò is renamed, Nghi Lộc merges into it.
    renamed = loa("units", "rename", cua_lo, "--name", "BHXH cơ sở Cửa Lò - Nghi Lộc", "--from", "2025-07-01")
    assert renamed.code == 0, renamed.stderr
    merged = loa("units", "merge", nghi_loc, "--into", cua_lo, "--from", "01/07/2025")
    assert merged.code == 0, merged.stderr
    assert loa("share", "record", "--post", post, "--staff", "binh@example.vn", "--platform", "zalo").code == 0

    units = _units(loa)
    assert units["BHXH huyện Nghi Lộc"]["merged_into"] == cua_lo
    current = units["BHXH cơ sở Cửa Lò - Nghi Lộc"]
    assert current["staff"] == 3
    kinds = [h["kind"] for h in current["history"]]  # type: ignore[union-attr]
    assert kinds == ["rename"] and units["BHXH huyện Nghi Lộc"]["history"][0]["into"] == cua_lo  # type: ignore[index]

    # An old spreadsheet, with both old names: no unit is created, everyone lands in today's unit.
    _import(loa, tmp_path, "old.csv",
            "Phạm Thị Dung,BHXH huyện Nghi Lộc,dung@example.vn\n"
            "Hoàng Văn Em,BHXH thị xã Cửa Lò,em@example.vn\n")  # fmt: skip
    after = _units(loa)
    assert set(after) == set(units) and after["BHXH cơ sở Cửa Lò - Nghi Lộc"]["staff"] == 5

    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()  # the office's today
    report = loa("report", "shares", "--from", "2025-01-01", "--to", today, "--by", "unit", "--format", "json")
    assert report.code == 0, report.stderr
    rows = {row["label"]: row for row in report.json()["rows"]}
    assert "BHXH huyện Nghi Lộc" not in rows  # merged: its shares are under the unit it joined
    assert rows["BHXH cơ sở Cửa Lò - Nghi Lộc"]["shares"] == 2, report.stdout
    assert report.json()["totals"]["shares"] == 2 == sum(row["shares"] for row in rows.values())


def test_bad_unit_changes_are_refused_with_exit_2(loa: Cli) -> None:
    assert loa("units", "add", "--code", "BHXH-NA", "--name", "BHXH tỉnh Nghệ An").code == 0
    assert loa("units", "add", "--code", "CS-VINH", "--name", "BHXH cơ sở Vinh", "--parent", "BHXH-NA").code == 0
    unknown = loa("units", "merge", "CS-VINH", "--into", "KHONG-CO")
    assert unknown.code == 2 and "KHONG-CO" in unknown.stderr and "BHXH-NA" in unknown.stderr
    itself = loa("units", "merge", "BHXH-NA", "--into", "CS-VINH")
    assert itself.code == 2 and "Traceback" not in itself.stderr
    assert loa("units", "add", "--code", "có dấu", "--name", "x").code == 2
    assert loa("channels", "assign", "fb-bhxh-nghean", "--unit", "CS-VINH").code == 0
    listed = loa("channels", "--json").json()["channels"]
    assert next(c for c in listed if c["id"] == "fb-bhxh-nghean")["unit"] == "CS-VINH"


def test_the_cli_acts_for_an_accounts_unit_with_as(loa: Cli, config_path: Path) -> None:
    from scheduler.app import Loa
    from scheduler.auth import add_user
    from scheduler.config import load_settings
    from scheduler.models import Role
    from scheduler.store import session_scope

    assert loa("units", "add", "--code", "BHXH-NA", "--name", "BHXH tỉnh Nghệ An").code == 0
    assert loa("units", "add", "--code", "CS-VINH", "--name", "BHXH cơ sở Vinh", "--parent", "BHXH-NA").code == 0
    assert loa("channels", "assign", "zalo-bhxh-nghean", "--unit", "CS-VINH").code == 0
    app = Loa(load_settings(config_path))
    try:
        add_user(app.engine, username="bientap-vinh", role=Role.editor, password=None, actor="test", unit="CS-VINH")
        from datetime import timedelta

        tomorrow = (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(days=1)).strftime("%Y-%m-%d 08:00")
        post = ["post", "add", "--template", "bhxh-tu-nguyen", "--var", "muc_dong_thap_nhat=330.000 đồng",
                "--var", "ho_tro=30%", "--at", tomorrow, "--json"]  # fmt: skip
        refused = loa("--as", "bientap-vinh", *post, "--channel", "fb-bhxh-nghean")
        assert refused.code == 2 and "Traceback" not in refused.stderr
        mine = loa("--as", "bientap-vinh", *post, "--channel", "zalo-bhxh-nghean")
        assert mine.code == 0, mine.stderr + mine.stdout
        assert mine.json()["created_by"] == "bientap-vinh", mine.stdout
        assert loa(*post, "--channel", "fb-bhxh-nghean").code == 0  # the operator acts for the whole office
        listed = loa("--as", "bientap-vinh", "post", "list", "--json").json()
        assert [p["id"] for p in listed["posts"]] == [mine.json()["id"]]
        from sqlmodel import select

        from scheduler.models import AuditEvent

        with session_scope(app.engine, read_only=True) as session:
            events = list(session.exec(select(AuditEvent).where(AuditEvent.action == "auth.forbidden")))
        assert [e.actor for e in events] == ["bientap-vinh"] and "cli" in (events[0].details or "")
    finally:
        app.close()
