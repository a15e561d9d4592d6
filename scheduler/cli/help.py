"""The command's help in the reader's language.

The command tree is declared once (typer decorators, with the English wording in the code);
when ``loa`` runs, :func:`translate_help` replaces each command's and option's help with its
catalogue wording in the process language. Ids follow the tree: ``cli.help.post.add`` for a
command, ``cli.option.post.add.template`` for one of its options, or ``cli.option.as_json`` for
an option worded the same everywhere; ``cli.help.loa`` is the root. ``tests/test_i18n.py``
fails when a command or option has help without an id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scheduler.i18n import known, translate


def help_ids(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[Any, str | None, list[tuple[Any, str]]]]:
    """Each command of the tree with its help id (None without help) and its options' ids."""
    where = ".".join(path).replace("-", "_") or "loa"  # ids take no hyphens (send-back → send_back)
    own = f"cli.help.{where}" if command.help else None
    options = []
    for param in command.params:
        if getattr(param, "help", None):
            specific = f"cli.option.{where}.{param.name}"
            options.append((param, specific if known(specific) else f"cli.option.{param.name}"))
    yield command, own, options
    if hasattr(command, "list_commands"):
        context = command.context_class(command)
        for name in command.list_commands(context):
            yield from help_ids(command.get_command(context, name), (*path, name))


def translate_help(command: Any, lang: str) -> None:
    """Word the whole tree's help in ``lang``; a text without a catalogue id stays as written."""
    for node, own, options in help_ids(command):
        if own and known(own):
            node.help = translate(lang, own)
            node.short_help = None  # derived again from the translated help
        for param, msgid in options:
            if known(msgid):
                param.help = translate(lang, msgid)
