"""The ``loa`` command (``scheduler.cli:main``), one module per command group."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    # Imported on call so that importing a command group does not build the whole command.
    from scheduler.cli.app import main as run

    run(argv)
