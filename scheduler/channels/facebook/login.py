"""Facebook Login for a Page (docs/platforms.md E1): dialog → code → long-lived user token →
``/me/accounts`` (paging followed) → each Page's token, its tasks and the permissions granted.
The daily check asks ``debug_token`` about a Page token."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

import requests

from scheduler.channels.connect import Authorization, ConnectFlow, FoundAccount, TokenHealth
from scheduler.errors import InputError, TransientError
from scheduler.i18n import msg

if TYPE_CHECKING:
    from scheduler.config import ChannelSettings

GRAPH_VERSION = "v25.0"
# What publishing, reading back and reach need (E1); pages_show_list lists the Pages.
NEEDED_SCOPES = ("pages_show_list", "pages_read_engagement", "pages_manage_posts")
OPTIONAL_SCOPES = ("read_insights", "pages_manage_engagement")
# The Page role task without which a Page token cannot post (E1).
POSTING_TASK = "CREATE_CONTENT"
# Graph's subcodes for an authorisation code (UNVERIFIED wording, widely reported):
CODE_EXPIRED_SUBCODE = 36007
CODE_USED_SUBCODE = 36009
# A long, reused cursor chain is a broken reply, not a thousand Pages.
MAX_ACCOUNT_PAGES = 50


class FacebookLogin(ConnectFlow):
    platform: ClassVar[str] = "facebook"
    section: ClassVar[str] = "facebook_app"
    default_secret_env: ClassVar[str] = "LOA_FACEBOOK_APP_SECRET"
    sandbox_app_id: ClassVar[str] = "100000000000999"
    sandbox_app_secret: ClassVar[str] = "sandbox-app-secret"
    live_graph_base: ClassVar[str] = "https://graph.facebook.com"
    live_dialog_base: ClassVar[str] = "https://www.facebook.com"
    live_oauth_base: ClassVar[str] = "https://graph.facebook.com"
    channel_prefix: ClassVar[str] = "fb"
    button_label: ClassVar[str] = "connect.button.facebook"
    pick_accounts: ClassVar[bool] = True

    def authorization(self, state: str, redirect_uri: str) -> Authorization:
        params: dict[str, str] = {
            "client_id": self.app.app_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "response_type": "code",
        }
        if self.app.config_id:  # Facebook Login for Business: the configuration fixes the permissions
            params["config_id"] = self.app.config_id
        else:
            params["scope"] = ",".join(self.app.scope or (*NEEDED_SCOPES, *OPTIONAL_SCOPES))
        return Authorization(f"{self.app.dialog_base}/{GRAPH_VERSION}/dialog/oauth?{urlencode(params)}")

    # -- talking to Graph ----------------------------------------------------------------

    def _get(self, url: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        try:
            response = self.session.get(url, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(msg("error.connect_unreachable", reason=type(exc).__name__)) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TransientError(msg("error.connect_bad_reply", status=response.status_code))
        error = body.get("error")
        if isinstance(error, dict):
            raise self._refusal(error)
        return body

    def _refusal(self, error: Mapping[str, Any]) -> InputError:
        subcode = error.get("error_subcode")
        text = str(error.get("message") or "")
        if subcode == CODE_EXPIRED_SUBCODE:
            return InputError(msg("error.connect_code_expired"), hint=msg("hint.connect_again"))
        if subcode == CODE_USED_SUBCODE:
            return InputError(msg("error.connect_code_used"), hint=msg("hint.connect_again"))
        return InputError(msg("error.connect_refused", reason=text), hint=msg("hint.connect_again"))

    def _graph(self, path: str) -> str:
        return f"{self.app.graph_base}/{GRAPH_VERSION}/{path}"

    def _granted(self, token: str) -> set[str]:
        body = self._get(self._graph("me/permissions"), {"access_token": token})
        return {
            str(item.get("permission"))
            for item in body.get("data") or []
            if isinstance(item, dict) and item.get("status") == "granted"
        }

    def complete(self, params: Mapping[str, str], secrets: Mapping[str, str], redirect_uri: str) -> list[FoundAccount]:
        if params.get("error"):
            raise InputError(msg("error.connect_denied"), hint=msg("hint.connect_again"))
        code = params.get("code", "")
        if not code:
            raise InputError(msg("error.connect_no_code"), hint=msg("hint.connect_paste_whole_url"))
        app = {"client_id": self.app.app_id, "client_secret": self.app.app_secret}
        short = self._get(self._graph("oauth/access_token"), {**app, "redirect_uri": redirect_uri, "code": code})
        long_lived = self._get(
            self._graph("oauth/access_token"),
            {**app, "grant_type": "fb_exchange_token", "fb_exchange_token": str(short.get("access_token", ""))},
        )
        user_token = str(long_lived.get("access_token", ""))
        user_scopes = self._granted(user_token)
        missing_scopes = [s for s in NEEDED_SCOPES if s not in user_scopes]
        found: list[FoundAccount] = []
        url: str | None = self._graph("me/accounts")
        query: dict[str, str] | None = {
            "access_token": user_token,
            "fields": "id,name,access_token,tasks,picture",
            "limit": str(self.app.page_size),
        }
        for _ in range(MAX_ACCOUNT_PAGES):
            if url is None:
                break
            body = self._get(url, query)
            for page in body.get("data") or []:
                if isinstance(page, dict):
                    found.append(self._account(page, missing_scopes))
            paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
            next_url = paging.get("next") if paging else None
            # ``next`` carries every parameter (the token too): nothing is added to it.
            url, query = (str(next_url), None) if next_url else (None, None)
        return found

    def _account(self, page: Mapping[str, Any], missing_scopes: list[str]) -> FoundAccount:
        picture = page.get("picture")
        picture_url = None
        if isinstance(picture, dict) and isinstance(picture.get("data"), dict):
            picture_url = picture["data"].get("url")
        account = FoundAccount(
            external_id=str(page.get("id", "")),
            name=str(page.get("name", "")),
            picture=str(picture_url) if picture_url else None,
        )
        token = page.get("access_token")
        tasks = [str(t) for t in page.get("tasks") or []]
        if not token:
            account.problem = msg("connect.problem.no_token", page=account.name)
        elif POSTING_TASK not in tasks:
            account.problem = msg("connect.problem.cannot_post", page=account.name)
        elif missing_scopes:
            account.problem = msg("connect.problem.scopes", missing=", ".join(missing_scopes))
        else:
            scopes = self._granted(str(token))
            lacking = [s for s in NEEDED_SCOPES if s not in scopes]
            if lacking:
                account.problem = msg("connect.problem.scopes", missing=", ".join(lacking))
            account.scopes = tuple(sorted(scopes))
            account.credentials = {"access_token": str(token)}
        return account

    def check(self, channel: ChannelSettings, credentials: Mapping[str, str], saved_at: datetime | None) -> TokenHealth:
        token = credentials.get("access_token")
        if not token:
            return TokenHealth(False, problem=msg("health.no_token"))
        body = self._get(
            self._graph("debug_token"),
            {"input_token": token, "access_token": f"{self.app.app_id}|{self.app.app_secret}"},
        )
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        assert isinstance(data, dict)
        scopes = tuple(str(s) for s in data.get("scopes") or [])
        limits = [int(data[k]) for k in ("expires_at", "data_access_expires_at") if int(data.get(k) or 0) > 0]
        # expires_at 0 is widely reported to mean "never" (UNVERIFIED, docs/platforms.md A5).
        expires = datetime.fromtimestamp(min(limits), UTC) if limits else None
        if not data.get("is_valid"):
            return TokenHealth(False, expires, scopes, msg("health.invalid"))
        lacking = [s for s in NEEDED_SCOPES if s not in scopes]
        if lacking:
            return TokenHealth(False, expires, scopes, msg("health.scopes_lost", missing=", ".join(lacking)))
        return TokenHealth(True, expires, scopes)
