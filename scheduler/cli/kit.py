"""`loa report kit`: who put the campaign's avatar frame or cover on their profile, per unit."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import select

from scheduler.cli.reports import report_app
from scheduler.cli.support import JsonOption, out, print_json, ready
from scheduler.errors import InputError, NotFound
from scheduler.i18n import N_, msg, process_lang, process_text
from scheduler.i18n.formats import format_int
from scheduler.models import Campaign
from scheduler.store import session_scope


@report_app.command("kit")
def report_kit(
    ctx: typer.Context,
    campaign: Annotated[str | None, typer.Option(help="campaign slug (default: the one running today)")] = None,
    by: Annotated[str, typer.Option(help="unit or staff")] = "unit",
    as_json: JsonOption = False,
) -> None:
    """The campaign kit: per unit, staff who put the avatar frame or the cover on their profile."""
    from scheduler.campaign.service import current_campaign, updates_by_staff, updates_by_unit

    if by not in ("unit", "staff"):
        raise InputError(msg("error.kit_by", value=by), field="by")

    loa = ready(ctx)
    if campaign is None:
        chosen = current_campaign(loa.settings, loa.engine)
    else:
        with session_scope(loa.engine, read_only=True) as session:
            chosen = session.exec(select(Campaign).where(Campaign.slug == campaign)).first()
    if chosen is None or chosen.id is None:
        raise NotFound(msg("error.no_campaign", campaign=campaign or "—"), field="campaign")
    if by == "staff":
        people = updates_by_staff(loa.engine, chosen.id)
        sums = {k: sum(int(str(r[k])) for r in people) for k in ("avatar", "cover", "any")}
        if as_json:
            print_json(
                {"campaign": chosen.slug, "by": "staff", "rows": people, "totals": {"staff": len(people), **sums}}
            )
            return
        staff_heads = (N_("cli.col.full_name"), N_("cli.col.unit"), N_("cli.col.avatar"), N_("cli.col.cover"))
        people_table = Table(*(process_text(h) for h in staff_heads), title=chosen.name)
        for row in people:
            people_table.add_row(
                str(row["staff"]), str(row["unit"]), "✓" if row["avatar"] else "", "✓" if row["cover"] else ""
            )
        out.print(people_table)
        return
    rows = updates_by_unit(loa.engine, chosen.id)
    totals = {k: sum(int(str(r[k])) for r in rows) for k in ("staff", "avatar", "cover", "any")}
    if as_json:
        print_json({"campaign": chosen.slug, "by": "unit", "rows": rows, "totals": totals})
        return
    lang = process_lang()
    heads = (N_("cli.col.unit"), N_("cli.col.staff"), N_("cli.col.avatar"), N_("cli.col.cover"), N_("cli.col.any"))
    table = Table(*(process_text(h) for h in heads), title=chosen.name)
    for row in [*rows, {"unit": process_text("cli.total"), **totals}]:
        table.add_row(
            str(row["unit"]), *(format_int(int(str(row[k])), lang) for k in ("staff", "avatar", "cover", "any"))
        )
    out.print(table)
