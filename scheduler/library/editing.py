"""Message templates and campaigns as the console edits them.

A template is saved where ``loa templates`` and every post find it
(``templates/messages/NAME.j2``), written whole to a temporary file and renamed, and only
after it parsed in the same sandboxed Jinja the posts render with (a syntax error names its
line). Its preview renders it for every platform with values typed beside it; a variable left
without a value is named with its line, as ``loa post add`` names it. Campaigns are rows
(``loa init`` still adds and updates those of ``config.toml``).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError
from sqlmodel import select

from scheduler.audit import record
from scheduler.channels.registry import registry
from scheduler.errors import InputError, TemplateError
from scheduler.i18n import msg
from scheduler.models import Campaign
from scheduler.posts.service import platform_limits
from scheduler.render.messages import TEMPLATE_SUFFIX, MessageRenderer, RenderedMessage, nfc
from scheduler.store import session_scope

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_TEMPLATE_CHARS = 20_000


@dataclass(frozen=True)
class TemplatePreview:
    variables: list[str]
    messages: dict[str, RenderedMessage]  # platform → rendered


def check_template(renderer: MessageRenderer, name: str, source: str) -> list[str]:
    """The variables the source reads; refused (with the line) when it does not parse."""
    if not NAME.match(name):
        raise InputError(msg("error.template_name", name=name), hint=msg("hint.template_name"), field="name")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise InputError(msg("error.template_too_long", limit=MAX_TEMPLATE_CHARS), field="source")
    from jinja2 import meta

    try:
        parsed = renderer.env.parse(nfc(source))
    except TemplateSyntaxError as exc:
        raise TemplateError(
            msg("error.template_syntax", template=f"{name}{TEMPLATE_SUFFIX}", line=exc.lineno, reason=exc.message),
            hint=msg("hint.template_syntax"),
            field="source",
        ) from None
    return sorted(meta.find_undeclared_variables(parsed) - {"platform", "campaign", "now"})


def preview_template(renderer: MessageRenderer, name: str, source: str, values: Mapping[str, str]) -> TemplatePreview:
    """The source rendered for every platform with ``values`` (nothing is written)."""
    variables = check_template(renderer, name, source)
    # Rendered from a scratch folder by a renderer like the posts' own: the saved file is untouched.
    with tempfile.TemporaryDirectory(prefix="loa-template-") as folder:
        messages_dir = Path(folder) / "messages"
        messages_dir.mkdir()
        (messages_dir / f"{name}{TEMPLATE_SUFFIX}").write_text(nfc(source), encoding="utf-8")
        scratch = MessageRenderer(Path(folder))
        given = {k: v for k, v in values.items() if k in variables and v.strip()}
        messages = {
            platform: scratch.render(name, given, platform=platform, limits=platform_limits(platform))
            for platform in registry()
        }
    return TemplatePreview(variables=variables, messages=messages)


def save_template(renderer: MessageRenderer, name: str, source: str, *, engine: Any, actor: str) -> None:
    check_template(renderer, name, source)
    folder = renderer.folder
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}{TEMPLATE_SUFFIX}"
    temporary = target.with_name(f".{target.name}.part")
    temporary.write_text(nfc(source).replace("\r\n", "\n"), encoding="utf-8")
    temporary.replace(target)  # never a half-written template for a post to render
    with session_scope(engine) as session:
        record(session, actor=actor, action="template.save", object=f"template:{name}")


def save_campaign(
    engine: Any,
    *,
    slug: str,
    name: str,
    theme: str,
    starts_on: date | None,
    ends_on: date | None,
    actor: str,
) -> None:
    if not NAME.match(slug):
        raise InputError(msg("error.campaign_slug", slug=slug), hint=msg("hint.template_name"), field="slug")
    if not name.strip():
        raise InputError(msg("error.campaign_name"), field="name")
    if starts_on and ends_on and ends_on < starts_on:
        raise InputError(msg("error.campaign_dates"), field="ends_on")
    with session_scope(engine) as session:
        row = session.exec(select(Campaign).where(Campaign.slug == slug)).first() or Campaign(slug=slug, name=name)
        row.name, row.theme = nfc(name.strip()), nfc(theme.strip())
        row.starts_on, row.ends_on = starts_on, ends_on
        session.add(row)
        record(session, actor=actor, action="campaign.save", object=f"campaign:{slug}")


def campaigns(engine: Any) -> list[Campaign]:
    with session_scope(engine, read_only=True) as session:
        return list(session.exec(select(Campaign).order_by(Campaign.slug)))
