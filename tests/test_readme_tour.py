"""The README's tour, run as written: every command in it must work on a fresh clone.

The shell blocks between ``<!-- tour:begin`` and ``<!-- tour:end -->`` in README.md are joined
into one bash script (its variables carry ids from one block to the next, as in a person's
terminal) and run in a fresh folder holding what a clone has: the shipped config.toml,
templates/, assets/ and examples/. What `make run` would serve is there too, on free loopback
ports: the sandbox and Loa's web app (Zalo fetches covers from it). The scheduler itself is
not running, so `loa publish-due` is what publishes — the path the tour names for cron.

Editing the README is what breaks or fixes this test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from tests.conftest import REPO, free_port

if TYPE_CHECKING:
    from scheduler.sandbox.server import SandboxServer

README = REPO / "README.md"
BEGIN = "<!-- tour:begin"
END = "<!-- tour:end -->"
# The addresses the README gives; the test's own servers listen on free ports instead.
README_SANDBOX = "http://127.0.0.1:8910"
README_WEB = "http://127.0.0.1:8000"

# Every `loa` and `curl` the tour runs is logged with its exit code: `set -e` alone would not
# stop at a failure on the left of `&&` or inside `$(…)` in every bash.
PRELUDE = r"""
set -euo pipefail
loa() {
    local rc=0
    command loa "$@" || rc=$?
    printf '%s\t%s\n' "$rc" "loa ${*//$'\n'/ }" >> "$TOUR_LOG"
    return "$rc"
}
curl() {
    local rc=0
    command curl --fail-with-body "$@" || rc=$?
    printf '%s\t%s\n' "$rc" "curl ${*//$'\n'/ }" >> "$TOUR_LOG"
    return "$rc"
}
"""


def tour_blocks(text: str) -> list[str]:
    """The ```sh blocks between the tour markers, in order."""
    assert BEGIN in text and END in text, f"README.md lost its tour markers ({BEGIN} … {END})"
    section = text[text.index(BEGIN) : text.index(END)]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, flags=re.DOTALL | re.MULTILINE)
    assert blocks, "the README tour has no ```sh blocks between its markers"
    return blocks


def test_tour_blocks_are_found_in_order() -> None:
    text = f"intro\n```sh\nnot this\n```\n{BEGIN} -->\n```sh\nloa one\n```\nprose\n```sh\nloa two\n```\n{END}\n"
    assert tour_blocks(text) == ["loa one\n", "loa two\n"]
    with pytest.raises(AssertionError, match="tour markers"):
        tour_blocks("```sh\nloa one\n```\n")


@dataclass
class Clone:
    folder: Path
    env: dict[str, str]
    sandbox_url: str
    web_url: str


@pytest.fixture
def clone(tmp_path: Path, sandbox: SandboxServer) -> Iterator[Clone]:
    """A fresh folder laid out like the repository, with the sandbox and the web app running."""
    from scheduler.app import Loa
    from scheduler.config import load_settings
    from scheduler.serving import ThreadedServer
    from scheduler.web.app import create_app

    folder = tmp_path / "loa"
    folder.mkdir()
    shutil.copy(REPO / "config.toml", folder / "config.toml")
    for name in ("templates", "assets", "examples"):
        (folder / name).symlink_to(REPO / name, target_is_directory=True)
    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "loa").exists(), f"the `loa` console script is not installed beside {sys.executable}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOA_")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        LOA_SANDBOX_PORT=str(sandbox.port),
        LOA_WEB_PORT=str(port),
        LOA_PUBLIC_URL=web_url,
        LOA_PUBLISHING_REQUEST_TIMEOUT_SECONDS="5",
        TOUR_LOG=str(tmp_path / "tour.log"),
        # Narrower than the README's tables: ids must still come out whole.
        COLUMNS="60",
        LANG="C.UTF-8",
    )
    loa = Loa(load_settings(folder / "config.toml", environ=env))
    with ThreadedServer(create_app(loa), port=port):
        yield Clone(folder, env, sandbox.url, web_url)
    loa.close()


