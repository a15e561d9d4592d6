"""The sandbox's own control API under ``/_sandbox`` (docs/platforms.md C); not part of any platform.

| route | body / answer |
|---|---|
| ``GET /_sandbox/state`` | everything received, grouped by Page and OA |
| ``GET/POST/DELETE /_sandbox/faults`` | list / queue (one fault or a list) / clear |
| ``POST /_sandbox/engagement`` | set or add counters of a post or article |
| ``GET/POST /_sandbox/tokens`` | list / set ``{"platform", "token", "state", "expires_in_s"}`` |
| ``GET/POST /_sandbox/clock`` | ``{"advance_s": N}`` or ``{"offset_s": N}`` shifts sandbox time |
| ``POST /_sandbox/reset`` | forget everything, faults included |
| ``PUT/GET /_sandbox/files/{name}`` | host any bytes at a URL (e.g. a cover for Zalo to fetch) |
| ``GET /_sandbox/media/{key}`` | the images platforms received (``full_picture`` points here) |
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from scheduler.sandbox.faults import FaultQueue, FaultSpecError, immediate_token_changes
from scheduler.sandbox.state import (
    TOKEN_STATES,
    SandboxState,
    TokenRecord,
)

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ControlError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _problem(error: ControlError) -> JSONResponse:
    return JSONResponse({"error": error.message}, status_code=error.status)


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise ControlError("the body must be JSON") from None


def render_state(state: SandboxState, base_url: str) -> dict[str, Any]:
    """The shape documented in docs/platforms.md C, plus extra keys for debugging."""
    from scheduler.channels.registry import emulators

    with state.read() as data:
        sections = {emulator.name: emulator.state_section(data, base_url) for emulator in emulators()}
        return {
            **sections,
            "tokens": [dataclasses.asdict(record) for record in data.tokens.values()],
            "clock": {"now": state.now(), "offset_s": data.clock_offset_s},
            "requests": list(state.requests),
        }


def counter_value(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(f"{name} must be an integer")
    return value


def apply_engagement(state: SandboxState, payload: Any) -> dict[str, Any]:
    """Set (``mode: set``, default) or grow (``mode: add``) a post's or article's counters."""
    from scheduler.channels.registry import emulators

    if not isinstance(payload, dict):
        raise ControlError("the body must be a JSON object")
    mode = payload.get("mode", "set")
    if mode not in ("set", "add"):
        raise ControlError("mode must be set or add")
    known = emulators()
    named = payload.get("platform")
    emulator = next(
        (e for e in known if e.name == named) if named else (e for e in known if e.engagement_key in payload),
        None,
    )

    def combine(old: int, new: int) -> int:
        return max(0, old + new) if mode == "add" else max(0, new)

    if emulator is None:
        choices = " or ".join(f"{e.name} (with {e.engagement_key})" for e in known)
        raise ControlError(f"platform must be {choices}")
    with state.mutate() as data:
        return emulator.apply_engagement(data, payload, combine)


def set_token_state(
    state: SandboxState, platform: str | None, token: str, new_state: str, expires_in_s: float | None = None
) -> dict[str, Any]:
    from scheduler.channels.registry import emulators

    if new_state not in TOKEN_STATES:
        raise ControlError(f"state must be one of {list(TOKEN_STATES)}")
    known = {emulator.name: emulator for emulator in emulators()}
    platforms = [platform] if platform else list(known)
    if any(p not in known for p in platforms):
        raise ControlError(f"platform must be {' or '.join(known)}")
    with state.mutate() as data:
        records = []
        for name in platforms:
            record = data.token(name, token) or data.put_token(TokenRecord(
                platform=name, token=token, owner=known[name].token_owner(token),
            ))
            record.state = new_state
            if expires_in_s is not None:
                record.expires_time = state.now() + expires_in_s
            records.append(dataclasses.asdict(record))
    return {"tokens": records}


def routes(state: SandboxState, faults: FaultQueue) -> list[BaseRoute]:
    """The control routes, to mount at ``/_sandbox``."""

    async def get_state(request: Request) -> Response:
        base_url = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse(render_state(state, base_url))

    async def fault_queue(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"faults": faults.list()})
        if request.method == "DELETE":
            return JSONResponse({"cleared": faults.clear()})
        try:
            payload = await _json(request)
            specs = payload if isinstance(payload, list) else [payload]
            parsed = [faults.parse(spec) for spec in specs]
            changes = [change for spec in specs for change in immediate_token_changes(spec)]
        except FaultSpecError as exc:
            return _problem(ControlError(str(exc)))
        except ControlError as exc:
            return _problem(exc)
        for platform, token, new_state in changes:
            set_token_state(state, platform, token, new_state)
        queued = faults.add([fault for fault in parsed if fault is not None])
        return JSONResponse({"queued": [fault.describe() for fault in queued],
                             "tokens_changed": len(changes)})

    async def engagement(request: Request) -> Response:
        try:
            return JSONResponse(apply_engagement(state, await _json(request)))
        except ControlError as exc:
            return _problem(exc)

    async def tokens(request: Request) -> Response:
        if request.method == "GET":
            with state.read() as data:
                return JSONResponse({"tokens": [dataclasses.asdict(r) for r in data.tokens.values()]})
        try:
            payload = await _json(request)
            if not isinstance(payload, dict) or not isinstance(payload.get("token"), str) \
                    or not payload["token"]:
                raise ControlError('send {"platform", "token", "state"}')
            expires = payload.get("expires_in_s")
            if expires is not None and (not isinstance(expires, int | float) or isinstance(expires, bool)):
                raise ControlError("expires_in_s must be a number of seconds")
            return JSONResponse(set_token_state(
                state, payload.get("platform"), payload["token"], payload.get("state", "revoked"), expires
            ))
        except ControlError as exc:
            return _problem(exc)

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                payload = await _json(request)
                if not isinstance(payload, dict):
                    raise ControlError('send {"advance_s": N} or {"offset_s": N}')
                with state.mutate() as data:
                    if "offset_s" in payload:
                        data.clock_offset_s = float(payload["offset_s"])
                    if "advance_s" in payload:
                        data.clock_offset_s += float(payload["advance_s"])
            except (ControlError, TypeError, ValueError) as exc:
                message = exc.message if isinstance(exc, ControlError) else str(exc)
                return _problem(ControlError(message))
        with state.read() as data:
            return JSONResponse({"now": state.now(), "offset_s": data.clock_offset_s})

    async def reset(request: Request) -> Response:
        state.reset()
        faults.clear()
        return JSONResponse({"reset": True})

    async def files(request: Request) -> Response:
        name = request.path_params["name"]
        if not FILE_NAME.match(name):
            return _problem(ControlError("file names are letters, digits, '.', '_' and '-'"))
        if request.method == "PUT":
            content_type = request.headers.get("content-type", "application/octet-stream")
            state.media.put(f"file-{name}", content_type, await request.body())
            return JSONResponse({"url": f"{request.url.scheme}://{request.url.netloc}"
                                        f"/_sandbox/files/{name}"})
        return _media_response(state, f"file-{name}")

    async def media(request: Request) -> Response:
        key = request.path_params["key"]
        if not FILE_NAME.match(key) or key.startswith("file-"):
            return _problem(ControlError("no such media", 404))
        return _media_response(state, key)

    return [
        Route("/state", get_state, methods=["GET"]),
        Route("/faults", fault_queue, methods=["GET", "POST", "DELETE"]),
        Route("/engagement", engagement, methods=["POST"]),
        Route("/tokens", tokens, methods=["GET", "POST"]),
        Route("/clock", clock, methods=["GET", "POST"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/files/{name}", files, methods=["GET", "PUT"]),
        Route("/media/{key}", media, methods=["GET"]),
    ]


def _media_response(state: SandboxState, key: str) -> Response:
    item = state.media.get(key)
    if item is None:
        return _problem(ControlError("no such media", 404))
    content_type, data = item
    return Response(data, media_type=content_type)
