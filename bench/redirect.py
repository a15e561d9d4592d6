"""Tracked-link redirects per second: Loa's `/l/{code}` against a bare ASGI app answering the same 302.

Both apps run in their own process under the same server (uvicorn, one worker, the same
options, the same start-up ``gc.freeze()``); a small asyncio load generator in this process
keeps 100 keep-alive connections busy on loopback, each from its own 127.0.x.y address.
Every request is a new visitor: a phone User-Agent (from a pool the connections share, as
real phones do) that its address has not sent before. So on Loa's side every request is a
new visitor — counted for its address's first ``sharing.max_clicks_per_address``, kept with
reason ``address_limit`` after that — committed (SQLite, WAL, ``synchronous=FULL``) before its
302 is sent; the counting rules run in full either way. Rounds
alternate between the two sides and the best round of each counts, which keeps a noisy
neighbour on the machine from favouring one side.

Then durability: a last round against Loa is cut short by ``kill -9`` of the server, and
every visit whose 302 the generator received must be a stored click in the database
(checked by recomputing the visitor hashes with the server's key).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import Server, loa_app, run_uvicorn, write_config

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PERMALINK = "https://www.facebook.com/100000000000001/posts/1"
CONNECTIONS = 100
TARGET_RATIO = 0.6
TARGET_P99_MS = 25.0


# -- the two servers (run in a child process) ------------------------------------------------


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Only the 302 Loa answers a person with: same status, same headers, nothing else."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 302,
            "headers": [
                (b"location", PERMALINK.encode()),
                (b"cache-control", b"no-store"),
                (b"referrer-policy", b"no-referrer"),
                (b"content-length", b"0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def serve(kind: str, config: str, port: int, *, freeze: bool = True) -> None:
    app: Any = bare_app if kind == "bare" else loa_app(config)
    run_uvicorn(app, port, freeze=freeze, proxy_headers=False)


# -- set-up ---------------------------------------------------------------------------------


def prepare(folder: Path) -> tuple[Path, str]:
    """A config, a database with one published post, one staff member and their link."""
    from scheduler.app import Loa
    from scheduler.config import load_settings
    from scheduler.models import Post, Publication, PublicationStatus, Staff, Unit
    from scheduler.sharing.service import SharingService
    from scheduler.store import session_scope

    config = write_config(folder, 8000)
    loa = Loa(load_settings(config))
    loa.init()
    now = datetime.now(UTC)
    with session_scope(loa.engine) as session:
        unit = Unit(code="bhxh-thanh-pho-vinh", name="BHXH thành phố Vinh")
        session.add(unit)
        session.flush()
        staff = Staff(unit_id=unit.id or 0, full_name="Nguyễn Văn A", share_token="b" * 32, created_at=now)
        post = Post(template="thang-van-dong", text="Tháng Vận động", scheduled_at=now, created_at=now)
        session.add_all([staff, post])
        session.flush()
        publication = Publication(
            post_id=post.id or 0,
            channel_id="fb-bhxh-nghean",
            platform="facebook",
            status=PublicationStatus.published,
            text="Tháng Vận động triển khai BHXH, BHYT toàn dân",
            due_at=now,
            permalink=PERMALINK,
            published_at=now,
        )
        session.add(publication)
        session.flush()
        link = SharingService(loa.settings, loa.engine).link_for(
            session, publication_id=publication.id or 0, staff_id=staff.id or 0
        )
        code = link.code
    loa.close()
    return config, code


# -- the load generator -----------------------------------------------------------------------


def phone_agent(index: int, label: str) -> str:
    """The index-th of a pool of phone browsers. Visitors share agents, as real phones do; the
    round's label keeps one round's visitors apart from another's in the shared database."""
    model = ("Redmi 9A", "SM-A125F", "CPH2239", "vivo 1906", "Nokia G20", "iPhone")[index % 6]
    return (
        f"Mozilla/5.0 (Linux; Android {10 + index % 5}; {model} {index}) AppleWebKit/537.36 "
        f"(KHTML, like Gecko) Chrome/{110 + index % 20}.0 Mobile Safari/537.36 r/{label}"
    )


