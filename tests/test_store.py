"""The store on a real SQLite file: pragmas, UTC round trips, encrypted credentials."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from scheduler.config import load_settings
from scheduler.errors import ConfigError
from scheduler.models import ChannelState, Post
from scheduler.secrets import DatabaseTokenVault, load_cipher, mask
from scheduler.store import init_db, make_engine, session_scope
from tests.conftest import write_config


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'posts.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 10_000


def test_datetimes_are_stored_utc_and_read_aware(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path), environ={})
    engine = make_engine(settings.database_url)
    init_db(engine, settings)
    hanoi = timezone(timedelta(hours=7))
    with session_scope(engine) as session:
        post = Post(
            template="t", text="x", scheduled_at=datetime(2026, 5, 6, 8, 0, tzinfo=hanoi), created_at=datetime.now(UTC)
        )
        session.add(post)
    with sqlite3.connect(tmp_path / "posts.db") as db:
        assert db.execute("SELECT scheduled_at FROM post").fetchone()[0].startswith("2026-05-06 01:00:00")
    with session_scope(engine, read_only=True) as session:
        row = session.get(Post, post.id)
        assert row is not None
        assert row.scheduled_at == datetime(2026, 5, 6, 1, 0, tzinfo=UTC)
        assert row.scheduled_at.tzinfo is not None
    with pytest.raises(StatementError, match="naive"), session_scope(engine) as session:
        session.add(Post(template="t", text="x", scheduled_at=datetime(2026, 5, 6), created_at=datetime.now(UTC)))


def test_init_is_idempotent(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path), environ={})
    engine = make_engine(settings.database_url)
    init_db(engine, settings)
    init_db(engine, settings)
    with session_scope(engine, read_only=True) as session:
        assert session.get(ChannelState, "fb-bhxh-nghean") is not None


def test_vault_encrypts_at_rest_and_key_lives_outside_the_database(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path), environ={})
    engine = make_engine(settings.database_url)
    init_db(engine, settings)
    cipher = load_cipher(settings, environ={})
    assert (tmp_path / "secret.key").exists()
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0
    vault = DatabaseTokenVault(engine, cipher)
    vault.save("zalo-bhxh-nghean", {"access_token": "AT-very-secret-123", "refresh_token": "RT-very-secret-456"})
    with sqlite3.connect(tmp_path / "posts.db") as db:
        dump = "\n".join(db.iterdump())
    assert "very-secret" not in dump
    assert vault.load("zalo-bhxh-nghean") == {
        "access_token": "AT-very-secret-123",
        "refresh_token": "RT-very-secret-456",
    }
    assert "secret" not in repr(vault)
    other = DatabaseTokenVault(engine, Fernet(Fernet.generate_key()))
    with pytest.raises(ConfigError, match="Không giải mã được"):
        other.load("zalo-bhxh-nghean")


def test_key_from_environment_must_be_valid(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path), environ={})
    key = Fernet.generate_key().decode()
    assert isinstance(load_cipher(settings, environ={"LOA_SECRET_KEY": key}), Fernet)
    with pytest.raises(ConfigError, match="không phải khoá Fernet"):
        load_cipher(settings, environ={"LOA_SECRET_KEY": "short"})


def test_mask() -> None:
    assert mask("EAAB-long-page-token-9876") == "…9876"
    assert mask("short") == "****"
    assert mask(None) == "(none)"
