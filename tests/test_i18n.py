"""The language mechanism: complete catalogues, the reader's language at each edge, formats."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlmodel import select

from scheduler.app import Loa
from scheduler.errors import InputError, render_error
from scheduler.i18n import LANGS, catalogue, msg, po_path, process_lang, translate
from scheduler.models import AuditEvent
from scheduler.store import session_scope
from tests.conftest import Cli
from tests.console_support import errors_on, logged_in

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"msg": None, "N_": None, "translate": (2,), "process_text": None, "t": None, "_": None}
ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


def _extracted() -> set[str]:
    """Every id the code and templates name, by the extraction `make messages` runs."""
    method_map = [("**.py", "python"), ("web/templates/**.html", "jinja2")]
    options = {"web/templates/**.html": {"trim_blocks": "true", "lstrip_blocks": "true"}}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "scheduler"), method_map, options_map=options, keywords=KEYWORDS
    ):
        text = message[0] if isinstance(message, tuple) else message
        if text and ID.match(text):
            found.add(text)
    return found


def _entries(lang: str) -> dict[str, str]:
    with po_path(lang).open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle) if m.id}


def _placeholders(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


def test_every_id_in_the_code_has_a_vietnamese_and_an_english_wording() -> None:
    used = _extracted()
    assert len(used) > 200  # the extraction itself works
    for lang in LANGS:
        entries = _entries(lang)
        missing = sorted(i for i in used if not entries.get(i, "").strip())
        assert not missing, (lang, missing)


def test_every_catalogue_entry_is_used_so_make_messages_keeps_it() -> None:
    used = _extracted()
    for lang in LANGS:
        assert not sorted(set(_entries(lang)) - used), lang


def test_the_two_languages_have_the_same_ids_and_placeholders() -> None:
    vi, en = _entries("vi"), _entries("en")
    assert set(vi) == set(en)
    differ = sorted(k for k in vi if _placeholders(vi[k]) != _placeholders(en[k]))
    assert not differ


def test_catalogue_text_is_nfc() -> None:
    import unicodedata

    for lang in LANGS:
        bad = [k for k, v in _entries(lang).items() if unicodedata.normalize("NFC", v) != v]
        assert not bad, lang


def test_translate_fills_placeholders_and_keeps_unknown_text() -> None:
    assert translate("vi", "post.title", id=3) == "Bài #3"
    assert translate("en", "post.title", id=3) == "Post #3"
    assert translate("vi", "status.scheduled") == "Đã lên lịch"
    # Text of the transition (not an id) comes back as it is, braces and all.
    assert translate("vi", "post {3} is not a draft") == "post {3} is not a draft"
    assert translate("xx", "status.scheduled") == "Đã lên lịch"


def test_an_error_carries_its_id_and_renders_per_language() -> None:
    wrong = msg("error.not_a_date", field="from", text="31/02/2026")
    exc = InputError(wrong, hint=msg("hint.date_format"), field="from")
    assert exc.msgid == "error.not_a_date" and exc.params == {"field": "from", "text": "31/02/2026"}
    assert exc.field == "from" and exc.hint_id == "hint.date_format"
    assert render_error(exc, "vi").startswith("--from: «31/02/2026» không phải ngày\n  → viết dd/mm/yyyy")
    assert render_error(exc, "en", separator=" — ") == (
        "--from '31/02/2026' is not a date — write it as YYYY-MM-DD (2026-05-31) or dd/mm/yyyy (31/05/2026)"
    )
    legacy = InputError("post 3 is not a draft", hint="make a new post")
    assert str(legacy) == "post 3 is not a draft\n  → make a new post" and legacy.message == "post 3 is not a draft"


@pytest.mark.parametrize(
    ("environ", "lang"),
    [
        ({}, "vi"),
        ({"LANG": "C.UTF-8"}, "vi"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "LOA_LANG": "vi"}, "vi"),
        ({"LANG": "vi_VN.UTF-8", "LOA_LANG": "en"}, "en"),
        ({"LOA_LANG": "fr"}, "vi"),
    ],
)
def test_process_language_is_loa_lang_then_lang_then_vietnamese(environ: dict[str, str], lang: str) -> None:
    assert process_lang(environ) == lang


def test_catalogues_are_read_lazily() -> None:
    import subprocess
    import sys

    code = "import sys, scheduler.errors, scheduler.i18n; print('babel' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"
    assert catalogue("vi")["status.scheduled"] == "Đã lên lịch"


def test_cli_errors_are_vietnamese_by_default_and_english_with_loa_lang(
    offline_loa: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("report", "shares", "--from", "31-05-2026", "--to", "2026-06-01")
    monkeypatch.delenv("LOA_LANG", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    vietnamese = offline_loa(*args)
    assert vietnamese.code == 2
    assert vietnamese.stderr.startswith("Lỗi: --from: «31-05-2026» không phải ngày\n  → viết dd/mm/yyyy")
    monkeypatch.setenv("LOA_LANG", "en")
    english = offline_loa(*args)
    assert english.code == 2
    assert english.stderr.startswith("Error: --from '31-05-2026' is not a date\n  → write it as YYYY-MM-DD")
    # LANG speaks when LOA_LANG does not; LOA_LANG wins over it.
    monkeypatch.delenv("LOA_LANG")
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert offline_loa(*args).stderr.startswith("Error: ")
    monkeypatch.setenv("LOA_LANG", "vi")
    assert offline_loa(*args).stderr.startswith("Lỗi: ")


def test_console_error_boxes_follow_the_language_switch(console_loa: Loa) -> None:
    approver = logged_in(console_loa, "duyet")
    vietnamese = approver.get("/reports?from=31/02/2026&to=01/03/2026")
    assert vietnamese.status_code == 400
    assert errors_on(vietnamese.text)["from"].startswith("--from: «31/02/2026» không phải ngày — viết dd/mm/yyyy")
    english = approver.get("/reports?from=31/02/2026&to=01/03/2026&lang=en")
    assert english.status_code == 400 and '<html lang="en">' in english.text
    assert errors_on(english.text)["from"] == (
        "--from '31/02/2026' is not a date — write it as YYYY-MM-DD (2026-05-31) or dd/mm/yyyy (31/05/2026)"
    )
    # The choice is kept (cookie) for the next page.
    assert "Share report" in approver.get("/reports").text


def test_the_audit_log_stores_ids_and_shows_them_in_the_readers_language(console_loa: Loa) -> None:
    admin = logged_in(console_loa, "quantri")
    vietnamese = admin.get("/audit")
    assert vietnamese.status_code == 200 and ">Đăng nhập<" in vietnamese.text
    assert 'title="auth.login"' in vietnamese.text  # the stored id stays findable
    english = admin.get("/audit?lang=en")
    assert ">Logged in<" in english.text and ">Đăng nhập<" not in english.text
    with session_scope(console_loa.engine, read_only=True) as session:
        assert {e.action for e in session.exec(select(AuditEvent))} >= {"auth.login"}


def test_share_report_downloads_speak_the_console_language(console_loa: Loa) -> None:
    approver = logged_in(console_loa, "duyet")
    asked = "from=01/05/2026&to=31/05/2026&by=unit"
    vietnamese = approver.get(f"/reports/shares.csv?{asked}")
    assert vietnamese.status_code == 200
    text = vietnamese.content.decode("utf-8-sig")
    assert text.startswith("STT,Mã đơn vị,Đơn vị,Lượt chia sẻ,Qua trang chia sẻ,Tự báo cáo,Lượt nhấp\r\n")
    assert ",Tổng cộng," in text
    english = approver.get(f"/reports/shares.csv?{asked}&lang=en").content.decode("utf-8-sig")
    assert english.startswith("No.,Unit id,Unit,Shares,Via share pages,Self-reported,Clicks\r\n")
    assert ",Total," in english


def _is_text(node: ast.AST) -> bool:
    """A literal sentence: a string, an f-string, or one built from them with + or .format()."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_text(node.left) or _is_text(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _is_text(node.func.value)
    return False


