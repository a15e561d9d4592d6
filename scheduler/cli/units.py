"""`loa units …`: the unit tree, its renames and merges (history kept)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from scheduler.cli.support import (
    JsonOption,
    acting_name,
    out,
    print_json,
    ready,
    refuse_outside,
    require_unit,
    unit_within,
)
from scheduler.i18n import N_, process_text

if TYPE_CHECKING:
    from scheduler.app import Loa

units_app = typer.Typer(help="Units: list, add, rename, merge (history kept).", no_args_is_help=True)


def _day(text: str | None, loa: Loa) -> date:
    """The day typed, or the office's today (its time zone, not the machine's)."""
    from scheduler.formatting import parse_date

    return parse_date(text, field="from") if text else datetime.now(loa.settings.tz).date()


@units_app.command("list")
def units_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The units with their parent, staff, channels and history."""
    from scheduler.staff.units import list_units

    rows = list_units(ready(ctx).engine)
    if as_json:
        print_json({"units": [row.as_json() for row in rows]})
        return
    table = Table()
    table.add_column("code", no_wrap=True)
    for header in (N_("cli.col.name"), N_("cli.col.parent"), N_("cli.col.merged_into"), N_("cli.col.staff"),
                   N_("cli.col.channels")):  # fmt: skip
        table.add_column(process_text(header))
    for row in rows:
        table.add_row(row.code, row.name, row.parent or "", row.merged_into or "", str(row.staff), str(row.channels))
    out.print(table)


@units_app.command("add")
def units_add(
    ctx: typer.Context,
    code: Annotated[str, typer.Option(help="a short code: letters, digits, . _ -")],
    name: Annotated[str, typer.Option(help="the unit's name")],
    parent: Annotated[str | None, typer.Option(help="the code of the unit above it")] = None,
) -> None:
    """Add a unit to the tree."""
    from scheduler.staff.units import add_unit

    loa = ready(ctx)
    if parent is None and unit_within(ctx, loa) is not None:  # a new top of the tree is the province's
        refuse_outside(ctx, loa, f"unit:{code}", code)
    if parent is not None:
        require_unit(ctx, loa, parent, f"unit:{parent}")
    add_unit(loa.engine, code, name, parent=parent, actor=acting_name(ctx, loa))
    out.print(process_text("cli.unit_added", unit=code))


@units_app.command("rename")
def units_rename(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(metavar="CODE")],
    name: Annotated[str, typer.Option(help="the new name")],
    since: Annotated[str | None, typer.Option("--from", help="the day the new name applies (default: today)")] = None,
) -> None:
    """Rename a unit; files using the old name still find it."""
    from scheduler.staff.units import rename_unit

    loa = ready(ctx)
    require_unit(ctx, loa, code, f"unit:{code}")
    rename_unit(loa.engine, code, name, effective=_day(since, loa), actor=acting_name(ctx, loa))
    out.print(process_text("cli.unit_renamed", unit=code))


@units_app.command("merge")
def units_merge(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(metavar="CODE")],
    into: Annotated[str, typer.Option(help="the code of the unit it joins")],
    since: Annotated[str | None, typer.Option("--from", help="the day of the merger (default: today)")] = None,
) -> None:
    """Merge a unit into another: its staff, channels and accounts move; its name stays an alias."""
    from scheduler.staff.units import merge_unit

    loa = ready(ctx)
    for each in (code, into):
        require_unit(ctx, loa, each, f"unit:{each}")
    moved = merge_unit(loa.engine, code, into, effective=_day(since, loa), actor=acting_name(ctx, loa))
    out.print(process_text("cli.unit_merged", unit=code, into=into, staff=moved["staff"], channels=moved["channels"]))
