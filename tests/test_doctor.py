"""`loa doctor` finds each problem an operator meets, with its fix; `loa run` refuses bad settings in one line.

Every problem is real: a port nobody listens on, a database left at the previous revision
by Alembic itself, a Page token the sandbox has expired, a disk threshold above the real free
space, a database server that is not there.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import requests
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from tests.conftest import Cli, CliResult, cli_for, free_port, write_config

FB_TOKEN = "sandbox-page-token-100000000000001"


def doctor(loa: Cli) -> tuple[CliResult, dict[str, dict[str, Any]]]:
    result = loa("doctor", "--json")
    assert result.code in (0, 1), result.stderr
    document = result.json()
    assert document["ok"] is (result.code == 0)
    return result, {c["check"]: c for c in document["checks"]}


def problems(checks: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, c in checks.items() if c["status"] == "problem"}


def backed_up(loa: Cli, config: Path) -> None:
    (config.parent / "backups").mkdir(exist_ok=True)
    made = loa("backup", str(config.parent / "backups" / "posts-manual.db"))
    assert made.code == 0, made.stderr


def with_key(config: Path) -> bytes:
    """The key file `loa run` makes on its first start."""
    from scheduler.app import Loa
    from scheduler.config import load_settings

    app = Loa(load_settings(config))
    assert app.vault is not None
    app.close()
    return (config.parent / "secret.key").read_bytes()


def test_a_healthy_install_is_all_well(loa: Cli, config_path: Path) -> None:
    key = with_key(config_path)
    backed_up(loa, config_path)
    result, checks = doctor(loa)
    assert problems(checks) == set(), checks
    assert result.code == 0
    assert checks["public_url"]["status"] == "ok"
    assert checks["channels.fb-bhxh-nghean"]["status"] == "ok"
    assert checks["migrations"]["status"] == "ok"
    assert checks["mail"]["status"] == "skipped"
    # The same in words: one line per check, the verdict last.
    plain = loa("doctor")
    assert plain.code == 0, plain.stdout
    assert "public_url" in plain.stdout and "Mọi thứ đều ổn." in plain.stdout
    assert (config_path.parent / "secret.key").read_bytes() == key


def test_an_unreachable_public_url_and_one_that_is_not_loa(
    tmp_path: Path, sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import initialised

    silent = initialised(write_config(tmp_path, sandbox_url=sandbox.url, public_url=f"http://127.0.0.1:{free_port()}"))
    _, checks = doctor(cli_for(silent, capsys))
    assert checks["public_url"]["status"] == "problem"
    assert "systemctl start loa caddy" in checks["public_url"]["fix"]
    # Something answers there, but it is the sandbox, not Loa.
    other = initialised(write_config(tmp_path, sandbox_url=sandbox.url, public_url=sandbox.url))
    _, checks = doctor(cli_for(other, capsys))
    assert checks["public_url"]["status"] == "problem"
    assert "Caddyfile" in checks["public_url"]["fix"]


def test_a_database_behind_its_migrations(tmp_path: Path, sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, sandbox_url=sandbox.url)
    # The previous release's schema, made by Alembic from the revisions themselves.
    engine = create_engine(f"sqlite:///{tmp_path / 'posts.db'}")
    alembic = Config()
    alembic.set_main_option("script_location", "scheduler:migrations")
    with engine.begin() as connection:
        alembic.attributes["connection"] = connection
        command.upgrade(alembic, "0003_restore_mark")
    engine.dispose()
    loa = cli_for(config, capsys)
    result, checks = doctor(loa)
    assert result.code == 1
    assert checks["database"]["status"] == "ok"
    assert checks["migrations"]["status"] == "problem"
    assert "0003_restore_mark" in checks["migrations"]["message"]
    assert "loa init" in checks["migrations"]["fix"]
    assert checks["key"]["status"] == "skipped" and checks["channels"]["status"] == "skipped"
    assert loa("init").code == 0
    _, checks = doctor(loa)
    assert checks["migrations"]["status"] == "ok"


def test_a_lapsed_page_token(loa: Cli, config_path: Path, sandbox: Any) -> None:
    with_key(config_path)
    expired = {"platform": "facebook", "token": FB_TOKEN, "state": "expired"}
    requests.post(f"{sandbox.url}/_sandbox/tokens", json=expired, timeout=5).raise_for_status()
    result, checks = doctor(loa)
    assert result.code == 1
    facebook = checks["channels.fb-bhxh-nghean"]
    assert facebook["status"] == "problem"
    assert "loa channels reconnect fb-bhxh-nghean" in facebook["fix"]
    assert checks["channels.zalo-bhxh-nghean"]["status"] == "ok"


def test_a_disk_nearly_full(tmp_path: Path, sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import initialised

    free_mib = shutil.disk_usage(tmp_path).free // (1024 * 1024)
    extra = f"\n[doctor]\nmin_free_disk_mib = {free_mib + 10_240}\n"
    config = initialised(write_config(tmp_path, sandbox_url=sandbox.url, extra=extra))
    _, checks = doctor(cli_for(config, capsys))
    assert checks["disk"]["status"] == "problem"
    assert "min_free_disk_mib" in checks["disk"]["fix"]


def test_no_backup_and_an_old_one(loa: Cli, config_path: Path) -> None:
    import os
    import time

    _, checks = doctor(loa)
    assert checks["backups"]["status"] == "problem"
    assert "[backups] enabled" in checks["backups"]["fix"]
    backed_up(loa, config_path)
    copy = config_path.parent / "backups" / "posts-manual.db"
    two_days_ago = time.time() - 48 * 3600
    os.utime(copy, (two_days_ago, two_days_ago))
    _, checks = doctor(loa)
    assert checks["backups"]["status"] == "problem" and "48" in checks["backups"]["message"]


def test_a_config_that_cannot_be_read_skips_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "mysql://loa@localhost/loa"\n', encoding="utf-8")
    result, checks = doctor(cli_for(config, capsys))
    assert result.code == 1
    assert checks["config"]["status"] == "problem" and "database.url" in checks["config"]["message"]
    assert {c["status"] for name, c in checks.items() if name != "config"} == {"skipped"}


# -- `loa run` refuses bad settings with one line ---------------------------------------------


def refused_in_one_line(result: CliResult, *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_run_refuses_a_database_url_of_another_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, database_url="mysql://loa@127.0.0.1/loa")
    result = cli_for(config, capsys)("run")
    assert result.code == 2
    refused_in_one_line(result, "database.url", "mysql", "postgresql://")


def test_run_names_a_database_server_that_is_not_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, database_url=f"postgresql://loa@127.0.0.1:{free_port()}/loa")
    result = cli_for(config, capsys)("run")
    assert result.code == 1
    refused_in_one_line(result, "database.url", "127.0.0.1")


def test_run_refuses_a_public_url_that_points_nowhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import initialised

    config = initialised(write_config(tmp_path, public_url="https://loa.nowhere.invalid"))
    result = cli_for(config, capsys)("run")
    assert result.code == 2
    refused_in_one_line(result, "public_url", "loa.nowhere.invalid")


def test_run_refuses_a_live_channel_whose_secret_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import initialised

    monkeypatch.delenv("LOA_TEST_PAGE_TOKEN", raising=False)
    channels = """
