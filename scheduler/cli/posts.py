"""`loa post …`: queue, import, list, show, and the decisions on a post."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape as _escape
from rich.table import Table

from scheduler.cli.support import (
    JsonOption,
    VarOption,
    acting,
    acting_name,
    actor,
    cli_scope,
    err,
    local_time,
    out,
    parse_variables,
    print_json,
    ready,
    require_channels,
    require_post,
    require_publication,
    write_text,
)
from scheduler.errors import InputError
from scheduler.i18n import N_, msg, process_lang, process_text, status_label

if TYPE_CHECKING:
    from scheduler.posts.requests import PreparedPost


post_app = typer.Typer(help="Queue and inspect posts.", no_args_is_help=True)


TextOption = Annotated[str | None, typer.Option("--text", help="the post's words, written directly")]
TextFileOption = Annotated[Path | None, typer.Option("--text-file", help="a UTF-8 file holding the post's words")]
PlatformTextOption = Annotated[
    list[str] | None,
    typer.Option("--platform-text", help="PLATFORM=TEXT: other words for one platform (repeatable)"),
]
ReelOption = Annotated[bool, typer.Option("--reel", help="the video goes out as a Reel; refused if it does not fit")]
MediaOption = Annotated[list[int] | None, typer.Option("--media", help="media library id, in order (repeatable)")]


def written_text(text: str | None, text_file: Path | None) -> str | None:
    """The words given by --text or --text-file (one of them at most)."""
    if text is not None and text_file is not None:
        raise InputError(msg("error.text_and_text_file"), hint=msg("hint.text_or_template"), field="text")
    if text_file is None:
        return text
    from scheduler.posts.requests import read_text_file

    return read_text_file(text_file)


def platform_texts(pairs: list[str] | None) -> dict[str, Any]:
    from scheduler.posts.requests import PlatformText

    found: dict[str, PlatformText] = {}
    for pair in pairs or []:
        platform, sep, value = pair.partition("=")
        if not sep or not platform.strip():
            raise InputError(msg("error.platform_text_form", pair=pair), hint=msg("hint.platform_text_form"))
        found[platform.strip()] = PlatformText(text=value)
    return found


@post_app.command("add")
def post_add(
    ctx: typer.Context,
    channel: Annotated[list[str], typer.Option("--channel", help="channel id (repeatable)")],
    template: Annotated[str | None, typer.Option(help="template name")] = None,
    text: TextOption = None,
    text_file: TextFileOption = None,
    title: Annotated[str | None, typer.Option(help="article title, where posts have one")] = None,
    description: Annotated[str | None, typer.Option(help="article description, where posts have one")] = None,
    platform_text: PlatformTextOption = None,
    media: MediaOption = None,
    reel: Annotated[
        bool, typer.Option("--reel", help="the video goes out as a Reel; refused if it does not fit")
    ] = False,
    var: VarOption = None,
    at: Annotated[str | None, typer.Option(help="when: ISO 8601, or local time such as 2026-05-06T08:00")] = None,
    now: Annotated[bool, typer.Option("--now", help="publish as soon as possible")] = False,
    cover: Annotated[str | None, typer.Option(help="cover layout")] = None,
    campaign: Annotated[str | None, typer.Option(help="campaign slug")] = None,
    link: Annotated[str | None, typer.Option(help="link to attach")] = None,
    draft: Annotated[bool, typer.Option("--draft", help="save as a draft; `loa post submit` queues it")] = False,
    as_json: JsonOption = False,
) -> None:
    """Queue a post on one or more channels."""
    from scheduler.posts.requests import PostRequest, parse_when

    loa = ready(ctx)
    if (at is None) == (not now):
        raise InputError(msg("error.at_or_now"), hint=msg("hint.at_or_now"), field="at")
    variables = parse_variables(var)
    words = written_text(text, text_file)
    if template:
        loa.posts.check_variables(template, variables, cover)
    require_channels(ctx, loa, channel, "loa post add")  # --as: its unit's channels only
    request = PostRequest(
        template=template or "",
        channels=channel,
        variables=variables,
        at=parse_when(at, loa.settings) if at else None,
        campaign=campaign,
        link=link,
        cover=cover,
        created_by=acting_name(ctx, loa),
        draft=draft,
        text=words,
        title=title,
        description=description,
        overrides=platform_texts(platform_text),
        media=list(media or []),
        reel=reel,
    )
    prepared = loa.posts.prepare(request)
    (post_id,) = loa.posts.store([prepared])
    for warning in prepared.warnings:  # on stderr: --json keeps one document on stdout
        err.print(process_text("cli.warning", warning=warning))
    shown = loa.posts.show(post_id)
    if as_json:
        print_json(shown)
        return
    channels = ", ".join(p["channel"] for p in shown["publications"])
    when = local_time(shown["scheduled_at"], loa.settings)
    out.print(process_text("cli.post_queued", post=post_id, at=when, channels=channels))


@post_app.command("edit")
def post_edit(
    ctx: typer.Context,
    post_id: Annotated[int, typer.Argument(metavar="ID")],
    text: TextOption = None,
    text_file: TextFileOption = None,
    title: Annotated[str | None, typer.Option(help="article title, where posts have one")] = None,
    description: Annotated[str | None, typer.Option(help="article description, where posts have one")] = None,
    platform_text: PlatformTextOption = None,
    media: MediaOption = None,
    no_media: Annotated[bool, typer.Option("--no-media", help="remove every photo and video")] = False,
    channel: Annotated[list[str] | None, typer.Option("--channel", help="channel id (repeatable)")] = None,
    at: Annotated[str | None, typer.Option(help="when: ISO 8601, or local time such as 2026-05-06T08:00")] = None,
    link: Annotated[str | None, typer.Option(help="link to attach")] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a post that has not been claimed for publishing yet."""
    from scheduler.posts.requests import parse_when

    loa = ready(ctx)
    require_post(ctx, loa, post_id, f"post:{post_id}")
    require_channels(ctx, loa, channel or [], f"post:{post_id}")  # not moved to another unit's channel
    words = written_text(text, text_file)
    changes: dict[str, Any] = {}
    if words is not None:
        changes["text"] = words
        changes["template"] = ""
        changes["variables"] = {}
    for name, value in (("title", title), ("description", description), ("link", link)):
        if value is not None:
            changes[name] = value
    if platform_text:
        changes["overrides"] = platform_texts(platform_text)
    if media or no_media:
        changes["media"] = [] if no_media else list(media or [])
    if channel:
        changes["channels"] = list(channel)
    if at is not None:
        changes["at"] = parse_when(at, loa.settings)
    shown = loa.posts.edit(post_id, changes, actor=acting_name(ctx, loa))
    if as_json:
        print_json(shown)
        return
    out.print(process_text("cli.post_edited", post=post_id))


