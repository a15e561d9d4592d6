"""`make bench`: run every benchmark, print a table each, write JSON under bench/results/."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

# Each module exposes run(quick: bool) -> dict and print_report(result: dict) -> None, and may
# expose summary(result: dict) -> rows of (figure, baseline, now, target, verdict) for the
# side-by-side table printed once every benchmark has run.
BENCHMARKS: list[str] = [
    "covers", "publishing", "reports", "national", "redirect", "sharing", "compose", "bounds", "media", "avatar",
]

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help=f"which to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    rows: list[tuple[str, str, str, str, str]] = []
    for name in args.names or BENCHMARKS:
        if name not in BENCHMARKS:
            parser.error(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
        module = importlib.import_module(f"bench.{name}")
        result = module.run(quick=args.quick)
        module.print_report(result)
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        if hasattr(module, "summary"):
            rows.extend(module.summary(result))
    if rows:
        print_table(rows, quick=args.quick)
    return 0


def print_table(rows: list[tuple[str, str, str, str, str]], *, quick: bool) -> None:
    """Every benchmark's targets side by side with its baseline, as measured in this run."""
    heads = ("figure", "baseline", "now", "target", "")
    widths = [max(len(str(row[i])) for row in [heads, *rows]) for i in range(5)]
    print("\nSide by side" + (" (--quick: smaller sizes than the targets name)" if quick else ""))
    for row in [heads, *rows]:
        print("  " + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    sys.exit(main())
