"""Compose: template, variables as fields, channels, local date and time, cover; preview; save.

Everything is checked by ``PostService.prepare`` — the same rules and messages as
`loa post add` — and a failed check stores nothing: the form comes back with what was typed
and each message next to its field. The preview is rendered on the server by the same
``prepare`` (writing nothing); ``console.js`` only asks for it again while someone types.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scheduler.auth import may_manage_post
from scheduler.bounds import parse_id
from scheduler.channels.registry import publisher_class
from scheduler.config import ChannelSettings
from scheduler.errors import InputError, NotFound
from scheduler.i18n import N_, msg
from scheduler.library.editing import campaigns as campaign_rows
from scheduler.models import utcnow
from scheduler.posts.requests import PlatformText, PostRequest, PreparedPost, parse_when
from scheduler.posts.service import platform_limits
from scheduler.publishing.outcomes import Event, may
from scheduler.web.pages import Console, Ctx

if TYPE_CHECKING:
    from scheduler.render.covers import CoverRenderer

PREVIEW_COVERS_KEPT = 48
# Variables a cover fills from the message when left empty (PostService does the same).
FROM_MESSAGE = {"title", "description"}
ERROR_FIELDS = {
    "at": "at",
    "date": "at",
    "time": "at",
    "channels": "channels",
    "channel": "channels",
    "template": "template",
    "campaign": "campaign",
    "link": "link",
    "cover": "cover",
    "target": "cover",
    "platform": "cover",
    "text": "text",
    "title": "title",
    "description": "description",
    "media": "media",
    "file": "media",
}


class PreviewCovers:
    """Recently rendered preview covers, served back by content hash (memory only, bounded)."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, image: bytes) -> str:
        key = hashlib.sha256(image).hexdigest()[:40]
        with self._lock:
            self._items[key] = image
            self._items.move_to_end(key)
            while len(self._items) > PREVIEW_COVERS_KEPT:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._items.get(key)


@dataclass
class ComposeForm:
    """What the person typed, kept as typed, and what it means."""

    template: str
    campaign: str
    channels: list[str]
    variables: dict[str, str]
    date: str
    time: str
    now: bool
    cover: str
    link: str
    post_id: int | None
    errors: dict[str, str] = field(default_factory=dict)
    # The post's own words (a template, when chosen, fills them: "fill"), and per platform.
    text: str = ""
    title: str = ""
    description: str = ""
    overrides: dict[str, str] = field(default_factory=dict)
    media: list[int] = field(default_factory=list)
    # Opened on a draft: saving it must not change a post queued from another tab meanwhile.
    opened_draft: bool = False


def routes(console: Console) -> list[BaseRoute]:
    covers = PreviewCovers()

    def compose_page(ctx: Ctx) -> Response:
        return compose(ctx, covers)

    def preview_page(ctx: Ctx) -> Response:
        return preview(ctx, covers)

    def cover_image(ctx: Ctx) -> Response:
        image = covers.get(ctx.request.path_params["key"])
        if image is None:
            raise NotFound(msg("error.preview_gone"))
        return Response(image, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})

    return [
        Route("/compose", console.page("posts.compose", csrf="page")(compose_page), methods=["GET", "POST"]),
        Route("/compose/preview", console.page("posts.compose", csrf="page")(preview_page), methods=["POST"]),
        Route("/compose/cover/{key}.jpg", console.page("posts.compose")(cover_image)),
    ]


def _cover_renderer(ctx: Ctx) -> CoverRenderer | None:
    try:
        return ctx.loa.posts.covers
    except (ImportError, AttributeError):  # a tree without cover support still composes text
        return None


def _layouts(ctx: Ctx) -> list[dict[str, Any]]:
    renderer = _cover_renderer(ctx)
    if renderer is None:
        return []
    found = []
    for name in renderer.names():
        try:
            found.append(renderer.describe(name))
        except InputError:  # one broken layout must not hide the others
            continue
    return found


def _fields(ctx: Ctx, template: str, cover: str) -> tuple[list[str], list[str]]:
    """The template's variables, and the cover's that the template does not already ask for."""
    message_vars: list[str] = []
    try:
        message_vars = ctx.loa.renderer.variables(template) if template else []
    except InputError:
        message_vars = []
    cover_vars: list[str] = []
    renderer = _cover_renderer(ctx)
    if cover and renderer is not None:
        try:
            cover_vars = [v for v in renderer.variables(cover) if v not in message_vars]
        except InputError:
            cover_vars = []
    return message_vars, cover_vars


