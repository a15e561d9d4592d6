"""Channel status as people see it: configuration joined with what Loa learned at run time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scheduler.models import ChannelState, ChannelStatus
from scheduler.store import session_scope

if TYPE_CHECKING:
    from scheduler.app import Loa


def channel_rows(loa: Loa) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
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
                    "last_error": state.last_error if state else None,
                }
            )
    return rows