@post_app.command("duplicate")
def post_duplicate(
    ctx: typer.Context,
    post_id: Annotated[int, typer.Argument(metavar="ID")],
    at: Annotated[str | None, typer.Option(help="queue the copy at this time; without it, a draft")] = None,
    as_json: JsonOption = False,
) -> None:
    """A new post copied from ID: a draft, or queued with --at."""
    from scheduler.posts.requests import parse_when

    loa = ready(ctx)
    require_post(ctx, loa, post_id, f"post:{post_id}")
    when = parse_when(at, loa.settings) if at is not None else None
    new_id = loa.posts.duplicate(post_id, actor=acting_name(ctx, loa), at=when)
    shown = loa.posts.show(new_id)
    if as_json:
        print_json(shown)
        return
    out.print(process_text("cli.post_duplicated", post=new_id, source=post_id))


@post_app.command("import")
def post_import(
    ctx: typer.Context, file: Annotated[Path, typer.Argument(help="CSV or XLSX")], as_json: JsonOption = False
) -> None:
    """Queue many posts from a CSV/XLSX file: all rows, or none."""
    loa = ready(ctx)

    def same_unit(prepared: list[PreparedPost]) -> None:
        require_channels(ctx, loa, [c for p in prepared for c in p.request.channels], f"import:{file.name}")

    ids = loa.posts.import_file(
        file, created_by=acting_name(ctx, loa) if acting(ctx, loa) else "cli", before_store=same_unit
    )
    if as_json:
        print_json({"posts": [loa.posts.show(i) for i in ids]})
        return
    out.print(process_text("cli.posts_imported", count=len(ids), file=file.name, ids="#" + ", #".join(map(str, ids))))


