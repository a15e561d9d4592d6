"""Share pages when a whole unit gets the link at once: 500 staff opening theirs within 10 s.

Loa's app runs under uvicorn in its own process (as in the redirect benchmark) on a SQLite
file holding 500 staff and ten posts published in the last days, each with its own cover
drawn by the cover renderer (1200×630 JPEG, ~120 KB). The generator opens the 500 pages at a
steady pace over 10 s, each on a new connection (one phone each) — open loop: a slow answer
does not slow the next arrivals down. Side by side, in the same run and under the same
server: a bare ASGI app answering the same page bytes, so the gap is what Loa adds.

Then what one phone downloads: the page, its stylesheet and script, and the cover each of the
ten ``<picture>`` elements would pick on a 360 CSS px phone at twice its pixels (the 960 px
WebP), against the ten original covers the page showed before.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from bench.load import Server, free_port, loa_app, run_uvicorn, write_config

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
STAFF = 500
POSTS = 10
PHONE_UA = "Mozilla/5.0 (Linux; Android 10; Redmi 9A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile"
TARGETS = {"p99_ms": 100.0, "page_kb": 60.0, "phone_kb": 400.0}


def prepare(folder: Path, port: int, staff: int) -> tuple[Path, list[str]]:
    """A config, 500 staff, ten published posts with covers; the staff's share tokens."""
    from scheduler.app import Loa
    from scheduler.config import load_settings
    from scheduler.models import Post, Publication, PublicationStatus, Staff, Unit
    from scheduler.render.covers import CoverRenderer
    from scheduler.store import session_scope

    config = write_config(folder, port)
    loa = Loa(load_settings(config))
    loa.init()
    media = folder / "media"
    media.mkdir(mode=0o700, exist_ok=True)
    renderer = CoverRenderer(REPO / "templates", REPO / "assets")
    now = datetime.now(UTC)
    tokens = [f"{n:032x}" for n in range(1, staff + 1)]
    with session_scope(loa.engine) as session:
        unit = Unit(code="bhxh-thanh-pho-vinh", name="BHXH thành phố Vinh")
        session.add(unit)
        session.flush()
        session.add_all(
            Staff(unit_id=unit.id or 0, full_name=f"Cán bộ {n}", share_token=token, created_at=now)
            for n, token in enumerate(tokens)
        )
        for n in range(POSTS):
            title = f"Ra quân tuyên truyền BHXH, BHYT toàn dân đợt {n + 1} tại xã Nghĩa Đồng"
            cover = renderer.render("default", {"title": title, "subtitle": f"Tân Kỳ, {n + 1:02d}/05/2026"})
            name = f"bench-cover-{n}.jpg"
            (media / name).write_bytes(cover)
            at = now - timedelta(hours=n + 1)
            post = Post(template="thang-van-dong", text=title, scheduled_at=at, created_at=at)
            session.add(post)
            session.flush()
            text = f"{title}. Người dân được hướng dẫn đăng ký BHXH tự nguyện và gia hạn thẻ BHYT. " * 3
            session.add(
                Publication(
                    post_id=post.id or 0,
                    channel_id="fb-bhxh-nghean",
                    platform="facebook",
                    status=PublicationStatus.published,
                    text=text,
                    cover_file=name,
                    due_at=at,
                    published_at=at,
                    remote_id=f"100000000000001_{n}",
                    permalink=f"https://www.facebook.com/100000000000001/posts/{n}",
                )
            )
    loa.close()
    return config, tokens


def serve(kind: str, config: str, port: int) -> None:
    if kind == "bare":
        body = Path(os.environ["LOA_BENCH_PAGE"]).read_bytes()
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        served: Any = app
    else:
        served = loa_app(config)
    run_uvicorn(served, port)  # gc.freeze() first, as `loa run` does once its app is built


async def _open(port: int, path: str, at: float, latencies: list[float], errors: list[int]) -> None:
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {PHONE_UA}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:"), 0
        )
        await reader.readexactly(length)
        writer.close()
        if head[9:12] != b"200":
            errors.append(int(head[9:12]))
            return
    except (OSError, asyncio.IncompleteReadError):
        errors.append(0)
        return
    latencies.append(time.monotonic() - started)


async def crowd(port: int, paths: list[str], seconds: float) -> tuple[list[float], list[int]]:
    """Every path opened once, arrivals evenly spread over ``seconds`` (open loop)."""
    latencies: list[float] = []
    errors: list[int] = []
    begin = time.monotonic() + 0.2
    step = seconds / len(paths)
    await asyncio.gather(*(_open(port, path, begin + i * step, latencies, errors) for i, path in enumerate(paths)))
    return latencies, errors


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def phone_download(base: str, page: str) -> dict[str, int]:
    """Bytes a 360 px phone at 2× takes for the page: each picture's 960 px WebP, its CSS and JS."""
    covers = re.findall(r'<source type="image/webp" srcset="([^"]+)"', page)
    chosen = [html.unescape(srcset).split(", ")[-1].rsplit(" ", 1)[0] for srcset in covers]
    originals = [url.split("?")[0] for url in chosen]
    jpegs = [url.replace("f=webp", "f=jpeg") for url in chosen]

    def size(url: str) -> int:
        response = requests.get(url, timeout=30)
        response.raise_for_status()
        return len(response.content)

    assets = sum(size(base + p) for p in ("/static/share/share.css", "/static/share/share.js"))
    page_bytes = len(page.encode())
    return {
        "covers": len(chosen),
        "page": page_bytes,
        "assets": assets,
        "webp_960": sum(size(u) for u in chosen),
        "jpeg_960": sum(size(u) for u in jpegs),
        "originals": sum(size(u) for u in originals),
    }


