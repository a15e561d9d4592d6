"""What the HTTP benchmarks share: a free loopback port, a bench config, and Loa's app (or a
bare ASGI app beside it) under uvicorn in a process of its own, started, measured and stopped."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

FACEBOOK_PAGE = """
[[channels]]
id = "fb-bhxh-nghean"
platform = "facebook"
name = "BHXH tỉnh Nghệ An"
external_id = "100000000000001"
"""

ZALO_OA = """
[[channels]]
id = "zalo-bhxh-nghean"
platform = "zalo"
name = "BHXH Nghệ An (Zalo OA)"
external_id = "579745863508352884"
default_cover = "cover-default.jpg"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(folder: Path, port: int, channels: str = FACEBOOK_PAGE) -> Path:
    """`folder/config.toml`: the shipped templates and assets, a SQLite file, no sandbox."""
    config = folder / "config.toml"
    config.write_text(
        f"""
public_url = "http://127.0.0.1:{port}"
templates_dir = "{REPO / "templates"}"
assets_dir = "{REPO / "assets"}"
media_dir = "{folder / "media"}"
[database]
url = "sqlite:///{folder / "bench.db"}"
[sandbox]
enabled = false
[secrets]
key_file = "{folder / "secret.key"}"
{channels}""",
        encoding="utf-8",
    )
    return config


def loa_app(config: str) -> Any:
    from scheduler.app import Loa
    from scheduler.config import load_settings
    from scheduler.web.app import create_app

    return create_app(Loa(load_settings(config)))


def run_uvicorn(app: Any, port: int, *, freeze: bool = True, **options: Any) -> None:
    """Serve `app` on loopback until terminated; both sides of a comparison go through here."""
    import uvicorn

    if freeze:
        # Start-up objects (modules, settings, templates) move out of the collector's sight, so a
        # full collection walks only what requests made: ~5 ms instead of ~50 ms in Loa's process.
        # Applied to both sides; `loa run` should do the same once its app is built.
        gc.collect()
        gc.freeze()
    uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off", **options
        )
    ).run()


class Server:
    """`python -m <module> serve <kind> <config> <port>` in a process of its own, once it listens."""

    def __init__(
        self, module: str, kind: str, config: Path, port: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port() if port is None else port
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "serve", kind, str(config), str(self.port)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {kind} server did not start") from None
                time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
