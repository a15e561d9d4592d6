"""An alert in words: the e-mail's subject, plain text and HTML, and the webhook's JSON body.

Every sentence is a catalogue id (Vietnamese first); the stored reason of a publication is
worded in the reader's language like everywhere else. Dates are local (the configured time
zone) and dd/mm/yyyy.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler.config import Settings
from scheduler.i18n import render_stored, translate
from scheduler.i18n.formats import format_int, format_moment
from scheduler.models import Alert


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def console_url(settings: Settings) -> str:
    return (settings.alerts.console_url or settings.public_url).rstrip("/")


def _channel_name(settings: Settings, channel_id: str | None) -> str:
    for channel in settings.channels:
        if channel.id == channel_id:
            return channel.name
    return channel_id or ""


def _local(settings: Settings, value: str | None, lang: str) -> str:
    if not value:
        return ""
    return format_moment(datetime.fromisoformat(value).astimezone(settings.tz), lang)


def render_alert(alert: Alert, settings: Settings, lang: str = "vi") -> Rendered:
    data: dict[str, Any] = json.loads(alert.data_json or "{}")
    base = console_url(settings)
    channels = ", ".join(_channel_name(settings, c) for c in data.get("channels") or [data.get("channel")] if c)
    params: dict[str, object] = {
        "post": data.get("post", ""),
        "channel": channels,
        "due": _local(settings, data.get("due_at"), lang),
        "actor": (data.get("actor") or "").removeprefix("cli:"),
        "date": data.get("date_label", ""),
    }
    subject = translate(lang, f"alert.subject.{alert.event}", **params)
    lines: list[str] = [translate(lang, f"alert.body.{alert.event}", **params)]
    items: list[str] = []
    if data.get("excerpt"):
        lines.append(translate(lang, "alert.excerpt", text=data["excerpt"]))
    reason = render_stored(lang, data.get("reason"), separator=" → ")
    if reason:
        lines.append(translate(lang, "alert.reason", reason=reason))
    if alert.event == "digest.daily":
        items = _digest_items(data, settings, lang)
    link = f"{base}/posts/{data['post']}" if isinstance(data.get("post"), int) else base
    if alert.event.startswith("channel."):
        link = f"{base}/channels"
    open_line = translate(lang, "alert.open", url=link)
    footer = translate(lang, "alert.footer", url=f"{base}/alerts/settings")
    text = "\n\n".join(lines + (["\n".join(f"• {i}" for i in items)] if items else []) + [open_line, "-- ", footer])
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    if items:
        body += "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"
    button = translate(lang, "alert.open_button")
    body += (
        f'<p><a href="{html.escape(link, quote=True)}">{html.escape(button)}</a></p>'
        f'<hr><p style="color:#666;font-size:small">{html.escape(footer)}</p>'
    )
    page = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(subject)}</title></head>'
        f'<body style="font-family:sans-serif">{body}</body></html>'
    )
    return Rendered(subject=subject, text=text, html=page)


def _digest_items(data: dict[str, Any], settings: Settings, lang: str) -> list[str]:
    items: list[str] = []
    yesterday = data.get("yesterday") or {}
    items.append(
        translate(
            lang,
            "alert.digest.yesterday",
            published=format_int(yesterday.get("published", 0), lang),
            failed=format_int(yesterday.get("failed", 0), lang),
            missed=format_int(yesterday.get("missed", 0), lang),
            blocked=format_int(yesterday.get("blocked", 0), lang),
        )
    )
    today = data.get("today") or []
    if not today:
        items.append(translate(lang, "alert.digest.nothing_today"))
    for entry in today:
        items.append(
            translate(
                lang,
                "alert.digest.today_item",
                at=_local(settings, entry.get("at"), lang),
                post=entry.get("post", ""),
                channel=_channel_name(settings, entry.get("channel")),
                text=entry.get("excerpt", ""),
            )
        )
    waiting = data.get("pending_approval", 0)
    if waiting:
        items.append(translate(lang, "alert.digest.waiting", count=format_int(waiting, lang)))
    return items


def webhook_body(alert: Alert, key: str) -> bytes:
    """``{"event", "at", "id", "data"}``: ``id`` is the idempotency key, the same on every retry."""
    document = {"event": alert.event, "at": alert.at.isoformat(), "id": key, "data": json.loads(alert.data_json)}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
