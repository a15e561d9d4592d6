"""Token health: a daily check of every channel's credentials, and a pre-flight an hour before
a channel's next scheduled post, so a revoked permission or a lapsing token is found before
the post is due — not at it.

The check is the platform's own (``ConnectFlow.check``: Facebook's ``debug_token``, Zalo's
refresh-token age). A channel whose credentials no longer work is marked ``needs_reauth`` at
once: its posts are held, and the channels page says why and what to do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func
from sqlmodel import col, select

from scheduler.audit import record
from scheduler.channels.connect import TokenHealth, app_credentials
from scheduler.channels.factory import channel_access
from scheduler.channels.registry import publisher_class, registry
from scheduler.config import ChannelSettings, Settings
from scheduler.errors import ConfigError, LoaError, stored_error
from scheduler.i18n import msg, stored
from scheduler.models import ChannelState, ChannelStatus, Publication, PublicationStatus, utcnow
from scheduler.secrets import DatabaseTokenVault
from scheduler.store import session_scope

if TYPE_CHECKING:
    from scheduler.app import Loa

log = logging.getLogger("loa.health")

DAILY = timedelta(hours=24)
PREFLIGHT_AHEAD = timedelta(hours=1)


def connect_buttons(loa: Loa) -> list[dict[str, Any]]:
    """One "connect" button per platform with a login; why it cannot work yet, when it cannot."""
    buttons: list[dict[str, Any]] = []
    for name, cls in registry().items():
        flow = cls.connect_flow()
        if flow is None:
            continue
        problem: str | None = None
        try:
            app_credentials(loa.settings, flow)
        except ConfigError as exc:
            problem = stored_error(exc)
        buttons.append({"platform": name, "label": flow.button_label, "problem": problem})
    return buttons


def check_channel(
    settings: Settings, engine: Engine, vault: DatabaseTokenVault, channel: ChannelSettings
) -> TokenHealth | None:
    """Ask the platform about one channel's credentials and keep the answer; None: not checkable."""
    flow_cls = publisher_class(channel.platform).connect_flow()
    if flow_cls is None:
        return None
    try:
        app = app_credentials(settings, flow_cls)
    except ConfigError:
        return None  # no app to ask with: the channels page says how to set one
    with session_scope(engine, read_only=True) as session:
        row = session.get(ChannelState, channel.id)
        saved_at = row.credentials_updated_at if row else None
    stored_credentials = vault.load(channel.id) or {}
    access = channel_access(settings, channel, stored=stored_credentials)
    credentials: dict[str, str] = {}
    if access.access_token:
        credentials["access_token"] = access.access_token
    if access.initial_refresh_token:
        credentials["refresh_token"] = access.initial_refresh_token
    credentials.update(stored_credentials)
    flow = flow_cls(app, timeout=settings.publishing.request_timeout_seconds)
    try:
        health = flow.check(channel, credentials, saved_at)
    except LoaError as exc:
        log.warning("channel %s: token check postponed: %s", channel.id, exc.message)
        return None
    finally:
        flow.session.close()
    _keep(engine, channel.id, health)
    return health


def _keep(engine: Engine, channel_id: str, health: TokenHealth) -> None:
    with session_scope(engine) as session:
        row = session.get(ChannelState, channel_id)
        if row is None:
            return
        row.token_checked_at = utcnow()
        row.token_expires_at = health.expires_at
        row.token_scopes = ",".join(health.scopes) or row.token_scopes
        problem = stored(health.problem, msg("hint.reconnect_by_login")) if health.problem else None
        if not health.valid and row.status != ChannelStatus.needs_reauth:
            from scheduler.alerts.events import channel_alert

            channel_alert(session, "channel.needs_reauth", channel_id, reason=problem)  # with the change, or neither
            row.status = ChannelStatus.needs_reauth
            row.last_error = problem
            row.last_error_at = utcnow()
            record(session, actor="loa", action="channel.token_problem", object=f"channel:{channel_id}",
                   details={"reason": problem})  # fmt: skip
        row.token_problem = problem
        session.add(row)


def due_checks(settings: Settings, engine: Engine, *, now: datetime | None = None) -> list[str]:
    """Channels to check now: not checked for a day, or a post due within the hour since the last check."""
    now = now or utcnow()
    with session_scope(engine, read_only=True) as session:
        checked: Mapping[str, datetime | None] = {
            row.id: row.token_checked_at for row in session.exec(select(ChannelState))
        }
        next_due: dict[str, datetime] = {
            channel_id: due
            for channel_id, due in session.exec(
                select(Publication.channel_id, func.min(Publication.due_at))
                .where(
                    col(Publication.status).in_([PublicationStatus.scheduled, PublicationStatus.pending_approval]),
                    col(Publication.due_at) <= now + PREFLIGHT_AHEAD,
                )
                .group_by(col(Publication.channel_id))
            )
        }
    due: list[str] = []
    for channel in settings.channels:
        if channel.archived or publisher_class(channel.platform).connect_flow() is None:
            continue
        last = checked.get(channel.id)
        upcoming = next_due.get(channel.id)
        if upcoming is not None and (upcoming.tzinfo is None):
            upcoming = upcoming.replace(tzinfo=now.tzinfo)
        if last is None or now - last >= DAILY:
            due.append(channel.id)
        elif upcoming is not None and last < upcoming - PREFLIGHT_AHEAD:
            due.append(channel.id)  # the pre-flight: checked within the hour before the post
    return due


def run_checks(
    settings: Settings, engine: Engine, vault: DatabaseTokenVault, *, only: list[str] | None = None
) -> dict[str, TokenHealth]:
    """The daily check and the pre-flights that are due (or the channels named)."""
    targets = only if only is not None else due_checks(settings, engine)
    found: dict[str, TokenHealth] = {}
    for channel_id in targets:
        channel = settings.channel(channel_id)
        health = check_channel(settings, engine, vault, channel)
        if health is not None:
            found[channel_id] = health
    return found


def warnings(loa: Loa) -> list[dict[str, Any]]:
    """Channels whose credentials fail, or run out within ``publishing.token_warn_days``: for the dashboard."""
    horizon = utcnow() + timedelta(days=loa.settings.publishing.token_warn_days)
    out: list[dict[str, Any]] = []
    names = {c.id: c.name for c in loa.settings.channels if not c.archived}
    with session_scope(loa.engine, read_only=True) as session:
        for row in session.exec(select(ChannelState)):
            if row.id not in names:
                continue
            lapsing = row.token_expires_at is not None and row.token_expires_at <= horizon
            if row.token_problem or lapsing:
                out.append(
                    {
                        "id": row.id,
                        "name": names[row.id],
                        "expires_at": row.token_expires_at.isoformat() if row.token_expires_at else None,
                        "problem": row.token_problem,
                    }
                )
    return out
