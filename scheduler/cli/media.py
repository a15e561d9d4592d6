"""`loa media …`: the media library (photos and videos a post shows)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from scheduler.cli.support import JsonOption, actor, out, print_json, ready
from scheduler.i18n import N_, process_text
from scheduler.i18n.formats import format_int

media_app = typer.Typer(help="The media library: photos and videos for posts.", no_args_is_help=True)


@media_app.command("add")
def media_add(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="photos (JPEG, PNG, WebP, HEIC) or videos (MP4, MOV)")],
    alt: Annotated[str, typer.Option(help="a description of the picture for readers who cannot see it")] = "",
    as_json: JsonOption = False,
) -> None:
    """Put photos or videos in the library: all of them, or none when one is refused."""
    loa = ready(ctx)
    added = loa.media.add(files, alt=alt, actor=actor())
    if as_json:
        print_json({"media": added})
        return
    for item in added:
        out.print(process_text("cli.media_added", media=item["id"], file=item["name"], kind=item["kind"]))


@media_app.command("list")
def media_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The library, newest first."""
    loa = ready(ctx)
    items = loa.media.list()
    if as_json:
        print_json({"media": items})
        return
    table = Table(
        "#",
        *(process_text(h) for h in (N_("cli.col.kind"), N_("cli.col.file"), N_("cli.col.size"), N_("cli.col.alt"))),
    )
    for item in items:
        size = f"{item['width']}×{item['height']}"
        if item["duration_s"] is not None:
            size += f", {format_int(round(item['duration_s']), 'vi')} s"
        table.add_row(str(item["id"]), item["kind"], item["name"], size, item["alt"][:40])
    out.print(table)


@media_app.command("alt")
def media_alt(
    ctx: typer.Context,
    media_id: Annotated[int, typer.Argument(metavar="ID")],
    text: Annotated[str, typer.Argument(help="the new description")],
    as_json: JsonOption = False,
) -> None:
    """Set an item's description for readers who cannot see it."""
    loa = ready(ctx)
    item = loa.media.set_alt(media_id, text, actor=actor())
    if as_json:
        print_json(item)
        return
    out.print(process_text("cli.media_alt_set", media=media_id))


@media_app.command("delete")
def media_delete(ctx: typer.Context, media_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Remove an item no post uses."""
    loa = ready(ctx)
    loa.media.delete(media_id, actor=actor())
    out.print(process_text("cli.media_deleted", media=media_id))
