"""`loa render …`: a message or covers drawn without queueing anything."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scheduler.cli.support import (
    JsonOption,
    VarOption,
    check_output,
    err,
    loa_app,
    out,
    parse_variables,
    print_json,
    write_output,
    write_text,
)
from scheduler.errors import InputError
from scheduler.i18n import msg, process_text

if TYPE_CHECKING:
    from scheduler.render.covers import CoverRenderer


render_app = typer.Typer(help="Render a message (or a cover) without queueing.", no_args_is_help=True)


@render_app.command("message")
def render_message(
    ctx: typer.Context,
    template: Annotated[str, typer.Option(help="template name (templates/messages/NAME.j2)")],
    var: VarOption = None,
    platform: Annotated[str, typer.Option(help="facebook or zalo")] = "facebook",
    campaign: Annotated[str | None, typer.Option(help="campaign slug")] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the rendered text (and Zalo's title and description)."""
    from scheduler.channels.registry import registry
    from scheduler.posts.service import platform_limits

    loa = loa_app(ctx)
    if platform not in registry():
        raise InputError(
            msg("error.unknown_platform", platform=platform),
            hint=msg("hint.one_of", choices=", ".join(registry())),
            field="platform",
        )
    campaign_vars: dict[str, str] = {}
    if campaign:
        loa.init()
        row = loa.posts._campaign(campaign)
        assert row is not None
        campaign_vars = {"slug": row.slug, "name": row.name, "theme": row.theme}
    from scheduler.posts.requests import refuse_unused_variables

    variables = parse_variables(var)
    refuse_unused_variables(variables, loa.renderer.variables(template), template=template)
    message = loa.renderer.render(
        template, variables, platform=platform, limits=platform_limits(platform), campaign=campaign_vars
    )
    if as_json:
        print_json(
            {"platform": platform, "text": message.text, "title": message.title, "description": message.description}
        )
        return
    if message.title:
        title, description = process_text("cli.render_title"), process_text("cli.render_description")
        out.print(f"[bold]{title}[/bold] {message.title}", markup=True)
        out.print(f"[bold]{description}[/bold] {message.description}\n", markup=True)
    write_text(message.text + "\n")


CoverTargetOption = Annotated[
    str, typer.Option("--platform", help="canvas: facebook (1200×630), square (1080×1080) or zalo (1280×720)")
]


LayoutOption = Annotated[str, typer.Option("--layout", help="cover layout (templates/covers/NAME.toml)")]


CampaignOption = Annotated[str | None, typer.Option("--campaign", help="campaign slug from config.toml")]


def cover_renderer(ctx: typer.Context) -> CoverRenderer:
    from scheduler.render.covers import CoverRenderer

    settings = loa_app(ctx).settings
    return CoverRenderer(settings.templates_path, settings.assets_path)


def _campaignparse_variables(ctx: typer.Context, slug: str | None) -> dict[str, str]:
    """A campaign's fields for cover texts, from config.toml: no database needed to draw."""
    if slug is None:
        return {}
    settings = loa_app(ctx).settings
    for campaign in settings.campaigns:
        if campaign.slug == slug:
            return {"slug": campaign.slug, "name": campaign.name, "theme": campaign.theme}
    known = ", ".join(c.slug for c in settings.campaigns) or "—"
    raise InputError(
        msg("error.unknown_campaign", campaign=slug), hint=msg("hint.known_campaigns", known=known), field="campaign"
    )


def _check_target(renderer: CoverRenderer, layout: str, platform: str) -> None:
    targets = renderer.targets(layout)
    if platform not in targets:
        raise InputError(
            msg("error.layout_has_no_canvas", layout=layout, platform=platform),
            hint=msg("hint.use_platform", choices=" | ".join(targets)),
            field="platform",
        )


@render_app.command("cover")
def render_cover(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write: .jpg or .png")],
    layout: LayoutOption = "default",
    var: VarOption = None,
    platform: CoverTargetOption = "facebook",
    campaign: CampaignOption = None,
) -> None:
    """Write one cover image (the default layout takes title and subtitle)."""
    from scheduler.render.covers import max_bytes_for

    suffix = output.suffix.lower().lstrip(".")
    if suffix not in {"jpg", "jpeg", "png"}:
        raise InputError(msg("error.image_format_from_name", file=output.name), hint=msg("hint.name_jpg_or_png"))
    check_output(output, make_parents=True)
    renderer = cover_renderer(ctx)
    _check_target(renderer, layout, platform)
    from scheduler.posts.requests import refuse_unused_variables

    variables = parse_variables(var)
    refuse_unused_variables(variables, renderer.variables(layout), template=layout)
    data = renderer.render(
        layout,
        variables,
        target=platform,
        campaign=_campaignparse_variables(ctx, campaign),
        fmt=suffix,
        max_bytes=max_bytes_for(platform, suffix),
    )
    write_output(output, data)
    width, height = renderer.describe(layout)["targets"][platform]
    out.print(
        process_text("cli.cover_written", file=str(output), width=width, height=height, kb=round(len(data) / 1024))
    )


@render_app.command("covers")
def render_covers(
    ctx: typer.Context,
    csv_file: Annotated[Path, typer.Option("--csv", help="CSV (UTF-8): one cover per row, columns = variables")],
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for 0001.jpg, 0002.jpg, …")],
    layout: LayoutOption = "default",
    fmt: Annotated[str, typer.Option("--format", help="jpg or png")] = "jpg",
    platform: CoverTargetOption = "facebook",
    campaign: CampaignOption = None,
    jobs: Annotated[int | None, typer.Option("--jobs", min=1, help="worker processes (default: all cores)")] = None,
) -> None:
    """Write one cover per CSV row, on every core; all rows are checked before any is written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from scheduler.render.batch import BatchJob, read_rows, render_batch
    from scheduler.render.images import normalise_format

    if fmt.lower() not in {"jpg", "jpeg", "png"}:
        raise InputError(msg("error.unknown_image_format", format=fmt), hint=msg("hint.format_jpg_png"), field="format")
    check_output(output, folder=True)
    settings = loa_app(ctx).settings
    renderer = cover_renderer(ctx)
    _check_target(renderer, layout, platform)
    rows = read_rows(csv_file)
    job = BatchJob(
        templates_dir=settings.templates_path,
        assets_dir=settings.assets_path,
        layout=layout,
        target=platform,
        fmt=normalise_format(fmt),
        campaign=_campaignparse_variables(ctx, campaign),
    )
    labels = {"check": "Kiểm tra", "render": "Vẽ ảnh bìa"}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    ) as bar:
        tasks = {phase: bar.add_task(label, total=len(rows)) for phase, label in labels.items()}
        files = render_batch(
            job,
            rows,
            output,
            workers=jobs,
            progress=lambda phase, done, total: bar.update(tasks[phase], completed=done),
            source=csv_file.name,
        )
    out.print(
        process_text(
            "cli.covers_written", count=len(files), folder=str(output), first=files[0].name, last=files[-1].name
        )
    )
