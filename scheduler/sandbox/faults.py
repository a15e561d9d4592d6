"""Queued faults: what the next matching platform requests suffer instead of a normal reply.

A fault is one JSON object; every effect is optional but at least one is required::

    {"platform": "facebook",              # a registered platform; omitted: any platform
     "route": "POST /{page}/feed",        # omitted: any route; {x} matches one segment,
                                          # a leading version segment is ignored
     "times": 1,                          # consumed by this many matching requests
     "skip": 2,                           # … after this many matching requests passed untouched
                                          #   (a lost reply after the 3rd photo: skip 2)
     "delay_s": 3, "after": false,        # sleep before handling (after=true: after commit)
     "status": 400, "error": {...},       # reply with this platform error, nothing committed
     "body": "<html>…",                   # reply with this raw body (e.g. a proxy 502)
     "headers": {"X-Business-Use-Case-Usage": {...}},   # added to the reply
     "drop_after_commit": true,           # commit, then close the socket without a reply
     "token_state": "expired"}            # mark the token the request carries first

``revoke_token`` / ``expire_token`` / ``invalidate_token`` (a token string) take effect
when queued and need nothing else; see :func:`immediate_token_changes`.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from scheduler.sandbox.wire import VERSION_SEGMENT

METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH", "*")
ALLOWED_KEYS = frozenset(
    {
        "platform", "route", "times", "status", "error", "body", "headers", "delay_s", "after",
        "drop_after_commit", "token_state", "revoke_token", "expire_token", "invalidate_token",
        "note", "skip",
    }
)
IMMEDIATE_TOKEN_KEYS = {
    "revoke_token": "revoked",
    "expire_token": "expired",
    "invalidate_token": "invalid",
}
MAX_DELAY_S = 600.0


def _platforms() -> list[str]:
    from scheduler.channels.registry import registry

    return list(registry())


class FaultSpecError(ValueError):
    """The fault payload is malformed; the message says which key and why."""


@dataclass
class Fault:
    id: int
    platform: str | None
    method: str
    route: tuple[str, ...] | None
    times: int
    status: int | None = None
    error: dict[str, Any] | None = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    delay_after: bool = False
    drop_after_commit: bool = False
    token_state: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    skip: int = 0  # matching requests still to let through before the fault applies

    @property
    def replaces_reply(self) -> bool:
        return self.error is not None or self.body is not None or self.status is not None

    def matches(self, platform: str, method: str, segments: tuple[str, ...]) -> bool:
        if self.platform is not None and self.platform != platform:
            return False
        if self.method != "*" and self.method != method:
            return False
        if self.route is None:
            return True
        path = _strip_version(segments)
        if len(path) != len(self.route):
            return False
        return all(
            (want.startswith("{") and want.endswith("}")) or want == got
            for want, got in zip(self.route, path, strict=True)
        )

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "remaining": self.times, **self.spec}


def _strip_version(segments: tuple[str, ...]) -> tuple[str, ...]:
    return segments[1:] if segments and VERSION_SEGMENT.match(segments[0]) else segments


def _parse_route(route: Any) -> tuple[str, tuple[str, ...] | None]:
    if route is None:
        return "*", None
    if not isinstance(route, str) or not route.strip():
        raise FaultSpecError("route must be a string such as 'POST /{page}/feed'")
    parts = route.strip().split(None, 1)
    if len(parts) == 2 and parts[0].upper() in METHODS:
        method, path = parts[0].upper(), parts[1]
    elif len(parts) == 1 and parts[0].upper() in METHODS:
        return parts[0].upper(), None
    else:
        method, path = "*", route.strip()
    path = path.split("?", 1)[0]
    if not path.startswith("/"):
        raise FaultSpecError(f"route path must start with '/': {route!r}")
    segments = tuple(part for part in path.split("/") if part)
    return method, _strip_version(segments)


def _number(spec: dict[str, Any], key: str, *, minimum: float, maximum: float) -> float:
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultSpecError(f"{key} must be a number")
    if not minimum <= value <= maximum:
        raise FaultSpecError(f"{key} must be between {minimum:g} and {maximum:g}")
    return float(value)


def _headers(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FaultSpecError("headers must be an object of header name → value")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        # Usage headers carry JSON; accept it as an object and encode it like Graph does.
        headers[str(name)] = (
            value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        )
    return headers


def immediate_token_changes(spec: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """``(platform, token, new_state)`` for the token keys that apply when queued."""
    changes: list[tuple[str | None, str, str]] = []
    for key, state in IMMEDIATE_TOKEN_KEYS.items():
        if key in spec:
            token = spec[key]
            if not isinstance(token, str) or not token:
                raise FaultSpecError(f"{key} must be a non-empty token string")
            changes.append((spec.get("platform"), token, state))
    return changes


class FaultQueue:
    """Faults in arrival order; the first one matching a request is used (and counted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def parse(self, spec: Any) -> Fault | None:
        """Validate one payload; ``None`` when it only changes tokens immediately."""
        if not isinstance(spec, dict):
            raise FaultSpecError("each fault must be a JSON object")
        unknown = sorted(set(spec) - ALLOWED_KEYS)
        if unknown:
            raise FaultSpecError(
                f"unknown fault keys {unknown}; allowed: {sorted(ALLOWED_KEYS)}"
            )
        platform = spec.get("platform")
        known = _platforms()
        if platform is not None and platform not in known:
            raise FaultSpecError(f"platform must be one of {known}")
        method, route = _parse_route(spec.get("route"))
        times = spec.get("times", 1)
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise FaultSpecError("times must be a positive integer")
        status = spec.get("status")
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
        ):
            raise FaultSpecError("status must be an HTTP status code (100–599)")
        error = spec.get("error")
        if isinstance(error, int) and not isinstance(error, bool):
            error = {"code": error}
        if error is not None and not isinstance(error, dict):
            raise FaultSpecError("error must be an object such as {\"code\": 190} or an int")
        body = spec.get("body")
        if body is not None and not isinstance(body, str):
            raise FaultSpecError("body must be a string")
        if error is not None and body is not None:
            raise FaultSpecError("give either error or body, not both")
        delay = _number(spec, "delay_s", minimum=0, maximum=MAX_DELAY_S) if "delay_s" in spec else 0.0
        drop = bool(spec.get("drop_after_commit", False))
        if drop and (error is not None or body is not None or status is not None):
            raise FaultSpecError(
                "drop_after_commit commits the request; it cannot also reply with an error"
            )
        token_state = spec.get("token_state")
        if token_state is not None and token_state not in ("revoked", "expired", "invalid"):
            raise FaultSpecError("token_state must be revoked, expired or invalid")
        immediate = immediate_token_changes(spec)
        skip = spec.get("skip", 0)
        if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
            raise FaultSpecError("skip must be a whole number of requests (0 or more)")
        fault = Fault(
            id=0,
            platform=platform,
            method=method,
            route=route,
            times=times,
            status=status,
            error=error,
            body=body,
            headers=_headers(spec.get("headers")),
            delay_s=delay,
            delay_after=bool(spec.get("after", False)),
            drop_after_commit=drop,
            token_state=token_state,
            spec=dict(spec),
            skip=skip,
        )
        has_effect = (
            fault.replaces_reply or fault.headers or fault.delay_s > 0 or drop or token_state
        )
        if not has_effect:
            if immediate:
                return None
            raise FaultSpecError(
                "a fault needs an effect: error/status/body, headers, delay_s, "
                "drop_after_commit, token_state, or revoke_token/expire_token"
            )
        return fault

    def add(self, faults: list[Fault]) -> list[Fault]:
        with self._lock:
            for fault in faults:
                fault.id = next(self._ids)
                self._faults.append(fault)
        return faults

    def take(self, platform: str, method: str, segments: tuple[str, ...]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(platform, method, segments):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def clear(self) -> int:
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
            return count

