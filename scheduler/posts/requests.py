"""What someone asks to publish: a post request, its prepared (checked and rendered) form, and
the time it is asked for."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from scheduler.bounds import check_day
from scheduler.config import Settings
from scheduler.errors import InputError
from scheduler.i18n import msg
from scheduler.render.messages import RenderedMessage

# A post may be queued this far in the past and still count as "now" (clock skew, typing).
PAST_SLACK = timedelta(minutes=1)


@dataclass
class PostRequest:
    """What a person asks for; the same fields as `loa post add` and `POST /api/posts`."""

    template: str
    channels: Sequence[str]
    variables: Mapping[str, str] = field(default_factory=dict)
    at: datetime | None = None  # None means now
    campaign: str | None = None
    link: str | None = None
    cover: str | None = None
    created_by: str = "cli"
    draft: bool = False  # save without queueing; `submit` queues it later


@dataclass(frozen=True)
class PreparedPost:
    request: PostRequest
    scheduled_at: datetime
    campaign_id: int | None
    messages: dict[str, RenderedMessage]  # channel id → rendered message
    covers: dict[str, bytes] = field(default_factory=dict)  # channel id → cover image


def parse_when(value: str, settings: Settings) -> datetime:
    """ISO 8601 with an offset, or a local time in the configured zone (also dd/mm/yyyy HH:MM)."""
    raw = value.strip()
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{4}", raw):
        # A day alone would be taken as midnight: a post at 00:00 nobody asked for.
        raise InputError(msg("error.time_without_hour", value=raw), hint=msg("hint.time_with_hour"), field="at")
    parsed: datetime | None = None
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})[ T](\d{1,2}):(\d{2})", raw)
    try:
        if match:
            day, month, year, hour, minute = map(int, match.groups())
            parsed = datetime(year, month, day, hour, minute)
        else:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None:
        raise InputError(
            msg("error.time_unreadable", value=value),
            hint=msg("hint.time_formats"),
            field="at",
        )
    # Years such as 1 or 9999 overflow the conversion to UTC: outside Loa's days, say so.
    check_day(parsed.date(), field="at")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=settings.tz)
    return parsed.astimezone(UTC)


def check_time(when: datetime, now: datetime, settings: Settings) -> None:
    local = when.astimezone(settings.tz).strftime("%d/%m/%Y %H:%M")
    if when < now - PAST_SLACK:
        raise InputError(
            msg("error.time_in_past", time=local),
            hint=msg("hint.future_time_or_now"),
            field="at",
        )
    horizon = settings.publishing.horizon_days
    if when > now + timedelta(days=horizon):
        raise InputError(
            msg("error.time_too_far", time=local, days=horizon),
            hint=msg("hint.horizon", days=horizon),
            field="at",
        )


def refuse_unused_variables(variables: Iterable[str], uses: Iterable[str], *, template: str) -> None:
    """A variable nothing reads is a typo or a wrong template: name it rather than drop it."""
    known = sorted(set(uses))
    unused = sorted(set(variables) - set(known))
    if unused:
        raise InputError(
            msg("error.variable_not_used", variable=unused[0], template=template),
            hint=msg("hint.template_uses", uses=", ".join(known)) if known else msg("hint.template_uses_none"),
            field=unused[0],
        )
