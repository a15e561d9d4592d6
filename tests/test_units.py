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


def _forbidden(config_path: Path, actor: str) -> list[str]:
    from sqlmodel import col, select

    from scheduler.app import Loa
    from scheduler.config import load_settings
    from scheduler.models import AuditEvent
    from scheduler.store import session_scope

    app = Loa(load_settings(config_path))
    try:
        with session_scope(app.engine, read_only=True) as session:
            query = select(AuditEvent).where(AuditEvent.action == "auth.forbidden", AuditEvent.actor == actor)
            rows = session.exec(query.order_by(col(AuditEvent.id)))
            return [f"{e.object} {e.details}" for e in rows]
    finally:
        app.close()


def test_every_cli_action_on_posts_channels_and_staff_keeps_to_the_as_accounts_unit(
    loa: Cli, config_path: Path, tmp_path: Path
) -> None:
    from datetime import timedelta

    from scheduler.app import Loa
    from scheduler.auth import add_user
    from scheduler.config import load_settings
    from scheduler.models import Role

    assert loa("units", "add", "--code", "BHXH-NA", "--name", "BHXH tỉnh Nghệ An").code == 0
    assert loa("units", "add", "--code", "CS-VINH", "--name", "BHXH cơ sở Vinh", "--parent", "BHXH-NA").code == 0
    assert loa("channels", "assign", "zalo-bhxh-nghean", "--unit", "CS-VINH").code == 0
    assert loa("channels", "assign", "fb-bhxh-nghean", "--unit", "BHXH-NA").code == 0
    app = Loa(load_settings(config_path))
    try:
        add_user(app.engine, username="bientap-vinh", role=Role.editor, password=None, actor="test", unit="CS-VINH")
    finally:
        app.close()
    tomorrow = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(days=1)
    at = tomorrow.strftime("%Y-%m-%d 08:00")
    post = ["post", "add", "--template", "bhxh-tu-nguyen", "--var", "muc_dong_thap_nhat=330.000 đồng",
            "--var", "ho_tro=30%", "--at", at, "--json"]  # fmt: skip
    province = loa(*post, "--channel", "fb-bhxh-nghean").json()
    mine = loa("--as", "bientap-vinh", *post, "--channel", "zalo-bhxh-nghean").json()
    vinh = ["--as", "bientap-vinh"]
    later = (tomorrow + timedelta(days=1)).strftime("%Y-%m-%d 09:00")
    publication = str(province["publications"][0]["id"])
    refused_calls = [
        ("post", "show", str(province["id"])),
        ("post", "edit", str(province["id"]), "--text", "Sửa bài của tỉnh"),
        ("post", "edit", str(mine["id"]), "--channel", "fb-bhxh-nghean"),
        ("post", "duplicate", str(province["id"])),
        ("post", "reschedule", str(province["id"]), "--at", later),
        ("post", "send-back", str(province["id"]), "--reason", "Chưa đúng"),
        ("post", "retry", publication),
        ("post", "cancel", str(province["id"])),
        ("metrics", "show", str(province["id"])),
        ("channels", "rename", "fb-bhxh-nghean", "--name", "Trang tỉnh"),
        ("channels", "assign", "zalo-bhxh-nghean", "--unit", "BHXH-NA"),
        ("channels", "disconnect", "fb-bhxh-nghean"),
        ("channels", "archive", "fb-bhxh-nghean"),
        ("channels", "pause", "fb-bhxh-nghean"),
        ("channels", "check", "fb-bhxh-nghean"),
        ("units", "rename", "BHXH-NA", "--name", "BHXH Nghệ An"),
        ("units", "merge", "CS-VINH", "--into", "BHXH-NA"),
        ("units", "add", "--code", "CS-MOI", "--name", "Đơn vị mới"),
    ]
    for call in refused_calls:
        refused = loa(*vinh, *call)
        assert refused.code == 2, (call, refused.stdout, refused.stderr)
        assert "Traceback" not in refused.stderr
        # The message names the account's unit and the way out.
        assert "BHXH cơ sở Vinh (CS-VINH)" in refused.stderr and "--as" in refused.stderr, refused.stderr
    assert loa("post", "show", str(province["id"]), "--json").json()["status"] != "cancelled"
    channels = loa("channels", "--json").json()["channels"]
    assert {c["id"]: c["name"] for c in channels}["fb-bhxh-nghean"] != "Trang tỉnh"

    # What is the unit's own goes through, attributed to the account.
    assert loa(*vinh, "post", "edit", str(mine["id"]), "--text", "Bài của Vinh").code == 0
    copy = loa(*vinh, "post", "duplicate", str(mine["id"]), "--json")
    assert copy.code == 0, copy.stderr
    assert loa(*vinh, "post", "cancel", str(copy.json()["id"])).code == 0
    assert loa(*vinh, "channels", "rename", "zalo-bhxh-nghean", "--name", "Zalo BHXH Vinh").code == 0
    assert loa(*vinh, "units", "add", "--code", "CS-VINH-1", "--name", "Tổ Vinh 1", "--parent", "CS-VINH").code == 0
    assert [c["id"] for c in loa(*vinh, "channels", "--json").json()["channels"]] == ["zalo-bhxh-nghean"]

    # A file with a row for the province's channel: refused whole.
    rows = tmp_path / "posts.csv"
    rows.write_text(f"template,channels,at,muc_dong_thap_nhat,ho_tro\nbhxh-tu-nguyen,zalo-bhxh-nghean,{at},1,2\n"
                    f"bhxh-tu-nguyen,fb-bhxh-nghean,{at},1,2\n", encoding="utf-8")  # fmt: skip
    before = len(loa("post", "list", "--json").json()["posts"])
    assert loa(*vinh, "post", "import", str(rows)).code == 2
    assert len(loa("post", "list", "--json").json()["posts"]) == before

    # Staff: a file naming another unit (or moving its people) is refused; the unit's own is taken.
    _import(loa, tmp_path, "tinh.csv", "Nguyễn Văn Tỉnh,BHXH tỉnh Nghệ An,tinh@bhxh.gov.vn\n")
    staff = tmp_path / "vinh.csv"
    staff.write_text("ho_ten,don_vi,email\nLê Thị Vinh,BHXH cơ sở Vinh,vinh@bhxh.gov.vn\n"
                     "Nguyễn Văn Tỉnh,BHXH cơ sở Vinh,tinh@bhxh.gov.vn\n", encoding="utf-8")  # fmt: skip
    assert loa(*vinh, "staff", "import", str(staff)).code == 2
    staff.write_text("ho_ten,don_vi,email\nLê Thị Vinh,BHXH cơ sở Vinh,vinh@bhxh.gov.vn\n", encoding="utf-8")
    assert loa(*vinh, "staff", "import", str(staff)).code == 0
    assert [s["full_name"] for s in loa(*vinh, "staff", "list", "--json").json()["staff"]] == ["Lê Thị Vinh"]
    assert loa(*vinh, "staff", "deactivate", "tinh@bhxh.gov.vn").code == 2
    assert loa(*vinh, "staff", "deactivate", "vinh@bhxh.gov.vn").code == 0

    # Links and offline shares: for the unit's own people only.
    assert loa(*vinh, "staff", "activate", "vinh@bhxh.gov.vn").code == 0
    share = ["--post", str(province["id"]), "--staff", "tinh@bhxh.gov.vn"]
    assert loa(*vinh, "share", "link", *share).code == 2
    assert loa(*vinh, "share", "record", *share, "--platform", "zalo").code == 2
    exported = loa(*vinh, "share", "export", "--post", str(province["id"]), "-o", str(tmp_path / "l.csv"), "--json")
    assert exported.code == 0 and exported.json()["staff"] == 1, exported.stdout + exported.stderr
    assert (
        loa("share", "export", "--post", str(province["id"]), "-o", str(tmp_path / "all.csv"), "--json").json()["staff"]
        == 2
    )

    # Reports: the unit's people only; another unit's summary is refused.
    day = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m-%d")
    report = ["report", "shares", "--from", day, "--to", day, "--by", "staff", "--format", "json"]
    assert [r["label"] for r in loa(*vinh, *report).json()["rows"]] == ["Lê Thị Vinh"]
    assert len(loa(*report).json()["rows"]) == 2
    month = day[:7]
    assert loa(*vinh, "report", "summary", "--month", month, "--unit", "BHXH-NA").code == 2
    assert loa(*vinh, "report", "summary", "--month", month, "--format", "json").code == 0

    # Every refusal is in the audit log, as the account's, from the CLI.
    events = _forbidden(config_path, "bientap-vinh")
    assert len(events) == len(refused_calls) + 6 and all("cli" in e for e in events), events
    # Without --as the operator acts for the whole office.
    assert loa("channels", "rename", "fb-bhxh-nghean", "--name", "Trang tỉnh").code == 0
    assert loa("staff", "deactivate", "tinh@bhxh.gov.vn").code == 0