def run(quick: bool = False) -> dict[str, Any]:
    staff, seconds = (100, 2.0) if quick else (STAFF, 10.0)
    RESULTS.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="sharing-", dir=RESULTS))
    try:
        port = free_port()
        config, tokens = prepare(folder, port, staff)
        paths = [f"/s/{token}" for token in tokens]
        loa = Server("bench.sharing", "loa", config, port)
        try:
            base = f"http://127.0.0.1:{port}"
            sample = requests.get(base + paths[0], headers={"User-Agent": PHONE_UA}, timeout=30).text
            download = phone_download(base, sample)  # also makes the renditions, once
            cpu = loa.cpu_seconds()
            latencies, errors = asyncio.run(crowd(port, paths, seconds))
            loa_cpu = loa.cpu_seconds() - cpu
        finally:
            loa.stop()
        page_file = folder / "page.html"
        page_file.write_text(sample, encoding="utf-8")
        bare = Server("bench.sharing", "bare", config, env={"LOA_BENCH_PAGE": str(page_file)})
        try:
            bare_latencies, bare_errors = asyncio.run(crowd(bare.port, paths, seconds))
        finally:
            bare.stop()
        return {
            "staff": staff,
            "seconds": seconds,
            "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
            "loa": {
                "p50_ms": _pct(latencies, 0.5),
                "p99_ms": _pct(latencies, 0.99),
                "max_ms": _pct(latencies, 1.0),
                "errors": len(errors),
                "cpu_ms_per_page": 1000 * loa_cpu / max(1, len(latencies)),
            },
            "bare": {
                "p50_ms": _pct(bare_latencies, 0.5),
                "p99_ms": _pct(bare_latencies, 0.99),
                "max_ms": _pct(bare_latencies, 1.0),
                "errors": len(bare_errors),
            },
            "download": download,
            "targets": TARGETS,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    loa, bare, d, target = result["loa"], result["bare"], result["download"], result["targets"]
    kb = 1024
    phone = (d["page"] + d["assets"] + d["webp_960"]) / kb
    before = (d["page"] + d["assets"] + d["originals"]) / kb
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    return [
        (f"share pages, {result['staff']} staff in {result['seconds']:.0f} s: p99", f"{bare['p99_ms']:.0f} ms (bare)",
         f"{loa['p99_ms']:.0f} ms", "≤ 100 ms", verdict(loa["p99_ms"] <= target["p99_ms"])),
        ("share page before images", "", f"{d['page'] / kb:.1f} KB", "≤ 60 KB",
         verdict(d["page"] / kb <= target["page_kb"])),
        (f"a phone, {d['covers']} posts", f"{before:.0f} KB (originals)", f"{phone:.0f} KB", "≤ 400 KB",
         verdict(phone <= target["phone_kb"])),
    ]  # fmt: skip


def print_report(result: dict[str, Any]) -> None:
    loa, bare, d = result["loa"], result["bare"], result["download"]
    print(f"\nShare pages: {result['staff']} staff open theirs within {result['seconds']:.0f} s ({result['machine']})")
    print(f"  {'':34}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'errors':>8}")
    print(f"  {'bare ASGI, same page bytes':34}{bare['p50_ms']:>8.1f}{bare['p99_ms']:>8.1f}{bare['max_ms']:>8.1f}"
          f"{bare['errors']:>8}")  # fmt: skip
    print(f"  {'Loa /s/{token}':34}{loa['p50_ms']:>8.1f}{loa['p99_ms']:>8.1f}{loa['max_ms']:>8.1f}{loa['errors']:>8}"
          f"   {loa['cpu_ms_per_page']:.1f} ms CPU per page")  # fmt: skip
    kb = 1024
    phone = d["page"] + d["assets"] + d["webp_960"]
    before = d["page"] + d["assets"] + d["originals"]
    target = result["targets"]
    print(f"  p99 {loa['p99_ms']:.0f} ms (target ≤ {target['p99_ms']:.0f}): "
          f"{'met' if loa['p99_ms'] <= target['p99_ms'] else 'NOT met'}")  # fmt: skip
    print(f"  page before images {d['page'] / kb:.1f} KB (target ≤ {target['page_kb']:.0f}),"
          f" CSS + JS {d['assets'] / kb:.1f} KB")
    print(f"  a phone, {d['covers']} posts: {phone / kb:.0f} KB with 960 px WebP (target ≤ {target['phone_kb']:.0f});"
          f" {(d['page'] + d['assets'] + d['jpeg_960']) / kb:.0f} KB with the JPEG fallback;"
          f" {before / kb:.0f} KB with the original covers (before)")  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        outcome = run(quick="--quick" in sys.argv)
        print_report(outcome)
