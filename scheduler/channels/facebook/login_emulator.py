"""The sandbox's Facebook Login (docs/platforms.md C, E1): the dialog (a consent page where
the person ticks Pages and permissions), the code exchange, the long-lived exchange,
``/me/accounts`` with paging, ``/me/permissions`` and ``debug_token`` for what was granted.

The consent page is plain HTML with one form, so a browser clicks through it offline; its
submit redirects to ``redirect_uri`` exactly as Facebook does (``code`` and ``state``, or
``error=access_denied``). Pages left unticked are listed by ``/me/accounts`` without a token,
as Graph does for Pages not granted to the app.
"""

from __future__ import annotations

import base64
import html
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from scheduler.sandbox.state import FB_DEFAULT_PAGE_ID, SandboxState, TokenRecord, opaque_token
from scheduler.sandbox.wire import ApiRequest, ApiResponse, as_int, as_list, as_str

# The Pages the sandbox's person administers. The last one can only be analysed (no
# CREATE_CONTENT): Loa must explain it, not add it.
ALL_TASKS = ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"]
SANDBOX_PAGES: list[dict[str, Any]] = [
    {"id": FB_DEFAULT_PAGE_ID, "name": "BHXH tỉnh Nghệ An", "tasks": ALL_TASKS},
    {"id": "100000000000002", "name": "BHXH thành phố Vinh", "tasks": ALL_TASKS},
    {"id": "100000000000003", "name": "BHXH thị xã Cửa Lò", "tasks": ALL_TASKS},
    {"id": "100000000000004", "name": "Đoàn thanh niên BHXH Nghệ An", "tasks": ["ANALYZE", "ADVERTISE"]},
]
DEFAULT_SCOPES = ["pages_show_list", "pages_read_engagement", "pages_manage_posts"]
CODE_LIFETIME_S = 10 * 60  # UNVERIFIED for Facebook: codes are reported to last about 10 minutes
SHORT_TOKEN_S = 2 * 3600  # a short-lived user token lasts "an hour or two" (E1)
LONG_TOKEN_S = 5183944  # E1
DATA_ACCESS_S = 90 * 86400  # data_access_expires_at: 90 days from the login (A5)
DEFAULT_PAGE_LIMIT = 25
CODE_EXPIRED = (100, 36007, "This authorization code has expired.")
CODE_USED = (100, 36009, "This authorization code has been used.")
CODE_INVALID = (100, None, "Invalid verification code format.")

GraphFail = Callable[[int, str, int | None], Exception]

PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f0f2f5;margin:0;padding:2rem}"
    "main{max-width:32rem;margin:auto;background:#fff;border-radius:8px;padding:1.5rem;"
    "box-shadow:0 1px 3px #0003}h1{font-size:1.25rem}fieldset{border:1px solid #ddd;"
    "border-radius:6px;margin:1rem 0}label{display:block;padding:.25rem 0}"
    "button{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem;border-radius:6px;border:0}"
    ".go{background:#1877f2;color:#fff}.no{background:#e4e6eb}.err{color:#b00020}"
)


