"""Settings: validated data with messages that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.config import load_settings
from scheduler.errors import ConfigError, render_error

REPO = Path(__file__).resolve().parent.parent


def test_shipped_config_is_a_working_sandbox_demo() -> None:
    settings = load_settings(REPO / "config.toml", environ={})
    assert settings.timezone == "Asia/Ho_Chi_Minh"
    assert [(c.platform, c.mode) for c in settings.channels] == [("facebook", "sandbox"), ("zalo", "sandbox")]
    assert settings.sandbox.enabled
    # Relative paths are relative to the config file's folder, not the working directory.
    assert settings.database_url == f"sqlite:///{REPO / 'posts.db'}"
    assert settings.api_base(settings.channels[0]) == "http://127.0.0.1:8910/v25.0"


def test_environment_overrides_file(tmp_path: Path) -> None:
    settings = load_settings(
        REPO / "config.toml",
        environ={
            "LOA_WEB_PORT": "8123",
            "LOA_SANDBOX_PORT": "8911",
            "LOA_DATABASE_URL": "sqlite:////tmp/x.db",
            "LOA_SANDBOX_ENABLED": "false",
            "LOA_TIMEZONE": "UTC",
        },
    )
    assert settings.web.port == 8123
    assert settings.sandbox.port == 8911
    assert settings.database_url == "sqlite:////tmp/x.db"
    assert settings.sandbox.enabled is False
    assert settings.timezone == "UTC"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[web]\nport = 'eighty'\n", "web.port"),
        ("[web]\nprot = 80\n", "web.prot: không phải thiết lập đã biết"),
        ("timezone = 'Asia/Hanoi_City'\n", "timezone: phải là múi giờ IANA"),
        ("[database\nurl = 1", "không phải TOML hợp lệ"),
        ("[[channels]]\nid = 'Bad Id'\nplatform = 'facebook'\nname = 'x'\nexternal_id = '1'\n", "channels.0.id"),
        ("[[channels]]\nid = 'fb'\nplatform = 'tiktok'\nname = 'x'\nexternal_id = '1'\n", "channels.0.platform"),
        ("[[channels]]\nid = 'fb'\nplatform = 'facebook'\nname = 'x'\nexternal_id = '1'\nmode = 'live'\n", "token_env"),
        ("[web]\nport = 70000\n", "web.port"),
        ("[publishing]\ngrace_minutes = 10\ncheck_overdue_minutes = 15\n", "check_overdue_minutes"),
    ],
)
def test_bad_config_names_file_key_and_fix(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    message = str(caught.value)
    assert str(path) in message
    assert expected in message
    # The same error in English, for a reader who asked for it.
    assert "→ fix" in render_error(caught.value, "en")


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="không có tệp cấu hình"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_secrets_never_in_repr() -> None:
    settings = load_settings(REPO / "config.toml", environ={})
    assert "LOA_TOKEN" not in repr(settings.channels[0])
