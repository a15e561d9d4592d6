"""Cover images: real Pillow output from the shipped layouts and from layouts written here.

The golden image of the default layout is ``tests/golden/default-facebook.png`` (half size,
drawn with the basic text engine); after an intended design change regenerate it with
``LOA_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/test_covers.py -k golden`` and look at it.
"""

from __future__ import annotations

import io
import os
import struct
import tomllib
import unicodedata
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat, features

from scheduler.errors import InputError, LimitError, NotFound, TemplateError, TextDoesNotFit
from scheduler.render.covers import CoverPlan, CoverRenderer, draw, max_bytes_for
from scheduler.render.layouts import Rect
from tests.conftest import REPO, cli_for, write_config

GOLDEN = Path(__file__).parent / "golden" / "default-facebook.png"
SIZES = {"facebook": (1200, 630), "square": (1080, 1080), "zalo": (1280, 720)}
SAMPLES = {
    "default": {"title": "BHXH tự nguyện: chỉ từ 330.000 đồng/tháng", "subtitle": "Nhà nước hỗ trợ mức đóng"},
    "quote": {"quote": "Có thẻ BHYT, cả nhà tôi an tâm khi ốm đau.", "author": "Bà Nguyễn Thị Lựu"},
    "event": {"title": "Ngày hội tư vấn BHXH", "date": "06/05/2026", "place": "Nhà văn hoá xã Diễn Kỷ"},
}
SHORT = "Ngày hội BHYT"
LONG = (
    "Tháng Vận động triển khai BHXH, BHYT toàn dân năm 2026: cả tỉnh Nghệ An cùng ra quân tuyên truyền, "
    "tư vấn tận nhà cho người lao động tự do và hộ gia đình ở khắp các xã, phường"
)
STACKED = "Ễ Ữ Ặ Ợ Ỗ: những dấu chồng ễ ặ ợ ỗ ữ"
BACKGROUND = (0, 84, 166)


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the renderer's messages in English (LOA_LANG), the second language."""
    monkeypatch.setenv("LOA_LANG", "en")


@pytest.fixture(scope="module")
def shipped() -> CoverRenderer:
    return CoverRenderer(REPO / "templates", REPO / "assets")


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """An empty templates/covers and assets/ pair for layouts written by a test."""
    (tmp_path / "templates" / "covers").mkdir(parents=True)
    (tmp_path / "assets").mkdir()
    yield tmp_path / "templates", tmp_path / "assets"


def write_layout(templates: Path, name: str, text: str) -> None:
    (templates / "covers" / f"{name}.toml").write_text(text, encoding="utf-8")