def run_tour(clone: Clone) -> tuple[subprocess.CompletedProcess[str], list[tuple[int, str]]]:
    script = "\n".join(tour_blocks(README.read_text(encoding="utf-8")))
    assert README_SANDBOX in script, "the tour no longer talks to the sandbox at its README address"
    script = script.replace(README_SANDBOX, clone.sandbox_url).replace(README_WEB, clone.web_url)
    result = subprocess.run(
        ["bash", "-c", PRELUDE + script],
        cwd=clone.folder,
        env=clone.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = Path(clone.env["TOUR_LOG"])
    calls = [(int(rc), command) for rc, command in (line.split("\t", 1) for line in log.read_text().splitlines())]
    return result, calls


def test_the_readme_tour_runs_as_written(clone: Clone) -> None:
    result, calls = run_tour(clone)
    failed = [f"exit {rc}: {command}" for rc, command in calls if rc != 0]
    assert not failed and result.returncode == 0, (
        "the README tour failed:\n" + "\n".join(failed) + f"\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    assert len(calls) >= 25, calls  # the whole tour ran, not its first lines
    out = result.stdout

    # Ids come out whole in a 60-column terminal (the table cut them once).
    assert re.search(r"│ fb-bhxh-nghean +│", out) and re.search(r"│ zalo-bhxh-nghean +│", out)
    assert "Đã xếp lịch bài đăng mẫu #1 lên mọi kênh." in out
    assert "Tiêu đề:" in out and "330.000 đồng" in out
    assert "Đã ghi ảnh bìa cover.jpg" in out
    assert re.search(r"Bài #3 — Đã đăng", out), '`loa post show "$BAI"` must show the post published now'
    assert re.search(r"Bài #2 dời sang \d\d/\d\d/\d{4} 09:30", out)
    assert "Đã xếp lịch 4 bài từ posts.csv" in out
    assert "Cần kết nối lại" in out  # the channel status, worded
    assert "Đã kết nối lại kênh fb-bhxh-nghean; 1 bài bị giữ sẽ được đăng ngay." in out
    assert "Đã nhập nhan-su.xlsx: 8 người mới" in out
    assert re.search(r"fb-bhxh-nghean\s+" + re.escape(clone.web_url) + r"/l/\S+", out)
    for name in ("cover.jpg", "posts.csv", "posts.xlsx", "nhan-su.xlsx", "chia-se.xlsx"):
        assert (clone.folder / name).stat().st_size > 0, name

    # What the platforms received: the welcome post, the one published now, the one held then released.
    state = requests.get(f"{clone.sandbox_url}/_sandbox/state", timeout=5).json()
    text = json.dumps(state, ensure_ascii=False)
    assert text.count("ra quân tuyên truyền tại chợ Quán Lau (TP Vinh)") >= 2  # Facebook and Zalo
    assert "BẢO HIỂM Y TẾ HỘ GIA ĐÌNH 2026" in text


def test_the_examples_are_what_the_imports_take(clone: Clone) -> None:
    """examples/nhan-su.csv imports as shipped; make_examples.py dates posts from tomorrow."""
    env, folder = clone.env, clone.folder

    def loa(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["loa", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60)

    assert loa("init").returncode == 0
    made = subprocess.run(
        ["python", "examples/make_examples.py", "out"], cwd=folder, env=env, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    for args, expected in (
        (["staff", "import", "examples/nhan-su.csv"], "8 người mới"),
        (["staff", "import", "out/nhan-su.xlsx"], "8 không đổi"),
        (["post", "import", "out/posts.xlsx"], "Đã xếp lịch 4 bài từ posts.xlsx"),
        (["post", "import", "out/posts.csv"], "Đã xếp lịch 4 bài từ posts.csv"),
    ):
        result = loa(*args)
        assert result.returncode == 0 and expected in result.stdout, (args, result.stdout, result.stderr)
    # The shipped posts.csv keeps fixed dates: once they are past it is refused, row by row.
    shipped = loa("post", "import", "examples/posts.csv")
    assert shipped.returncode in (0, 2), shipped.stderr
    if shipped.returncode == 2:
        assert "nothing was stored" in shipped.stderr and "Traceback" not in shipped.stderr
