"""Channels as people see and steer them: status, reconnect, pause, resume."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from scheduler.audit import record
from scheduler.channels.registry import publisher_class
from scheduler.errors import InputError, StoreError
from scheduler.i18n import msg, process_lang, render_stored
from scheduler.models import ChannelState, ChannelStatus, Publication, PublicationStatus, utcnow
from scheduler.publishing.outcomes import Event, sources, transition
from scheduler.secrets import mask
from scheduler.store import session_scope

if TYPE_CHECKING:
    from scheduler.app import Loa


def channel_rows(loa: Loa, *, lang: str | None = None) -> list[dict[str, Any]]:
    """Each configured channel and its state; its last error worded in ``lang`` (the process's by default)."""
    from scheduler.channels.catalog import channel_extra

    reader = lang or process_lang()
    rows: list[dict[str, Any]] = []
    extra = channel_extra(loa)
    with session_scope(loa.engine, read_only=True) as session:
        for channel in loa.settings.channels:
            state = session.get(ChannelState, channel.id)
            rows.append(
                {
                    "id": channel.id,
                    "platform": channel.platform,
                    "name": channel.name,
                    "external_id": channel.external_id,
                    "mode": channel.mode,
                    "status": (state.status if state else ChannelStatus.ok).value,
                    "paused_until": state.paused_until.isoformat() if state and state.paused_until else None,
                    "last_error": render_stored(reader, state.last_error) if state else None,
                    **{key: value for key, value in extra.get(channel.id, {}).items() if key not in {"token_problem"}},
                    "unit": channel.unit,
                    "archived": channel.archived,
                    "token_problem": render_stored(reader, state.token_problem)
                    if state and state.token_problem
                    else None,
                }
            )
    return rows


def _state(session: Session, loa: Loa, channel_id: str) -> ChannelState:
    loa.settings.channel(channel_id)  # unknown ids → NotFound listing the known ones
    state = session.get(ChannelState, channel_id)
    if state is None:
        raise StoreError(msg("error.channel_not_in_database", channel=channel_id), hint=msg("hint.run_init"))
    return state


def reconnect(loa: Loa, channel_id: str, secret: str, *, actor: str) -> int:
    """Store a new credential (Page token / Zalo refresh token) and release held publications.

    Returns how many blocked publications were queued again.
    """
    channel = loa.settings.channel(channel_id)
    secret = secret.strip()
    if len(secret) < 8 or any(c.isspace() for c in secret):
        raise InputError(msg("error.not_a_token"), hint=msg("hint.paste_whole_token"), field="token")
    if publisher_class(channel.platform).single_use_refresh_token:
        # Only the refresh token: the next call trades it for a fresh pair.
        loa.vault.save(channel_id, {"refresh_token": secret})
    else:
        loa.vault.save(channel_id, {"access_token": secret})
    return release_held(loa, channel_id, actor=actor, credential=mask(secret))


def release_held(loa: Loa, channel_id: str, *, actor: str, credential: str | None = None) -> int:
    """A channel given new credentials: its status cleared, its held publications sent out now."""
    with session_scope(loa.engine) as session:
        state = session.get(ChannelState, channel_id)
        if state is None:
            raise StoreError(msg("error.channel_not_in_database", channel=channel_id), hint=msg("hint.run_init"))
        state.token_problem = None
        state.status = ChannelStatus.ok
        state.paused_until = None
        state.last_error = None
        held = list(
            session.exec(
                select(Publication).where(
                    Publication.channel_id == channel_id, col(Publication.status).in_(sources(Event.reconnected))
                )
            )
        )
        for publication in held:
            publication.status = transition(publication.status, Event.reconnected)
            # Reconnecting is the admin's word that what was held should go out now, however
            # late: a next attempt time keeps it from being marked missed.
            publication.next_attempt_at = utcnow()
            publication.last_error = None
            publication.updated_at = utcnow()
        # Unknown outcomes waiting to be checked on the platform are checked at once.
        waiting = list(
            session.exec(
                select(Publication).where(
                    Publication.channel_id == channel_id,
                    Publication.status == PublicationStatus.unknown,
                    col(Publication.next_attempt_at).is_not(None),
                )
            )
        )
        for publication in waiting:
            publication.next_attempt_at = utcnow()
        session.add_all([state, *held, *waiting])
        record(
            session,
            actor=actor,
            action="channel.reconnect",
            object=f"channel:{channel_id}",
            details={"released": len(held), "credential": credential or "(connect)"},
        )
    return len(held)


def pause(loa: Loa, channel_id: str, *, actor: str, until: datetime | None = None) -> None:
    """Hold a channel's publications (until a time, or until resumed)."""
    with session_scope(loa.engine) as session:
        state = _state(session, loa, channel_id)
        state.status = ChannelStatus.paused
        # A manual pause without an end lasts until resumed: far in the future, not None,
        # because None means "no pause" to the dispatcher.
        state.paused_until = until or datetime(9999, 1, 1, tzinfo=UTC)
        session.add(state)
        record(session, actor=actor, action="channel.pause", object=f"channel:{channel_id}",
               details={"until": until.isoformat() if until else None})  # fmt: skip


def resume(loa: Loa, channel_id: str, *, actor: str) -> None:
    with session_scope(loa.engine) as session:
        state = _state(session, loa, channel_id)
        if state.status == ChannelStatus.needs_reauth:
            raise InputError(
                msg("error.channel_needs_reconnect", channel=channel_id),
                hint=msg("hint.reconnect_channel", channel=channel_id),
            )
        state.status = ChannelStatus.ok
        state.paused_until = None
        session.add(state)
        record(session, actor=actor, action="channel.resume", object=f"channel:{channel_id}")
