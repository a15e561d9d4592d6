"""No code outside a platform's own folder decides anything by a platform's name.

Platform differences are class data on the publishers (``scheduler/channels/base.py``), read
through the registry; a new platform is one folder and one registry line. This test parses
every module of ``scheduler/`` outside ``scheduler/channels/<platform>/`` and fails on a
registered platform's name used as a condition: compared, matched, tested, or used as a key
(a dict literal, a subscript, ``.get()`` and its kind). Names in help texts, docstrings and
default values are not decisions and are not reported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from scheduler.channels.registry import registry

PACKAGE = Path(__file__).resolve().parent.parent / "scheduler"
KEY_METHODS = frozenset({"get", "pop", "setdefault", "__getitem__", "__contains__"})
# (module, the decision's line stripped) → why it is not a platform branch. Empty on purpose:
# anything added here must say why it cannot be class data on the publisher.
ALLOWED: dict[tuple[str, str], str] = {}


def _literals(node: ast.AST, names: frozenset[str]) -> list[ast.Constant]:
    """Platform-name string constants in ``node`` itself or directly inside a tuple/list/set."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return [n for n in items if isinstance(n, ast.Constant) and n.value in names]


def platform_decisions(source: str, names: frozenset[str]) -> list[int]:
    """Line numbers where a platform name decides something."""
    found: list[ast.Constant] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                found += _literals(side, names)
        elif isinstance(node, ast.Dict):
            found += [k for k in node.keys if k is not None and k in _literals(k, names)]
        elif isinstance(node, ast.If | ast.IfExp | ast.While | ast.Assert):
            found += _literals(node.test, names)
        elif isinstance(node, ast.MatchValue):
            found += _literals(node.value, names)
        elif isinstance(node, ast.Subscript):
            found += _literals(node.slice, names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in KEY_METHODS
            and node.args
        ):
            found += _literals(node.args[0], names)
    return sorted({n.lineno for n in found})


def _outside_platform_folders() -> list[Path]:
    own = {PACKAGE / "channels" / name for name in registry()}
    return sorted(p for p in PACKAGE.rglob("*.py") if not any(folder in p.parents for folder in own))


def test_the_detector_catches_each_kind_of_decision() -> None:
    names = frozenset({"facebook", "zalo"})
    samples = {
        'if channel.platform == "facebook":\n    pass\n': [1],
        'x = "zalo" if p != "zalo" else None\n': [1],
        'ok = p in ("facebook", "zalo")\n': [1],
        'kind = {"facebook": "Fanpage"}[p]\n': [1],
        'text = by_platform.get("facebook")\n': [1],
        'row = table["zalo"]\n': [1],
        'match p:\n    case "zalo":\n        pass\n': [2],
        'def f(target: str = "facebook") -> None:\n    """Draw for "zalo"."""\n': [],
        'help_text = "facebook or zalo"\n': [],
    }
    for source, lines in samples.items():
        assert platform_decisions(source, names) == lines, source


def test_the_platform_folders_are_skipped_and_the_rest_is_read() -> None:
    modules = _outside_platform_folders()
    assert PACKAGE / "config.py" in modules and PACKAGE / "sandbox" / "app.py" in modules
    assert not any("channels/facebook" in str(p) or "channels/zalo" in str(p) for p in modules)


@pytest.mark.parametrize("path", _outside_platform_folders(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_platform_name_decides_outside_its_folder(path: Path) -> None:
    names = frozenset(registry())
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    module = str(path.relative_to(PACKAGE))
    offending = [
        f"{module}:{n}: {lines[n - 1].strip()}"
        for n in platform_decisions(source, names)
        if (module, lines[n - 1].strip()) not in ALLOWED
    ]
    assert not offending, (
        "a platform's name decides something outside its folder; make it class data on the publisher "
        "(scheduler/channels/base.py) and read it through the registry:\n" + "\n".join(offending)
    )
