"""What `loa run` and `loa worker` refuse before they start: one line naming the setting.

Each refusal is an :class:`~scheduler.errors.InputError` (exit 2). The systemd units in
``deploy/`` do not restart on exit 2 (``RestartPreventExitStatus=2``): a setting that is
wrong stays wrong, and restarting every few seconds would only fill the journal.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlmodel import col, select

from scheduler.config import Settings
from scheduler.errors import ConfigError
from scheduler.i18n import msg
from scheduler.models import ChannelState
from scheduler.store import session_scope


def refuse_bad_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """The settings that can be judged without the database: ``public_url`` and app secrets."""
    environ = os.environ if environ is None else environ
    host = urlsplit(settings.public_url).hostname or ""
    if not resolves(host):
        raise ConfigError(
            msg("error.public_url_nowhere", url=settings.public_url, host=host), hint=msg("hint.public_url_nowhere")
        )
    for channel in settings.channels:
        if channel.mode == "live" and channel.app_secret_env and not environ.get(channel.app_secret_env):
            raise missing_secret(channel.id, "app_secret_env", channel.app_secret_env)


def refuse_missing_secrets(settings: Settings, engine: Engine, environ: Mapping[str, str] | None = None) -> None:
    """The encryption key and each live channel's token, against what the database holds."""
    environ = os.environ if environ is None else environ
    stored = channels_with_credentials(engine)
    key_file = settings.path(settings.secrets.key_file)
    if stored and not environ.get(settings.secrets.key_env) and not key_file.exists():
        # Loa would make a new key, and every stored credential would be unreadable with it.
        missing = msg("error.key_missing", variable=settings.secrets.key_env, file=str(key_file))
        raise ConfigError(missing, hint=msg("hint.key_missing"))
    for channel in settings.channels:
        if channel.mode != "live" or channel.id in stored:
            continue  # a reconnected channel's token is in the database
        for setting in ("token_env", "refresh_token_env"):
            name = getattr(channel, setting)
            if name and not environ.get(name):
                raise missing_secret(channel.id, setting, name)


def missing_secret(channel: str, setting: str, variable: str) -> ConfigError:
    return ConfigError(
        msg("error.secret_missing", channel=channel, setting=setting, variable=variable),
        hint=msg("hint.secret_missing", variable=variable),
    )


def channels_with_credentials(engine: Engine) -> set[str]:
    with session_scope(engine, read_only=True) as session:
        rows = session.exec(select(ChannelState.id).where(col(ChannelState.credentials_encrypted).is_not(None)))
        return set(rows.all())


def resolves(host: str) -> bool:
    """Whether the name has an address (a literal address always has).

    Only a definite "no such name" counts against it: a resolver that cannot be reached
    right now (EAI_AGAIN, a server booting before its network) is no wrong setting, and a
    refusal (exit 2) would not be restarted.
    """
    if not host:
        return False
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return exc.errno not in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME))
    except (OSError, UnicodeError):
        return False
    return True
