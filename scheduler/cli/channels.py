"""`loa channels …`: status, reconnect, pause, resume."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from sqlmodel import col

from scheduler.cli.support import (
    JsonOption,
    acting,
    acting_name,
    cli_scope,
    err,
    local_time,
    out,
    print_json,
    ready,
    require_channels,
    require_unit,
    unit_within,
)
from scheduler.errors import InputError
from scheduler.i18n import N_, msg, process_lang, process_text, render_stored, stored, translate

if TYPE_CHECKING:
    from scheduler.app import Loa
    from scheduler.channels.connecting import Granted


channels_app = typer.Typer(help="Channels: status, reconnect, pause, resume.")


@channels_app.callback(invoke_without_command=True)
def channels(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Configured channels with their status (and: reconnect, pause, resume)."""
    from scheduler.channels.service import channel_rows

    if ctx.invoked_subcommand is not None:
        return
    loa = ready(ctx)
    scope = cli_scope(ctx, loa)
    rows = [row for row in channel_rows(loa) if scope is None or row["id"] in scope]
    if as_json:
        print_json({"channels": rows})
        return
    table = Table()
    # Every other command takes the channel id, and the status says what to do: on a narrow
    # terminal the other columns wrap, these two are never cut.
    lang = process_lang()
    states = {row["id"]: translate(lang, f"channel_status.{row['status']}") for row in rows}
    table.add_column("id", no_wrap=True, min_width=max((len(row["id"]) for row in rows), default=2))
    for header in (N_("cli.col.platform"), N_("cli.col.name"), N_("cli.col.external_id"), N_("cli.col.mode")):
        table.add_column(process_text(header))
    width = max((len(state) for state in states.values()), default=10)
    table.add_column(process_text("cli.col.status"), no_wrap=True, min_width=width)
    for header in (N_("cli.col.paused_until"), N_("cli.col.last_error")):
        table.add_column(process_text(header))
    for row in rows:
        table.add_row(
            row["id"],
            row["platform"],
            row["name"],
            row["external_id"],
            row["mode"],
            states[row["id"]],
            local_time(row["paused_until"], loa.settings),
            row["last_error"] or "",
        )
    out.print(table)


@channels_app.command("reconnect")
def channels_reconnect(
    ctx: typer.Context,
    channel_id: Annotated[str, typer.Argument(metavar="ID")],
    token_env: Annotated[
        str | None, typer.Option(help="read the new Page token / Zalo refresh token from this variable")
    ] = None,
) -> None:
    """Store a new token (read from stdin, or --token-env) and release the channel's held posts."""
    from scheduler.channels.service import reconnect

    loa = ready(ctx)
    if token_env:
        secret = os.environ.get(token_env, "")
        if not secret:
            unset = msg("error.variable_unset", name=token_env)
            raise InputError(unset, hint=msg("hint.export_variable", name=token_env))
    else:
        if sys.stdin.isatty():
            err.print(process_text("cli.paste_token"))
        secret = sys.stdin.readline()
    require_channels(ctx, loa, [channel_id], f"channel:{channel_id}")
    released = reconnect(loa, channel_id, secret, actor=acting_name(ctx, loa))
    out.print(process_text("cli.channel_reconnected", channel=channel_id, released=released))


@channels_app.command("pause")
def channels_pause(
    ctx: typer.Context,
    channel_id: Annotated[str, typer.Argument(metavar="ID")],
    until: Annotated[str | None, typer.Option(help="resume by itself at this time")] = None,
) -> None:
    """Hold a channel's publications."""
    from scheduler.channels.service import pause
    from scheduler.posts.requests import parse_when

    loa = ready(ctx)
    require_channels(ctx, loa, [channel_id], f"channel:{channel_id}")
    pause(loa, channel_id, actor=acting_name(ctx, loa), until=parse_when(until, loa.settings) if until else None)
    out.print(process_text("cli.channel_paused", channel=channel_id))


