"""Assembles the sandbox ASGI app: control API, both platforms, and the fault pipeline."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Protocol

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Message, Receive, Scope, Send

from scheduler.channels.facebook.emulator import FacebookApi
from scheduler.channels.zalo.emulator import ZaloApi
from scheduler.config import SandboxSettings
from scheduler.sandbox import control
from scheduler.sandbox.faults import Fault, FaultQueue
from scheduler.sandbox.state import SandboxState
from scheduler.sandbox.wire import ApiRequest, ApiResponse, parse_request

DROP_SCOPE_KEY = "loa.sandbox.drop"
JSON_MEDIA_TYPE = "application/json; charset=UTF-8"


class Platform(Protocol):
    name: str

    def handle(self, req: ApiRequest) -> ApiResponse: ...

    def fault_response(self, fault: Fault, req: ApiRequest) -> ApiResponse: ...

    def request_token(self, req: ApiRequest) -> str | None: ...

    def finish(self, resp: ApiResponse, req: ApiRequest) -> ApiResponse: ...


class _DropRequest:
    """Set by a handler to make the outermost layer close the socket without a reply."""

    def __init__(self) -> None:
        self.requested = False


class SandboxApp(Starlette):
    """Starlette plus the one thing a normal app cannot do: vanish mid-request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        drop = _DropRequest()
        scope[DROP_SCOPE_KEY] = drop

        async def guarded_send(message: Message) -> None:
            if not drop.requested:
                await send(message)

        await super().__call__(scope, receive, guarded_send)
        if drop.requested:
            await _close_connection(send)


async def _close_connection(send: Send) -> None:
    """Close the client socket with no response at all.

    ASGI has no "drop" message and a server answers 500 when an app returns without a
    response, so this reaches for uvicorn's transport (``send`` is a bound method of its
    request cycle). Clients then see the connection die, as after a real network failure.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("sandbox fault: connection dropped after commit")
    transport.close()
    # Give the server a turn to notice the disconnect, so it does not try to send a 500.
    for _ in range(3):
        await anyio.sleep(0)


def to_starlette(resp: ApiResponse) -> Response:
    if resp.media_type == "application/json":
        payload = json.dumps(resp.body, ensure_ascii=False, separators=(",", ":"))
        return Response(payload, resp.status, resp.headers, media_type=JSON_MEDIA_TYPE)
    body = resp.body if isinstance(resp.body, bytes | str) else str(resp.body)
    return Response(body, resp.status, resp.headers, media_type=resp.media_type)


class Dispatcher:
    """Routes a platform request, applying the first matching queued fault."""

    def __init__(
        self, state: SandboxState, faults: FaultQueue, facebook: FacebookApi, zalo: ZaloApi
    ) -> None:
        self.state = state
        self.faults = faults
        self.facebook = facebook
        self.zalo = zalo

    def platform_for(self, req: ApiRequest) -> Platform:
        # Graph v2.0/v3.0 are long gone, so those prefixes belong to Zalo's OA API.
        return self.zalo if self.zalo.owns(req) else self.facebook

    async def endpoint(self, request: Request) -> Response:
        req = await parse_request(request)
        platform = self.platform_for(req)
        fault = self.faults.take(platform.name, req.method, req.segments)
        if fault is not None and fault.delay_s and not fault.delay_after:
            await anyio.sleep(fault.delay_s)
        if fault is not None and fault.token_state:
            token = platform.request_token(req)
            if token:
                control.set_token_state(self.state, platform.name, token, fault.token_state)
        if fault is not None and fault.replaces_reply:
            resp = platform.fault_response(fault, req)
        else:
            resp = await run_in_threadpool(platform.handle, req)
        if fault is not None:
            resp.headers.update(fault.headers)
        resp = platform.finish(resp, req)
        self._log(req, platform, resp, fault)
        if fault is not None and fault.delay_s and fault.delay_after:
            await anyio.sleep(fault.delay_s)
        if fault is not None and fault.drop_after_commit:
            request.scope[DROP_SCOPE_KEY].requested = True
        return to_starlette(resp)

    def _log(
        self, req: ApiRequest, platform: Platform, resp: ApiResponse, fault: Fault | None
    ) -> None:
        entry: dict[str, Any] = {
            "time": time.time(),
            "platform": platform.name,
            "method": req.method,
            "path": req.path,
            "status": resp.status,
            "fault": fault.id if fault is not None else None,
        }
        if isinstance(resp.body, dict) and resp.body.get("error") not in (None, 0):
            entry["error"] = resp.body["error"]
        self.state.log_request(entry)


def create_app(settings: SandboxSettings, *, state_file: Path | None = None) -> Starlette:
    """A fresh sandbox; ``state_file`` (else ``settings.state_file``) makes it persistent."""
    path = state_file or (Path(settings.state_file) if settings.state_file else None)
    state = SandboxState(path)
    faults = FaultQueue()
    dispatcher = Dispatcher(
        state, faults, FacebookApi(state, settings), ZaloApi(state, settings)
    )

    async def not_found(request: Request) -> Response:
        return JSONResponse({"error": "unknown sandbox control route"}, status_code=404)

    app = SandboxApp(routes=[
        Mount("/_sandbox", routes=[
            *control.routes(state, faults),
            Route("/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE"]),
        ]),
        Route("/{path:path}", dispatcher.endpoint, methods=["GET", "POST", "DELETE", "PUT", "PATCH"]),
    ])
    # Exposed for in-process callers (tests, `loa run`) that want to inspect or reset.
    app.state.sandbox_state = state
    app.state.sandbox_faults = faults
    return app
