"""The contract of a platform's login flow ("Kết nối Fanpage", "Kết nối Zalo OA").

Each platform with a login implements :class:`ConnectFlow` in its folder (``login.py``) and
returns the class from ``Publisher.connect_flow()``. The flow only talks to the platform;
``scheduler/channels/connecting.py`` keeps the attempt (``state``, secrets in between) and adds
the channels, the same for every platform.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

import requests

from scheduler.errors import ConfigError
from scheduler.i18n import Message, msg

if TYPE_CHECKING:
    from scheduler.config import ChannelSettings, ConnectAppSettings, Settings


@dataclass(frozen=True)
class AppCredentials:
    """The app an account is connected through, with its secret (from the environment)."""

    app_id: str
    app_secret: str
    graph_base: str
    dialog_base: str
    oauth_base: str
    sandbox: bool
    config_id: str | None = None
    scope: tuple[str, ...] = ()
    page_size: int = 100

    def __repr__(self) -> str:  # the secret never reaches a log or a traceback
        return f"AppCredentials(app_id={self.app_id!r}, sandbox={self.sandbox!r})"


@dataclass(frozen=True)
class Authorization:
    """Where to send the person, and what must be kept secret until the callback (PKCE)."""

    url: str
    secrets: dict[str, str] = field(default_factory=dict)


@dataclass
class FoundAccount:
    """A Page or OA the login granted; ``problem`` says why it cannot be added."""

    external_id: str
    name: str
    picture: str | None = None
    credentials: dict[str, str] = field(default_factory=dict)
    problem: Message | None = None
    scopes: tuple[str, ...] = ()
    expires_at: datetime | None = None

    def __repr__(self) -> str:
        return f"FoundAccount(external_id={self.external_id!r}, name={self.name!r})"


@dataclass(frozen=True)
class TokenHealth:
    """What the daily check and the pre-flight found about one channel's credentials."""

    valid: bool
    expires_at: datetime | None = None  # the first of the platform's limits, when it has one
    scopes: tuple[str, ...] = ()
    problem: Message | None = None  # None: well


class ConnectFlow(ABC):
    """One platform's login: the authorisation URL, the callback, the token check."""

    platform: ClassVar[str]
    # The settings section of the app (``[facebook_app]``) and its default secret variable.
    section: ClassVar[str]
    default_secret_env: ClassVar[str]
    # The sandbox's own app, used while no app_id is configured and the sandbox is on.
    sandbox_app_id: ClassVar[str]
    sandbox_app_secret: ClassVar[str]
    # Live bases, and the paths under the sandbox's base URL.
    live_graph_base: ClassVar[str]
    live_dialog_base: ClassVar[str]
    live_oauth_base: ClassVar[str]
    sandbox_graph_path: ClassVar[str] = ""
    # Catalogue id of the console's button ("Kết nối Fanpage").
    button_label: ClassVar[str]
    # How the ids of channels connected through this flow begin ("fb-…").
    channel_prefix: ClassVar[str]
    # True: the login grants several accounts and the person ticks which to add.
    pick_accounts: ClassVar[bool] = False

    def __init__(self, app: AppCredentials, *, session: requests.Session | None = None, timeout: float = 20.0) -> None:
        self.app = app
        self.session = session or requests.Session()
        self.timeout = timeout

    @abstractmethod
    def authorization(self, state: str, redirect_uri: str) -> Authorization:
        """The URL the person opens to log in and consent."""

    @abstractmethod
    def complete(self, params: Mapping[str, str], secrets: Mapping[str, str], redirect_uri: str) -> list[FoundAccount]:
        """The callback's parameters → the accounts granted (``InputError`` when refused)."""

    @abstractmethod
    def check(self, channel: ChannelSettings, credentials: Mapping[str, str], saved_at: datetime | None) -> TokenHealth:
        """The channel's stored credentials, asked of the platform (or aged against its rules)."""

    def channel_fields(self, account: FoundAccount) -> dict[str, object]:
        """Settings a channel connected through this flow carries (besides id, name, ids)."""
        return {}


def app_settings(settings: Settings, flow: type[ConnectFlow]) -> ConnectAppSettings:
    section = getattr(settings, flow.section)
    assert section is not None
    return section


def app_credentials(
    settings: Settings, flow: type[ConnectFlow], environ: Mapping[str, str] | None = None
) -> AppCredentials:
    """The app of ``flow`` from the settings and the environment; ``ConfigError`` naming what to set."""
    environ = os.environ if environ is None else environ
    app = app_settings(settings, flow)
    sandbox = settings.sandbox.enabled and not app.app_id
    secret_env = app.app_secret_env or flow.default_secret_env
    if sandbox:
        app_id, secret = flow.sandbox_app_id, environ.get(secret_env) or flow.sandbox_app_secret
        base = settings.sandbox.base_url
        graph = app.graph_base or base + flow.sandbox_graph_path
        dialog = app.dialog_base or base
        oauth = app.oauth_base or base
    else:
        if not app.app_id:
            raise ConfigError(
                msg("error.connect_no_app", section=flow.section),
                hint=msg("hint.connect_set_app", section=flow.section),
            )
        secret = environ.get(secret_env, "")
        if not secret:
            raise ConfigError(
                msg("error.connect_no_secret", name=secret_env), hint=msg("hint.export_variable", name=secret_env)
            )
        app_id = app.app_id
        graph = app.graph_base or flow.live_graph_base
        dialog = app.dialog_base or flow.live_dialog_base
        oauth = app.oauth_base or flow.live_oauth_base
    return AppCredentials(
        app_id=app_id,
        app_secret=secret,
        graph_base=graph.rstrip("/"),
        dialog_base=dialog.rstrip("/"),
        oauth_base=oauth.rstrip("/"),
        sandbox=sandbox,
        config_id=app.config_id,
        scope=tuple(app.scope or ()),
        page_size=app.accounts_page_size,
    )
