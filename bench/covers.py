"""Covers per second: Loa's renderer against a bare Pillow loop drawing the same thing.

Both sides draw the default layout's Facebook cover for the same Vietnamese titles, with the
same fonts at the same sizes on the same (pre-drawn) background, and encode the same JPEG
(``scheduler.render.images.jpeg_bytes``). The bare loop is handed the finished line breaks,
positions and sizes, so the gap between the two is everything Loa adds per cover: Jinja,
NFC, glyph-coverage checks, measuring and fitting, and the byte-limit check. Rounds
alternate between the two sides and the best round of each counts, which keeps a noisy
neighbour on the machine from favouring one side. The batch figure is the wall-clock rate of
``render_batch`` (check + render, one worker per core, process start-up included).
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import PIL
from PIL import ImageDraw, features

from scheduler.render.batch import BatchJob, render_batch
from scheduler.render.covers import CoverPlan, CoverRenderer
from scheduler.render.images import jpeg_bytes

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.8
TITLES = [
    "Ngày hội BHYT",
    "BHXH tự nguyện: chỉ từ 330.000 đồng/tháng để có lương hưu",
    "Tháng Vận động triển khai BHXH, BHYT toàn dân năm 2026",
    "BHYT hộ gia đình: cả nhà cùng tham gia, đóng ít hơn",
    "Lễ ra quân",
    "Người lao động tự do đã có thể tham gia BHXH tự nguyện và được Nhà nước hỗ trợ mức đóng",
    "Tra cứu quá trình đóng BHXH trên ứng dụng VssID",
    "Thẻ BHYT điện tử: khám chữa bệnh chỉ cần căn cước công dân gắn chip",
    "An tâm cho mọi gia đình",
    "Quyền lợi khi tham gia BHXH tự nguyện: lương hưu, thẻ BHYT, trợ cấp mai táng",
    "Chi trả lương hưu tháng 5 qua tài khoản cá nhân",
    "Đối thoại trực tuyến về chính sách BHXH, BHYT với người dân Nghệ An",
]
SUBTITLES = ["Nhà nước hỗ trợ 30% mức đóng cho hộ nghèo", "", "Bảo hiểm xã hội tỉnh Nghệ An"]


def _variables(count: int) -> list[dict[str, str]]:
    # Every title differs (a batch of real posts does), so no cover reuses another's fitting.
    return [
        {"title": f"{TITLES[i % len(TITLES)]} (đợt {i + 1})", "subtitle": SUBTITLES[i % len(SUBTITLES)]}
        for i in range(count)
    ]


def _bare(plan: CoverPlan) -> bytes:
    """What any script would do: copy the background, draw the lines, encode."""
    canvas = plan.base.copy()
    pen = ImageDraw.Draw(canvas)
    for text in plan.texts:
        for line in text.lines:
            pen.text((line.x, line.baseline), line.text, font=text.font, fill=text.color[:3], anchor="ls")
    return jpeg_bytes(canvas)


def _best_rate(work: Callable[[], int], rounds: int) -> float:
    best = float("inf")
    count = 0
    for _ in range(rounds):
        start = time.perf_counter()
        count = work()
        best = min(best, time.perf_counter() - start)
    return count / best


def run(quick: bool) -> dict[str, Any]:
    renderer = CoverRenderer(REPO / "templates", REPO / "assets")
    covers = 36 if quick else 240
    rounds = 3 if quick else 5
    variables = _variables(covers)
    plans = [renderer.plan("default", v) for v in variables]  # also warms fonts and the background
    for v, plan in zip(variables[:5], plans[:5], strict=True):
        renderer.render("default", v)
        _bare(plan)

    def loa() -> int:
        for v in variables:
            renderer.render("default", v, max_bytes=4_000_000)
        return len(variables)

    def bare() -> int:
        for plan in plans:
            _bare(plan)
        return len(plans)

    loa_rates, bare_rates = [], []
    for _ in range(rounds):  # alternate, so both sides see the same machine conditions
        loa_rates.append(_best_rate(loa, 1))
        bare_rates.append(_best_rate(bare, 1))
    loa_rate, bare_rate = max(loa_rates), max(bare_rates)

    batch_rows = 48 if quick else 400
    workers = os.cpu_count() or 1
    job = BatchJob(REPO / "templates", REPO / "assets", "default", "facebook", "jpeg", {})
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        render_batch(job, _variables(batch_rows), Path(folder), workers=workers)
        batch_seconds = time.perf_counter() - start
    return {
        "layout": "default",
        "target": "facebook 1200×630 JPEG",
        "covers_per_round": covers,
        "rounds": rounds,
        "loa_covers_per_s": round(loa_rate, 1),
        "bare_pillow_covers_per_s": round(bare_rate, 1),
        "ratio": round(loa_rate / bare_rate, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": loa_rate / bare_rate >= TARGET_RATIO,
        "batch_rows": batch_rows,
        "batch_workers": workers,
        "batch_covers_per_s": round(batch_rows / batch_seconds, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "pillow": PIL.__version__,
            "raqm": bool(features.check("raqm")),
        },
    }


def print_report(result: dict[str, Any]) -> None:
    machine = result["machine"]
    print(f"Cover rendering — {result['layout']} layout, {result['target']}")
    print(f"  machine: {machine['cpus']} CPUs, Python {machine['python']}, Pillow {machine['pillow']}, "
          f"raqm {'yes' if machine['raqm'] else 'no'}")
    print(f"  Loa CoverRenderer.render   {result['loa_covers_per_s']:8.1f} covers/s (one core)")
    print(f"  bare Pillow loop           {result['bare_pillow_covers_per_s']:8.1f} covers/s (one core)")
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(f"  ratio                      {result['ratio']:8.2f}   ({verdict} the {result['target_ratio']}× target)")
    print(f"  loa render covers (batch)  {result['batch_covers_per_s']:8.1f} covers/s "
          f"({result['batch_rows']} rows, {result['batch_workers']} workers, start-up included)")
