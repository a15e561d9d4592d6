"""Templates and campaigns in the console: list, edit with a check and a preview, save.

Who may is the permission table's: ``templates.manage`` (admins and editors write templates)
and ``campaigns.manage`` (admins). A refusal keeps what was typed, with the message (and its
line) beside the field.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scheduler.errors import InputError
from scheduler.formatting import parse_date
from scheduler.i18n import msg
from scheduler.library.editing import (
    TemplatePreview,
    campaigns,
    check_template,
    preview_template,
    save_campaign,
    save_template,
)
from scheduler.render.messages import TEMPLATE_SUFFIX
from scheduler.web.pages import Console, Ctx


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/templates", console.page("templates.manage")(templates_page)),
        Route("/templates/edit", console.page("templates.manage", csrf="page")(template_edit), methods=["GET", "POST"]),
        Route("/campaigns", console.page("campaigns.manage", csrf="page")(campaigns_page), methods=["GET", "POST"]),
        Route("/library", console.page("posts.compose")(media_page)),
        Route("/media/{media_id:int}/{action}", console.page("posts.compose")(media_action), methods=["POST"]),
    ]


def media_page(ctx: Ctx, *, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    return ctx.render("console/media.html", status=status, items=ctx.loa.media.list(), errors=errors or {})


def media_action(ctx: Ctx) -> Response:
    """A library item's description changed, or the item removed (refused while a post shows it)."""
    media_id = ctx.path_int("media_id")
    action = ctx.request.path_params["action"]
    try:
        if action == "alt":
            ctx.loa.media.set_alt(media_id, ctx.form.get("alt", ""), actor=ctx.user.username)
        elif action == "delete":
            ctx.loa.media.delete(media_id, actor=ctx.user.username)
        else:
            return media_page(ctx, status=404)
    except InputError as exc:
        return media_page(ctx, errors={f"media-{media_id}": ctx.error_text(exc)}, status=400)
    return ctx.redirect("/library", done="media_saved")


def templates_page(ctx: Ctx) -> Response:
    return ctx.render("console/templates.html", names=ctx.loa.renderer.names())


def template_edit(ctx: Ctx) -> Response:
    renderer = ctx.loa.renderer
    errors: dict[str, str] = {}
    preview: TemplatePreview | None = None
    if ctx.request.method == "GET":
        name = ctx.query.get("name", "")
        source = ""
        if name in renderer.names():
            source = (renderer.folder / f"{name}{TEMPLATE_SUFFIX}").read_text(encoding="utf-8")
        values: dict[str, str] = {}
    else:
        name = ctx.form.get("name", "").strip()
        source = ctx.form.get("source", "")
        values = {k.removeprefix("var_"): v for k, v in ctx.form.items() if k.startswith("var_")}
        if not ctx.csrf_valid:
            errors["form"] = ctx.t("form.stale")
        else:
            try:
                if ctx.form.get("action") == "save":
                    save_template(renderer, name, source, engine=ctx.loa.engine, actor=ctx.user.username)
                    return ctx.redirect(f"/templates/edit?name={name}", done="template_saved")
                preview = preview_template(renderer, name, source, values)
            except InputError as exc:
                # The full wording, not the compose form's short one: the editor needs the line.
                errors[exc.field if exc.field in {"name", "source"} else "source"] = _full(ctx, exc)
    variables: list[str] = []
    if source:
        try:
            variables = check_template(renderer, name or "mau-moi", source)
        except InputError as exc:
            errors.setdefault("source", _full(ctx, exc))
    return ctx.render(
        "console/template_edit.html",
        status=400 if errors else 200,
        name=name,
        source=source,
        values=values,
        variables=variables,
        errors=errors,
        preview=preview,
    )


def _full(ctx: Ctx, exc: InputError) -> str:
    return msg(exc.msgid, **exc.params).render(ctx.lang)


def campaigns_page(ctx: Ctx) -> Response:
    errors: dict[str, str] = {}
    typed: dict[str, Any] = {}
    if ctx.request.method == "POST":
        typed = dict(ctx.form)
        if not ctx.csrf_valid:
            errors["form"] = ctx.t("form.stale")
        else:
            try:
                save_campaign(
                    ctx.loa.engine,
                    slug=typed.get("slug", "").strip(),
                    name=typed.get("name", ""),
                    theme=typed.get("theme", ""),
                    starts_on=_day(typed.get("starts_on", ""), "starts_on"),
                    ends_on=_day(typed.get("ends_on", ""), "ends_on"),
                    actor=ctx.user.username,
                )
                return ctx.redirect("/campaigns", done="campaign_saved")
            except InputError as exc:
                errors[exc.field or "form"] = ctx.error_text(exc)
    return ctx.render(
        "console/campaigns.html",
        status=400 if errors else 200,
        rows=campaigns(ctx.loa.engine),
        typed=typed,
        errors=errors,
    )


def _day(value: str, field: str) -> Any:
    return parse_date(value.strip(), field=field) if value.strip() else None