def offered(ctx: Ctx) -> list[ChannelSettings]:
    """The channels this account may compose for: live (not archived) ones of its unit."""
    scope = ctx.scope
    return [c for c in ctx.loa.settings.channels if not c.archived and (scope is None or c.id in scope)]


def _default_form(ctx: Ctx) -> ComposeForm:
    settings = ctx.loa.settings
    templates = ctx.loa.renderer.names()
    tomorrow = (utcnow().astimezone(settings.tz) + timedelta(days=1)).date()
    chosen = ctx.query.get("template", "")
    return ComposeForm(
        template=chosen if chosen in templates else "",
        campaign="",
        channels=[c.id for c in offered(ctx)],
        variables={},
        date=tomorrow.strftime("%d/%m/%Y"),
        time="08:00",
        now=False,
        cover="",
        link="",
        post_id=None,
    )


def _form_from_post(ctx: Ctx, post: dict[str, Any]) -> ComposeForm:
    local = datetime.fromisoformat(post["scheduled_at"]).astimezone(ctx.loa.settings.tz)
    words = post.get("words") or {}
    return ComposeForm(
        text=words.get("text") or "",
        title=words.get("title") or "",
        description=words.get("description") or "",
        overrides={k: v.get("text") or "" for k, v in (words.get("overrides") or {}).items()},
        media=[m["id"] for m in post.get("media", [])],
        template=post["template"],
        campaign=post["campaign"] or "",
        channels=[p["channel"] for p in post["publications"]],
        variables={str(k): str(v) for k, v in post["variables"].items()},
        date=local.strftime("%d/%m/%Y"),
        time=local.strftime("%H:%M"),
        now=False,
        cover=post.get("cover_layout") or "",
        link=post["link"] or "",
        post_id=post["id"],
        opened_draft=all(p["status"] == "draft" for p in post["publications"]),
    )


def _form_from_request(ctx: Ctx) -> ComposeForm:
    form = ctx.form
    post_id = form.get("post", "")
    return ComposeForm(
        template=form.get("template", "").strip(),
        campaign=form.get("campaign", "").strip(),
        channels=[c for c in ctx.form_lists.get("channels", []) if c],
        variables={k.removeprefix("var_"): v for k, v in form.items() if k.startswith("var_")},
        date=form.get("date", "").strip(),
        time=form.get("time", "").strip(),
        now=form.get("now") == "1",
        cover=form.get("cover", "").strip(),
        link=form.get("link", "").strip(),
        post_id=parse_id(post_id),
        text=form.get("text", ""),
        title=form.get("title", "").strip(),
        description=form.get("description", "").strip(),
        overrides={
            k.removeprefix("own_"): v for k, v in form.items() if k.startswith("own_") and v.strip()
        },
        media=[i for i in (parse_id(v) for v in ctx.form_lists.get("media", [])) if i is not None],
        opened_draft=form.get("opened") == "draft",
    )


def _request(ctx: Ctx, form: ComposeForm, *, draft: bool, for_preview: bool = False) -> PostRequest:
    """The PostRequest the form describes; a bad date or time raises InputError(field='at')."""
    message_vars, cover_vars = _fields(ctx, form.template, form.cover)
    wanted = set(message_vars) | set(cover_vars)
    # Empty fields are left out, as in `loa post add` without --var: the template decides.
    variables = {k: v for k, v in form.variables.items() if k in wanted and v.strip()}
    at = None
    if not form.now and not for_preview:
        if not form.date or not form.time:
            raise InputError(msg("error.when_or_now"), hint=msg("hint.date_time_format"), field="at")
        at = parse_when(f"{form.date} {form.time}", ctx.loa.settings)
    written = bool(form.text.strip()) or not form.template
    return PostRequest(
        template="" if written else form.template,
        text=form.text if written else None,
        title=form.title or None,
        description=form.description or None,
        overrides={name: PlatformText(text=text) for name, text in form.overrides.items()},
        media=list(form.media),
        channels=list(form.channels)
        if not for_preview
        else (form.channels or [c.id for c in offered(ctx)]),
        variables=variables if not written else {},
        at=at,
        campaign=form.campaign or None,
        link=form.link or None,
        cover=form.cover or None,
        created_by=ctx.user.username,
        draft=draft,
    )


def _place_error(form: ComposeForm, exc: InputError, text: str) -> None:
    name = exc.field or ""
    message_field = ERROR_FIELDS.get(name)
    if message_field is None:
        message_field = f"var_{name}" if name else "form"
    form.errors.setdefault(message_field, text)


