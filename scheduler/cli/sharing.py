"""`loa staff …` and `loa share …`: staff import and roster, tracked links, offline shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from scheduler.cli.support import (
    JsonOption,
    acting_name,
    actor,
    check_output,
    err,
    out,
    print_json,
    ready,
    refuse_outside,
    unit_within,
)
from scheduler.errors import InputError
from scheduler.i18n import N_, msg, process_text
from scheduler.sharing.counting import recount
from scheduler.sharing.service import SharingService, report_platforms

staff_app = typer.Typer(help="Staff and units: import, list, deactivate, activate.", no_args_is_help=True)
share_app = typer.Typer(help="Tracked links and shares: link, record, export, recount.", no_args_is_help=True)

PostOption = Annotated[int, typer.Option("--post", help="post id (see `loa post list`)")]
StaffOption = Annotated[str, typer.Option("--staff", help="staff id, email or phone (see `loa staff list`)")]
ChannelOption = Annotated[str | None, typer.Option("--channel", help="only this channel's publication")]
StaffArgument = Annotated[str, typer.Argument(metavar="STAFF", help="staff id, email or phone")]


def _service(ctx: typer.Context) -> SharingService:
    loa = ready(ctx)
    return SharingService(loa.settings, loa.engine)


# -- loa staff ---------------------------------------------------------------------------


@staff_app.command("import")
def staff_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV/XLSX: ho_ten,don_vi,so_dien_thoai,email")],
    as_json: JsonOption = False,
) -> None:
    """Import or update staff from CSV/XLSX; one bad row → nothing stored, exit 2.

    A row updates the staff member with the same email, else the same phone; anyone else is
    added. Units are created as needed. Nobody is removed or deactivated by an import."""
    loa = ready(ctx)
    service = _service(ctx)
    within = unit_within(ctx, loa)
    if within is not None:
        outside = service.outside(file, within)
        if outside:
            refuse_outside(ctx, loa, f"import:{file.name}", ", ".join(outside))
    summary = service.import_staff(file, actor=acting_name(ctx, loa))
    for warning in summary.warnings():  # on stderr, so --json output stays one document
        err.print(str(warning), markup=False)
    if as_json:
        print_json(summary.as_json())
        return
    out.print(
        process_text(
            "cli.staff_imported",
            file=file.name,
            created=summary.created,
            updated=summary.updated,
            unchanged=summary.unchanged,
            units=len(summary.units_created),
        )
    )


@staff_app.command("list")
def staff_list(
    ctx: typer.Context,
    as_json: JsonOption = False,
    include_all: Annotated[bool, typer.Option("--all", help="include deactivated staff")] = False,
) -> None:
    """Staff with their unit and personal share-page URL."""
    loa = ready(ctx)
    rows = _service(ctx).list_staff(include_inactive=include_all, within=unit_within(ctx, loa))
    if as_json:
        print_json({"staff": rows})
        return
    headers = [
        N_("cli.col.full_name"),
        N_("cli.col.unit"),
        N_("cli.col.phone"),
        N_("cli.col.email"),
        N_("cli.col.share_page"),
    ]
    table = Table("id", *(process_text(h) for h in headers), *([process_text("cli.col.active")] if include_all else []))
    for row in rows:
        cells = [str(row["id"]), row["full_name"], row["unit"], row["phone"] or "", row["email"] or ""]
        cells.append(row["share_url"])
        if include_all:
            cells.append(process_text("cli.yes") if row["active"] else process_text("cli.no"))
        table.add_row(*(escape(cell) for cell in cells))
    out.print(table)
    out.print(process_text("cli.people", count=len(rows)))


@staff_app.command("deactivate")
def staff_deactivate(ctx: typer.Context, staff: StaffArgument, as_json: JsonOption = False) -> None:
    """Stop a staff member's page and links from counting (their history is kept)."""
    _print_staff(_staff_change(ctx, staff, False), as_json)