@post_app.command("list")
def post_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="only posts with a publication in this status")] = None,
    campaign: Annotated[str | None, typer.Option(help="campaign slug")] = None,
    as_json: JsonOption = False,
) -> None:
    """Posts, newest first."""
    loa = ready(ctx)
    posts = loa.posts.list(status=status, campaign=campaign, within=cli_scope(ctx, loa))
    if as_json:
        print_json({"posts": posts})
        return
    lang = process_lang()
    table = Table(
        "#",
        *(
            process_text(h)
            for h in (
                N_("cli.col.at"),
                N_("cli.col.status"),
                N_("cli.col.template"),
                N_("cli.col.channels"),
                N_("cli.col.text"),
            )
        ),
    )
    for post in posts:
        channels_cell = " ".join(f"{p['channel']}:{status_label(lang, p['status'])}" for p in post["publications"])
        first_line = post["text"].splitlines()[0] if post["text"] else ""
        table.add_row(
            str(post["id"]),
            local_time(post["scheduled_at"], loa.settings),
            status_label(lang, post["status"]),
            post["template"],
            channels_cell,
            first_line[:60],
        )
    out.print(table)


@post_app.command("show")
def post_show(
    ctx: typer.Context, post_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonOption = False
) -> None:
    """One post with each publication's status, error, link and metrics."""
    loa = ready(ctx)
    require_post(ctx, loa, post_id, f"post:{post_id}")
    post = loa.posts.show(post_id)
    if as_json:
        print_json(post)
        return
    lang = process_lang()
    when = local_time(post["scheduled_at"], loa.settings)
    heading = process_text("cli.post_heading", post=post["id"], status=status_label(lang, post["status"]), at=when)
    if post["campaign"]:
        heading += " — " + process_text("cli.post_campaign", campaign=post["campaign"])
    out.print(f"[bold]{_escape(heading)}[/bold]", markup=True)
    write_text(post["text"] + "\n\n")
    columns = (
        N_("cli.col.channel"),
        N_("cli.col.status"),
        N_("cli.col.attempts"),
        N_("cli.col.published_at"),
        N_("cli.col.link"),
        N_("cli.col.views"),
        N_("cli.col.reach"),
        N_("cli.col.shares"),
        N_("cli.col.error"),
    )
    table = Table(*(process_text(c) for c in columns))
    for p in post["publications"]:
        m = p["metrics"]
        table.add_row(
            p["channel"],
            status_label(lang, p["status"]),
            str(p["attempts"]),
            local_time(p["published_at"], loa.settings),
            p["permalink"] or "",
            str(m["views"]),
            str(m["reach"]),
            str(m["shares"]),
            p["error"] or "",
        )
    out.print(table)