def _preview(ctx: Ctx, form: ComposeForm, covers: PreviewCovers) -> dict[str, Any]:
    """Render what each channel would get; errors go to ``form.errors`` as the CLI words them."""
    if not form.template and not form.text.strip():
        return {"cards": []}
    prepared: PreparedPost | None = None
    try:
        prepared = ctx.loa.posts.prepare(_request(ctx, form, draft=True, for_preview=True))
    except InputError as exc:
        _place_error(form, exc, ctx.error_text(exc))
    if prepared is None:
        return {"cards": []}
    settings = ctx.loa.settings
    items = ctx.loa.media.items(list(form.media)) if form.media else []
    photos = [f"/media/{m.thumbnail or m.file}" for m in items if m.kind.value == "photo"]
    video = next((m.original_name for m in items if m.kind.value == "video"), None)
    cards = []
    for channel_id, message in prepared.messages.items():
        channel = settings.channel(channel_id)
        limits = platform_limits(channel.platform)
        image_url = None
        if channel_id in prepared.covers:
            image_url = f"/compose/cover/{covers.put(prepared.covers[channel_id])}.jpg"
        elif (
            publisher_class(channel.platform).cover_by_url
            and channel.default_cover
            and not channel.default_cover.startswith("http")
        ):
            # The platform fetches the channel's default cover when a post has none.
            image_url = f"/assets/{channel.default_cover}"
        cards.append(
            {
                "channel": channel,
                "text": message.text,
                "title": message.title,
                "description": message.description,
                "length": len(message.text),
                "limit": limits.max_text_length,
                "image": image_url,
                "photos": photos,
                "video": video,
            }
        )
    return {"cards": cards, "warnings": [w.render(ctx.lang) for w in prepared.warnings]}


def _view(ctx: Ctx, form: ComposeForm, covers: PreviewCovers, *, status: int = 200, quiet: bool = False) -> Response:
    """The compose page; ``quiet`` previews what it can without flagging fields nobody filled in yet."""
    message_vars, cover_vars = _fields(ctx, form.template, form.cover)
    settings = ctx.loa.settings
    shown_errors = dict(form.errors)
    preview = _preview(ctx, form, covers)
    if quiet:
        form.errors = shown_errors
    needs_approval = [c.id for c in settings.channels if c.approval]
    summary, hints = template_notes(ctx, form.template)
    # The template's own order (its "Biến:" comment) reads better than the alphabet.
    order = list(hints)
    message_vars.sort(key=lambda name: order.index(name) if name in order else len(order))
    return ctx.render(
        "console/compose.html",
        status=status,
        form=form,
        template_summary=summary,
        var_hints=hints,
        all_errors=False,
        templates=ctx.loa.renderer.names(),
        # Campaigns from the database: config.toml's (synced by `loa init`) and the console's.
        campaigns=[(c.slug, c.name) for c in campaign_rows(ctx.loa.engine)],
        channels=offered(ctx),
        layouts=_layouts(ctx),
        message_vars=message_vars,
        cover_vars=cover_vars,
        from_message=FROM_MESSAGE,
        preview=preview,
        approval_needed=bool(set(form.channels) & set(needs_approval)),
        timezone=settings.timezone,
        chosen_media=ctx.loa.media.items(list(form.media)) if form.media else [],
        library=ctx.loa.media.list(limit=60),
        channel_platforms=sorted({c.platform for c in settings.channels}),
        titled=any(publisher_class(c.platform).max_title_length for c in settings.channels),
    )


