"""The console's alerts: each user's notices, their choices per event, and the delivery log (admins)."""

from __future__ import annotations

import json
from email.utils import parseaddr
from typing import Any

from sqlmodel import col, select
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scheduler.alerts.outbox import delivery_log
from scheduler.alerts.recipients import Choice, choices, mail_lang, save_choices
from scheduler.alerts.render import render_alert
from scheduler.audit import record
from scheduler.config import ALERT_EVENTS
from scheduler.errors import InputError
from scheduler.i18n import LANGS, msg
from scheduler.models import Alert, Outbox, User, utcnow
from scheduler.store import session_scope
from scheduler.web.pages import Console, Ctx

NOTICES_SHOWN = 100


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/alerts", console.page("alerts.own")(notices_page)),
        Route("/alerts/settings", console.page("alerts.own")(settings_page), methods=["GET", "POST"]),
        Route("/alerts/log", console.page("alerts.log")(log_page)),
    ]


def notices_page(ctx: Ctx) -> Response:
    """The user's notification list, newest first; opening it marks them read."""
    now = utcnow()
    with session_scope(ctx.loa.engine) as session:
        rows = session.exec(
            select(Outbox, Alert)
            .join(Alert, col(Alert.id) == col(Outbox.alert_id))
            .where(Outbox.kind == "console", Outbox.user_id == ctx.user.id)
            .order_by(col(Outbox.id).desc())
            .limit(NOTICES_SHOWN)
        ).all()
        notices: list[dict[str, Any]] = []
        for notice, alert in rows:
            rendered = render_alert(alert, ctx.loa.settings, ctx.lang)
            data = json.loads(alert.data_json or "{}")
            notices.append(
                {
                    "event": alert.event,
                    "at": alert.at,
                    "subject": rendered.subject.removeprefix("[Loa] "),
                    "post": data.get("post"),
                    "unread": notice.read_at is None,
                }
            )
            if notice.read_at is None:
                notice.read_at = now
                session.add(notice)
    return ctx.render("console/alerts.html", notices=notices)


def settings_page(ctx: Ctx) -> Response:
    """What this user receives, per event and medium, and the address e-mails go to."""
    errors: dict[str, str] = {}
    with session_scope(ctx.loa.engine) as session:
        user = session.get(User, ctx.user.id)
        assert user is not None
        mine = choices(session, user)
        address = user.email or ""
        lang = mail_lang(user)
        if ctx.request.method == "POST":
            address = ctx.form.get("email", "").strip()
            lang = ctx.form.get("lang", "vi").strip()
            wanted = {
                event: Choice(email=f"email:{event}" in ctx.form, console=f"console:{event}" in ctx.form)
                for event in ALERT_EVENTS
            }
            if address and "@" not in parseaddr(address)[1]:
                errors["email"] = ctx.error_text(InputError(msg("error.mail_address", address=address), field="email"))
                mine = wanted
            if lang not in LANGS:
                errors["lang"] = ctx.error_text(
                    InputError(msg("error.mail_lang", chosen=lang, langs=", ".join(LANGS)), field="lang")
                )
                mine, lang = wanted, "vi"
            if not errors:
                save_choices(session, user, wanted)
                user.email = address or None
                user.lang = lang
                session.add(user)
                record(session, actor=user.username, action="alerts.choices", object=f"user:{user.username}")
    if ctx.request.method == "POST" and not errors:
        return ctx.redirect("/alerts/settings", done="alerts_saved")
    return ctx.render(
        "console/alert_settings.html",
        status=400 if errors else 200,
        events=ALERT_EVENTS,
        choices=mine,
        email=address,
        mail_lang=lang,
        langs=LANGS,
        errors=errors,
    )


def log_page(ctx: Ctx) -> Response:
    return ctx.render("console/alert_log.html", deliveries=delivery_log(ctx.loa.engine, limit=300))