@post_app.command("cancel")
def post_cancel(ctx: typer.Context, post_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Cancel what has not been published yet."""
    loa = ready(ctx)
    require_post(ctx, loa, post_id, f"post:{post_id}")
    post = loa.posts.cancel(post_id)
    lang = process_lang()
    states = ", ".join(f"{p['channel']} {status_label(lang, p['status'])}" for p in post["publications"])
    out.print(process_text("cli.post_cancelled", post=post_id, states=states))


PostId = Annotated[int, typer.Argument(metavar="ID", help="post id")]


PublicationId = Annotated[int, typer.Argument(metavar="PUBLICATION", help="publication id (see `loa post show`)")]


def _print_post(post: dict[str, Any], as_json: bool, message: str) -> None:
    if as_json:
        print_json(post)
    else:
        lang = process_lang()
        out.print(
            message
            + " "
            + ", ".join(f"{p['channel']}: {status_label(lang, p['status'])}" for p in post["publications"])
        )


@post_app.command("submit")
def post_submit(ctx: typer.Context, post_id: PostId, as_json: JsonOption = False) -> None:
    """Queue a draft (channels that need approval wait for it)."""
    loa = ready(ctx)
    require_post(ctx, loa, post_id, f"post:{post_id}")
    post = loa.posts.submit(post_id, actor=acting_name(ctx, loa))
    _print_post(post, as_json, process_text("cli.post_line", post=post_id))


@post_app.command("approve")
def post_approve(
    ctx: typer.Context,
    post_id: PostId,
    channel: Annotated[list[str] | None, typer.Option("--channel", help="only these channels")] = None,
    by: Annotated[str | None, typer.Option("--by", help="the approver's name, for the audit log")] = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a post waiting for approval (not by its author)."""
    loa = ready(ctx)
    scope = cli_scope(ctx, loa)
    if scope is not None:
        # An approver of a unit approves its own channels' publications; the rest wait for others.
        require_channels(ctx, loa, channel or [], f"post:{post_id}")
        mine = [p["channel"] for p in loa.posts.show(post_id)["publications"] if p["channel"] in scope]
        require_channels(ctx, loa, [] if mine else ["(none)"], f"post:{post_id}")
        channel = [c for c in (channel or mine) if c in scope]
    who = acting_name(ctx, loa) if acting(ctx, loa) else (f"cli:{by}" if by else actor())
    post = loa.posts.approve(post_id, actor=who, channels=channel)
    _print_post(post, as_json, process_text("cli.post_approved", post=post_id))


@post_app.command("send-back")
def post_send_back(
    ctx: typer.Context,
    post_id: PostId,
    reason: Annotated[str, typer.Option(help="why, for the author")],
    as_json: JsonOption = False,
) -> None:
    """Return a post waiting for approval to its author as a draft."""
    loa = ready(ctx)
    require_post(ctx, loa, post_id, f"post:{post_id}")
    post = loa.posts.send_back(post_id, actor=acting_name(ctx, loa), reason=reason)
    _print_post(post, as_json, process_text("cli.post_sent_back", post=post_id))


@post_app.command("reschedule")
def post_reschedule(
    ctx: typer.Context,
    post_id: PostId,
    at: Annotated[str, typer.Option(help="new time: ISO 8601, or local time")],
    as_json: JsonOption = False,
) -> None:
    """Move what has not gone out yet to a new time."""
    from scheduler.posts.requests import parse_when

    loa = ready(ctx)
    require_post(ctx, loa, post_id, f"post:{post_id}")
    post = loa.posts.reschedule(post_id, parse_when(at, loa.settings), actor=acting_name(ctx, loa))
    moved = process_text("cli.post_moved", post=post_id, at=local_time(post["scheduled_at"], loa.settings))
    _print_post(post, as_json, moved)


@post_app.command("retry")
def post_retry(ctx: typer.Context, publication_id: PublicationId, as_json: JsonOption = False) -> None:
    """Queue a failed, missed or blocked publication again, now."""
    loa = ready(ctx)
    require_publication(ctx, loa, publication_id, f"publication:{publication_id}")
    _print_post(loa.posts.retry(publication_id, actor=acting_name(ctx, loa)), as_json, process_text("cli.requeued"))


@post_app.command("confirm")
def post_confirm(
    ctx: typer.Context,
    publication_id: PublicationId,
    published: Annotated[bool, typer.Option("--published/--absent", help="is the post on the page?")],
    permalink: Annotated[str | None, typer.Option(help="its address on the platform")] = None,
    as_json: JsonOption = False,
) -> None:
    """Settle an unknown outcome after checking the page: --published, or --absent to publish again."""
    loa = ready(ctx)
    require_publication(ctx, loa, publication_id, f"publication:{publication_id}")
    post = loa.posts.confirm(publication_id, actor=acting_name(ctx, loa), published=published, permalink=permalink)
    _print_post(post, as_json, process_text("cli.confirmed"))
