"""Building a channel's publisher: its credentials, its HTTP session, its platform's options.

The dispatcher, the metrics collector and token renewal all talk to platforms through
publishers built here, so sandbox defaults, live secrets and timeouts are decided once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

import requests
import requests.adapters

from scheduler.channels.base import ChannelAccess, Publisher, TokenVault
from scheduler.channels.registry import publisher_class
from scheduler.config import ChannelSettings, Settings


def channel_access(
    settings: Settings,
    channel: ChannelSettings,
    environ: Mapping[str, str] | None = None,
    stored: Mapping[str, str] | None = None,
) -> ChannelAccess:
    """Credentials for one channel: what the vault holds, the named variables, sandbox defaults.

    A Page token stored when the channel was reconnected is newer than the environment's.
    """
    environ = os.environ if environ is None else environ
    stored = stored or {}
    sandbox = channel.mode == "sandbox"
    platform = publisher_class(channel.platform)

    def secret(name: str | None, sandbox_default: str) -> str | None:
        value = environ.get(name) if name else None
        return value or (sandbox_default if sandbox else None)

    return ChannelAccess(
        channel_id=channel.id,
        external_id=channel.external_id,
        api_base=settings.api_base(channel),
        oauth_base=settings.oauth_base(channel) if platform.single_use_refresh_token else None,
        access_token=stored.get("access_token")
        or secret(channel.token_env, f"sandbox-page-token-{channel.external_id}"),
        app_id=channel.app_id or ("sandbox-app" if sandbox else None),
        app_secret=secret(channel.app_secret_env, "sandbox-app-secret"),
        initial_refresh_token=secret(channel.refresh_token_env, f"oa:{channel.external_id}:sandbox-seed"),
    )


class PublisherFactory:
    """Publishers for the configured channels; one kept-alive HTTP session per channel.

    Credentials are read once per channel until :meth:`forget_credentials` (a dispatcher
    pass calls it first: a reconnect may have stored a new token since the last one).
    """

    def __init__(self, settings: Settings, vault: TokenVault, *, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.vault = vault
        self.environ = os.environ if environ is None else environ
        self._accesses: dict[str, ChannelAccess] = {}
        self._sessions: dict[str, requests.Session] = {}
        self._guard = threading.Lock()

    def build(self, channel: ChannelSettings) -> Publisher:
        cls = publisher_class(channel.platform)
        return cls(
            self.access(channel),
            vault=self.vault,
            timeout=self.settings.publishing.request_timeout_seconds,
            session=self.session(channel.id),
            **cls.options(self.settings, channel),
        )

    def access(self, channel: ChannelSettings) -> ChannelAccess:
        """One vault read per channel per pass, not one per publication."""
        with self._guard:
            access = self._accesses.get(channel.id)
            if access is None:
                # A platform with single-use refresh tokens reads its vault entry itself, under
                # the vault's lock; for the others the vault holds a reconnected access token.
                single_use = publisher_class(channel.platform).single_use_refresh_token
                stored = None if single_use else self.vault.load(channel.id)
                access = channel_access(self.settings, channel, self.environ, stored)
                self._accesses[channel.id] = access
            return access

    def forget_credentials(self) -> None:
        with self._guard:
            self._accesses.clear()

    def session(self, channel_id: str) -> requests.Session:
        """One HTTP session per channel: its publications reuse kept-alive connections."""
        with self._guard:
            session = self._sessions.get(channel_id)
            if session is None:
                session = requests.Session()
                size = self.settings.publishing.per_channel_concurrency
                adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=size)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._sessions[channel_id] = session
            return session

    def close(self) -> None:
        """Close the kept-alive connections (end of a process)."""
        with self._guard:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()
