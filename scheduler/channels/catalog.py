"""Channels kept in the database: imported from ``config.toml`` on `loa init`, added by
connecting an account, renamed, assigned to a unit, disconnected and archived — every change
audited, nothing deleted (an archived channel keeps its publications and figures).

Every process reads the rows into ``settings.channels`` (:func:`load_channels`), so the rest
of Loa keeps asking ``settings.channel(id)``; a process that meets a channel it does not know
yet (added by another process) reads them again.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from scheduler.audit import record
from scheduler.channels.registry import publisher_class
from scheduler.config import CHANNEL_ID_PATTERN, ChannelSettings, Settings
from scheduler.errors import InputError, NotFound
from scheduler.i18n import msg
from scheduler.models import ChannelState, ChannelStatus, Unit, utcnow
from scheduler.store import session_scope

if TYPE_CHECKING:
    from scheduler.app import Loa
    from scheduler.channels.connect import FoundAccount

MAX_NAME = 200


def import_config_channels(session: Session, settings: Settings) -> None:
    """Rows for the channels of ``config.toml``: created, and filled in where still empty.

    Once imported, the database holds the channel: a rename in the console stays.
    """
    for channel in settings.channels:
        if channel.origin != "config":
            continue
        row = session.get(ChannelState, channel.id)
        if row is None:
            row = ChannelState(id=channel.id, platform=channel.platform)
        row.origin = "config"
        if row.name is None:
            row.name = channel.name
            row.approval = channel.approval
        row.external_id = channel.external_id
        row.mode = channel.mode
        row.default_cover = channel.default_cover
        session.add(row)


def _unit_codes(session: Session) -> dict[int, str]:
    return {u.id: u.code for u in session.exec(select(Unit)) if u.id is not None}


def _connected_settings(settings: Settings, row: ChannelState, unit: str | None) -> ChannelSettings | None:
    cls = publisher_class(row.platform)
    flow = cls.connect_flow()
    if flow is None or not row.external_id:
        return None
    app = getattr(settings, flow.section)
    sandbox = row.mode != "live"
    return ChannelSettings(
        id=row.id,
        platform=row.platform,
        name=row.name or row.id,
        external_id=row.external_id,
        mode="sandbox" if sandbox else "live",
        # A connected channel's secrets are in the vault; the app's in the environment.
        token_env=None,
        api_base=app.graph_base.rstrip("/") + cls.sandbox_api_path if app.graph_base else None,
        oauth_base=app.oauth_base,
        app_id=app.app_id,
        app_secret_env=app.app_secret_env or flow.default_secret_env,
        approval=row.approval,
        default_cover=row.default_cover,
        unit=unit,
        archived=row.archived_at is not None,
        origin="connected",
    ).model_copy()


def load_channels(engine: Engine, settings: Settings) -> None:
    """Put the database's channels into ``settings.channels`` (in place: every holder sees them)."""
    configured = {c.id: c for c in settings.channels if c.origin == "config"}
    merged: list[ChannelSettings] = []
    with session_scope(engine, read_only=True) as session:
        codes = _unit_codes(session)
        rows = list(session.exec(select(ChannelState).order_by(col(ChannelState.id))))
    seen: set[str] = set()
    for row in rows:
        unit = codes.get(row.unit_id) if row.unit_id else None
        base = configured.get(row.id)
        if base is not None:
            merged.append(
                base.model_copy(
                    update={
                        "name": row.name or base.name,
                        "approval": row.approval if row.name is not None else base.approval,
                        "unit": unit,
                        "archived": row.archived_at is not None,
                    }
                )
            )
            seen.add(row.id)
            continue
        if row.origin == "connected":
            channel = _connected_settings(settings, row, unit)
            if channel is not None:
                merged.append(channel)
                seen.add(row.id)
    # Configured channels not in the database yet (before `loa init`) stay as they are.
    merged += [c for cid, c in configured.items() if cid not in seen]
    settings.channels[:] = merged


def refresh(loa: Loa) -> None:
    load_channels(loa.engine, loa.settings)


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:40].strip("-") or "kenh"


def new_channel_id(session: Session, platform_prefix: str, name: str) -> str:
    base = f"{platform_prefix}-{_slug(name)}"[:60].strip("-")
    candidate, n = base, 2
    while session.get(ChannelState, candidate) is not None:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def unit_id_of(session: Session, code: str | None) -> int | None:
    if not code:
        return None
    unit = session.exec(select(Unit).where(Unit.code == code.strip())).first()
    if unit is None:
        known = ", ".join(u.code for u in session.exec(select(Unit).order_by(col(Unit.code))))
        raise NotFound(
            msg("error.unknown_unit", unit=code), hint=msg("hint.known_units", known=known or "—"), field="unit"
        )
    while unit.merged_into_id is not None:  # a merged unit's channels go to the one it joined
        nxt = session.get(Unit, unit.merged_into_id)
        if nxt is None:
            break
        unit = nxt
    return unit.id


