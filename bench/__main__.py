"""`make bench`: run every benchmark, print a table each, write JSON under bench/results/."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

# Each module exposes run(quick: bool) -> dict and print_report(result: dict) -> None.
BENCHMARKS: list[str] = ["covers", "publishing", "reports", "redirect", "bounds", "avatar"]

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help=f"which to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    for name in args.names or BENCHMARKS:
        if name not in BENCHMARKS:
            parser.error(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
        module = importlib.import_module(f"bench.{name}")
        result = module.run(quick=args.quick)
        module.print_report(result)
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
