"""Fonts for covers: where they come from, how they are loaded, what they can draw.

No font file ships with Loa (docs/architecture.md, "Fonts"). A layout names a font as:

* ``sans`` — DejaVu Sans (full Vietnamese coverage) from inside the matplotlib package, which
  is a dependency; if that copy is missing, the system's sans-serif for Vietnamese via
  fontconfig (``fc-match``);
* ``system:FAMILY`` — a font installed on the machine, found through fontconfig;
* ``assets:FILE`` — a TrueType/OpenType file the office put in ``assets/``.

Fonts are loaded through Pillow's FreeType binding, with libraqm (HarfBuzz shaping) when the
Pillow build has it. Text is NFC-normalised before it gets here, so Vietnamese letters with
stacked marks (ễ, ặ, ợ, Ữ) are single precomposed code points and both engines draw them
from the font's own precomposed glyphs.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont, features

from scheduler.errors import InputError, NotFound, Text
from scheduler.i18n import msg

FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
BUILTIN_FAMILY = "sans"
WEIGHTS = ("regular", "bold")
_DEJAVU_FILES = {"regular": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf"}


def layout_engine(name: str | None = None) -> ImageFont.Layout:
    """RAQM when Pillow was built with it (proper shaping and kerning), else BASIC."""
    if name is None:
        return ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    if name == "basic":
        return ImageFont.Layout.BASIC
    if name == "raqm":
        if not features.check("raqm"):
            raise InputError(msg("error.no_raqm"), hint=msg("hint.basic_engine"))
        return ImageFont.Layout.RAQM
    raise InputError(msg("error.unknown_text_engine", engine=name), hint=msg("hint.one_of", choices="raqm, basic"))


def bundled_font(weight: str) -> Path | None:
    """DejaVu Sans from the installed matplotlib package, located without importing it.

    Importing matplotlib costs about half a second; only the path of its data folder is needed.
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "mpl-data" / "fonts" / "ttf" / _DEJAVU_FILES[weight]
        if candidate.is_file():
            return candidate
    return None


def fontconfig_font(family: str, weight: str) -> Path | None:
    """The file fontconfig picks for ``family`` in ``weight``, preferring Vietnamese coverage."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    pattern = f"{family}:lang=vi:weight={'bold' if weight == 'bold' else 'regular'}"
    try:
        found = subprocess.run(
            [fc_match, "--format=%{file}", pattern], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(found.stdout.strip())
    return path if found.returncode == 0 and path.suffix.lower() in FONT_SUFFIXES and path.is_file() else None


@dataclass(frozen=True)
class FontSource:
    """A resolved font: the file and a name for messages."""

    path: Path
    label: str


class FontBook:
    """Resolves font names to files and caches loaded fonts and their character maps.

    One per :class:`~scheduler.render.covers.CoverRenderer`; nothing is loaded at import time.
    """

    def __init__(self, assets_dir: Path, *, engine: str | None = None) -> None:
        self.assets_dir = assets_dir
        self.engine = layout_engine(engine)
        self._sources: dict[tuple[str, str], FontSource] = {}
        self._fonts: dict[tuple[Path, int], ImageFont.FreeTypeFont] = {}
        self._cmaps: dict[Path, frozenset[int]] = {}
        # Resolution may run fc-match and parse fonts: do it once even with concurrent renders.
        self._lock = threading.Lock()

    def resolve(self, spec: str, weight: str, *, where: Text) -> FontSource:
        """The file behind a layout's ``font`` value; ``where`` names the layout and box."""
        key = (spec, weight)
        with self._lock:
            source = self._sources.get(key)
            if source is None:
                source = self._resolve(spec, weight, where=where)
                self._sources[key] = source
            return source

    def _resolve(self, spec: str, weight: str, *, where: Text) -> FontSource:
        if spec == BUILTIN_FAMILY:
            path = bundled_font(weight) or fontconfig_font("sans-serif", weight)
            if path is None:
                raise NotFound(
                    msg("error.no_sans_font", where=where, weight=weight), hint=msg("hint.install_dejavu"), field="font"
                )
            return FontSource(path, f"DejaVu Sans {weight}" if "DejaVu" in path.name else f"{path.name}")
        if spec.startswith("system:"):
            family = spec.removeprefix("system:").strip()
            path = fontconfig_font(family, weight)
            if path is None:
                raise NotFound(
                    msg("error.font_not_found", where=where, family=family), hint=msg("hint.install_font"), field="font"
                )
            return FontSource(path, f"{family} ({path.name})")
        if spec.startswith("assets:"):
            path = asset_path(self.assets_dir, spec.removeprefix("assets:"), where=where, what="font")
            if path.suffix.lower() not in FONT_SUFFIXES:
                raise InputError(
                    msg("error.font_file_kind", where=where, file=path.name), hint=msg("hint.font_kinds"), field="font"
                )
            return FontSource(path, path.name)
        raise InputError(msg("error.unknown_font", where=where, font=spec), hint=msg("hint.font_forms"), field="font")

    def font(self, source: FontSource, size: int, *, where: Text) -> ImageFont.FreeTypeFont:
        key = (source.path, size)
        font = self._fonts.get(key)
        if font is None:
            try:
                font = ImageFont.truetype(str(source.path), size, layout_engine=self.engine)
            except OSError as exc:
                raise InputError(
                    msg("error.font_unreadable_at", where=where, file=source.path.name, reason=str(exc)),
                    hint=msg("hint.replace_font"),
                    field="font",
                ) from None
            self._fonts[key] = font
        return font

    def missing_glyphs(self, source: FontSource, text: str) -> list[str]:
        """Characters of ``text`` (other than white space) that the font has no glyph for.

        FreeType would draw such characters as empty boxes ("tofu"), which nobody can read.
        """
        cmap = self._cmaps.get(source.path)
        if cmap is None:
            cmap = _character_map(source.path)
            self._cmaps[source.path] = cmap
        return sorted({ch for ch in text if not ch.isspace() and ord(ch) not in cmap})


def _character_map(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont, TTLibError

    try:
        # lazy=True parses only the tables asked for: the cmap, not the glyph outlines.
        with TTFont(str(path), lazy=True, fontNumber=0) as font:
            return frozenset(font.getBestCmap() or {})
    except (TTLibError, OSError, KeyError, AssertionError) as exc:
        raise InputError(
            msg("error.font_unreadable", file=path.name, reason=str(exc)), hint=msg("hint.replace_font")
        ) from None


def asset_path(assets_dir: Path, name: str, *, where: Text, what: str) -> Path:
    """A file inside ``assets/``; refuses absolute paths and ``..`` so a layout can't read elsewhere."""
    name = name.strip()
    relative = Path(name)
    if not name or relative.is_absolute() or ".." in relative.parts:
        raise InputError(
            msg("error.asset_outside", where=where, what=msg(f"asset_kind.{what}"), name=name),
            hint=msg("hint.asset_form", file=relative.name or "FILE"),
            field=what,
        )
    path = assets_dir / relative
    if not path.is_file():
        available = ", ".join(sorted(p.name for p in assets_dir.glob("*") if p.is_file())[:12])
        raise NotFound(
            msg("error.asset_missing", where=where, what=msg(f"asset_kind.{what}"), name=name, folder=str(assets_dir)),
            hint=msg("hint.asset_add", files=available) if available else msg("hint.asset_add_empty"),
            field=what,
        )
    return path


def describe_characters(chars: Iterable[str]) -> str:
    return ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in chars)
