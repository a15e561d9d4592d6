"""A channel's own audience (followers; a Page's views and reach), one snapshot per channel and day.

What each platform can say is its publisher's class data (``audience``) and method
(``fetch_audience``): Facebook Page insights, the Zalo OA's follower count. The collector
asks every channel whose platform has an audience for one local day (yesterday by default:
a whole day's figures) and stores what came back as an ``AudienceSnapshot``; a channel
that fails is reported with the platform's reason and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from scheduler.channels.base import TokenVault
from scheduler.channels.factory import PublisherFactory
from scheduler.channels.registry import publisher_class
from scheduler.config import Settings
from scheduler.errors import PublishError, render_error
from scheduler.i18n import process_lang
from scheduler.models import AudienceSnapshot, utcnow
from scheduler.store import session_scope


@dataclass(frozen=True)
class AudienceResult:
    channel: str
    day: date
    followers: int | None = None
    views: int | None = None
    reach: int | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "day": self.day.isoformat(),
            "followers": self.followers,
            "views": self.views,
            "reach": self.reach,
            "error": self.error,
        }


def collect_audience(
    settings: Settings, engine: Engine, vault: TokenVault, *, day: date | None = None, now: datetime | None = None
) -> list[AudienceResult]:
    moment = now or utcnow()
    asked = day or (moment.astimezone(settings.tz).date() - timedelta(days=1))
    factory = PublisherFactory(settings, vault)
    results: list[AudienceResult] = []
    try:
        for channel in settings.channels:
            if not publisher_class(channel.platform).audience:
                continue
            publisher = factory.build(channel)
            try:
                figures = publisher.fetch_audience(asked)
            except PublishError as exc:
                results.append(AudienceResult(channel.id, asked, error=render_error(exc, process_lang())))
                continue
            with session_scope(engine) as session:
                session.add(
                    AudienceSnapshot(
                        channel_id=channel.id,
                        day=asked,
                        at=moment,
                        followers=figures.followers,
                        views=figures.views,
                        reach=figures.reach,
                    )
                )
            results.append(AudienceResult(channel.id, asked, figures.followers, figures.views, figures.reach))
    finally:
        factory.close()
    return results
