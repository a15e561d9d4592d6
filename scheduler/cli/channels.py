"""`loa channels …`: status, reconnect, pause, resume."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from scheduler.cli.support import (
    JsonOption,
    actor,
    err,
    local_time,
    out,
    print_json,
    ready,
)
from scheduler.errors import InputError
from scheduler.i18n import N_, msg, process_lang, process_text, translate

if TYPE_CHECKING:
    pass


channels_app = typer.Typer(help="Channels: status, reconnect, pause, resume.")


@channels_app.callback(invoke_without_command=True)
def channels(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Configured channels with their status (and: reconnect, pause, resume)."""
    from scheduler.channels.service import channel_rows

    if ctx.invoked_subcommand is not None:
        return
    loa = ready(ctx)
    rows = channel_rows(loa)
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
    released = reconnect(loa, channel_id, secret, actor=actor())
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
    pause(loa, channel_id, actor=actor(), until=parse_when(until, loa.settings) if until else None)
    out.print(process_text("cli.channel_paused", channel=channel_id))


@channels_app.command("resume")
def channels_resume(ctx: typer.Context, channel_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Let a paused channel publish again."""
    from scheduler.channels.service import resume

    resume(ready(ctx), channel_id, actor=actor())
    out.print(process_text("cli.channel_resumed", channel=channel_id))
