"""A Facebook Page's own audience: Page insights for one local day.

``GET /{page-id}/insights?metric=…&period=day&since=…&until=…`` with the Page token. The
metric names are those after Meta's 2025–2026 renames (docs/platforms.md A4b):
``page_follows`` (followers; replaced ``page_fans``), ``page_media_view`` (views; replaced
``page_impressions``) and ``page_total_media_view_unique`` (reach; replaced
``page_impressions_unique``). Whether ``page_follows`` with ``period=day`` is the total at the
day's end (as Loa reads it) is UNVERIFIED, so every name can be replaced per channel with
``audience_metrics = {followers = "…", views = "…", reach = "…"}`` in ``config.toml``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.channels.base import PageAudience

DEFAULT_METRICS: dict[str, str] = {
    "followers": "page_follows",
    "views": "page_media_view",
    "reach": "page_total_media_view_unique",
}

Call = Callable[..., dict[str, Any]]


def day_bounds(day: date, zone: ZoneInfo) -> tuple[int, int]:
    """The local day as Unix seconds [start, end)."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    return int(start.astimezone(UTC).timestamp()), int((start + timedelta(days=1)).astimezone(UTC).timestamp())


def read_audience(call: Call, page_id: str, day: date, zone: ZoneInfo, names: Mapping[str, str]) -> PageAudience:
    metrics = {**DEFAULT_METRICS, **names}
    since, until = day_bounds(day, zone)
    body = call(
        "GET",
        f"{page_id}/insights",
        params={"metric": ",".join(metrics.values()), "period": "day", "since": str(since), "until": str(until)},
    )
    found: dict[str, int | None] = {}
    for entry in body.get("data") or []:
        if not isinstance(entry, dict):
            continue
        values = entry.get("values") or []
        last = values[-1].get("value") if values and isinstance(values[-1], dict) else None
        found[str(entry.get("name"))] = last if isinstance(last, int) and not isinstance(last, bool) else None
    return PageAudience(
        followers=found.get(metrics["followers"]),
        views=found.get(metrics["views"]),
        reach=found.get(metrics["reach"]),
    )
