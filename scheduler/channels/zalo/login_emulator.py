"""The sandbox's Zalo OA authorization v4 (docs/platforms.md C, E2): the permission page (an
OA admin picks the OA and allows), its redirect with ``code``, ``oa_id`` and ``state``, and the
PKCE check of ``POST /v4/oa/access_token`` — a code issued by the page is exchanged only with
the ``code_verifier`` whose challenge it was issued for.
"""

from __future__ import annotations

import base64
import hashlib
import html
from urllib.parse import urlencode, urlsplit

from scheduler.sandbox.state import ZALO_DEFAULT_OA_ID, SandboxState, TokenRecord, opaque_token
from scheduler.sandbox.wire import ApiRequest, ApiResponse, as_str

SANDBOX_OAS: list[dict[str, str]] = [
    {"id": ZALO_DEFAULT_OA_ID, "name": "BHXH tỉnh Nghệ An"},
    {"id": "579745863508352885", "name": "BHXH thành phố Vinh"},
]
CODE_LIFETIME_S = 10 * 60  # E2
# UNVERIFIED: Zalo's code and wording for a wrong code_verifier; the sandbox answers the
# invalid-code error, which is what a client must treat it as.
VERIFIER_REFUSAL = -14019
PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;background:#eef3ff;margin:0;padding:2rem}"
    "main{max-width:32rem;margin:auto;background:#fff;border-radius:8px;padding:1.5rem}"
    "label{display:block;padding:.3rem 0}button{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem;"
    "border-radius:6px;border:0}.go{background:#0068ff;color:#fff}.no{background:#e4e6eb}.err{color:#b00020}"
)


def _page(body: str) -> ApiResponse:
    return ApiResponse(
        200,
        (
            '<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Zalo — Cấp quyền cho ứng dụng</title>'
            '<meta name="viewport" content="width=device-width"><link rel="icon" href="data:,">'
            f"<style>{PAGE_STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>"
        ),
        media_type="text/html",
    )


def _redirect(uri: str, params: dict[str, str]) -> ApiResponse:
    joiner = "&" if urlsplit(uri).query else "?"
    return ApiResponse(302, "", {"location": f"{uri}{joiner}{urlencode(params)}"}, media_type="text/html")


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")


class ZaloLoginEmulator:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    @staticmethod
    def owns(req: ApiRequest) -> bool:
        return req.segments == ("v4", "oa", "permission")

    def handle(self, req: ApiRequest) -> ApiResponse:
        return self.consent(req) if req.method == "POST" else self.permission_page(req)

    def permission_page(self, req: ApiRequest) -> ApiResponse:
        params = req.params
        app_id = as_str(params.get("app_id")) or ""
        redirect_uri = as_str(params.get("redirect_uri")) or ""
        challenge = as_str(params.get("code_challenge")) or ""
        if not app_id or not redirect_uri.startswith(("http://", "https://")):
            return _page('<h1 class="err">Ứng dụng không hợp lệ (app_id, redirect_uri)</h1>')
        if not challenge:
            return _page('<h1 class="err">Thiếu code_challenge</h1>')
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
            for name, value in (
                ("app_id", app_id),
                ("redirect_uri", redirect_uri),
                ("code_challenge", challenge),
                ("state", as_str(params.get("state")) or ""),
            )
        )
        choices = "".join(
            f'<label><input type="radio" name="oa_id" value="{oa["id"]}"{" checked" if i == 0 else ""}> '
            f"{html.escape(oa['name'])}</label>"
            for i, oa in enumerate(SANDBOX_OAS)
        )
        return _page(
            "<h1>Loa Sandbox yêu cầu quyền quản lý Official Account</h1>"
            f'<form method="post">{hidden}<fieldset><legend>Chọn Official Account</legend>{choices}</fieldset>'
            "<p>Quyền: Quản lý bài viết, Gửi tin truyền thông</p>"
            '<button class="go" type="submit" name="decision" value="allow">Cho phép</button>'
            '<button class="no" type="submit" name="decision" value="deny">Từ chối</button></form>'
        )

    def consent(self, req: ApiRequest) -> ApiResponse:
        params = req.params
        redirect_uri = as_str(params.get("redirect_uri")) or ""
        state = as_str(params.get("state")) or ""
        if not redirect_uri.startswith(("http://", "https://")):
            return _page('<h1 class="err">redirect_uri không hợp lệ</h1>')
        if as_str(params.get("decision")) != "allow":
            # UNVERIFIED: how Zalo reports a refusal to the callback; an OAuth-style error.
            return _redirect(redirect_uri, {"error": "access_denied", "state": state})
        oa_id = as_str(params.get("oa_id")) or ZALO_DEFAULT_OA_ID
        now = self.state.now()
        with self.state.mutate() as data:
            code = data.put_token(
                TokenRecord(
                    platform="zalo",
                    token=opaque_token("", 32),
                    kind="code",
                    owner=oa_id,
                    issued_time=now,
                    expires_time=now + CODE_LIFETIME_S,
                    challenge=as_str(params.get("code_challenge")),
                )
            )
            data.see_oa(oa_id)
        return _redirect(redirect_uri, {"code": code.token, "oa_id": oa_id, "state": state})

    def pkce_refusal(self, req: ApiRequest) -> int | None:
        """The error for a code exchange whose verifier does not match, else None."""
        if as_str(req.params.get("grant_type")) != "authorization_code":
            return None
        code = as_str(req.params.get("code")) or ""
        with self.state.read() as data:
            record = data.token("zalo", code)
        if record is None or not record.challenge:
            return None
        verifier = as_str(req.params.get("code_verifier")) or ""
        try:
            matches = bool(verifier) and challenge_of(verifier) == record.challenge
        except UnicodeEncodeError:
            matches = False
        return None if matches else VERIFIER_REFUSAL

    def oa_name(self, oa_id: str) -> str | None:
        return next((oa["name"] for oa in SANDBOX_OAS if oa["id"] == oa_id), None)