[[channels]]
id = "fb-live"
platform = "facebook"
name = "BHXH tỉnh Nghệ An"
external_id = "100000000000001"
mode = "live"
token_env = "LOA_TEST_PAGE_TOKEN"
"""
    config = initialised(write_config(tmp_path, channels=channels))
    result = cli_for(config, capsys)("run")
    assert result.code == 2
    refused_in_one_line(result, "fb-live", "LOA_TEST_PAGE_TOKEN")
    result = cli_for(config, capsys)("worker")
    assert result.code == 2
    refused_in_one_line(result, "LOA_TEST_PAGE_TOKEN")


def test_run_refuses_to_make_a_new_key_over_stored_credentials(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scheduler.app import Loa
    from scheduler.config import load_settings

    app = Loa(load_settings(config_path))
    app.vault.save("fb-bhxh-nghean", {"access_token": "stored-page-token"})
    app.close()
    key = config_path.parent / "secret.key"
    key.rename(config_path.parent / "secret.key.elsewhere")
    loa = cli_for(config_path, capsys)
    result = loa("run")
    assert result.code == 2
    refused_in_one_line(result, "LOA_SECRET_KEY", "secret.key")
    assert not key.exists()
    _, checks = doctor(loa)
    assert checks["key"]["status"] == "problem"


def test_https_settings_behind_a_proxy(tmp_path: Path, sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import initialised

    port = free_port()
    behind = initialised(write_config(tmp_path, sandbox_url=sandbox.url, public_url=f"https://127.0.0.1:{port}",
                                      extra='\n[web]\nhost = "0.0.0.0"\n'))  # fmt: skip
    _, checks = doctor(cli_for(behind, capsys))
    assert checks["https.proxy"]["status"] == "problem" and "trusted_proxies" in checks["https.proxy"]["fix"]
    assert checks["https.listen"]["status"] == "problem" and "127.0.0.1" in checks["https.listen"]["fix"]
    quick = "\n[doctor]\ntimeout_seconds = 1\n"
    elsewhere = "http://loa.example.vn"
    plain = initialised(write_config(tmp_path, sandbox_url=sandbox.url, public_url=elsewhere, extra=quick))
    _, checks = doctor(cli_for(plain, capsys))
    assert checks["https"]["status"] == "problem" and "Caddyfile" in checks["https"]["fix"]


def test_a_database_file_that_is_not_there_is_named_and_not_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    result, checks = doctor(cli_for(config, capsys))
    assert result.code == 1
    assert checks["database"]["status"] == "problem" and "loa init" in checks["database"]["fix"]
    assert not (tmp_path / "posts.db").exists()
    assert checks["disk"]["status"] in ("ok", "problem")


def test_a_01_database_is_behind_then_well_after_loa_init(
    tmp_path: Path, database_url: str, sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The previous release's database, on SQLite and PostgreSQL: behind until `loa init`,
    and its stored credentials still read with the key they were encrypted with."""
    from tests.test_migrations import FIXTURE, make_01_database

    (tmp_path / "secret.key").write_bytes((FIXTURE / "secret.key").read_bytes())
    make_01_database(database_url)
    loa = cli_for(write_config(tmp_path, sandbox_url=sandbox.url, database_url=database_url), capsys)
    _, checks = doctor(loa)
    assert checks["migrations"]["status"] == "problem" and "0.1" in checks["migrations"]["message"]
    assert loa("init").code == 0
    _, checks = doctor(loa)
    assert checks["migrations"]["status"] == "ok"
    assert checks["key"]["status"] == "ok", checks["key"]


