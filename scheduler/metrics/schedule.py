"""When a publication's counters are read again: often while it is young, then daily."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.config import MetricsSettings


@dataclass(frozen=True)
class PollingSchedule:
    """How often a publication is polled, by age since it was published."""

    young: timedelta
    young_every: timedelta
    old_every: timedelta
    max_age: timedelta
    # A job that wakes every few minutes would otherwise drift by up to one tick per poll
    # (due at 11:00:03, seen at 11:05): half a tick early counts as on time.
    slack: timedelta = timedelta(0)

    @classmethod
    def from_settings(cls, settings: MetricsSettings) -> PollingSchedule:
        return cls(
            young=timedelta(hours=settings.young_hours),
            young_every=timedelta(minutes=settings.young_interval_minutes),
            old_every=timedelta(hours=settings.old_interval_hours),
            max_age=timedelta(days=settings.max_age_days),
            slack=timedelta(minutes=settings.tick_minutes) / 2,
        )

    def interval(self, age: timedelta) -> timedelta | None:
        """Time between two polls at this age; ``None`` once the post is too old to poll."""
        if age > self.max_age:
            return None
        return self.young_every if age < self.young else self.old_every

    def next_due(self, *, published_at: datetime, last_attempt: datetime | None) -> datetime | None:
        """When the publication should next be polled; ``None``: never again."""
        if last_attempt is None:
            return published_at
        interval = self.interval(last_attempt - published_at)
        if interval is None:
            return None
        due = last_attempt + interval
        return due if due - published_at <= self.max_age else None

    def is_due(self, *, published_at: datetime, last_attempt: datetime | None, now: datetime) -> bool:
        if now - published_at > self.max_age:
            return False
        due = self.next_due(published_at=published_at, last_attempt=last_attempt)
        return due is not None and due - self.slack <= now

