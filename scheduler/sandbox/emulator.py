"""What the sandbox asks of each platform's emulator (one per registered platform).

The generic machinery — the app, the control API, faults, state, the wire format — lives in
``scheduler/sandbox/``; each platform's own routes, errors and its part of ``/_sandbox/state``
live in its folder (``scheduler/channels/<platform>/emulator.py``), found through the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from scheduler.config import SandboxSettings
from scheduler.sandbox.faults import Fault
from scheduler.sandbox.state import SandboxState, StateData
from scheduler.sandbox.wire import ApiRequest, ApiResponse

# How ``POST /_sandbox/engagement`` combines a stored counter with a given one (set or add).
Combine = Callable[[int, int], int]


class PlatformEmulator(Protocol):
    name: ClassVar[str]
    # True for the one platform that answers every path no other platform claims.
    catch_all: ClassVar[bool]
    # The key of ``POST /_sandbox/engagement`` that names one of this platform's posts.
    engagement_key: ClassVar[str]

    def __init__(self, state: SandboxState, settings: SandboxSettings) -> None: ...

    @staticmethod
    def owns(req: ApiRequest) -> bool: ...

    def handle(self, req: ApiRequest) -> ApiResponse: ...

    def fault_response(self, fault: Fault, req: ApiRequest) -> ApiResponse: ...

    def request_token(self, req: ApiRequest) -> str | None: ...

    def finish(self, resp: ApiResponse, req: ApiRequest) -> ApiResponse: ...

    @staticmethod
    def token_owner(token: str) -> str | None:
        """The account a token set through ``/_sandbox/tokens`` belongs to, where tokens name one."""
        ...

    @staticmethod
    def state_section(data: StateData, base_url: str) -> dict[str, Any]:
        """This platform's part of ``GET /_sandbox/state``."""
        ...

    @staticmethod
    def apply_engagement(data: StateData, payload: dict[str, Any], combine: Combine) -> dict[str, Any]:
        """Set or grow one post's counters; ``ControlError`` (404) when there is no such post."""
        ...