@dataclass
class Round:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    answered: list[tuple[str, str]] = field(default_factory=list)  # (address, agent) of every 302
    server_cpu: float = float("nan")
    generator_cpu: float = float("nan")

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else float("nan")

        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
            "rps": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(pct(0.50), 2),
            "p99_ms": round(pct(0.99), 2),
            "max_ms": round(ordered[-1] * 1000, 2) if ordered else float("nan"),
            "server_cpu_us_per_request": round(self.server_cpu / self.requests * 1e6, 1) if self.requests else 0.0,
            "server_cores_busy": round(self.server_cpu / self.seconds, 2) if self.seconds else 0.0,
            "generator_cores_busy": round(self.generator_cpu / self.seconds, 2) if self.seconds else 0.0,
        }


async def _connection(
    port: int, path: str, index: int, label: str, stop_at: float, limit: int, result: Round, warm_until: float
) -> None:
    # Each connection comes from its own loopback address (all of 127.0.0.0/8 is this host), so
    # the same phone agent from two connections is two visitors, as two people on two networks.
    address = f"127.0.{1 + index // 250}.{1 + index % 250}"
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
    n = 0
    try:
        while time.monotonic() < stop_at and result.requests < limit:
            agent = phone_agent(n, label)  # a new agent on this address: a new visitor every time
            n += 1
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {agent}\r\n\r\n".encode()
            started = time.monotonic()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            finished = time.monotonic()
            if started < warm_until:
                continue
            if status == 302:
                result.requests += 1
                result.latencies.append(finished - started)
                result.answered.append((address, agent))
            else:
                result.errors += 1
    except (ConnectionError, asyncio.IncompleteReadError, OSError):
        result.errors += 1
    finally:
        writer.close()


async def load(
    port: int, path: str, *, label: str, seconds: float, warmup: float, limit: int, server: Server | None = None
) -> Round:
    result = Round()
    begin = time.monotonic()
    warm_until = begin + warmup
    stop_at = warm_until + seconds

    async def meter() -> None:
        # Server and generator CPU over the measured window: who is the bottleneck.
        await asyncio.sleep(max(0.0, warm_until - time.monotonic()))
        server_cpu, own_cpu = server.cpu_seconds() if server else float("nan"), time.process_time()
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
        if server:
            result.server_cpu = server.cpu_seconds() - server_cpu
        result.generator_cpu = time.process_time() - own_cpu

    await asyncio.gather(
        meter(),
        *(_connection(port, path, i, label, stop_at, limit, result, warm_until) for i in range(CONNECTIONS)),
    )
    result.seconds = min(time.monotonic(), stop_at) - warm_until
    return result


def missing_clicks(config: Path, answered: list[tuple[str, str]]) -> tuple[int, int]:
    """How many answered visits have no stored click in the database, and how many do.

    The visitor hash is recomputed with the server's own key, from the address and agent the
    generator used: the database holds no address to compare with."""
    from scheduler.config import load_settings
    from scheduler.sharing.visitors import load_keys, visitor_hash

    settings = load_settings(config)
    keys = load_keys(settings)
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(database) as connection:
        stored = {row[0] for row in connection.execute("SELECT visitor_hash FROM click")}
    expected = {visitor_hash(keys, address, agent) for address, agent in answered}
    return len(expected - stored), len(expected & stored)


