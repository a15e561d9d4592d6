"""The sandbox's Zalo OA audience: the follower count ``GET /v2.0/oa/getoa`` reports.

Registered by ``emulator.py`` (``get_oa`` reads the count here; ``apply_engagement`` hands
``oa_id`` payloads here). ``POST /_sandbox/engagement`` with ``{"platform": "zalo",
"oa_id": "…", "followers": 4200}`` (or ``num_follower``) sets it.
"""

from __future__ import annotations

from typing import Any

from scheduler.sandbox.control import ControlError, counter_value
from scheduler.sandbox.emulator import Combine
from scheduler.sandbox.state import StateData


def _key(oa_id: str) -> str:
    return f"zalo:{oa_id}"


def follower_count(data: StateData, oa_id: str) -> int:
    return int(data.audience.get(_key(oa_id), {}).get("num_follower", 0))


def apply_oa_engagement(data: StateData, payload: dict[str, Any], combine: Combine) -> dict[str, Any]:
    oa_id = str(payload.get("oa_id", ""))
    if not oa_id:
        raise ControlError("oa_id must name a Zalo OA")
    figures = data.audience.setdefault(_key(oa_id), {})
    for name in ("followers", "num_follower"):
        if name in payload:
            figures["num_follower"] = combine(int(figures.get("num_follower", 0)), counter_value(name, payload[name]))
    data.see_oa(oa_id)
    return {"platform": "zalo", "oa_id": oa_id, "num_follower": follower_count(data, oa_id)}