def _loa_errors(trees: dict[Path, ast.Module]) -> set[str]:
    """LoaError and every class in scheduler/ that derives from it, by name."""
    names = {"LoaError"}
    classes = [n for tree in trees.values() for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    grew = True
    while grew:
        grew = False
        for node in classes:
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
            if node.name not in names and bases & names:
                names.add(node.name)
                grew = True
    return names


def test_no_loa_error_is_raised_with_a_plain_sentence() -> None:
    """Every LoaError carries a catalogue id (msg(...)), for its message and for its hint."""
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "scheduler").rglob("*.py"))}
    errors = _loa_errors(trees)
    assert {"InputError", "PublishError", "UnknownOutcome", "LoginRefused", "RecorderOverloaded"} <= errors
    plain = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name not in errors:
                continue
            texts = [node.args[0]] if node.args else []
            texts += [k.value for k in node.keywords if k.arg in {"message", "hint"}]
            if any(_is_text(t) for t in texts):
                plain.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert not plain, plain


def test_stored_reasons_are_worded_when_read_and_old_text_stays_as_it_is() -> None:
    from scheduler.errors import UnknownOutcome, stored_error
    from scheduler.i18n import Number, parse_stored, render_stored, stored

    reason = stored(msg("reason.check_failed", reason=msg("error.facebook_temporary", reason="(#2) Service")))
    assert "could not" not in reason and "reason.check_failed" in reason
    assert render_stored("vi", reason) == "Chưa kiểm tra được trên nền tảng: Facebook gặp sự cố tạm thời: (#2) Service"
    english = render_stored("en", reason)
    assert english == "could not check the platform yet: Facebook had a temporary problem: (#2) Service"
    error = UnknownOutcome(msg("error.facebook_no_id"), hint=msg("hint.facebook_look_first"))
    assert render_stored("en", stored_error(error), separator=" — ") == (
        "Facebook answered the post without an id, so Loa cannot tell whether it was created."
        " — Loa will look for the post on the Page before trying again."
    )
    sized = stored(msg("error.file_too_large", name="a.csv", megabytes=Number(20.5, 1)))
    assert render_stored("vi", sized) == "a.csv lớn hơn 20,5 MB." and render_stored("en", sized).endswith("20.5 MB")
    # Rows written before ids were stored, and a platform's own words, read back untouched.
    assert render_stored("vi", "channel fb must be reconnected") == "channel fb must be reconnected"
    assert render_stored("vi", '{"msg": broken') == '{"msg": broken'
    assert parse_stored(None) == (None, None) and render_stored("vi", None) is None


