"""The worst requests the bounds allow (docs/bounds.md): their time and the memory they add.

On the reports benchmark's database (a large office's year, built and cached by
``bench/reports.py``), each case is the largest request a logged-in person may make within
the default ``[limits]``: a report by day over ``report_max_days``, a chart by day of
``chart_max_bars`` days, the spreadsheet and CSV of the longest report, the staff report of
a year. Each is timed end to end and the process's resident memory read before and after
(``/proc/self/statm``) and at its peak (``ru_maxrss``), so "a few seconds, a bounded amount
of memory" is a measured figure, not a hope. Tests assert only the refusals and the bounds.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from bench import reports as reports_bench
from scheduler.reports import exports
from scheduler.reports.queries import Dimension, Period, share_report
from scheduler.store import make_engine

PAGE = os.sysconf("SC_PAGE_SIZE")
BUDGET_SECONDS = 5.0  # what docs/bounds.md promises a request stays under
BUDGET_MIB = 256.0


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(quick: bool) -> dict[str, Any]:
    sizes = reports_bench.QUICK if quick else reports_bench.FULL
    tag = "quick" if quick else "full"
    reports_bench.RESULTS.mkdir(exist_ok=True)
    path = reports_bench.RESULTS / f"reports-{tag}-{reports_bench._schema_hash()}.db"
    if not path.exists():
        reports_bench.build(path, sizes)
    settings = reports_bench.settings_for(path)
    limits = settings.limits
    engine = make_engine(settings.database_url)
    tz = settings.tz
    end = date(reports_bench.YEAR, 12, 31)
    longest = Period(end - timedelta(days=limits.report_max_days - 1), end, tz)
    widest_chart = Period(end - timedelta(days=limits.chart_max_bars - 1), end, tz)
    year = Period(date(reports_bench.YEAR, 1, 1), end, tz)

    def report(period: Period, by: Dimension) -> Any:
        return share_report(engine, settings, period, by)

    cases: list[tuple[str, Callable[[], Any]]] = [
        (f"report by day, {limits.report_max_days} days", lambda: report(longest, Dimension.day)),
        (f"CSV by day, {limits.report_max_days} days",
         lambda: exports.to_csv(exports.share_grid(report(longest, Dimension.day)))),
        (f"XLSX by day, {limits.report_max_days} days", lambda: exports.share_xlsx(report(longest, Dimension.day))),
        (f"chart by day, {limits.chart_max_bars} days",
         lambda: exports.share_chart(report(widest_chart, Dimension.day), max_bars=limits.chart_max_bars)),
        ("XLSX by staff, a year", lambda: exports.share_xlsx(report(year, Dimension.staff))),
        ("chart by staff, a year", lambda: exports.share_chart(report(year, Dimension.staff))),
    ]  # fmt: skip
    rows = []
    for name, work in cases:
        before, peak_before = _rss_mib(), _peak_mib()
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        after, peak = _rss_mib(), _peak_mib()
        rows.append(
            {
                "case": name,
                "seconds": round(seconds, 2),
                "rss_added_mib": round(after - before, 1),
                "peak_added_mib": round(max(0.0, peak - max(peak_before, before)), 1),
                "within_budget": seconds <= BUDGET_SECONDS and after - before <= BUDGET_MIB,
            }
        )
    engine.dispose()
    return {"sizes": sizes, "limits": limits.model_dump(), "budget": [BUDGET_SECONDS, BUDGET_MIB], "cases": rows}


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    seconds, mib = result["budget"]
    table = Table(
        "case", "seconds", "RSS added (MiB)", "peak added (MiB)", "within budget",
        title=f"Worst bounded requests (budget: {seconds:g} s, {mib:g} MiB each)",
    )  # fmt: skip
    for row in result["cases"]:
        table.add_row(
            row["case"],
            f"{row['seconds']:.2f}",
            f"{row['rss_added_mib']:.1f}",
            f"{row['peak_added_mib']:.1f}",
            "yes" if row["within_budget"] else "NO",
        )
    Console().print(table)
