"""Runs the sandbox app: in a background thread (tests, ``loa run``) or in the foreground
until SIGINT/SIGTERM (``loa sandbox``)."""

from __future__ import annotations

from pathlib import Path

from scheduler.config import SandboxSettings
from scheduler.sandbox.app import create_app
from scheduler.serving import ThreadedServer


class SandboxServer(ThreadedServer):
    """The emulator on ``host:port``; port 0 picks a free port (see :attr:`port`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: SandboxSettings | None = None,
        state_file: Path | None = None,
    ) -> None:
        self.settings = settings or SandboxSettings()
        self.state_file = state_file
        super().__init__(create_app(self.settings, state_file=state_file), host=host, port=port, name="sandbox")