def test_every_command_and_option_help_has_both_wordings() -> None:
    import typer

    from scheduler.cli.app import app
    from scheduler.cli.help import help_ids, translate_help

    tree = typer.main.get_command(app)
    vi, en = catalogue("vi"), catalogue("en")
    lacking = []
    for _command, own, options in help_ids(tree):
        for msgid in [own] if own else []:
            if msgid not in vi or msgid not in en:
                lacking.append(msgid)
        lacking += [msgid for _param, msgid in options if msgid not in vi or msgid not in en]
    assert not lacking, lacking
    translate_help(tree, "en")
    assert tree.help and tree.help.startswith("Loa — schedule, publish and measure")
    translate_help(tree, "vi")
    assert tree.help and tree.help.startswith("Loa — lên lịch, đăng và đo lường")


def test_cli_help_is_vietnamese_by_default_and_english_with_loa_lang(
    offline_loa: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOA_LANG", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    vietnamese = offline_loa("post", "add", "--help")
    assert vietnamese.code == 0 and "Xếp lịch một bài trên một hoặc nhiều kênh." in vietnamese.stdout
    monkeypatch.setenv("LOA_LANG", "en")
    english = offline_loa("post", "add", "--help")
    assert english.code == 0 and "Queue a post on one or more channels." in english.stdout
