"""Zalo OA authorization v4 with PKCE (docs/platforms.md E2): the permission URL with a
``code_challenge`` → callback with ``code`` and ``oa_id`` → the token pair (stored at once:
the refresh token is single-use) → ``getoa`` names the OA. The daily check ages the refresh
token against its three months."""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

import requests

from scheduler.channels.connect import Authorization, ConnectFlow, FoundAccount, TokenHealth
from scheduler.errors import InputError, TransientError
from scheduler.i18n import msg

if TYPE_CHECKING:
    from scheduler.config import ChannelSettings

VERIFIER_ALPHABET = string.ascii_letters + string.digits
VERIFIER_LENGTH = 43  # E2
# B1, E3: refresh tokens live three months from when they were issued.
REFRESH_TOKEN_LIFE = timedelta(days=90)
ACCESS_TOKEN_SECONDS = 90000  # E2, when the reply's expires_in cannot be read


def code_verifier() -> str:
    return "".join(secrets.choice(VERIFIER_ALPHABET) for _ in range(VERIFIER_LENGTH))


def code_challenge(verifier: str) -> str:
    """base64url(SHA-256(verifier)) without padding (RFC 7636 S256; E2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class ZaloLogin(ConnectFlow):
    platform: ClassVar[str] = "zalo"
    section: ClassVar[str] = "zalo_app"
    default_secret_env: ClassVar[str] = "LOA_ZALO_APP_SECRET"
    sandbox_app_id: ClassVar[str] = "sandbox-app"
    sandbox_app_secret: ClassVar[str] = "sandbox-app-secret"
    live_graph_base: ClassVar[str] = "https://openapi.zalo.me"
    live_dialog_base: ClassVar[str] = "https://oauth.zaloapp.com"
    live_oauth_base: ClassVar[str] = "https://oauth.zaloapp.com"
    channel_prefix: ClassVar[str] = "zalo"
    button_label: ClassVar[str] = "connect.button.zalo"

    def authorization(self, state: str, redirect_uri: str) -> Authorization:
        verifier = code_verifier()
        params = {
            "app_id": self.app.app_id,
            "redirect_uri": redirect_uri,
            "code_challenge": code_challenge(verifier),
            "state": state,
        }
        return Authorization(
            f"{self.app.dialog_base}/v4/oa/permission?{urlencode(params)}", {"code_verifier": verifier}
        )

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TransientError(msg("error.connect_bad_reply", status=response.status_code))
        return body

    def complete(self, params: Mapping[str, str], secrets: Mapping[str, str], redirect_uri: str) -> list[FoundAccount]:
        if params.get("error"):
            raise InputError(msg("error.connect_denied"), hint=msg("hint.connect_again"))
        code, oa_id = params.get("code", ""), params.get("oa_id", "")
        if not code or not oa_id:
            raise InputError(msg("error.connect_no_code"), hint=msg("hint.connect_paste_whole_url"))
        try:
            response = self.session.post(
                f"{self.app.oauth_base}/v4/oa/access_token",
                headers={"secret_key": self.app.app_secret},
                data={
                    "code": code,
                    "app_id": self.app.app_id,
                    "grant_type": "authorization_code",
                    "code_verifier": secrets.get("code_verifier", ""),
                },
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise TransientError(msg("error.connect_unreachable", reason=type(exc).__name__)) from None
        body = self._json(response)
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if not access or not refresh:
            reason = str(body.get("error_reason") or body.get("error_description") or body.get("error_name") or "")
            raise InputError(msg("error.connect_code_refused", reason=reason), hint=msg("hint.connect_again"))
        try:
            seconds = int(str(body.get("expires_in", ACCESS_TOKEN_SECONDS)))  # a string (E2)
        except ValueError:
            seconds = ACCESS_TOKEN_SECONDS
        now = datetime.now(UTC)
        account = FoundAccount(
            external_id=oa_id,
            name=oa_id,
            credentials={
                "access_token": str(access),
                "refresh_token": str(refresh),
                "expires_at": (now + timedelta(seconds=seconds)).isoformat(),
            },
            expires_at=now + REFRESH_TOKEN_LIFE,
        )
        try:
            info = self._json(
                self.session.get(
                    f"{self.app.graph_base}/v2.0/oa/getoa", headers={"access_token": str(access)}, timeout=self.timeout
                )
            )
        except requests.RequestException as exc:
            raise TransientError(msg("error.connect_unreachable", reason=type(exc).__name__)) from None
        data = info.get("data") if isinstance(info.get("data"), dict) else None
        if info.get("error") not in (0, None) or data is None:
            account.problem = msg("connect.problem.getoa", reason=str(info.get("message") or info.get("error")))
            return [account]
        if str(data.get("oa_id") or oa_id) != oa_id:
            account.problem = msg("connect.problem.other_oa", oa=str(data.get("oa_id")))
        account.name = str(data.get("name") or oa_id)
        account.picture = str(data.get("avatar")) if data.get("avatar") else None
        return [account]

    def channel_fields(self, account: FoundAccount) -> dict[str, object]:
        return {"app_id": self.app.app_id}

    def check(self, channel: ChannelSettings, credentials: Mapping[str, str], saved_at: datetime | None) -> TokenHealth:
        if not credentials.get("refresh_token"):
            return TokenHealth(False, problem=msg("health.no_token"))
        # Each renewal saves a new refresh token: its life runs from the last save.
        expires = (saved_at + REFRESH_TOKEN_LIFE) if saved_at else None
        if expires is not None and expires <= datetime.now(UTC):
            return TokenHealth(False, expires, problem=msg("health.expired"))
        return TokenHealth(True, expires)
