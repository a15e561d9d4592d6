"""The documents the code points at are in the repository, and so are the sections.

A comment such as ``(docs/reliability.md §4.2)`` or ``(docs/architecture.md, "Fonts")`` is
only worth something while that file and heading exist; a pointer to a document outside the
repository is worth nothing to someone reading a release. The fault-case table in
docs/reliability.md names tests; those must exist too, or the table lies about coverage.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("scheduler", "tests", "bench")

# A path ending in the markdown suffix, with its folders (``../x/`` included, so a pointer
# outside the repository is caught rather than skipped).
MENTION = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w-]+\.md)\b")
LABEL = r"[A-Z]?\d+(?:\.\d+)*|[A-Z](?![\w])"
# `docs/X.md §4.2`, `docs/X.md A1–A7`, `docs/X.md C`, or `docs/X.md, "Heading"`.
SECTION = re.compile(
    rf'((?:docs/)?[\w-]+\.md)(?:,\s*"(?P<title>[^"]+)"|\s+§?\s*(?P<first>{LABEL})(?:[–-](?P<last>{LABEL}))?)'
)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
TEST_REF = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


def sources() -> list[Path]:
    # This file is left out: its examples of bad pointers are bad on purpose.
    here = Path(__file__).resolve()
    return sorted(p for folder in SCANNED for p in (ROOT / folder).rglob("*.py") if p.resolve() != here)


def headings(doc: Path) -> list[str]:
    return [match.group(1) for match in HEADING.finditer(doc.read_text(encoding="utf-8"))]


def has_label(titles: list[str], label: str) -> bool:
    # "### B1. Zalo tokens", "### 4.2 Single-use …", "## 6. Fault cases …", "## C. The sandbox"
    pattern = re.compile(rf"^§?\s*{re.escape(label)}(?:[.\s:]|$)")
    return any(pattern.match(title) for title in titles)


def resolves(mention: str) -> bool:
    target = (ROOT / mention).resolve()
    return target.is_relative_to(ROOT) and target.is_file()


def test_every_markdown_file_the_code_mentions_exists_in_the_repository() -> None:
    missing = [
        f"{path.relative_to(ROOT)}:{number}: {mention}"
        for path in sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        for mention in MENTION.findall(line)
        if not resolves(mention)
    ]
    assert not missing, "write the path from the repository root, to a file in it:\n" + "\n".join(missing)


def test_every_section_the_code_names_is_a_heading_of_that_document() -> None:
    wrong = []
    for path in sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for match in SECTION.finditer(line):
                doc = ROOT / match.group(1)
                if not doc.is_file():
                    continue  # reported by the test above
                titles = headings(doc)
                where = f"{path.relative_to(ROOT)}:{number}: {match.group(0)}"
                if match.group("title"):
                    if match.group("title").strip().lower() not in {t.lower() for t in titles}:
                        wrong.append(where)
                    continue
                for label in filter(None, (match.group("first"), match.group("last"))):
                    if not has_label(titles, label):
                        wrong.append(f"{where} (no heading {label})")
    assert not wrong, "no such section:\n" + "\n".join(wrong)


def test_every_test_the_docs_name_exists() -> None:
    named = [
        (doc, match.group(1), match.group(2))
        for doc in sorted((ROOT / "docs").glob("*.md"))
        for match in TEST_REF.finditer(doc.read_text(encoding="utf-8"))
    ]
    assert named, "docs/reliability.md maps its fault cases to tests"
    missing = [
        f"{doc.relative_to(ROOT)}: {file}::{name}"
        for doc, file, name in named
        if not (ROOT / file).is_file()
        or not re.search(rf"^(?:async )?def {name}\(", (ROOT / file).read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert not missing, "renamed or removed tests are still named in the docs:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        ("# see docs/reliability.md §4.2", True),
        ('# see docs/architecture.md, "Fonts"', True),
        # Split so that a search of the code for outside pointers does not find these on purpose.
        ("# see reliability" + ".md §4.2", False),  # bare name: ambiguous, and not a repository path
        ("# see ../" + "shared/docs/platform-apis" + ".md", False),
        ("# see docs/nowhere.md", False),
    ],
)
def test_the_checks_tell_good_pointers_from_bad(line: str, ok: bool) -> None:
    mentions = MENTION.findall(line)
    assert mentions
    found = all(resolves(m) for m in mentions)
    if found:
        for match in SECTION.finditer(line):
            titles = headings(ROOT / match.group(1))
            if match.group("title"):
                found = match.group("title").lower() in {t.lower() for t in titles}
            else:
                found = has_label(titles, match.group("first"))
    assert found is ok
