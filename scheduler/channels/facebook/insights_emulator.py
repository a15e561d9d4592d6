"""The sandbox's Page insights: ``GET /{page-id}/insights`` and the Page's audience counters.

Registered by ``emulator.py`` (its insights route hands Page nodes here; its
``apply_engagement`` hands ``page_id`` payloads here). ``POST /_sandbox/engagement`` with
``{"platform": "facebook", "page_id": "…", "followers": 1200, "views": 5400, "reach": 3100}``
(or the metric names themselves) sets a Page's figures; every day then reads the same
values, as the sandbox has no history of a Page's days. Metric names Meta removed are refused
as Graph refuses them (code 100).
"""

from __future__ import annotations

from typing import Any

from scheduler.sandbox.control import ControlError, counter_value
from scheduler.sandbox.emulator import Combine
from scheduler.sandbox.state import StateData

# Loa's words → the current metric names (docs/platforms.md A4b).
PAGE_METRICS = {
    "followers": "page_follows",
    "views": "page_media_view",
    "reach": "page_total_media_view_unique",
}
KNOWN = frozenset({*PAGE_METRICS.values(), "page_views_total", "page_post_engagements", "page_daily_follows"})
REMOVED = frozenset({"page_fans", "page_impressions", "page_impressions_unique", "page_fan_adds"})


def _key(page_id: str) -> str:
    return f"facebook:{page_id}"


def page_insights(data: StateData, page_id: str, metrics: list[str], period: str, end_time: str) -> dict[str, Any]:
    """The body of ``/{page-id}/insights``; raises ValueError naming a metric Graph would refuse."""
    if not metrics:
        raise LookupError("no metric")
    for metric in metrics:
        if metric in REMOVED or metric not in KNOWN:
            raise ValueError(metric)
    figures = data.audience.get(_key(page_id), {})
    return {
        "data": [
            {
                "name": metric,
                "period": period,
                "values": [{"value": int(figures.get(metric, 0)), "end_time": end_time}],
                "id": f"{page_id}/insights/{metric}/{period}",
            }
            for metric in metrics
        ]
    }


def apply_page_engagement(data: StateData, payload: dict[str, Any], combine: Combine) -> dict[str, Any]:
    page_id = str(payload.get("page_id", ""))
    if not page_id.isdigit():
        raise ControlError("page_id must be a Facebook Page id (digits)")
    figures = data.audience.setdefault(_key(page_id), {})
    for word, metric in PAGE_METRICS.items():
        for name in (word, metric):
            if name in payload:
                figures[metric] = combine(int(figures.get(metric, 0)), counter_value(name, payload[name]))
    data.see_page(page_id)
    return {"platform": "facebook", "page_id": page_id, "insights": dict(figures)}
