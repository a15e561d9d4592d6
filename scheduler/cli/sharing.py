"""`loa staff …` and `loa share …`: staff import and roster, tracked links, offline shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from scheduler.cli.support import JsonOption, actor, check_output, out, print_json, ready
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
    summary = _service(ctx).import_staff(file, actor=actor())
    if as_json:
        print_json(summary.as_json())
        return
    out.print(
        f"Đã nhập {file.name}: {summary.created} người mới, {summary.updated} cập nhật, "
        f"{summary.unchanged} không đổi; {len(summary.units_created)} đơn vị mới."
    )


@staff_app.command("list")
def staff_list(
    ctx: typer.Context,
    as_json: JsonOption = False,
    include_all: Annotated[bool, typer.Option("--all", help="include deactivated staff")] = False,
) -> None:
    """Staff with their unit and personal share-page URL."""
    rows = _service(ctx).list_staff(include_inactive=include_all)
    if as_json:
        print_json({"staff": rows})
        return
    headers = ["id", "họ tên", "đơn vị", "điện thoại", "email", "trang chia sẻ"]
    table = Table(*headers, *(["còn dùng"] if include_all else []))
    for row in rows:
        cells = [str(row["id"]), row["full_name"], row["unit"], row["phone"] or "", row["email"] or ""]
        cells.append(row["share_url"])
        if include_all:
            cells.append("có" if row["active"] else "không")
        table.add_row(*(escape(cell) for cell in cells))
    out.print(table)
    out.print(f"{len(rows)} người.")


@staff_app.command("deactivate")
def staff_deactivate(ctx: typer.Context, staff: StaffArgument, as_json: JsonOption = False) -> None:
    """Stop a staff member's page and links from counting (their history is kept)."""
    _print_staff(_service(ctx).set_active(staff, False, actor=actor()), as_json)


@staff_app.command("activate")
def staff_activate(ctx: typer.Context, staff: StaffArgument, as_json: JsonOption = False) -> None:
    """Let a deactivated staff member's page and links count again."""
    _print_staff(_service(ctx).set_active(staff, True, actor=actor()), as_json)


def _print_staff(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(row)
        return
    state = "đang hoạt động" if row["active"] else "đã ngừng (liên kết không còn được tính)"
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
    links = _service(ctx).links(post_id=post, staff_ref=staff, channel=channel)
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
        raise typer.BadParameter(f"{platform!r}: use {', '.join(known[:-1])} or {known[-1]}", param_hint="--platform")
    share = _service(ctx).record_offline(
        post_id=post, staff_ref=staff, platform=platform, note=note, channel=channel, actor=actor()
    )
    if as_json:
        print_json(share)
        return
    out.print(f"Đã ghi lượt chia sẻ #{share['id']} ({share['platform']}, {share['channel']}).")


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
    result = _service(ctx).export_links(post_id=post, path=output, channel=channel, actor=actor())
    if as_json:
        print_json(result)
        return
    out.print(f"Đã ghi {result['rows']} liên kết của {result['staff']} người vào {escape(str(output))}.")


@share_app.command("recount")
def share_recount(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Apply the counting rules (crawler list, dedupe window) to every raw click again."""
    loa = ready(ctx)
    summary = recount(loa.engine, loa.settings, actor=actor())
    if as_json:
        print_json(summary.as_json())
        return
    out.print(
        f"{summary.clicks} lượt nhấp thô; {summary.changed} thay đổi; "
        f"được tính: {summary.counted_before} → {summary.counted_after}."
    )
