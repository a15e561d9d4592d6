"""Keeping single-use refresh tokens (Zalo's) fresh ahead of expiry, and noticing a refresh that
died half-way."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine

from scheduler.alerts.events import channel_alert
from scheduler.channels.factory import PublisherFactory
from scheduler.channels.registry import publisher_class
from scheduler.config import Settings
from scheduler.errors import AuthError, PublishError, stored_error
from scheduler.i18n import msg, process_text, stored
from scheduler.models import ChannelState, ChannelStatus, utcnow
from scheduler.secrets import DatabaseTokenVault
from scheduler.store import session_scope

log = logging.getLogger("loa.tokens")

# Zalo access tokens live 25 h (docs/platforms.md B1): renew well before, never in a hurry.
REFRESH_AHEAD = timedelta(hours=2)


def refresh_due_tokens(
    settings: Settings, engine: Engine, publishers: PublisherFactory, *, now: datetime | None = None
) -> list[str]:
    """Renew every token with a single-use refresh token that expires within REFRESH_AHEAD.

    Returns the ids of the channels renewed.

    Runs in the process holding the housekeeping lease; the vault's lock keeps any other
    process from spending the same refresh token meanwhile.
    """
    now = now or utcnow()
    vault = publishers.vault
    renewed: list[str] = []
    for channel in settings.channels:
        if not publisher_class(channel.platform).single_use_refresh_token:
            continue
        if isinstance(vault, DatabaseTokenVault):
            report_interrupted_refresh(engine, vault, channel.id, now=now)
        stored = vault.load(channel.id) or {}
        expires = stored.get("expires_at")
        if not expires or datetime.fromisoformat(expires) - now > REFRESH_AHEAD:
            continue
        publisher = publishers.build(channel)
        refresh = getattr(publisher, "refresh_tokens", None)
        if refresh is None:
            continue
        try:
            refresh()
            renewed.append(channel.id)
        except AuthError as exc:
            _mark(engine, channel.id, stored_error(exc), needs_reauth=True)
        except PublishError as exc:
            log.warning("channel %s: token renewal postponed: %s", channel.id, exc.message)
        finally:
            publisher.close()
    return renewed


def report_interrupted_refresh(
    engine: Engine, vault: DatabaseTokenVault, channel_id: str, *, now: datetime | None = None
) -> bool:
    """Make a refresh that began and was never saved visible on the channel (it may be spent)."""
    started = vault.interrupted_refresh(channel_id, now=now)
    if started is None:
        return False
    reason = msg("reason.renewal_interrupted", started=started.isoformat(timespec="seconds"))
    log.error("channel %s: %s", channel_id, process_text(reason.id, **reason.params))
    _mark(engine, channel_id, stored(reason), needs_reauth=False)
    return True


def _mark(engine: Engine, channel_id: str, message: str, *, needs_reauth: bool) -> None:
    with session_scope(engine) as session:
        state = session.get(ChannelState, channel_id)
        if state is None:
            return
        state.last_error = message
        state.last_error_at = utcnow()
        if needs_reauth:
            if state.status != ChannelStatus.needs_reauth:
                channel_alert(session, "channel.needs_reauth", channel_id, reason=message)
            state.status = ChannelStatus.needs_reauth
        session.add(state)
