"""What someone asks to publish: a post request, its prepared (checked and rendered) form, and
the time it is asked for."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scheduler.bounds import check_day
from scheduler.config import Settings
from scheduler.errors import InputError
from scheduler.i18n import Message, msg
from scheduler.render.messages import RenderedMessage

# A post may be queued this far in the past and still count as "now" (clock skew, typing).
PAST_SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class PlatformText:
    """What a person wrote for one platform only, replacing the common text there."""

    text: str | None = None
    title: str | None = None  # for platforms whose posts have titles
    description: str | None = None


@dataclass
class PostRequest:
    """What a person asks for; the same fields as `loa post add` and `POST /api/posts`.

    The words come from ``text`` (written directly) or from ``template`` (rendered with
    ``variables``), never both; ``template`` is ``""`` for a post written directly.
    """

    template: str
    channels: Sequence[str]
    variables: Mapping[str, str] = field(default_factory=dict)
    at: datetime | None = None  # None means now
    campaign: str | None = None
    link: str | None = None
    cover: str | None = None
    created_by: str = "cli"
    draft: bool = False  # save without queueing; `submit` queues it later
    text: str | None = None
    title: str | None = None
    description: str | None = None
    overrides: Mapping[str, PlatformText] = field(default_factory=dict)  # platform name → its own words
    media: Sequence[int] = ()  # media library ids, in the order they are shown
    reel: bool = False  # the video must go out as a short-form video (refused if it does not fit)


@dataclass(frozen=True)
class PreparedPost:
    request: PostRequest
    scheduled_at: datetime
    campaign_id: int | None
    messages: dict[str, RenderedMessage]  # channel id → rendered message
    covers: dict[str, bytes] = field(default_factory=dict)  # channel id → cover image
    media: tuple[int, ...] = ()  # media library ids, in order
    warnings: tuple[Message, ...] = ()  # worth telling the person, not worth refusing


# A post's words fit in far less; a larger file is the wrong file.
MAX_TEXT_FILE_BYTES = 1_000_000


def read_text_file(path: Path) -> str:
    """The words in a UTF-8 text file (`--text-file`), refused with the file named otherwise."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_TEXT_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(
            msg("error.text_file_unreadable", file=str(path), reason=exc.strerror or str(exc)),
            hint=msg("hint.text_file"),
            field="text",
        ) from None
    if len(raw) > MAX_TEXT_FILE_BYTES:
        raise InputError(
            msg("error.text_file_too_big", file=path.name, limit=MAX_TEXT_FILE_BYTES // 1000),
            hint=msg("hint.text_file"),
            field="text",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            msg("error.text_file_not_utf8", file=path.name), hint=msg("hint.text_file"), field="text"
        ) from None


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
