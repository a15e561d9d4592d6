"""Building a channel's publisher: its credentials, its HTTP session, its platform's options.

The dispatcher, the metrics collector and token renewal all talk to platforms through
publishers built here, so sandbox defaults, live secrets and timeouts are decided once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

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


def settle_environment(session: requests.Session, base_url: str, environ: Mapping[str, str]) -> None:
    """Fix the proxy and CA bundle the environment asks for ``base_url``, then stop asking.

    The variables requests itself reads (``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` in either
    case, ``NO_PROXY`` host names and domain suffixes, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``),
    read once per session instead of on every call.
    """
    variables = {key.lower(): value for key, value in environ.items() if value}
    host = (urlsplit(base_url).hostname or "").lower()
    if not _bypassed(host, variables.get("no_proxy", "")):
        for scheme in ("http", "https"):
            proxy = variables.get(f"{scheme}_proxy") or variables.get("all_proxy")
            if proxy:
                session.proxies[scheme] = proxy
    bundle = variables.get("requests_ca_bundle") or variables.get("curl_ca_bundle")
    if bundle:
        session.verify = bundle
    session.trust_env = False


def _bypassed(host: str, no_proxy: str) -> bool:
    for entry in (part.strip().lower().lstrip(".") for part in no_proxy.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


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
        self._kinds: dict[str, tuple[type[Publisher], dict[str, object]]] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def build(self, channel: ChannelSettings) -> Publisher:
        """A publisher for one call or one pass; cheap: what it is built from is kept."""
        kind = self._kinds.get(channel.id)
        if kind is None:  # the class and its options follow from the settings alone
            cls = publisher_class(channel.platform)
            kind = self._kinds[channel.id] = (cls, cls.options(self.settings, channel))
        cls, options = kind
        return cls(
            self.access(channel),
            vault=self.vault,
            timeout=self.settings.publishing.request_timeout_seconds,
            session=self.session(channel),
            **options,
        )

    def access(self, channel: ChannelSettings) -> ChannelAccess:
        """One vault read per channel per pass, not one per publication."""
        access = self._accesses.get(channel.id)
        if access is not None:
            return access
        # One lock per channel, not one for the factory: a burst's first calls on 100 channels
        # must not queue behind each other's vault reads, and a channel's four threads must
        # not read its entry four times.
        with self._guard:
            lock = self._loading.setdefault(channel.id, threading.Lock())
        with lock:
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

    def session(self, channel: ChannelSettings) -> requests.Session:
        """One HTTP session per channel: its publications reuse kept-alive connections.

        Every platform's client gets the same transport from here. The environment's proxy
        and CA-bundle settings are read once, when the session is made: requests reads them
        again for every call otherwise (the proxy variables, ``no_proxy`` matching, ``.netrc``),
        which cost about as much CPU as the call itself in a burst.
        """
        session = self._sessions.get(channel.id)
        if session is not None:
            return session
        with self._guard:
            session = self._sessions.get(channel.id)
            if session is None:
                session = requests.Session()
                size = self.settings.publishing.per_channel_concurrency
                adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=size)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                settle_environment(session, self.settings.api_base(channel), self.environ)
                self._sessions[channel.id] = session
            return session

    def close(self) -> None:
        """Close the kept-alive connections (end of a process)."""
        with self._guard:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()
