"""Media: photo ingestion against a bare Pillow loop, a large video streamed to the sandbox
(peak memory), and a 10-photo album published at 150 ms platform latency.

- Ingestion: a 12-megapixel phone JPEG (orientation 6, a GPS block) through
  ``MediaLibrary.add`` (checked by content, turned upright, written again without EXIF at the
  publishing edge, thumbnail, hash, stored with its row) against a bare loop doing the same
  decode (with JPEG draft scaling, as Loa does), transpose, resizes and two encodes, and the
  hash. Rounds alternate and the best of each counts.
- Video: a file of ``video_mb`` megabytes added to the library (streamed copy and hash) and
  published as a Page video through the chunked upload to a sandbox running in its own
  process; the figure is how much this process's peak RSS (VmHWM) grew.
- Album: 10 photos staged and attached in one post, every sandbox reply delayed 150 ms; the
  figure is the wall time of the publish, i.e. how long after its due time the album is live.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.8
LATENCY_S = 0.15


def _phone_jpeg(path: Path, seed: int) -> Path:
    # Noise compresses like a photo does (a flat colour would flatter both sides).
    noise = Image.effect_noise((4000, 3000), 60).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (18.0, 40.0, float(seed)), 3: "E", 4: (105.0, 40.0, 0.0)}
    noise.save(path, quality=90, exif=exif, comment=f"shot {seed}".encode())
    return path


def _settings(folder: Path, sandbox_port: int = 8910) -> Any:
    from scheduler.config import load_settings
    from tests.conftest import write_config

    config = write_config(folder, sandbox_url=f"http://127.0.0.1:{sandbox_port}")
    return load_settings(config), config


def _bare(path: Path, edge: int) -> tuple[bytes, bytes, str]:
    import hashlib

    from PIL import ImageOps

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with Image.open(path) as image:
        image.draft("RGB", (edge, edge))
        upright = ImageOps.exif_transpose(image)
    copy = upright.convert("RGB")
    copy.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=88)
    thumb = copy.copy()
    thumb.thumbnail((320, 320), Image.Resampling.BILINEAR)
    small = io.BytesIO()
    thumb.save(small, "JPEG", quality=80)
    return out.getvalue(), small.getvalue(), digest


def ingestion(rounds: int) -> dict[str, Any]:
    from scheduler.app import Loa

    with tempfile.TemporaryDirectory(prefix="loa-bench-media-") as name:
        folder = Path(name)
        settings, _config = _settings(folder)
        loa = Loa(settings)
        loa.init()
        photos = [_phone_jpeg(folder / f"IMG_{i:04d}.JPG", i) for i in range(rounds * 2)]
        edge = settings.media.publish_edge_px
        loa_times: list[float] = []
        bare_times: list[float] = []
        for i in range(rounds):
            started = time.perf_counter()
            loa.media.add([photos[2 * i]])
            loa_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            _bare(photos[2 * i + 1], edge)
            bare_times.append(time.perf_counter() - started)
        loa.close()
    best_loa, best_bare = min(loa_times), min(bare_times)
    return {
        "megapixels": 12,
        "rounds": rounds,
        "loa_ms": best_loa * 1000,
        "bare_pillow_ms": best_bare * 1000,
        "loa_median_ms": statistics.median(loa_times) * 1000,
        "bare_median_ms": statistics.median(bare_times) * 1000,
        "ratio": best_bare / best_loa,
        "target_ratio": TARGET_RATIO,
    }


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _sandbox(config: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--config", str(config), "sandbox", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/_sandbox/state", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the sandbox did not start")


def _publisher(settings: Any, port: int) -> Any:
    from scheduler.channels.base import ChannelAccess
    from scheduler.channels.facebook.client import FacebookPublisher

    class Vault:
        def load(self, channel_id: str) -> None:
            return None

    access = ChannelAccess(
        channel_id="fb-bhxh-nghean",
        external_id="100000000000001",
        api_base=f"http://127.0.0.1:{port}/v25.0",
        access_token="sandbox-page-token",
    )
    return FacebookPublisher(access, vault=Vault(), timeout=120, video_poll_interval=0.2)  # type: ignore[arg-type]


def video(megabytes: int) -> dict[str, Any]:
    from scheduler.app import Loa
    from scheduler.channels.base import OutgoingPost
    from scheduler.media.library import as_file
    from tests.conftest import free_port
    from tests.mp4 import mp4_bytes

    with tempfile.TemporaryDirectory(prefix="loa-bench-video-") as name:
        folder = Path(name)
        port = free_port()
        settings, config = _settings(folder, port)
        loa = Loa(settings)
        loa.init()
        clip = folder / "phong-su.mp4"
        head = mp4_bytes(seconds=600.0, width=1920, height=1080, payload=0)
        with clip.open("wb") as sink:
            sink.write(head[:-8])  # the mdat box header, sized for what follows
            sink.write((megabytes * 1024 * 1024 + 8).to_bytes(4, "big") + b"mdat")
            block = os.urandom(1024 * 1024)
            for _ in range(megabytes):
                sink.write(block)
        sandbox = _sandbox(config, port)
        try:
            # Reset this process's peak (VmHWM) so the figure is the video's alone.
            Path("/proc/self/clear_refs").write_text("5")
            before = _peak_rss_mb()
            started = time.perf_counter()
            (item,) = loa.media.add([clip])
            added = time.perf_counter() - started
            rows = loa.media.items([item["id"]])
            publisher = _publisher(settings, port)
            started = time.perf_counter()
            result = publisher.publish(OutgoingPost(text="Phóng sự", media=(as_file(rows[0], settings),)))
            uploaded = time.perf_counter() - started
            after = _peak_rss_mb()
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)
            loa.close()
    return {
        "video_mb": megabytes,
        "library_add_s": added,
        "upload_and_publish_s": uploaded,
        "peak_rss_before_mb": before,
        "peak_rss_after_mb": after,
        "peak_rss_growth_mb": after - before,
        "target_growth_mb": 50,
        "published": bool(result.remote_id),
    }


def album(rounds: int) -> dict[str, Any]:
    from scheduler.app import Loa
    from scheduler.channels.base import OutgoingPost
    from scheduler.media.library import as_file
    from tests.conftest import free_port

    with tempfile.TemporaryDirectory(prefix="loa-bench-album-") as name:
        folder = Path(name)
        port = free_port()
        settings, config = _settings(folder, port)
        loa = Loa(settings)
        loa.init()
        paths = []
        for i in range(10):
            path = folder / f"anh-{i}.jpg"
            Image.effect_noise((1600, 1200), 40 + i).convert("RGB").save(path, quality=85)
            paths.append(path)
        items = loa.media.items([m["id"] for m in loa.media.add(paths)])
        files = tuple(as_file(item, settings) for item in items)
        sandbox = _sandbox(config, port)
        times: list[float] = []
        try:
            requests.post(
                f"http://127.0.0.1:{port}/_sandbox/faults",
                json={"platform": "facebook", "delay_s": LATENCY_S, "times": 1000},
                timeout=5,
            ).raise_for_status()
            publisher = _publisher(settings, port)
            for i in range(rounds):
                started = time.perf_counter()
                publisher.publish(OutgoingPost(text=f"Album {i}", media=files))
                times.append(time.perf_counter() - started)
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)
            loa.close()
    return {
        "photos": 10,
        "platform_latency_ms": LATENCY_S * 1000,
        "rounds": rounds,
        "live_after_due_s": {"best": min(times), "median": statistics.median(times), "max": max(times)},
        "target_s": 2.0,
    }


def run(quick: bool = False) -> dict[str, Any]:
    # The video first: its figure is growth over a process that has not decoded photos yet.
    measured = {"video": video(50 if quick else 500)}
    measured["ingestion"] = ingestion(3 if quick else 8)
    measured["album"] = album(2 if quick else 5)
    return measured


def print_report(result: dict[str, Any]) -> None:
    i, v, a = result["ingestion"], result["video"], result["album"]
    print("media")
    print(
        f"  12 MP photo ingestion: Loa {i['loa_ms']:.0f} ms, bare Pillow {i['bare_pillow_ms']:.0f} ms, "
        f"ratio {i['ratio']:.2f} (target ≥ {i['target_ratio']})"
    )
    print(
        f"  {v['video_mb']} MB video: library {v['library_add_s']:.1f} s, upload+publish "
        f"{v['upload_and_publish_s']:.1f} s, peak RSS +{v['peak_rss_growth_mb']:.1f} MB (target ≤ 50)"
    )
    live = a["live_after_due_s"]
    print(
        f"  10-photo album at {a['platform_latency_ms']:.0f} ms latency: live {live['median']:.2f} s after due "
        f"(best {live['best']:.2f}, max {live['max']:.2f}; target ≤ 2 s)"
    )