@staff_app.command("activate")
def staff_activate(ctx: typer.Context, staff: StaffArgument, as_json: JsonOption = False) -> None:
    """Let a deactivated staff member's page and links count again."""
    _print_staff(_staff_change(ctx, staff, True), as_json)


def _staff_change(ctx: typer.Context, staff: str, active: bool) -> dict[str, Any]:
    """(De)activate STAFF; with --as, only someone of the account's unit (or below)."""
    loa = ready(ctx)
    service = _own_staff(ctx, staff)
    return service.set_active(staff, active, actor=acting_name(ctx, loa))


def _own_staff(ctx: typer.Context, staff: str) -> SharingService:
    """The service, once STAFF is known to be of the --as account's units (else exit 2, audited)."""
    loa = ready(ctx)
    service = _service(ctx)
    within = unit_within(ctx, loa)
    if within is not None and service.unit_of(staff) not in within:
        refuse_outside(ctx, loa, f"staff:{staff}", staff)
    return service


def _print_staff(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(row)
        return
    state = process_text("cli.staff_active") if row["active"] else process_text("cli.staff_inactive")
    out.print(f"{escape(row['full_name'])} (#{row['id']}): {state}")


# -- loa share ---------------------------------------------------------------------------


@share_app.command("link")
def share_link(
    ctx: typer.Context,
    post: PostOption,
    staff: StaffOption,
    channel: ChannelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a staff member's tracked link to a post (one per channel unless --channel)."""
    # Any post may be shared (a unit's people share the province's posts), by the unit's people.
    links = _own_staff(ctx, staff).links(post_id=post, staff_ref=staff, channel=channel)
    if as_json:
        print_json({"links": links})
        return
    if len(links) == 1:
        out.print(links[0]["url"])
        return
    for link in links:
        out.print(f"{link['channel']}\t{link['url']}")


@share_app.command("record")
def share_record(
    ctx: typer.Context,
    post: PostOption,
    staff: StaffOption,
    platform: Annotated[str, typer.Option("--platform", help="facebook | zalo | other")],
    note: Annotated[str | None, typer.Option("--note", help="where it was seen, who reported it")] = None,
    channel: ChannelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a share reported offline (by phone, seen in a Zalo group): kind self_report."""
    known = report_platforms()
    if platform not in known:
        refused = msg("error.unknown_platform", platform=platform)
        raise InputError(refused, hint=msg("hint.one_of", choices=", ".join(known)), field="platform")
    service = _own_staff(ctx, staff)
    who = acting_name(ctx, ready(ctx))
    share = service.record_offline(
        post_id=post, staff_ref=staff, platform=platform, note=note, channel=channel, actor=who
    )
    if as_json:
        print_json(share)
        return
    out.print(
        process_text("cli.share_recorded", share=share["id"], platform=share["platform"], channel=share["channel"])
    )


@share_app.command("export")
def share_export(
    ctx: typer.Context,
    post: PostOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="FILE.csv or FILE.xlsx")],
    channel: ChannelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every active staff member's tracked link(s) to a post, as CSV or XLSX to send round."""
    check_output(output)
    loa = ready(ctx)
    result = _service(ctx).export_links(
        post_id=post, path=output, channel=channel, actor=acting_name(ctx, loa), within=unit_within(ctx, loa)
    )
    if as_json:
        print_json(result)
        return
    out.print(process_text("cli.links_exported", rows=result["rows"], staff=result["staff"], file=escape(str(output))))


@share_app.command("recount")
def share_recount(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Apply the counting rules (crawler list, dedupe window) to every raw click again."""
    loa = ready(ctx)
    summary = recount(loa.engine, loa.settings, actor=actor())
    if as_json:
        print_json(summary.as_json())
        return
    out.print(
        process_text(
            "cli.recounted",
            clicks=summary.clicks,
            changed=summary.changed,
            before=summary.counted_before,
            after=summary.counted_after,
        )
    )
