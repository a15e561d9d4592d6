"""Message templates: Jinja in a sandbox, plain text out, NFC everywhere, platform limits.

A template is ``templates/messages/NAME.j2``. It renders once per platform (``platform`` is
``"facebook"`` or ``"zalo"``), so per-platform variants are plain ``{% if %}`` blocks. A
template may ``{% set title = … %}`` and ``{% set description = … %}`` at top level for the
Zalo article; without them both are derived from the text within Zalo's limits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from scheduler.errors import LimitError, NotFound, TemplateError, Text
from scheduler.i18n import N_, msg

TEMPLATE_SUFFIX = ".j2"
_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
# Zero-width characters that break dedupe and length checks without being visible.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def nfc(value: Any) -> Any:
    """NFC-normalise strings, recursively through lists and dicts; other values untouched."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value.translate(_INVISIBLE))
    if isinstance(value, Mapping):
        return {nfc(k): nfc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nfc(v) for v in value]
    return value


@dataclass(frozen=True)
class RenderedMessage:
    platform: str
    text: str
    title: str | None
    description: str | None


@dataclass(frozen=True)
class PlatformLimits:
    label: str
    max_text_length: int
    max_title_length: int | None = None
    max_description_length: int | None = None


def cut_at_word(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` characters that ends at a word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-–") + "…"


def derive_title_description(text: str, limits: PlatformLimits) -> tuple[str, str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    rest = " ".join(lines[1:]) or first
    title = cut_at_word(first, limits.max_title_length or 150)
    description = cut_at_word(rest, limits.max_description_length or 300)
    return title, description


class MessageRenderer:
    """Renders message templates from one folder. Built explicitly; holds no global state."""

    def __init__(self, templates_dir: Path) -> None:
        self.folder = templates_dir / "messages"
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(str(self.folder), encoding="utf-8"),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            finalize=nfc,
        )

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob(f"*{TEMPLATE_SUFFIX}"))

    def variables(self, name: str) -> list[str]:
        """Variables a template reads that Loa does not provide itself."""
        from jinja2 import meta

        source = self._source(name)
        try:
            parsed = self.env.parse(source)
        except TemplateSyntaxError as exc:
            raise self._syntax_error(name, exc) from None
        return sorted(meta.find_undeclared_variables(parsed) - {"platform", "campaign", "now"})

    def render(
        self,
        name: str,
        variables: Mapping[str, Any],
        *,
        platform: str,
        limits: PlatformLimits,
        campaign: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> RenderedMessage:
        template = self._load(name)
        context: dict[str, Any] = nfc(dict(variables))
        context.update(platform=platform, campaign=nfc(dict(campaign or {})), now=now)
        try:
            module = template.make_module(context)
            text = str(module)
            exported = {key: getattr(module, key) for key in ("title", "description") if hasattr(module, key)}
        except UndefinedError as exc:
            line = _template_line(exc.__traceback__)
            missing = _undefined_name(str(exc))
            where = _where(name, line)
            uses = ", ".join(self.variables(name))
            raise TemplateError(
                msg("error.template_needs_variable", template=where, variable=missing),
                hint=msg("hint.add_var", variable=missing, uses=uses)
                if uses
                else msg("hint.add_var_none", variable=missing),
                field=missing,
            ) from None
        except SecurityError as exc:
            # The line, as for every other refusal: a template of hundreds of lines is fixed there.
            where = _where(name, _template_line(exc.__traceback__))
            raise TemplateError(
                msg("error.template_unsafe", template=where, reason=str(exc)),
                hint=msg("hint.template_only_formats"),
            ) from None
        except (TypeError, ValueError, ArithmeticError) as exc:
            line = _template_line(exc.__traceback__)
            where = _where(name, line)
            raise TemplateError(
                msg("error.template_failed", template=where, reason=str(exc)), hint=msg("hint.check_variable_values")
            ) from None
        text = _tidy(nfc(text))
        if not text:
            raise TemplateError(
                msg("error.template_empty", template=f"{name}{TEMPLATE_SUFFIX}", platform=limits.label),
                hint=msg("hint.template_empty"),
            )
        title = _clean_optional(exported.get("title"))
        description = _clean_optional(exported.get("description"))
        if limits.max_title_length is not None:
            derived_title, derived_description = derive_title_description(text, limits)
            title = title or derived_title
            description = description or derived_description
        else:
            title = description = None
        rendered = RenderedMessage(platform=platform, text=text, title=title, description=description)
        check_limits(rendered, limits, template=name)
        return rendered

    def free_text(
        self,
        text: str,
        *,
        platform: str,
        limits: PlatformLimits,
        title: str | None = None,
        description: str | None = None,
    ) -> RenderedMessage:
        """A text the person wrote themselves, held to the same rules as a rendered template:
        NFC, tidied, titled where the platform titles its posts, within the platform's limits."""
        cleaned = _tidy(nfc(text))
        if not cleaned:
            raise TemplateError(
                msg("error.text_empty", platform=limits.label), hint=msg("hint.write_text"), field="text"
            )
        chosen_title = _clean_optional(title)
        chosen_description = _clean_optional(description)
        if limits.max_title_length is not None:
            derived_title, derived_description = derive_title_description(cleaned, limits)
            chosen_title = chosen_title or derived_title
            chosen_description = chosen_description or derived_description
        else:
            chosen_title = chosen_description = None
        rendered = RenderedMessage(platform=platform, text=cleaned, title=chosen_title, description=chosen_description)
        check_limits(rendered, limits, template=None)
        return rendered

    def _source(self, name: str) -> str:
        self._require(name)
        return (self.folder / f"{name}{TEMPLATE_SUFFIX}").read_text(encoding="utf-8")

    def _require(self, name: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name) or not (self.folder / f"{name}{TEMPLATE_SUFFIX}").is_file():
            known = ", ".join(self.names())
            hint = (
                msg("hint.known_templates", known=known) if known else msg("hint.no_templates", folder=str(self.folder))
            )
            raise NotFound(msg("error.unknown_template", template=name), hint=hint, field="template")

    def _load(self, name: str) -> Any:
        self._require(name)
        try:
            return self.env.get_template(f"{name}{TEMPLATE_SUFFIX}")
        except TemplateNotFound:
            known = ", ".join(self.names())
            raise NotFound(
                msg("error.unknown_template", template=name),
                hint=msg("hint.known_templates", known=known),
                field="template",
            ) from None
        except TemplateSyntaxError as exc:
            raise self._syntax_error(name, exc) from None

    @staticmethod
    def _syntax_error(name: str, exc: TemplateSyntaxError) -> TemplateError:
        return TemplateError(
            msg("error.template_syntax", template=f"{name}{TEMPLATE_SUFFIX}", line=exc.lineno, reason=exc.message),
            hint=msg("hint.template_syntax"),
            field="template",
        )


def _where(name: str, line: int | None) -> Text:
    """A template's file, and the line when known, as messages name it."""
    file = f"{name}{TEMPLATE_SUFFIX}"
    return msg("error.where_template_line", template=file, line=line) if line else file


def check_limits(message: RenderedMessage, limits: PlatformLimits, *, template: str | None) -> None:
    """``template``: the template the text came from; None for a text the person wrote."""
    checks = [
        ("text", N_("part.message"), message.text, limits.max_text_length),
        ("title", N_("part.article_title"), message.title, limits.max_title_length),
        ("description", N_("part.article_description"), message.description, limits.max_description_length),
    ]
    for field, what, value, limit in checks:
        if value is not None and limit is not None and len(value) > limit:
            over = len(value) - limit
            details = {"platform": limits.label, "part": msg(what), "length": len(value), "over": over, "limit": limit}
            raise LimitError(
                msg("error.over_limit", template=template, **details)
                if template is not None
                else msg("error.text_over_limit", **details),
                hint=msg("hint.shorten", part=msg(what), over=over),
                field=field,
            )


def _clean_optional(value: Any) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(str(nfc(str(value))).split())
    return cleaned or None


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n")
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _undefined_name(message: str) -> str:
    match = re.search(r"'([^']+)' is undefined", message) or re.search(r"has no attribute '([^']+)'", message)
    return match.group(1) if match else message


def _template_line(tb: TracebackType | None) -> int | None:
    """The template line of the innermost template frame in a traceback."""
    line = None
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if template is not None:
            # make_module() does not rewrite tracebacks: map the compiled line back.
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line