def add_connected(
    loa: Loa,
    account: FoundAccount,
    *,
    platform: str,
    actor: str,
    unit_id: int | None,
    channel_id: str | None = None,
    mode: str,
) -> tuple[str, bool]:
    """A channel for a granted account (or the same one again): its credentials stored encrypted.

    Returns (channel id, whether it is new). An account already connected is reconnected.
    """
    with session_scope(loa.engine) as session:
        row = session.get(ChannelState, channel_id) if channel_id else None
        if row is None:
            row = session.exec(
                select(ChannelState).where(
                    ChannelState.platform == platform, ChannelState.external_id == account.external_id
                )
            ).first()
        created = row is None
        if row is None:
            flow = publisher_class(platform).connect_flow()
            prefix = flow.channel_prefix if flow else platform
            cover = getattr(loa.settings, flow.section).default_cover if flow else None
            row = ChannelState(
                id=new_channel_id(session, prefix, account.name),
                platform=platform,
                origin="connected",
                name=account.name[:MAX_NAME],
                external_id=account.external_id,
                mode=mode,
                unit_id=unit_id,
                default_cover=cover,
            )
        elif row.external_id != account.external_id:
            raise InputError(
                msg("error.connect_other_account", channel=row.id, account=account.name),
                hint=msg("hint.connect_same_account", external_id=row.external_id or ""),
            )
        row.picture = account.picture
        row.connected_at = utcnow()
        row.connected_by = actor
        row.archived_at = None
        row.token_scopes = ",".join(account.scopes) or None
        row.token_expires_at = account.expires_at
        row.token_problem = None
        row.token_checked_at = utcnow()
        session.add(row)
        record(
            session,
            actor=actor,
            action="channel.connect",
            object=f"channel:{row.id}",
            details={"external_id": account.external_id, "name": account.name, "new": created},
        )
        new_id = row.id
    loa.vault.save(new_id, account.credentials)
    from scheduler.channels.service import release_held

    release_held(loa, new_id, actor=actor)
    refresh(loa)
    return new_id, created


def _row(session: Session, loa: Loa, channel_id: str) -> ChannelState:
    loa.settings.channel(channel_id)  # unknown ids → NotFound listing the known ones
    row = session.get(ChannelState, channel_id)
    if row is None:
        raise NotFound(msg("error.channel_not_in_database", channel=channel_id), hint=msg("hint.run_init"))
    return row


def rename(loa: Loa, channel_id: str, name: str, *, actor: str) -> None:
    name = unicodedata.normalize("NFC", name.strip())
    if not name or len(name) > MAX_NAME:
        raise InputError(msg("error.channel_name", limit=MAX_NAME), field="name")
    with session_scope(loa.engine) as session:
        row = _row(session, loa, channel_id)
        old = row.name
        row.name = name
        session.add(row)
        record(session, actor=actor, action="channel.rename", object=f"channel:{channel_id}",
               details={"from": old, "to": name})  # fmt: skip
    refresh(loa)


def assign(loa: Loa, channel_id: str, unit_code: str | None, *, actor: str) -> None:
    with session_scope(loa.engine) as session:
        row = _row(session, loa, channel_id)
        unit_id = unit_id_of(session, unit_code)
        codes = _unit_codes(session)
        old = codes.get(row.unit_id) if row.unit_id else None
        row.unit_id = unit_id
        session.add(row)
        record(session, actor=actor, action="channel.assign", object=f"channel:{channel_id}",
               details={"from": old, "to": codes.get(unit_id) if unit_id else None})  # fmt: skip
    refresh(loa)


def disconnect(loa: Loa, channel_id: str, *, actor: str) -> None:
    """Forget the channel's credentials: nothing is published until it is connected again."""
    with session_scope(loa.engine) as session:
        row = _row(session, loa, channel_id)
        row.credentials_encrypted = None
        row.credentials_updated_at = utcnow()
        row.status = ChannelStatus.needs_reauth
        row.last_error = None
        session.add(row)
        record(session, actor=actor, action="channel.disconnect", object=f"channel:{channel_id}")
    refresh(loa)


def archive(loa: Loa, channel_id: str, *, actor: str) -> None:
    """No longer offered for new posts; its publications, figures and history stay."""
    with session_scope(loa.engine) as session:
        row = _row(session, loa, channel_id)
        if row.archived_at is None:
            row.archived_at = utcnow()
        session.add(row)
        record(session, actor=actor, action="channel.archive", object=f"channel:{channel_id}")
    refresh(loa)


def channel_extra(loa: Loa) -> dict[str, dict[str, Any]]:
    """Per channel: unit, origin, archive mark and token health, for the channel lists."""
    out: dict[str, dict[str, Any]] = {}
    with session_scope(loa.engine, read_only=True) as session:
        codes = _unit_codes(session)
        names = {u.id: u.name for u in session.exec(select(Unit))}
        for row in session.exec(select(ChannelState)):
            out[row.id] = {
                "unit": codes.get(row.unit_id) if row.unit_id else None,
                "unit_name": names.get(row.unit_id) if row.unit_id else None,
                "origin": row.origin,
                "archived": row.archived_at is not None,
                "connected_at": row.connected_at.isoformat() if row.connected_at else None,
                "token_checked_at": row.token_checked_at.isoformat() if row.token_checked_at else None,
                "token_expires_at": row.token_expires_at.isoformat() if row.token_expires_at else None,
                "token_problem": row.token_problem,
                "has_credentials": bool(row.credentials_encrypted),
            }
    return out


def valid_channel_id(channel_id: str) -> bool:
    return bool(CHANNEL_ID_PATTERN.match(channel_id))


def find_channel(engine: Engine, settings: Settings, channel_id: str) -> ChannelSettings:
    """``settings.channel(id)``, reading the rows again once for a channel another process added."""
    try:
        return settings.channel(channel_id)
    except NotFound:
        load_channels(engine, settings)
        return settings.channel(channel_id)