def compose(ctx: Ctx, covers: PreviewCovers) -> Response:
    if ctx.request.method == "GET":
        post_param = ctx.query.get("post", "")
        if post_param:
            asked = parse_id(post_param)
            if asked is None:
                raise NotFound(msg("error.no_such_post", value=post_param))
            draft = ctx.loa.posts.show(asked, lang=ctx.lang)
            try:
                _check_editable(ctx, draft)
            except InputError:
                return ctx.redirect(f"/posts/{draft['id']}")
            return _view(ctx, _form_from_post(ctx, draft), covers)
        return _view(ctx, _default_form(ctx), covers, quiet=True)
    form = _form_from_request(ctx)
    action = ctx.form.get("action", "preview")
    if not ctx.csrf_valid:
        # Stale form (a new tab logged in again, or it sat open too long): keep everything, save nothing.
        form.errors["form"] = ctx.t("form.stale")
        return _view(ctx, form, covers, status=400)
    if action == "fill":
        _fill_from_template(ctx, form)
        return _view(ctx, form, covers, quiet=True)
    if action not in {"draft", "queue"}:
        # "switch" loads another template's or layout's fields: nothing to flag before they are filled.
        return _view(ctx, form, covers, quiet=action == "switch")
    post: dict[str, Any] | None = None
    try:
        if form.post_id is not None:
            post = ctx.loa.posts.show(form.post_id, lang=ctx.lang)
            # It may have been submitted or approved since the form was opened: say so beside
            # the form, which keeps what was typed.
            _check_editable(ctx, post)
            if form.opened_draft and any(p["status"] != "draft" for p in post["publications"]):
                raise _not_editable(post)
        request = _request(ctx, form, draft=True if post is not None else action == "draft")
        # An editor of a unit composes for that unit's channels only (403, audited).
        ctx.require_channels(request.channels, "POST /compose")
        if post is not None and any(p["status"] != "draft" for p in post["publications"]):
            # A queued (or failed) post not yet claimed: changed in place, queued again.
            post_id = form.post_id or 0
            ctx.loa.posts.edit(post_id, _changes(request), actor=ctx.user.username)
        elif post is not None:
            ctx.loa.posts.update_draft(form.post_id or 0, request, actor=ctx.user.username)
            post_id = form.post_id or 0
            if action == "queue":
                ctx.loa.posts.submit(post_id, actor=ctx.user.username)
        else:
            post_id = ctx.loa.posts.add(request)
    except InputError as exc:
        _place_error(form, exc, ctx.error_text(exc))
        return _view(ctx, form, covers, status=400)
    return ctx.redirect(f"/posts/{post_id}", done="saved_draft" if action == "draft" else "queued")


def _check_editable(ctx: Ctx, post: dict[str, Any]) -> None:
    ctx.require(
        may_manage_post(ctx.user, post["created_by"]),
        f"post:{post['id']}",
        N_("audit_reason.not_author"),
        author=post["created_by"],
    )
    if not any(may(p["status"], Event.edited) for p in post["publications"]) or any(
        p["status"] in ("publishing", "unknown") for p in post["publications"]
    ):
        raise _not_editable(post)


def _not_editable(post: dict[str, Any]) -> InputError:
    refused = msg("error.post_not_editable", post=post["id"], states=[
        msg("error.channel_status", channel=p["channel"], status=msg(f"status.{p['status']}"))
        for p in post["publications"]
    ])  # fmt: skip
    return InputError(refused, hint=msg("hint.post_not_editable"), field="form")


def _changes(request: PostRequest) -> dict[str, Any]:
    """Everything the form says, as the changes of an edit."""
    return {
        name: getattr(request, name)
        for name in (
            "template", "text", "title", "description", "overrides", "media", "variables", "channels", "at",
            "campaign", "link", "cover",
        )
    }  # fmt: skip


def _fill_from_template(ctx: Ctx, form: ComposeForm) -> None:
    """The chosen template, rendered with the fields filled in, becomes the text to edit."""
    if not form.template:
        return
    try:
        request = _request(ctx, dataclasses.replace(form, text=""), draft=True, for_preview=True)
        prepared = ctx.loa.posts.prepare(request)
    except InputError as exc:
        _place_error(form, exc, ctx.error_text(exc))
        return
    first = next(iter(prepared.messages.values()))
    form.text = first.text
    form.title = form.title or (next((m.title for m in prepared.messages.values() if m.title), None) or "")
    form.template = ""
    form.variables = {}


def preview(ctx: Ctx, covers: PreviewCovers) -> Response:
    form = _form_from_request(ctx)
    if not ctx.csrf_valid:
        return ctx.render(
            "console/_preview.html", status=403, preview={"cards": []}, form=form, stale=True, all_errors=True
        )
    result = _preview(ctx, form, covers)
    return ctx.render("console/_preview.html", preview=result, form=form, stale=False, all_errors=True)


_NOTE = re.compile(r"\{#\s*(.*?)\s*#\}", re.S)
_VAR_NOTE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(([^)]*)\)")


def template_notes(ctx: Ctx, name: str) -> tuple[str, dict[str, str]]:
    """What a template's opening comments say: its purpose, and a hint per variable.

    The shipped templates start with ``{# purpose #}`` and ``{# Biến: name (hint), … #}``;
    a template without them simply gets no hints.
    """
    if name not in ctx.loa.renderer.names():
        return "", {}
    try:
        source = (ctx.loa.renderer.folder / f"{name}.j2").read_text(encoding="utf-8")
    except OSError:
        return "", {}
    summary, hints = "", {}
    for comment in _NOTE.findall(source[:2000]):
        text = " ".join(comment.split())
        label, sep, rest = text.partition(":")
        if sep and label.strip().lower() in {"biến", "bien", "variables"}:
            hints.update({m[1]: m[2].strip() for m in _VAR_NOTE.finditer(rest)})
        elif not summary:
            summary = text
    return summary, hints
