"""Message templates: real Jinja, NFC, per-platform variants and limits."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from scheduler.errors import LimitError, NotFound, TemplateError, render_error
from scheduler.render.messages import MessageRenderer, PlatformLimits, cut_at_word

REPO = Path(__file__).resolve().parent.parent
FACEBOOK = PlatformLimits("Facebook Page", 63206)
ZALO = PlatformLimits("Zalo OA", 100_000, 150, 300)
VARS = {"hoat_dong": "tổ chức Lễ ra quân", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}


@pytest.fixture
def renderer() -> MessageRenderer:
    return MessageRenderer(REPO / "templates")


def write_template(folder: Path, name: str, body: str) -> MessageRenderer:
    (folder / "messages").mkdir(parents=True, exist_ok=True)
    (folder / "messages" / f"{name}.j2").write_text(body, encoding="utf-8")
    return MessageRenderer(folder)


def test_shipped_templates_render_for_both_platforms(renderer: MessageRenderer) -> None:
    assert {"thang-van-dong", "bhxh-tu-nguyen", "bhyt-ho-gia-dinh"} <= set(renderer.names())
    samples = {
        "thang-van-dong": VARS,
        "bhxh-tu-nguyen": {"muc_dong_thap_nhat": "330.000 đồng", "ho_tro": "30%"},
        "bhyt-ho-gia-dinh": {"muc_dong_nguoi_dau": "1.263.600 đồng", "nam": "2026"},
    }
    for name, variables in samples.items():
        facebook = renderer.render(name, variables, platform="facebook", limits=FACEBOOK)
        zalo = renderer.render(name, variables, platform="zalo", limits=ZALO)
        assert facebook.title is None and facebook.description is None
        assert zalo.title and len(zalo.title) <= 150
        assert zalo.description and len(zalo.description) <= 300
        assert "#" in facebook.text and "#" not in zalo.text  # hashtags only where they work
        assert unicodedata.is_normalized("NFC", facebook.text)


def test_campaign_theme_comes_from_the_campaign(renderer: MessageRenderer) -> None:
    message = renderer.render(
        "thang-van-dong", VARS, platform="facebook", limits=FACEBOOK, campaign={"theme": "Chủ đề riêng"}
    )
    assert "“Chủ đề riêng”" in message.text


def test_nfd_input_renders_as_nfc(renderer: MessageRenderer) -> None:
    nfd = {k: unicodedata.normalize("NFD", v) for k, v in VARS.items()}
    assert nfd != VARS
    from_nfd = renderer.render("thang-van-dong", nfd, platform="zalo", limits=ZALO)
    from_nfc = renderer.render("thang-van-dong", VARS, platform="zalo", limits=ZALO)
    assert from_nfd == from_nfc
    zero_width = renderer.render(
        "thang-van-dong", {**VARS, "dia_diem": "chợ\u200b Quán Lau (TP Vinh)"}, platform="zalo", limits=ZALO
    )
    assert "\u200b" not in zero_width.text


def test_undefined_variable_names_it_and_the_line(tmp_path: Path) -> None:
    renderer = write_template(tmp_path, "t", "Dòng một\nXin chào {{ ten }}\n")
    with pytest.raises(TemplateError) as caught:
        renderer.render("t", {}, platform="facebook", limits=FACEBOOK)
    assert "'ten'" in render_error(caught.value, "en") and "line 2" in render_error(caught.value, "en")
    assert "«ten»" in str(caught.value) and "dòng 2" in str(caught.value)  # Vietnamese unless asked otherwise
    assert caught.value.field == "ten"


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    renderer = write_template(tmp_path, "t", "ok\n{% if x %}\nno end\n")
    with pytest.raises(TemplateError) as caught:
        renderer.render("t", {"x": "1"}, platform="facebook", limits=FACEBOOK)
    assert re.search(r"t\.j2, line \d: syntax error", render_error(caught.value, "en"))
    assert re.search(r"t\.j2, dòng \d: lỗi cú pháp", str(caught.value))


def test_sandbox_refuses_unsafe_templates(tmp_path: Path) -> None:
    renderer = write_template(tmp_path, "t", "{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError):
        renderer.render("t", {}, platform="facebook", limits=FACEBOOK)


def test_values_are_text_not_templates(tmp_path: Path) -> None:
    renderer = write_template(tmp_path, "t", "{{ noi_dung }}")
    hostile = "{{7*7}} <script>alert(1)</script> '); DROP TABLE post;--"
    message = renderer.render("t", {"noi_dung": hostile}, platform="facebook", limits=FACEBOOK)
    assert message.text == hostile


def test_unknown_template_lists_the_known_ones(renderer: MessageRenderer) -> None:
    with pytest.raises(NotFound) as caught:
        renderer.render("khong-co", {}, platform="facebook", limits=FACEBOOK)
    assert "known templates: bhxh-tu-nguyen" in render_error(caught.value, "en")
    assert "các mẫu hiện có: bhxh-tu-nguyen" in str(caught.value)
    with pytest.raises(NotFound):
        renderer.render("../secrets", {}, platform="facebook", limits=FACEBOOK)


def test_limits_say_which_and_by_how_much(tmp_path: Path) -> None:
    renderer = write_template(tmp_path, "t", "{{ x }}")
    with pytest.raises(LimitError) as caught:
        renderer.render("t", {"x": "a" * 63210}, platform="facebook", limits=FACEBOOK)
    assert "4 over the limit of 63206" in render_error(caught.value, "en")
    assert "vượt 4 ký tự so với giới hạn 63206" in str(caught.value)
    title = write_template(tmp_path, "z", "{% set title = x %}body")
    with pytest.raises(LimitError) as caught:
        title.render("z", {"x": "đ" * 151}, platform="zalo", limits=ZALO)
    assert re.search(r"article title .* 151 characters, 1 over the limit of 150", render_error(caught.value, "en"))


def test_derived_title_cuts_at_a_word() -> None:
    text = "Bảo hiểm xã hội - An tâm cho mọi gia đình " * 10
    cut = cut_at_word(text, 150)
    assert len(cut) <= 150 and cut.endswith("…")
    assert text.startswith(cut[:-1])


def test_template_without_title_derives_one_for_zalo(tmp_path: Path) -> None:
    renderer = write_template(tmp_path, "t", "Tiêu đề dòng đầu\n\nNội dung chi tiết của bài.")
    message = renderer.render("t", {}, platform="zalo", limits=ZALO)
    assert message.title == "Tiêu đề dòng đầu"
    assert message.description == "Nội dung chi tiết của bài."