def _page(title: str, body: str) -> ApiResponse:
    document = (
        f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        '<meta name="viewport" content="width=device-width"><link rel="icon" href="data:,">'
        f"<style>{PAGE_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return ApiResponse(200, document, media_type="text/html")


def _redirect(uri: str, params: dict[str, str]) -> ApiResponse:
    joiner = "&" if urlsplit(uri).query else "?"
    return ApiResponse(302, "", {"location": f"{uri}{joiner}{urlencode(params)}"}, media_type="text/html")


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode().rstrip("=")


def _index(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except ValueError:
        return 0


class FacebookLoginEmulator:
    """Facebook Login inside the sandbox; ``fail(code, message, subcode)`` builds Graph's error."""

    def __init__(self, state: SandboxState, fail: GraphFail) -> None:
        self.state = state
        self.fail = fail

    # -- the dialog ----------------------------------------------------------------------

    def dialog(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        params = req.params
        client_id = as_str(params.get("client_id")) or ""
        redirect_uri = as_str(params.get("redirect_uri")) or ""
        if not client_id or not redirect_uri.startswith(("http://", "https://")):
            return _page("Lỗi", '<h1 class="err">Invalid App ID or redirect_uri</h1>')
        scopes = as_list("scope", params.get("scope")) or list(DEFAULT_SCOPES)
        if as_str(params.get("config_id")):
            scopes = [*DEFAULT_SCOPES, "read_insights"]  # what the sandbox's configuration grants
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
            for name, value in (
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("state", as_str(params.get("state")) or ""),
                ("scope", ",".join(scopes)),
            )
        )
        pages = "".join(
            f'<label><input type="checkbox" name="page" value="{p["id"]}" checked> {html.escape(p["name"])}</label>'
            for p in SANDBOX_PAGES
        )
        permissions = "".join(
            f'<label><input type="checkbox" name="permission" value="{html.escape(name)}" checked> '
            f"{html.escape(name)}</label>"
            for name in scopes
        )
        body = (
            "<h1>Loa Sandbox muốn truy cập các Trang của bạn</h1>"
            f'<form method="post">{hidden}'
            f'<fieldset id="pages"><legend>Chọn Trang</legend>{pages}</fieldset>'
            f'<fieldset id="permissions"><legend>Quyền</legend>{permissions}</fieldset>'
            '<button class="go" type="submit" name="decision" value="allow">Tiếp tục</button>'
            '<button class="no" type="submit" name="decision" value="deny">Không phải bây giờ</button>'
            "</form>"
        )
        return _page("Facebook — Đăng nhập", body)

    def consent(self, req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        params = req.params
        redirect_uri = as_str(params.get("redirect_uri")) or ""
        state = as_str(params.get("state")) or ""
        if not redirect_uri.startswith(("http://", "https://")):
            return _page("Lỗi", '<h1 class="err">Invalid redirect_uri</h1>')
        if as_str(params.get("decision")) != "allow":
            # Facebook's documented shape for a person who declines (manual flow).
            return _redirect(
                redirect_uri,
                {
                    "error_reason": "user_denied",
                    "error": "access_denied",
                    "error_description": "Permissions error.",
                    "state": state,
                },
            )
        requested = as_list("scope", params.get("scope"))
        ticked = set(self._multi(req, "permission"))
        scopes = {s: ("granted" if s in ticked else "declined") for s in requested}
        grant_id = secrets.token_hex(8)
        now = self.state.now()
        with self.state.mutate() as data:
            data.login_grants[grant_id] = {
                "platform": "facebook",
                "client_id": as_str(params.get("client_id")) or "",
                "redirect_uri": redirect_uri,
                "pages": self._multi(req, "page"),
                "scopes": scopes,
                "data_access_expires": now + DATA_ACCESS_S,
                "page_tokens": {},
            }
            code = data.put_token(
                TokenRecord(
                    platform="facebook",
                    token=opaque_token("AQ", 32),
                    kind="code",
                    owner=grant_id,
                    issued_time=now,
                    expires_time=now + CODE_LIFETIME_S,
                )
            )
        return _redirect(redirect_uri, {"code": code.token, "state": state})

    @staticmethod
    def _multi(req: ApiRequest, name: str) -> list[str]:
        # A form sends a repeated field once per ticked box; ``params`` keeps only the last.
        return list(req.multi.get(name, []))

    # -- tokens --------------------------------------------------------------------------

    def grant_of(self, token: str | None) -> tuple[str, dict[str, Any]] | None:
        if not token:
            return None
        with self.state.read() as data:
            record = data.token("facebook", token)
            if record is not None and record.kind in ("user", "code") and record.owner in data.login_grants:
                return record.owner, data.login_grants[record.owner]
            for grant_id, grant in data.login_grants.items():
                if token in grant.get("page_tokens", {}).values():
                    return grant_id, grant
        return None

    def exchange_code(self, req: ApiRequest) -> ApiResponse:
        params = req.params
        code = as_str(params.get("code")) or ""
        if not as_str(params.get("client_id")):
            raise self.fail(101, "Missing client_id parameter.", None)
        if not as_str(params.get("client_secret")):
            raise self.fail(100, "(#100) Missing client_secret parameter.", None)
        now = self.state.now()
        with self.state.mutate() as data:
            record = data.token("facebook", code)
            grant = data.login_grants.get(record.owner or "") if record and record.kind == "code" else None
            if record is None or grant is None:
                raise self.fail(CODE_INVALID[0], CODE_INVALID[2], CODE_INVALID[1])
            if record.used_time is not None:
                raise self.fail(CODE_USED[0], CODE_USED[2], CODE_USED[1])
            if record.expires_time is not None and now >= record.expires_time:
                raise self.fail(CODE_EXPIRED[0], CODE_EXPIRED[2], CODE_EXPIRED[1])
            if as_str(params.get("redirect_uri")) != grant["redirect_uri"]:
                raise self.fail(
                    100,
                    "Error validating verification code. Please make sure your "
                    "redirect_uri is identical to the one you used in the OAuth dialog request",
                    36008,
                )
            record.used_time = now
            token = data.put_token(
                TokenRecord(
                    platform="facebook",
                    token=opaque_token("EAAG"),
                    kind="user",
                    owner=record.owner,
                    issued_time=now,
                    expires_time=now + SHORT_TOKEN_S,
                )
            )
        return ApiResponse(200, {"access_token": token.token, "token_type": "bearer", "expires_in": SHORT_TOKEN_S})

    def exchange_long_lived(self, req: ApiRequest, grant_id: str) -> ApiResponse:
        now = self.state.now()
        with self.state.mutate() as data:
            token = data.put_token(
                TokenRecord(
                    platform="facebook",
                    token=opaque_token("EAAG"),
                    kind="user",
                    owner=grant_id,
                    issued_time=now,
                    expires_time=now + LONG_TOKEN_S,
                )
            )
        return ApiResponse(200, {"access_token": token.token, "token_type": "bearer", "expires_in": LONG_TOKEN_S})

    # -- what the grant lists ------------------------------------------------------------

    def accounts(self, req: ApiRequest, grant_id: str) -> ApiResponse:
        limit = max(1, min(100, as_int("limit", req.params.get("limit"), DEFAULT_PAGE_LIMIT) or DEFAULT_PAGE_LIMIT))
        start = _index(as_str(req.params.get("after")) or "")
        now = self.state.now()
        entries: list[dict[str, Any]] = []
        with self.state.mutate() as data:
            grant = data.login_grants[grant_id]
            window = SANDBOX_PAGES[start : start + limit]
            for page in window:
                data.see_page(page["id"])
                entry: dict[str, Any] = {
                    "category": "Government Organization",
                    "category_list": [{"id": "2235", "name": "Government Organization"}],
                    "name": page["name"],
                    "id": page["id"],
                    "tasks": list(page["tasks"]),
                    "picture": {
                        "data": {
                            "height": 50,
                            "width": 50,
                            "is_silhouette": True,
                            "url": f"{req.base_url}/v25.0/{page['id']}/picture",
                        }
                    },
                }
                if page["id"] in grant["pages"]:
                    token = grant["page_tokens"].get(page["id"])
                    if token is None:
                        record = data.put_token(
                            TokenRecord(
                                platform="facebook",
                                token=opaque_token("EAAG"),
                                kind="page",
                                owner=page["id"],
                                issued_time=now,
                            )
                        )
                        token = grant["page_tokens"][page["id"]] = record.token
                    entry["access_token"] = token
                entries.append(entry)
        body: dict[str, Any] = {
            "data": entries,
            "paging": {"cursors": {"before": _cursor(start), "after": _cursor(start + len(entries) - 1)}},
        }
        if start + limit < len(SANDBOX_PAGES):
            query = {k: str(v) for k, v in req.query.items() if k != "after"}
            query["after"] = _cursor(start + limit)
            body["paging"]["next"] = f"{req.base_url}{req.path}?{urlencode(query)}"
        return ApiResponse(200, body)

    def permissions(self, req: ApiRequest, grant: dict[str, Any]) -> ApiResponse:
        return ApiResponse(
            200, {"data": [{"permission": name, "status": status} for name, status in grant["scopes"].items()]}
        )

    def debug_fields(self, grant: dict[str, Any]) -> dict[str, Any]:
        """What ``debug_token`` says differently for a token that came from a grant."""
        return {
            "scopes": [name for name, status in grant["scopes"].items() if status == "granted"],
            "data_access_expires_at": int(grant["data_access_expires"]),
        }


Handler = Callable[[ApiRequest, dict[str, str]], ApiResponse]


class GraphFallbacks:
    """What the Graph emulation answers for tokens that did not come from a login."""

    def __init__(
        self,
        *,
        oauth_access_token: Handler,
        accounts: Callable[[ApiRequest], ApiResponse],
        debug_token: Handler,
        request_token: Callable[[ApiRequest], str | None],
        all_scopes: list[str],
    ) -> None:
        self.oauth_access_token = oauth_access_token
        self.accounts = accounts
        self.debug_token = debug_token
        self.request_token = request_token
        self.all_scopes = all_scopes


def login_routes(
    login: FacebookLoginEmulator, graph: GraphFallbacks
) -> list[tuple[str, tuple[str, ...], Handler, bool]]:
    """(method, path pattern, handler, needs a token) for the Graph router, ahead of its own."""

    def access_token(req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        if as_str(req.params.get("code")):
            return login.exchange_code(req)
        if as_str(req.params.get("grant_type")) == "fb_exchange_token":
            owned = login.grant_of(as_str(req.params.get("fb_exchange_token")))
            if owned is not None and as_str(req.params.get("client_secret")):
                return login.exchange_long_lived(req, owned[0])
        return graph.oauth_access_token(req, found)

    def accounts(req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        owned = login.grant_of(graph.request_token(req))
        return login.accounts(req, owned[0]) if owned else graph.accounts(req)

    def permissions(req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        owned = login.grant_of(graph.request_token(req))
        if owned:
            return login.permissions(req, owned[1])
        return ApiResponse(200, {"data": [{"permission": s, "status": "granted"} for s in graph.all_scopes]})

    def debug_token(req: ApiRequest, found: dict[str, str]) -> ApiResponse:
        resp = graph.debug_token(req, found)
        owned = login.grant_of(as_str(req.params.get("input_token")))
        if owned and isinstance(resp.body, dict) and isinstance(resp.body.get("data"), dict):
            resp.body["data"].update(login.debug_fields(owned[1]))
        return resp

    return [
        ("GET", ("dialog", "oauth"), login.dialog, False),
        ("POST", ("dialog", "oauth"), login.consent, False),
        ("GET", ("oauth", "access_token"), access_token, False),
        ("GET", ("me", "accounts"), accounts, True),
        ("GET", ("me", "permissions"), permissions, True),
        ("GET", ("debug_token",), debug_token, True),
    ]
