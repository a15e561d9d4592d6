"""Secrets at rest and in print.

Channel credentials are encrypted with Fernet (AES-128-CBC + HMAC) under a key that never
enters the database: it comes from the environment variable named in ``[secrets] key_env``
or, failing that, from a key file outside the database (created on first use, mode 0600).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, bindparam, select

from scheduler.config import Settings
from scheduler.errors import ConfigError, StoreError, TransientError
from scheduler.i18n import msg
from scheduler.models import ChannelState, utcnow

# Longer than any refresh call can take (timeouts are 20 s): a holder past it has died.
LOCK_TTL = timedelta(seconds=60)


def mask(secret: str | None) -> str:
    """A printable stand-in that lets a person tell two secrets apart, and nothing more."""
    if not secret:
        return "(none)"
    return f"…{secret[-4:]}" if len(secret) >= 12 else "****"


def load_cipher(settings: Settings, environ: Mapping[str, str] | None = None) -> Fernet:
    environ = os.environ if environ is None else environ
    raw = environ.get(settings.secrets.key_env)
    if raw is None:
        key_path = settings.path(settings.secrets.key_file)
        if not key_path.exists():
            _create_key_file(key_path)
        raw = key_path.read_text(encoding="ascii").strip()
        source = str(key_path)
    else:
        source = f"${settings.secrets.key_env}"
    try:
        return Fernet(raw.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError(msg("error.not_a_fernet_key", source=source), hint=msg("hint.generate_fernet_key")) from None


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(Fernet.generate_key().decode("ascii") + "\n")


@cache
def _stored_credentials() -> Any:
    """The one column a vault read needs, as a statement built once: every pass reads each
    channel's entry, and building an ORM lookup cost more than the query."""
    table = ChannelState.__table__  # type: ignore[attr-defined]
    return select(table.c.credentials_encrypted).where(table.c.id == bindparam("channel"))


class DatabaseTokenVault:
    """The production :class:`~scheduler.channels.base.TokenVault`.

    ``save`` commits in its own transaction before returning, so a refreshed single-use
    Zalo token is durable before anything uses it.
    """

    def __init__(self, engine: Engine, cipher: Fernet) -> None:
        self._engine = engine
        self._cipher = cipher

    def seal(self, data: Mapping[str, object]) -> str:
        """Any JSON-able secrets (a connect flow's, between its steps), encrypted."""
        return self._cipher.encrypt(json.dumps(dict(data)).encode("utf-8")).decode("ascii")

    def unseal(self, blob: str) -> dict[str, object]:
        try:
            data = json.loads(self._cipher.decrypt(blob.encode("ascii")))
        except InvalidToken:
            raise ConfigError(msg("error.connect_undecryptable"), hint=msg("hint.key_changed")) from None
        return dict(data)

    def load(self, channel_id: str) -> dict[str, str] | None:
        from scheduler.store import session_scope

        with session_scope(self._engine, read_only=True) as session:
            blob = session.execute(_stored_credentials(), {"channel": channel_id}).scalar()
        if not blob:
            return None
        try:
            data = json.loads(self._cipher.decrypt(blob.encode("ascii")))
        except InvalidToken:
            raise ConfigError(
                msg("error.credentials_undecryptable", channel=channel_id), hint=msg("hint.key_changed")
            ) from None
        return {str(k): str(v) for k, v in data.items()}

    def save(self, channel_id: str, secrets: Mapping[str, str]) -> None:
        from scheduler.store import session_scope

        blob = self._cipher.encrypt(json.dumps(dict(secrets)).encode("utf-8")).decode("ascii")
        with session_scope(self._engine) as session:
            row = session.get(ChannelState, channel_id)
            if row is None:
                raise StoreError(msg("error.channel_not_in_database", channel=channel_id), hint=msg("hint.run_init"))
            row.credentials_encrypted = blob
            row.credentials_updated_at = utcnow()
            row.refresh_started_at = None
            session.add(row)

    @contextmanager
    def locked(self, channel_id: str, *, wait: float = 30.0) -> Iterator[None]:
        """One holder across every process sharing the database (a lease, not a transaction)."""
        from scheduler.store import acquire_lease, lease_owner_id, release_lease

        owner = lease_owner_id()
        name = f"credentials:{channel_id}"
        deadline = time.monotonic() + wait
        while not acquire_lease(self._engine, name, owner=owner, ttl=LOCK_TTL):
            if time.monotonic() > deadline:
                raise TransientError(
                    msg("error.token_renewal_stuck", channel=channel_id), hint=msg("hint.check_other_workers")
                )
            time.sleep(0.05)
        try:
            yield
        finally:
            release_lease(self._engine, name, owner=owner)

    def begin_refresh(self, channel_id: str) -> None:
        from scheduler.store import session_scope

        with session_scope(self._engine) as session:
            row = session.get(ChannelState, channel_id)
            if row is not None:
                row.refresh_started_at = utcnow()
                session.add(row)

    def interrupted_refresh(self, channel_id: str, *, now: datetime | None = None) -> datetime | None:
        """When a refresh began that was never saved (and is too old to be still running)."""
        from scheduler.store import session_scope

        now = now or utcnow()
        with session_scope(self._engine, read_only=True) as session:
            row = session.get(ChannelState, channel_id)
            started = row.refresh_started_at if row else None
        return started if started is not None and now - started > LOCK_TTL else None

    def __repr__(self) -> str:
        return "DatabaseTokenVault(<encrypted>)"