def test_a_page_token_that_lapses_soon_is_a_problem_before_it_does(
    loa: Cli, config_path: Path, sandbox: Any
) -> None:
    with_key(config_path)
    _, checks = doctor(loa)
    assert checks["channels.fb-bhxh-nghean"]["status"] == "ok"  # the sandbox's Page token never lapses
    lapsing = {"platform": "facebook", "token": FB_TOKEN, "state": "valid", "expires_in_s": 3 * 86400}
    requests.post(f"{sandbox.url}/_sandbox/tokens", json=lapsing, timeout=5).raise_for_status()
    result, checks = doctor(loa)
    facebook = checks["channels.fb-bhxh-nghean"]
    assert result.code == 1 and facebook["status"] == "problem", facebook
    assert "loa channels reconnect fb-bhxh-nghean" in facebook["fix"]
    assert published_still(loa)  # it works today: publishing goes on meanwhile
    later = {**lapsing, "expires_in_s": 30 * 86400}
    requests.post(f"{sandbox.url}/_sandbox/tokens", json=later, timeout=5).raise_for_status()
    _, checks = doctor(loa)
    assert checks["channels.fb-bhxh-nghean"]["status"] == "ok"
    assert "/" in checks["channels.fb-bhxh-nghean"]["message"]  # the date it lapses, dd/mm/yyyy


def published_still(loa: Cli) -> bool:
    added = loa("post", "add", "--template", "thang-van-dong", "--channel", "fb-bhxh-nghean", "--now",
                "--var", "hoat_dong=ra quân", "--var", "dia_diem=Vinh", "--var", "ngay=06/05/2026")  # fmt: skip
    assert added.code == 0, added.stderr
    published = loa("publish-due", "--json")
    return published.code == 0 and published.json()["counts"]["published"] == 1


def test_mail_and_webhooks_as_alerts_use_them(tmp_path: Path, sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.alerts_support import Inbox, smtp_server
    from tests.conftest import initialised

    with smtp_server(Inbox()) as port:
        extra = (
            f'\n[mail]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nfrom = "Loa <loa@example.vn>"\n'
            '\n[[webhooks]]\nurl = "http://127.0.0.1:9/hook"\nsecret_env = "LOA_TEST_HOOK_SECRET"\n'
            "allow_private = true\n"
        )
        config = initialised(write_config(tmp_path, sandbox_url=sandbox.url, extra=extra))
        _, checks = doctor(cli_for(config, capsys))
    assert checks["mail"]["status"] == "ok"
    assert checks["webhooks.0"]["status"] == "problem" and "LOA_TEST_HOOK_SECRET" in checks["webhooks.0"]["message"]
