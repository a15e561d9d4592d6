"""Publishing engine: lateness, throughput and memory for a burst; CPU while idle.

Issue target: 1,000 publications due in the same minute over 100 channels while the
platform answers in 150 ms → p99 lateness ≤ 1 s. Everything runs as real processes on
loopback: the sandbox (`loa sandbox`), and `loa worker` publishing from a SQLite file.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

from bench.load import free_port

REPO = Path(__file__).resolve().parent.parent
LATENCY_S = 0.150


def _config(folder: Path, sandbox_port: int, channels: int, *, tick: int = 30) -> Path:
    pages = "".join(
        f'\n[[channels]]\nid = "fb-{n:03d}"\nplatform = "facebook"\nname = "Trang {n}"\nexternal_id = "{10**14 + n}"\n'
        for n in range(channels)
    )
    path = folder / "config.toml"
    path.write_text(
        f"""
timezone = "Asia/Ho_Chi_Minh"
templates_dir = "{REPO / "templates"}"
assets_dir = "{REPO / "assets"}"
[database]
url = "sqlite:///{folder / "posts.db"}"
[sandbox]
enabled = false
port = {sandbox_port}
[publishing]
tick_seconds = {tick}
request_timeout_seconds = 10
[secrets]
key_file = "{folder / "secret.key"}"
{pages}
""",
        encoding="utf-8",
    )
    return path


def _queue(config: Path, count: int, channels: int, due: datetime) -> None:
    from scheduler.app import Loa
    from scheduler.config import load_settings
    from scheduler.posts.requests import PostRequest

    loa = Loa(load_settings(config))
    loa.init()
    now = datetime.now(UTC)
    prepared = [
        loa.posts.prepare(
            PostRequest(
                template="thang-van-dong",
                channels=[f"fb-{n % channels:03d}"],
                variables={"hoat_dong": f"ra quân đợt {n}", "dia_diem": "Vinh", "ngay": "06/05/2026"},
                at=due,
            ),
            now=now,
        )
        for n in range(count)
    ]
    for start in range(0, len(prepared), 1000):
        loa.posts.store(prepared[start : start + 1000])
    loa.close()


def _loa(config: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--config", str(config), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _wait_for_ticks(engine: Any, workers: int, timeout: float = 120) -> None:
    """Until every worker has finished its first pass (start-up done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(text("SELECT count(*) FROM schedulertick")).scalar_one() >= workers:
                return
        time.sleep(0.2)
    raise RuntimeError("the workers did not start")


def _pin(pid: int, cores: set[int] | None) -> None:
    if cores is not None:
        os.sched_setaffinity(pid, cores)


def _pinning() -> tuple[set[int], set[int]] | None:
    """Worker and emulator each on cores of their own, when the machine has two or more."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    return set(cores[:1]), set(cores[1:])


def burst(count: int, channels: int, workers: int = 1, *, pinned: bool = False) -> dict[str, Any]:
    from scheduler.store import make_engine

    pinning = _pinning() if pinned else None

    with tempfile.TemporaryDirectory(prefix="loa-bench-") as folder_name:
        folder = Path(folder_name)
        port = free_port()
        config = _config(folder, port, channels)
        # Queued for tomorrow, then moved to a few seconds ahead once every worker has started
        # and run its first pass (as a reschedule from another process would): neither the
        # time to queue 1,000 posts nor a worker's start-up can spill into the burst.
        _queue(config, count, channels, datetime.now(UTC) + timedelta(days=1))
        sandbox = _loa(config, "sandbox", "--port", str(port))
        _pin(sandbox.pid, pinning[1] if pinning else None)
        worker = None
        others: list[subprocess.Popen[bytes]] = []
        try:
            _wait_http(f"http://127.0.0.1:{port}/_sandbox/state")
            requests.post(
                f"http://127.0.0.1:{port}/_sandbox/faults",
                json={"platform": "facebook", "delay_s": LATENCY_S, "times": 10 * count},
                timeout=5,
            ).raise_for_status()
            worker = _loa(config, "worker")
            others = [_loa(config, "worker") for _ in range(workers - 1)]
            for process in (worker, *others):
                _pin(process.pid, pinning[0] if pinning else None)
            engine = make_engine(f"sqlite:///{folder / 'posts.db'}")
            _wait_for_ticks(engine, workers)
            due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
            with engine.begin() as connection:
                stamp = {"due": due.replace(tzinfo=None), "now": datetime.now(UTC).replace(tzinfo=None)}
                connection.execute(text("UPDATE publication SET due_at = :due, updated_at = :now"), stamp)
            # The CPU of the burst alone: measured from a second before the posts fall due.
            time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() - 1.0))
            before = sum(_cpu_seconds(p.pid) for p in [worker, *others]), _cpu_seconds(sandbox.pid)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with engine.connect() as connection:
                    left = connection.execute(
                        text("SELECT count(*) FROM publication WHERE status != 'published'")
                    ).scalar_one()
                if left == 0:
                    break
                time.sleep(0.2)
            rss = _peak_rss_mb(worker.pid)
            cpu = {
                "worker_s": sum(_cpu_seconds(p.pid) for p in [worker, *others]) - before[0],
                "sandbox_s": _cpu_seconds(sandbox.pid) - before[1],
            }
            with engine.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT p.due_at, a.started_at, a.finished_at FROM publication p "
                        "JOIN publishattempt a ON a.publication_id = p.id WHERE p.status = 'published'"
                    )
                ).all()
            engine.dispose()
        finally:
            for process in (worker, *others, sandbox):
                if process is not None:
                    process.terminate()
                    try:
                        process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()

    def parse(value: Any) -> datetime:
        return (value if isinstance(value, datetime) else datetime.fromisoformat(str(value))).replace(tzinfo=UTC)

    lateness = [(parse(finished) - parse(due_at)).total_seconds() for due_at, _, finished in rows]
    start_lag = [(parse(started) - parse(due_at)).total_seconds() for due_at, started, _ in rows]
    span = max(parse(f) for _, _, f in rows) - min(parse(s) for _, s, _ in rows)
    return {
        "publications": count,
        "channels": channels,
        "workers": workers,
        "platform_latency_ms": LATENCY_S * 1000,
        "published": len(rows),
        "lateness_s": {
            "p50": statistics.median(lateness),
            "p99": _percentile(lateness, 0.99),
            "max": max(lateness),
        },
        "claimed_after_due_s": {"p50": statistics.median(start_lag), "p99": _percentile(start_lag, 0.99)},
        "throughput_per_s": len(rows) / max(span.total_seconds(), 1e-9),
        "peak_rss_mb": rss,
        "cpu": cpu,
        "worker_cpu_ms_per_publication": 1000 * cpu["worker_s"] / max(1, len(rows)),
        "sandbox_cpu_ms_per_publication": 1000 * cpu["sandbox_s"] / max(1, len(rows)),
        "pinned": pinning is not None,
    }


def idle(queued: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="loa-bench-idle-") as folder_name:
        folder = Path(folder_name)
        config = _config(folder, free_port(), 10)
        _queue(config, queued, 10, datetime.now(UTC) + timedelta(days=5))
        worker = _loa(config, "worker")
        try:
            from scheduler.store import make_engine

            engine = make_engine(f"sqlite:///{folder / 'posts.db'}")
            _wait_for_ticks(engine, 1)  # start-up and the first pass done, however loaded the machine
            engine.dispose()
            time.sleep(2)
            before = _cpu_seconds(worker.pid)
            time.sleep(seconds)
            used = _cpu_seconds(worker.pid) - before
        finally:
            worker.terminate()
            worker.wait(timeout=20)
    return {"queued": queued, "seconds": seconds, "cpu_percent": 100 * used / seconds}


# What the issue measured before this work (`make bench` on the same 2-core machine).
BASELINE = {"p99_s": "2,3–4,2", "worker_cpu_ms": 4.8, "sandbox_cpu_ms": 2.4, "rss_mb": 113, "idle_percent": 0.07}
TARGETS = {"p99_s": 1.0, "worker_cpu_ms": 0.8, "rss_mb": 150, "idle_percent": 1.0}


def run(quick: bool = False) -> dict[str, Any]:
    count, channels = (200, 20) if quick else (1000, 100)
    return {
        # The emulator on a core of its own: the figure measures Loa, not the platform.
        "burst_pinned": burst(count, channels, pinned=True),
        "burst": burst(count, channels),
        "burst_two_workers": burst(count, channels, workers=2),
        "idle": idle(1000 if quick else 10_000, 10 if quick else 30),
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "baseline": BASELINE,
        "targets": TARGETS,
    }


def _met(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    pinned, b, i = result["burst_pinned"], result["burst"], result["idle"]
    base, target = result["baseline"], result["targets"]
    rss = max(pinned["peak_rss_mb"], b["peak_rss_mb"])
    return [
        ("publish burst p99 lateness, emulator pinned", f"{base['p99_s']} s", f"{pinned['lateness_s']['p99']:.2f} s",
         "≤ 1 s", _met(pinned["lateness_s"]["p99"], target["p99_s"])),
        ("publish burst p99 lateness, unpinned", f"{base['p99_s']} s", f"{b['lateness_s']['p99']:.2f} s", "", ""),
        ("worker CPU per publication (pinned)", f"{base['worker_cpu_ms']} ms",
         f"{pinned['worker_cpu_ms_per_publication']:.2f} ms", "≤ 0,8 ms",
         _met(pinned["worker_cpu_ms_per_publication"], target["worker_cpu_ms"])),
        ("worker peak RSS", f"{base['rss_mb']} MB", f"{rss:.0f} MB", "≤ 150 MB", _met(rss, target["rss_mb"])),
        (f"idle CPU, {i['queued']} future posts", f"{base['idle_percent']} %", f"{i['cpu_percent']:.2f} %", "< 1 %",
         _met(i["cpu_percent"], target["idle_percent"])),
    ]  # fmt: skip


def print_report(result: dict[str, Any]) -> None:
    pinned, b, i = result["burst_pinned"], result["burst"], result["idle"]
    base, target = result["baseline"], result["targets"]
    print(f"\nPublishing engine ({result['machine']})")
    print(f"  burst: {b['published']}/{b['publications']} publications due together over {b['channels']} channels,")
    print(f"         platform latency {b['platform_latency_ms']:.0f} ms; emulator pinned to the other core or not")
    rows = [
        ("p99 lateness, emulator pinned (s)", base["p99_s"], f"{pinned['lateness_s']['p99']:.2f}",
         _met(pinned["lateness_s"]["p99"], target["p99_s"]) + " (≤ 1 s)"),
        ("p99 lateness, unpinned (s)", base["p99_s"], f"{b['lateness_s']['p99']:.2f}", ""),
        ("p50 lateness pinned / unpinned (s)", "1,36–1,55",
         f"{pinned['lateness_s']['p50']:.2f} / {b['lateness_s']['p50']:.2f}", ""),
        ("worker CPU per publication (ms)", f"{base['worker_cpu_ms']}",
         f"{pinned['worker_cpu_ms_per_publication']:.2f} / {b['worker_cpu_ms_per_publication']:.2f}",
         _met(pinned["worker_cpu_ms_per_publication"], target["worker_cpu_ms"]) + " (≤ 0,8)"),
        ("emulator CPU per publication (ms)", f"{base['sandbox_cpu_ms']}",
         f"{pinned['sandbox_cpu_ms_per_publication']:.2f} / {b['sandbox_cpu_ms_per_publication']:.2f}", ""),
        ("throughput pinned / unpinned (/s)", "373",
         f"{pinned['throughput_per_s']:.0f} / {b['throughput_per_s']:.0f}", ""),
        ("peak RSS of the worker (MB)", f"{base['rss_mb']}", f"{max(pinned['peak_rss_mb'], b['peak_rss_mb']):.0f}",
         _met(max(pinned["peak_rss_mb"], b["peak_rss_mb"]), target["rss_mb"]) + " (≤ 150)"),
        ("p99 lateness, two workers (s)", "1,89–1,96", f"{result['burst_two_workers']['lateness_s']['p99']:.2f}", ""),
        (f"idle CPU, {i['queued']} future posts (%)", f"{base['idle_percent']}", f"{i['cpu_percent']:.2f}",
         _met(i["cpu_percent"], target["idle_percent"]) + " (< 1 %)"),
    ]  # fmt: skip
    print(f"  {'':40} {'before (issue)':>15} {'now':>15}  target")
    for label, before, now, verdict in rows:
        print(f"  {label:40} {before:>15} {now:>15}  {verdict}")


if __name__ == "__main__":
    outcome = run(quick="--quick" in sys.argv)
    print_report(outcome)
    print(json.dumps(outcome, indent=2))