@channels_app.command("resume")
def channels_resume(ctx: typer.Context, channel_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Let a paused channel publish again."""
    from scheduler.channels.service import resume

    loa = ready(ctx)
    require_channels(ctx, loa, [channel_id], f"channel:{channel_id}")
    resume(loa, channel_id, actor=acting_name(ctx, loa))
    out.print(process_text("cli.channel_resumed", channel=channel_id))


@channels_app.command("connect")
def channels_connect(
    ctx: typer.Context,
    platform: Annotated[str, typer.Argument(metavar="PLATFORM", help="facebook or zalo")],
    unit: Annotated[str | None, typer.Option(help="the unit the new channels belong to (its code)")] = None,
    page: Annotated[
        list[str] | None, typer.Option(help="add only this Page id (repeatable); default: every Page Loa can post to")
    ] = None,
    channel: Annotated[str | None, typer.Option(help="reconnect this existing channel")] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the platform's authorisation URL, then finish from the callback (browser or pasted URL)."""
    import threading
    import time
    from urllib.parse import parse_qsl, urlsplit

    from scheduler.channels import connecting

    loa = ready(ctx)
    who = acting_name(ctx, loa)
    if channel is not None:
        require_channels(ctx, loa, [channel], f"channel:{channel}")
    if unit_within(ctx, loa) is not None:
        unit = unit or _own_unit(ctx, loa)  # a unit's account connects channels for its unit
        if unit is not None:
            require_unit(ctx, loa, unit, f"unit:{unit}")
    started = connecting.start(loa, platform, actor=who, unit=unit, channel_id=channel)
    out.print(started.url, soft_wrap=True, markup=False, highlight=False)
    err.print(process_text("cli.connect_waiting", callback=connecting.callback_url(loa)))
    pasted: list[str] = []

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip():
                pasted.append(line.strip())
                return

    threading.Thread(target=read_stdin, daemon=True).start()
    deadline = time.monotonic() + connecting.ATTEMPT_LIFE.total_seconds()
    added: list[str] = []
    while True:
        if pasted:
            params = dict(parse_qsl(urlsplit(pasted[0]).query))
            if not params.get("state"):
                raise InputError(msg("error.connect_no_code"), hint=msg("hint.connect_paste_whole_url"))
            granted = connecting.callback(loa, params, actor=who)
            added = granted.added if not granted.pick else _pick(loa, granted, page, who)
            break
        arrived, finished = connecting.attempt_state(loa, started.state)
        if finished:
            added = _added_by(loa, started.state)
            break
        # A flow granting one account is finished by the callback itself: wait for it.
        if arrived and connecting.flow_class(platform).pick_accounts:
            granted = connecting.pending(loa, connecting.state_digest(started.state), actor=who)
            added = _pick(loa, granted, page, who)
            break
        if time.monotonic() > deadline:
            raise InputError(msg("error.connect_state_expired"), hint=msg("hint.connect_again"))
        time.sleep(0.3)
    if as_json:
        print_json({"channels": added})
        return
    for channel_id in added:
        out.print(process_text("cli.channel_connected", channel=channel_id))


def _own_unit(ctx: typer.Context, loa: Loa) -> str | None:
    """The code of the --as account's unit (today's, after any merger)."""
    from scheduler.models import Unit
    from scheduler.staff.units import current
    from scheduler.store import session_scope

    user = acting(ctx, loa)
    if user is None or user.unit_id is None:
        return None
    with session_scope(loa.engine, read_only=True) as session:
        row = session.get(Unit, user.unit_id)
        return current(session, row).code if row is not None else None


def _pick(loa: Loa, granted: Granted, pages: list[str] | None, who: str) -> list[str]:
    from scheduler.channels import connecting

    addable = [a["external_id"] for a in granted.accounts if not a["problem"]]
    lang = process_lang()
    for account in granted.accounts:
        if account["problem"]:
            err.print(f"{account['name']} ({account['external_id']}): {render_stored(lang, account['problem'])}")
    return connecting.finish(loa, granted.state_hash, list(pages) if pages else addable, actor=who)


def _added_by(loa: Loa, state: str) -> list[str]:
    """The channels a flow finished elsewhere (the console's callback) connected."""
    import json

    from sqlmodel import select

    from scheduler.channels.connecting import state_digest
    from scheduler.models import ChannelState, ConnectAttempt
    from scheduler.store import session_scope

    with session_scope(loa.engine, read_only=True) as session:
        row = session.get(ConnectAttempt, state_digest(state))
        ids = [a["external_id"] for a in json.loads(row.found_json or "[]")] if row else []
        return [c.id for c in session.exec(select(ChannelState).where(col(ChannelState.external_id).in_(ids)))]


@channels_app.command("rename")
def channels_rename(
    ctx: typer.Context,
    channel_id: Annotated[str, typer.Argument(metavar="ID")],
    name: Annotated[str, typer.Option(help="the new name")],
) -> None:
    """Rename a channel (the old name stays in the audit log)."""
    from scheduler.channels.catalog import rename

    loa = ready(ctx)
    require_channels(ctx, loa, [channel_id], f"channel:{channel_id}")
    rename(loa, channel_id, name, actor=acting_name(ctx, loa))
    out.print(process_text("cli.channel_renamed", channel=channel_id))


@channels_app.command("assign")
def channels_assign(
    ctx: typer.Context,
    channel_id: Annotated[str, typer.Argument(metavar="ID")],
    unit: Annotated[str, typer.Option(help="the unit's code")],
) -> None:
    """Give a channel to a unit: its editors compose for it, its approvers approve."""
    from scheduler.channels.catalog import assign

    loa = ready(ctx)
    require_channels(ctx, loa, [channel_id], f"channel:{channel_id}")
    require_unit(ctx, loa, unit, f"channel:{channel_id}")  # nor handed to a unit outside its own
    assign(loa, channel_id, unit, actor=acting_name(ctx, loa))
    out.print(process_text("cli.channel_assigned", channel=channel_id, unit=unit))


@channels_app.command("disconnect")
def channels_disconnect(ctx: typer.Context, channel_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Forget a channel's credentials; nothing goes out until it is connected again."""
    from scheduler.channels.catalog import disconnect

    loa = ready(ctx)
    require_channels(ctx, loa, [channel_id], f"channel:{channel_id}")
    disconnect(loa, channel_id, actor=acting_name(ctx, loa))
    out.print(process_text("cli.channel_disconnected", channel=channel_id))


@channels_app.command("archive")
def channels_archive(ctx: typer.Context, channel_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """No longer offer a channel for new posts; its posts and figures are kept."""
    from scheduler.channels.catalog import archive

    loa = ready(ctx)
    require_channels(ctx, loa, [channel_id], f"channel:{channel_id}")
    archive(loa, channel_id, actor=acting_name(ctx, loa))
    out.print(process_text("cli.channel_archived", channel=channel_id))


@channels_app.command("check")
def channels_check(
    ctx: typer.Context,
    channel_ids: Annotated[list[str] | None, typer.Argument(metavar="[ID]...")] = None,
    as_json: JsonOption = False,
) -> None:
    """Ask each platform now whether the channels' tokens still work, and until when."""
    from scheduler.channels.health import run_checks

    loa = ready(ctx)
    scope = cli_scope(ctx, loa)
    if channel_ids:
        require_channels(ctx, loa, channel_ids, "loa channels check")
        targets = list(channel_ids)
    else:
        targets = [c.id for c in loa.settings.channels if not c.archived and (scope is None or c.id in scope)]
    for channel_id in targets:
        loa.settings.channel(channel_id)  # unknown ids → NotFound naming the known ones
    found = run_checks(loa.settings, loa.engine, loa.vault, only=targets)
    lang = process_lang()
    rows: list[dict[str, Any]] = [
        {
            "id": channel_id,
            "valid": health.valid,
            "expires_at": health.expires_at.isoformat() if health.expires_at else None,
            "scopes": list(health.scopes),
            "problem": render_stored(lang, stored(health.problem)) if health.problem else None,
        }
        for channel_id, health in found.items()
    ]
    if as_json:
        print_json({"channels": rows})
        return
    for row in rows:
        until = local_time(row["expires_at"], loa.settings) if row["expires_at"] else "—"
        state = row["problem"] or process_text("cli.token_ok", until=until)
        out.print(f"{row['id']}: {state}")
