"""Queueing posts from the command line; every bad input exits 2 and stores nothing."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook

from tests.conftest import Cli, write_config

VARS = ["--var", "hoat_dong=ra quân tuyên truyền", "--var", "dia_diem=chợ Vinh", "--var", "ngay=06/05/2026"]


def rows(config: Path, table: str) -> int:
    with sqlite3.connect(config.parent / "posts.db") as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def future(hours: int = 2) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def test_post_add_stores_one_publication_per_channel(offline_loa: Cli, offline_config: Path) -> None:
    result = offline_loa(
        "post",
        "add",
        "--template",
        "thang-van-dong",
        *VARS,
        "--channel",
        "fb-bhxh-nghean",
        "--channel",
        "zalo-bhxh-nghean",
        "--at",
        "2026-12-06T08:00",
        "--campaign",
        "thang-van-dong-2026",
        "--json",
    )
    assert result.code == 0, result.stderr
    post = result.json()
    assert post["status"] == "scheduled"
    # Local time in Asia/Ho_Chi_Minh is stored as UTC.
    assert post["scheduled_at"] == "2026-12-06T01:00:00+00:00"
    assert post["campaign"] == "thang-van-dong-2026"
    by_channel = {p["channel"]: p for p in post["publications"]}
    assert by_channel["fb-bhxh-nghean"]["platform"] == "facebook"
    assert "#BHXH" in by_channel["fb-bhxh-nghean"]["text"]
    assert by_channel["zalo-bhxh-nghean"]["title"] == "Tháng Vận động: ra quân tuyên truyền"
    assert by_channel["zalo-bhxh-nghean"]["metrics"] == {
        "views": 0,
        "reach": 0,
        "reactions": 0,
        "comments": 0,
        "shares": 0,
    }
    assert rows(offline_config, "publication") == 2

    listed = offline_loa("post", "list", "--json").json()["posts"]
    assert [p["id"] for p in listed] == [post["id"]]
    assert offline_loa("post", "list", "--status", "published", "--json").json() == {"posts": []}

    cancelled = offline_loa("post", "cancel", str(post["id"]))
    assert cancelled.code == 0
    assert {p["status"] for p in offline_loa("post", "show", str(post["id"]), "--json").json()["publications"]} == {
        "cancelled"
    }
    again = offline_loa("post", "cancel", str(post["id"]))
    assert again.code == 2 and "không còn gì để huỷ" in again.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--template", "khong-co", "--channel", "fb-bhxh-nghean", "--now"], "các mẫu hiện có: bhxh-tu-nguyen"),
        (["--template", "thang-van-dong", "--channel", "fb-bhxh-nghean", "--now"], "cần biến «hoat_dong»"),
        (["--template", "thang-van-dong", *VARS, "--channel", "tiktok", "--now"], "các kênh hiện có: fb-bhxh-nghean"),
        (
            ["--template", "thang-van-dong", *VARS, "--channel", "fb-bhxh-nghean", "--at", "2020-01-01T08:00"],
            "đã qua",
        ),
        (
            ["--template", "thang-van-dong", *VARS, "--channel", "fb-bhxh-nghean", "--at", "2062-01-01T08:00"],
            "xa quá",
        ),
        (
            ["--template", "thang-van-dong", *VARS, "--channel", "fb-bhxh-nghean", "--at", "mai 8 giờ"],
            "Không đọc được thời gian",
        ),
        (["--template", "thang-van-dong", *VARS, "--channel", "fb-bhxh-nghean"], "đúng một trong --at và --now"),
        (
            ["--template", "thang-van-dong", *VARS, "--channel", "fb-bhxh-nghean", "--now", "--campaign", "x"],
            "Không có chiến dịch",
        ),
        (["--template", "thang-van-dong", "--var", "novalue", "--channel", "fb-bhxh-nghean", "--now"], "KHOÁ=GIÁ_TRỊ"),
        (
            [
                "--template",
                "thang-van-dong",
                "--var",
                "hoat_dong=" + "x" * 160,
                "--var",
                "dia_diem=a",
                "--var",
                "ngay=1",
                "--channel",
                "zalo-bhxh-nghean",
                "--now",
            ],
            "so với giới hạn 149",
        ),
    ],
)
def test_bad_post_add_exits_2_and_stores_nothing(
    offline_loa: Cli, offline_config: Path, args: list[str], expected: str
) -> None:
    result = offline_loa("post", "add", *args)
    assert result.code == 2, result
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert rows(offline_config, "post") == 0
    assert rows(offline_config, "publication") == 0


def test_malformed_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import cli_for

    path = tmp_path / "config.toml"
    path.write_text("[web]\nport = 'x'\n", encoding="utf-8")
    result = cli_for(path, capsys)("channels")
    assert result.code == 2
    assert "web.port" in result.stderr and str(path) in result.stderr


def test_template_syntax_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import cli_for

    (tmp_path / "templates" / "messages").mkdir(parents=True)
    (tmp_path / "templates" / "messages" / "hong.j2").write_text("{% if %}", encoding="utf-8")
    config = write_config(tmp_path, extra=f'templates_dir = "{tmp_path / "templates"}"'.replace("templates_dir", "#"))
    text = config.read_text(encoding="utf-8").replace(
        str(Path(__file__).resolve().parent.parent / "templates"), str(tmp_path / "templates")
    )
    config.write_text(text, encoding="utf-8")
    result = cli_for(config, capsys)("render", "message", "--template", "hong")
    assert result.code == 2
    assert "hong.j2, dòng 1: lỗi cú pháp" in result.stderr


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_csv_all_rows(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    at = future()
    csv_file = write_csv(
        tmp_path / "posts.csv",
        [
            "template,channels,at,campaign,muc_dong_thap_nhat,ho_tro,muc_dong_nguoi_dau,nam",
            f"bhxh-tu-nguyen,fb-bhxh-nghean zalo-bhxh-nghean,{at},thang-van-dong-2026,330.000 đồng,30%,,",
            f"bhyt-ho-gia-dinh,fb-bhxh-nghean,{at},,,,1.263.600 đồng,2026",
        ],
    )
    result = offline_loa("post", "import", str(csv_file), "--json")
    assert result.code == 0, result.stderr
    assert len(result.json()["posts"]) == 2
    assert rows(offline_config, "publication") == 3


def test_import_with_one_bad_row_stores_nothing(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    at = future()
    csv_file = write_csv(
        tmp_path / "posts.csv",
        [
            "template,channels,at,muc_dong_thap_nhat,ho_tro",
            f"bhxh-tu-nguyen,fb-bhxh-nghean,{at},330.000 đồng,30%",
            f"bhxh-tu-nguyen,fb-bhxh-nghean,{at},330.000 đồng,",
            f"bhxh-tu-nguyen,kenh-la,{at},330.000 đồng,30%",
            "bhxh-tu-nguyen,fb-bhxh-nghean,hôm qua,330.000 đồng,30%",
        ],
    )
    result = offline_loa("post", "import", str(csv_file))
    assert result.code == 2
    assert "dòng 3, cột ho_tro" in result.stderr
    assert "dòng 4, cột channel" in result.stderr
    assert "dòng 5, cột at" in result.stderr
    assert "không lưu gì" in result.stderr
    assert rows(offline_config, "post") == 0


def test_import_xlsx(offline_loa: Cli, offline_config: Path, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["template", "channels", "at", "muc_dong_nguoi_dau", "nam"])
    sheet.append(["bhyt-ho-gia-dinh", "fb-bhxh-nghean", datetime.now() + timedelta(days=1), "1.263.600 đồng", 2026])
    book.save(tmp_path / "posts.xlsx")
    result = offline_loa("post", "import", str(tmp_path / "posts.xlsx"), "--json")
    assert result.code == 0, result.stderr
    assert "BẢO HIỂM Y TẾ HỘ GIA ĐÌNH 2026" in result.json()["posts"][0]["text"]


def test_import_rejects_non_utf8_and_missing_columns(offline_loa: Cli, tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("template,channels,at\nbhxh,fb,2026\nB\xe1o".encode("latin-1"))
    result = offline_loa("post", "import", str(latin))
    assert result.code == 2 and "UTF-8" in result.stderr and "latin.csv" in result.stderr
    partial = write_csv(tmp_path / "p.csv", ["template,at", "bhxh-tu-nguyen,2026-12-01T08:00"])
    result = offline_loa("post", "import", str(partial))
    assert result.code == 2 and "thiếu cột: channels" in result.stderr


def test_render_message_prints_zalo_title(offline_loa: Cli) -> None:
    result = offline_loa("render", "message", "--template", "thang-van-dong", *VARS, "--platform", "zalo", "--json")
    assert result.code == 0, result.stderr
    assert result.json()["title"] == "Tháng Vận động: ra quân tuyên truyền"


def test_channels_and_templates_json(offline_loa: Cli) -> None:
    channels = offline_loa("channels", "--json").json()["channels"]
    expected = {
        "id": "fb-bhxh-nghean",
        "platform": "facebook",
        "name": "BHXH tỉnh Nghệ An",
        "external_id": "100000000000001",
        "mode": "sandbox",
        "status": "ok",
        "paused_until": None,
        "last_error": None,
        # Added with channels in the database (keys are added, never removed).
        "unit": None,
        "archived": False,
        "origin": "config",
        "token_problem": None,
    }
    assert {key: channels[0].get(key) for key in expected} == expected
    names = {t["name"] for t in offline_loa("templates", "--json").json()["messages"]}
    assert "thang-van-dong" in names


def test_init_demo_queues_one_welcome_post_with_a_cover(offline_loa: Cli, offline_config: Path) -> None:
    assert offline_loa("init", "--demo").code == 0
    assert offline_loa("init", "--demo").code == 0  # idempotent: not a second post
    posts = offline_loa("post", "list", "--json").json()["posts"]
    assert len(posts) == 1
    assert {p["channel"] for p in posts[0]["publications"]} == {"fb-bhxh-nghean", "zalo-bhxh-nghean"}
    assert all(p["cover"] for p in posts[0]["publications"])
    assert posts[0]["status"] == "scheduled"