def plain_layout() -> str:
    """The default layout's text boxes on a flat background, without any decoration."""
    layout = tomllib.loads((REPO / "templates" / "covers" / "default.toml").read_text(encoding="utf-8"))
    lines = ["[canvas]"]
    lines += [f"{t} = [{w}, {h}]" for t, (w, h) in SIZES.items()]
    lines += [f"safe_margin = {layout['canvas']['safe_margin']}", "[background]", 'color = "#0054A6"']
    for box in layout["boxes"]:
        lines.append("[[boxes]]")
        lines += [f"{key} = {toml_value(value)}" for key, value in box.items() if key != "targets"]
        for target, overrides in box.get("targets", {}).items():
            lines.append(f"[boxes.targets.{target}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in overrides.items()]
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def ink_box(image: Image.Image, background: tuple[int, int, int]) -> tuple[int, int, int, int] | None:
    """Bounding box of pixels that differ from the background colour."""
    flat = Image.new("RGB", image.size, background)
    return ImageChops.difference(image.convert("RGB"), flat).convert("L").point(lambda v: 255 if v > 8 else 0).getbbox()


def only(plan: CoverPlan, box: str) -> CoverPlan:
    return CoverPlan(plan.target, plan.base, tuple(t for t in plan.texts if t.box == box))


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# -- size, mode, format ------------------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(SAMPLES))
def test_every_layout_renders_each_target_at_its_size_in_rgb(shipped: CoverRenderer, layout: str) -> None:
    assert shipped.targets(layout) == list(SIZES)
    for target, size in SIZES.items():
        image = decode(shipped.render(layout, SAMPLES[layout], target=target))
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", size)
        assert "exif" not in image.info and "icc_profile" not in image.info


def test_png_output_and_platform_byte_limits(shipped: CoverRenderer) -> None:
    image = decode(shipped.render("default", SAMPLES["default"], target="square", fmt="png"))
    assert (image.format, image.mode, image.size) == ("PNG", "RGB", SIZES["square"])
    assert max_bytes_for("zalo") == 1_000_000 and max_bytes_for("facebook", "png") == 1_000_000
    generous = shipped.render("default", SAMPLES["default"])
    squeezed = shipped.render("default", SAMPLES["default"], max_bytes=len(generous) // 2)
    assert len(squeezed) <= len(generous) // 2 and decode(squeezed).size == SIZES["facebook"]
    with pytest.raises(LimitError, match="over the limit"):
        shipped.render("default", SAMPLES["default"], max_bytes=5_000)


def test_variables_and_names(shipped: CoverRenderer) -> None:
    assert shipped.names() == ["default", "event", "quote"]
    assert shipped.variables("default") == ["subtitle", "title"]
    assert shipped.variables("event") == ["date", "place", "title"]
    assert shipped.variables("quote") == ["author", "quote", "role"]


# -- text fitting and margins ------------------------------------------------------------


@pytest.mark.parametrize("title", [SHORT, LONG, STACKED])
def test_drawn_text_stays_inside_its_box_and_the_safe_margins(workspace: tuple[Path, Path], title: str) -> None:
    templates, assets = workspace
    write_layout(templates, "plain", plain_layout())
    renderer = CoverRenderer(templates, assets)
    variables = {"title": title, "subtitle": "Cả nhà cùng tham gia BHYT – an tâm khi ốm đau"}
    for target in SIZES:
        plan = renderer.plan("plain", variables, target=target)
        whole = ink_box(draw(plan), BACKGROUND)
        assert whole is not None
        safe = plan.target.safe
        assert safe.x0 <= whole[0] and safe.y0 <= whole[1] and whole[2] <= safe.x1 and whole[3] <= safe.y1, target
        boxes = {placed.spec.name: placed.rect for placed in plan.target.boxes}
        for text in plan.texts:
            drawn = ink_box(draw(only(plan, text.box)), BACKGROUND)
            assert drawn is not None, text.box
            rect = boxes[text.box]
            assert Rect(*drawn).inside(rect), (target, text.box, drawn, rect)


def test_long_titles_shrink_and_wrap_short_ones_stay_large(shipped: CoverRenderer) -> None:
    for target in SIZES:
        short = next(t for t in shipped.plan("default", {"title": SHORT}, target=target).texts if t.box == "title")
        long = next(t for t in shipped.plan("default", {"title": LONG}, target=target).texts if t.box == "title")
        assert len(short.lines) == 1 and len(long.lines) >= 4
        assert long.size < short.size
        # Never cut: the drawn words are exactly the title's words.
        assert " ".join(line.text for line in long.lines).split() == LONG.split()


def test_balanced_wrap_avoids_a_lonely_last_word(shipped: CoverRenderer) -> None:
    plan = shipped.plan("default", {"title": "BHXH tự nguyện: chỉ từ 330.000 đồng/tháng để có lương hưu"})
    title = next(t for t in plan.texts if t.box == "title")
    lengths = [len(line.text) for line in title.lines]
    assert len(lengths) > 1 and min(lengths) >= max(lengths) / 2


def test_text_that_cannot_fit_is_refused_naming_layout_box_and_canvas(shipped: CoverRenderer) -> None:
    impossible = " ".join([LONG] * 3)
    with pytest.raises(TextDoesNotFit) as caught:
        shipped.check("default", {"title": impossible}, targets=["facebook", "square"])
    message = str(caught.value)
    assert "title too long for box 'title' of layout 'default' at 1200×630" in message
    assert "shorten it by about" in message
    assert caught.value.field == "title" and caught.value.box == "title" and caught.value.layout == "default"
    # The estimate is honest: cutting that much (at a word) makes it fit.
    kept = impossible[: len(impossible) - caught.value.excess].rsplit(" ", 1)[0]
    shipped.check("default", {"title": kept}, targets=["facebook"])


def test_a_word_wider_than_the_box_is_refused(shipped: CoverRenderer) -> None:
    with pytest.raises(TextDoesNotFit, match=r"the word 'B+' is too wide for box 'title'"):
        shipped.check("default", {"title": "Quá dài " + "B" * 60}, targets=["facebook"])


def test_check_renders_nothing_and_accepts_good_input(shipped: CoverRenderer, tmp_path: Path) -> None:
    before = set(tmp_path.iterdir())
    shipped.check("event", SAMPLES["event"], targets=list(SIZES))
    assert set(tmp_path.iterdir()) == before


# -- Vietnamese: normalisation, stacked marks, glyph coverage -----------------------------


ENGINES = ["basic", *(["raqm"] if features.check("raqm") else [])]


@pytest.mark.parametrize("engine", ENGINES)
def test_nfd_input_renders_exactly_like_nfc(engine: str) -> None:
    renderer = CoverRenderer(REPO / "templates", REPO / "assets", text_engine=engine)
    nfc = unicodedata.normalize("NFC", STACKED)
    nfd = unicodedata.normalize("NFD", STACKED)
    assert nfc != nfd
    one = renderer.image("default", {"title": nfc, "subtitle": nfc}, target="square")
    two = renderer.image("default", {"title": nfd, "subtitle": nfd}, target="square")
    assert one.tobytes() == two.tobytes()


@pytest.mark.parametrize("engine", ENGINES)
def test_stacked_marks_are_drawn_above_the_letter(engine: str) -> None:
    renderer = CoverRenderer(REPO / "templates", REPO / "assets", text_engine=engine)
    source = renderer.fonts.resolve("sans", "bold", where="test")
    font = renderer.fonts.font(source, 100, where="test")
    # (base letter, with marks, marks above?, marks below?)
    cases = [("E", "Ễ", True, False), ("U", "Ữ", True, False), ("A", "Ặ", True, True), ("O", "Ỗ", True, False),
             ("e", "ễ", True, False), ("a", "ặ", True, True), ("o", "ợ", False, True)]
    for plain, marked, above, below in cases:
        assert not renderer.fonts.missing_glyphs(source, marked)
        boxes = {}
        for letter in (plain, marked):
            canvas = Image.new("L", (200, 300), 0)
            ImageDraw.Draw(canvas).text((50, 200), letter, font=font, fill=255, anchor="ls")
            box = canvas.getbbox()
            assert box is not None
            boxes[letter] = box
        # Each mark is drawn where it belongs, not dropped and not overlaid on the letter.
        assert (boxes[marked][1] < boxes[plain][1] - 10) == above, (engine, marked, boxes)
        assert (boxes[marked][3] > boxes[plain][3] + 5) == below, (engine, marked, boxes)
        assert boxes[marked] != boxes[plain]


def test_a_character_the_font_lacks_is_an_error_not_tofu(shipped: CoverRenderer) -> None:
    with pytest.raises(TemplateError, match=r"no glyph for '💚' \(U\+1F49A\)") as caught:
        shipped.check("default", {"title": "An tâm 💚"}, targets=["facebook"])
    assert caught.value.field == "title"


# -- golden image --------------------------------------------------------------------------


def test_default_layout_matches_the_golden_image() -> None:
    # The basic engine: the golden then depends on FreeType alone, not on the HarfBuzz version.
    renderer = CoverRenderer(REPO / "templates", REPO / "assets", text_engine="basic")
    variables = {
        "title": "BHXH tự nguyện: chỉ từ 330.000 đồng/tháng để có lương hưu",
        "subtitle": "Nhà nước hỗ trợ 30% mức đóng cho hộ nghèo",
    }
    image = renderer.image("default", variables)
    small = image.resize((image.width // 2, image.height // 2), Image.Resampling.BOX)
    if os.environ.get("LOA_REGENERATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        small.save(GOLDEN, optimize=True)
    golden = Image.open(GOLDEN).convert("RGB")
    assert golden.size == small.size
    difference = sum(ImageStat.Stat(ImageChops.difference(small, golden)).mean) / 3
    # Anti-aliasing noise stays far below this; one changed character (≈0.1) or a missing
    # subtitle (≈0.9) is above it.
    assert difference < 0.05, f"mean difference {difference:.3f} from {GOLDEN.name}"


# -- bad input ---------------------------------------------------------------------------


def test_unknown_layout_lists_the_known_ones(shipped: CoverRenderer) -> None:
    with pytest.raises(NotFound, match="unknown cover layout 'nope'") as caught:
        shipped.render("nope", {})
    assert "default, event, quote" in str(caught.value)
    with pytest.raises(NotFound):
        shipped.render("../default", {})


def test_missing_variable_is_named(shipped: CoverRenderer) -> None:
    with pytest.raises(TemplateError, match="box 'date' needs variable 'date'") as caught:
        shipped.check("event", {"title": "Ngày hội"}, targets=["facebook"])
    assert caught.value.field == "date"
    with pytest.raises(TemplateError, match="box 'title' is empty"):
        shipped.check("default", {"title": "  "}, targets=["facebook"])


def test_a_target_the_layout_lacks_is_refused(workspace: tuple[Path, Path]) -> None:
    templates, assets = workspace
    write_layout(templates, "fb", LAYOUT_HEAD.replace("square = [1080, 1080]\n", "") + TITLE_BOX)
    with pytest.raises(InputError, match="has no 'square' size"):
        CoverRenderer(templates, assets).render("fb", {"title": "x"}, target="square")


LAYOUT_HEAD = """
[canvas]
facebook = [1200, 630]
square = [1080, 1080]
[background]
color = "#0054A6"
"""
TITLE_BOX = """
[[boxes]]
name = "title"
text = "{{ title }}"
box = [0.1, 0.2, 0.8, 0.5]
size_min = 30
size_max = 60
"""


def test_missing_font_names_layout_box_and_file(workspace: tuple[Path, Path]) -> None:
    templates, assets = workspace
    write_layout(templates, "f", LAYOUT_HEAD + TITLE_BOX + 'font = "assets:KhongCo.ttf"\n')
    with pytest.raises(NotFound, match=r"cover layout 'f', box 'title': font file 'KhongCo.ttf' was not found"):
        CoverRenderer(templates, assets).check("f", {"title": "x"}, targets=["facebook"])


def test_a_font_file_from_assets_is_used(workspace: tuple[Path, Path]) -> None:
    templates, assets = workspace
    bundled = CoverRenderer(templates, assets).fonts.resolve("sans", "regular", where="test").path
    (assets / "Office.ttf").write_bytes(bundled.read_bytes())  # a copy made at test time, not committed
    write_layout(templates, "f", LAYOUT_HEAD + TITLE_BOX + 'font = "assets:Office.ttf"\n')
    image = CoverRenderer(templates, assets).image("f", {"title": STACKED})
    assert ink_box(image, BACKGROUND) is not None
    (assets / "Broken.ttf").write_text("not a font")
    write_layout(templates, "g", LAYOUT_HEAD + TITLE_BOX + 'font = "assets:Broken.ttf"\n')
    with pytest.raises(InputError, match=r"Broken\.ttf"):
        CoverRenderer(templates, assets).check("g", {"title": "x"}, targets=["facebook"])


def background_layout(image: str) -> str:
    return LAYOUT_HEAD.replace('color = "#0054A6"', f'image = "assets:{image}"\noverlay = "#0054A680"') + TITLE_BOX


def test_background_image_is_cover_fitted(workspace: tuple[Path, Path]) -> None:
    templates, assets = workspace
    photo = Image.new("RGB", (800, 800), (200, 30, 30))
    ImageDraw.Draw(photo).rectangle((0, 0, 799, 99), fill=(30, 200, 30))  # cropped away by cover-fit
    photo.save(assets / "nen.jpg")
    write_layout(templates, "bg", background_layout("nen.jpg"))
    renderer = CoverRenderer(templates, assets)
    image = renderer.image("bg", {"title": "x"})
    assert image.size == (1200, 630)
    red, green, _blue = image.getpixel((5, 5))  # type: ignore[misc]
    assert red > green
    # The office replaces the picture: the next cover uses it, without a restart.
    Image.new("RGB", (640, 480), (30, 200, 30)).save(assets / "nen.jpg")
    red, green, _blue = renderer.image("bg", {"title": "x"}).getpixel((5, 5))  # type: ignore[misc]
    assert green > red


def test_missing_and_unsafe_asset_paths(workspace: tuple[Path, Path]) -> None:
    templates, assets = workspace
    write_layout(templates, "bg", background_layout("khong-co.jpg"))
    with pytest.raises(NotFound, match=r"image file 'khong-co\.jpg' was not found"):
        CoverRenderer(templates, assets).check("bg", {"title": "x"}, targets=["facebook"])
    write_layout(templates, "up", background_layout("../templates/covers/bg.toml"))
    with pytest.raises(InputError, match="must be a file name inside assets/"):
        CoverRenderer(templates, assets).check("up", {"title": "x"}, targets=["facebook"])


def test_a_jpg_that_is_really_html_is_refused(workspace: tuple[Path, Path]) -> None:
    templates, assets = workspace
    (assets / "nen.jpg").write_text("<!doctype html><html><body>404</body></html>")
    write_layout(templates, "bg", background_layout("nen.jpg"))
    with pytest.raises(InputError, match=r"'nen\.jpg' is not an image"):
        CoverRenderer(templates, assets).check("bg", {"title": "x"}, targets=["facebook"])


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height``: what a decompression bomb looks like."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("width", "height", "refusal"),
    [
        (20_000, 20_000, "too large to decode safely"),  # Pillow's own bomb check, raised as an error
        (9_000, 5_000, "9000×5000 pixels, over the limit of 40 megapixels"),  # Loa's stricter cap
    ],
)
def test_a_decompression_bomb_is_refused_before_decoding(
    workspace: tuple[Path, Path], width: int, height: int, refusal: str
) -> None:
    templates, assets = workspace
    (assets / "bom.png").write_bytes(png_header_only(width, height))
    write_layout(templates, "bg", background_layout("bom.png"))
    with pytest.raises(InputError, match=rf"'bom\.png' is {refusal}"):
        CoverRenderer(templates, assets).check("bg", {"title": "x"}, targets=["facebook"])


def test_layout_mistakes_name_the_file_and_key(workspace: tuple[Path, Path]) -> None:
    templates, assets = workspace
    renderer = CoverRenderer(templates, assets)
    write_layout(templates, "typo", LAYOUT_HEAD + TITLE_BOX + "colour = \"#FFFFFF\"\n")
    with pytest.raises(TemplateError, match=r"boxes\[0\] 'title'.colour: is not a known key"):
        renderer.targets("typo")
    overlap = TITLE_BOX.replace('"title"', '"other"').replace("{{ title }}", "x")
    write_layout(templates, "overlap", LAYOUT_HEAD + TITLE_BOX + overlap)
    with pytest.raises(TemplateError, match="text boxes 'title' and 'other' overlap"):
        renderer.targets("overlap")
    write_layout(templates, "edge", LAYOUT_HEAD + TITLE_BOX.replace("[0.1, 0.2, 0.8, 0.5]", "[0.0, 0.2, 0.8, 0.5]"))
    with pytest.raises(TemplateError, match="reaches outside the safe area"):
        renderer.targets("edge")
    write_layout(templates, "jinja", LAYOUT_HEAD + TITLE_BOX.replace("{{ title }}", "{{ title "))
    with pytest.raises(TemplateError, match="box 'title': syntax error"):
        renderer.targets("jinja")


def test_an_edited_layout_is_picked_up_without_a_restart(workspace: tuple[Path, Path]) -> None:
    templates, assets = workspace
    renderer = CoverRenderer(templates, assets)
    write_layout(templates, "live", LAYOUT_HEAD + TITLE_BOX)
    first = renderer.image("live", {"title": "x"})
    write_layout(templates, "live", LAYOUT_HEAD.replace("#0054A6", "#FFC72C") + TITLE_BOX + "\n# edited\n")
    second = renderer.image("live", {"title": "x"})
    assert first.getpixel((2, 2)) == BACKGROUND and second.getpixel((2, 2)) == (255, 199, 44)


# -- the CLI -------------------------------------------------------------------------------


def test_cli_render_cover_writes_a_jpeg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loa = cli_for(write_config(tmp_path), capsys)
    target = tmp_path / "bia.jpg"
    result = loa("render", "cover", "--var", f"title={SHORT}", "--platform", "zalo", "-o", str(target))
    assert result.code == 0, result.stderr
    image = decode(target.read_bytes())
    assert (image.format, image.size) == ("JPEG", SIZES["zalo"])
    assert len(target.read_bytes()) <= 1_000_000


def test_cli_render_cover_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loa = cli_for(write_config(tmp_path), capsys)
    result = loa("render", "cover", "--layout", "nope", "-o", str(tmp_path / "a.jpg"))
    assert result.code == 2 and "default, event, quote" in result.stderr
    result = loa("render", "cover", "--layout", "event", "--var", "title=x", "-o", str(tmp_path / "a.jpg"))
    assert result.code == 2 and "'date'" in result.stderr
    result = loa("render", "cover", "--var", f"title={LONG * 3}", "-o", str(tmp_path / "a.jpg"))
    assert result.code == 2 and "box 'title'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "a.jpg").exists()


def test_cli_render_covers_from_csv_uses_a_process_pool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loa = cli_for(write_config(tmp_path), capsys)
    rows = tmp_path / "bia.csv"
    rows.write_text(
        f'title,subtitle\n{SHORT},Cả nhà cùng tham gia\n"{LONG}",\n{STACKED},x\nLễ ra quân,"Ngày 06/05, TP Vinh"\n\n',
        encoding="utf-8-sig",
    )
    out = tmp_path / "out"
    result = loa("render", "covers", "--csv", str(rows), "-o", str(out), "--jobs", "2")
    assert result.code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["0001.jpg", "0002.jpg", "0003.jpg", "0004.jpg"]
    assert decode((out / "0002.jpg").read_bytes()).size == SIZES["facebook"]
    result = loa("render", "covers", "--csv", str(rows), "-o", str(tmp_path / "png"), "--format", "png", "--jobs", "1")
    assert result.code == 0 and decode((tmp_path / "png" / "0001.png").read_bytes()).format == "PNG"


def test_cli_render_covers_bad_row_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loa = cli_for(write_config(tmp_path), capsys)
    rows = tmp_path / "bia.csv"
    rows.write_text(f"title,subtitle\n{SHORT},\n\"{LONG * 3}\",\n", encoding="utf-8")
    result = loa("render", "covers", "--csv", str(rows), "-o", str(tmp_path / "out"))
    assert result.code == 2
    assert "bia.csv, row 2" in result.stderr and "box 'title'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_templates_lists_cover_layouts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loa = cli_for(write_config(tmp_path), capsys)
    result = loa("templates", "--json")
    assert result.code == 0
    covers = {c["name"]: c for c in result.json()["covers"]}
    assert covers["default"]["variables"] == ["subtitle", "title"]
    assert covers["default"]["targets"]["zalo"] == [1280, 720]