def run(quick: bool = False) -> dict[str, Any]:
    seconds, warmup, rounds = (2.0, 0.5, 1) if quick else (8.0, 1.0, 2)
    limit = 500_000
    RESULTS.mkdir(exist_ok=True)
    # On the same disk as the project (not tmpfs): an fsync here costs what it costs in production.
    folder = Path(tempfile.mkdtemp(prefix="redirect-", dir=RESULTS))
    try:
        config, code = prepare(folder)
        path = f"/l/{code}"
        best: dict[str, dict[str, float]] = {}
        for round_no in range(rounds):
            for kind in ("bare", "loa"):
                server = Server("bench.redirect", kind, config)
                try:
                    label = f"{kind}{round_no}"
                    measured = asyncio.run(
                        load(server.port, path, label=label, seconds=seconds, warmup=warmup, limit=limit, server=server)
                    )
                finally:
                    server.stop()
                summary = measured.summary()
                if kind == "loa":
                    # Every 302 was a new visitor: each must be a stored click in the database.
                    summary["missing_clicks"] = missing_clicks(config, measured.answered)[0]
                if kind not in best or summary["rps"] > best[kind]["rps"]:
                    best[kind] = summary
        # Durability: kill -9 in the middle of a round; no answered click may be missing.
        server = Server("bench.redirect", "loa", config)

        async def killed_round() -> Round:
            task = asyncio.create_task(load(server.port, path, label="kill", seconds=30, warmup=0, limit=limit))
            await asyncio.sleep(1.0 if quick else 3.0)
            server.kill()
            return await task

        killed = asyncio.run(killed_round())
        missing, present = missing_clicks(config, killed.answered)
        ratio = best["loa"]["rps"] / best["bare"]["rps"] if best["bare"]["rps"] else 0.0
        return {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "connections": CONNECTIONS,
            "seconds_per_round": seconds,
            "rounds": rounds,
            "bare": best["bare"],
            "loa": best["loa"],
            "ratio": round(ratio, 3),
            "targets": {"ratio": TARGET_RATIO, "p99_ms": TARGET_P99_MS},
            "met": ratio >= TARGET_RATIO and best["loa"]["p99_ms"] <= TARGET_P99_MS,
            "kill9": {
                "answered_302": len(killed.answered),
                "in_database": present,
                "missing": missing,
            },
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    bare, loa, kill = result["bare"], result["loa"], result["kill9"]
    ratio_ok = result["ratio"] >= result["targets"]["ratio"]
    p99_ok = loa["p99_ms"] <= result["targets"]["p99_ms"]
    return [
        ("tracked links, Loa ÷ bare ASGI req/s", f"{bare['rps']:.0f} req/s (bare)", f"{result['ratio']:.2f}×",
         f"≥ {result['targets']['ratio']}×", "met" if ratio_ok else "NOT met"),
        ("tracked links p99", f"{bare['p99_ms']:.1f} ms (bare)", f"{loa['p99_ms']:.1f} ms",
         f"≤ {result['targets']['p99_ms']:.0f} ms", "met" if p99_ok else "NOT met"),
        ("clicks missing after kill -9", "", f"{kill['missing']} of {kill['answered_302']}", "0",
         "met" if kill["missing"] == 0 else "NOT met"),
    ]  # fmt: skip


def print_report(result: dict[str, Any]) -> None:
    print(f"\nTracked-link redirect, {result['connections']} connections, best of {result['rounds']} round(s)")
    print(f"{'':<26}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'err':>5}{'µs CPU/req':>11}{'cores':>7}")
    for kind, name in (("bare", "bare ASGI 302 (uvicorn)"), ("loa", "Loa /l/{code} (uvicorn)")):
        row = result[kind]
        print(
            f"{name:<26}{row['rps']:>9.0f}{row['p50_ms']:>8.1f}{row['p99_ms']:>8.1f}{row['max_ms']:>8.1f}"
            f"{row['errors']:>5}{row['server_cpu_us_per_request']:>11.0f}{row['server_cores_busy']:>7.2f}"
        )
    busy = (result["bare"]["generator_cores_busy"], result["loa"]["generator_cores_busy"])
    print(f"load generator busy: {busy[0]:.2f} cores (bare round), {busy[1]:.2f} cores (Loa round)")
    print(
        f"ratio {result['ratio']:.2f} (target ≥ {result['targets']['ratio']}), "
        f"p99 {result['loa']['p99_ms']:.1f} ms (target ≤ {result['targets']['p99_ms']:.0f}); "
        f"missing clicks in the measured rounds: {result['loa'].get('missing_clicks', 0)}"
    )
    kill = result["kill9"]
    print(
        f"kill -9: {kill['answered_302']} clicks answered, {kill['in_database']} in the database, "
        f"{kill['missing']} missing"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.redirect")
    sub = parser.add_subparsers(dest="command", required=True)
    serving = sub.add_parser("serve", help="(internal) run one of the two servers")
    serving.add_argument("kind", choices=["bare", "loa"])
    serving.add_argument("config")
    serving.add_argument("port", type=int)
    sub.add_parser("run", help="run the benchmark").add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.kind, args.config, args.port)
    else:
        outcome = run(quick=args.quick)
        print_report(outcome)
