"""`loa run`: the publishing engine, the web server and (when enabled) the sandbox in one process."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from rich.console import Console

from scheduler.engine import PublishingEngine
from scheduler.errors import InputError
from scheduler.i18n import msg
from scheduler.serving import ThreadedServer, stop_on_signals
from scheduler.web.app import create_app

if TYPE_CHECKING:
    from scheduler.app import Loa


def listen(server: ThreadedServer, setting: str) -> None:
    """Start ``server``; a port another program holds is the setting's fault (exit 2), said so."""
    try:
        server.start()
    except OSError as exc:
        raise port_refused(server, setting, exc) from None


def port_refused(server: ThreadedServer, setting: str, exc: OSError) -> InputError:
    """The refusal for a port that cannot be listened on, naming the address and the setting."""
    reason = getattr(exc.__cause__, "strerror", None) or exc.strerror or str(exc)
    return InputError(
        msg("error.port_busy", address=f"{server.host}:{server.port}", reason=reason),
        hint=msg("hint.port_busy", setting=setting),
    )


def run_worker(loa: Loa, console: Console) -> None:
    """The publishing engine alone (no web, no sandbox), until SIGINT/SIGTERM."""
    stop = stop_on_signals()
    engine = PublishingEngine(loa.settings, loa.engine, loa.vault, role="worker")
    engine.start()
    console.print(f"Loa worker {engine.dispatcher.owner} đang chạy (Ctrl-C để dừng)")
    try:
        while not stop.wait(timeout=1.0):
            pass
    finally:
        engine.shutdown()
        console.print("Loa worker đã dừng.")


def run_foreground(loa: Loa, console: Console) -> None:
    """Serve until SIGINT/SIGTERM, then stop in reverse order of starting."""
    settings = loa.settings
    stop = stop_on_signals()

    sandbox = None
    if settings.sandbox.enabled:
        from scheduler.sandbox.server import SandboxServer

        sandbox = SandboxServer(
            host=settings.sandbox.host,
            port=settings.sandbox.port,
            settings=settings.sandbox,
            state_file=settings.path(settings.sandbox.state_file) if settings.sandbox.state_file else None,
        )
        listen(sandbox, "sandbox.port")
        console.print(f"Sandbox Facebook + Zalo: {sandbox.url}/_sandbox/state")
    # The web server listens before the engine's first pass: Zalo fetches covers from it.
    web = ThreadedServer(create_app(loa), host=settings.web.host, port=settings.web.port, name="web server")
    try:
        listen(web, "web.port")
    except BaseException:
        if sandbox is not None:
            sandbox.stop()
        raise
    engine = PublishingEngine(settings, loa.engine, loa.vault, role="run")
    loa.publishing_engine = engine
    engine.start()
    loa.queue_listeners.append(engine.wake)
    # Everything built so far lives as long as the process: keep it out of the collector's
    # way, or its pauses show as 50–100 ms spikes on the tracked-link redirect.
    gc.freeze()  # a post queued "now" in the console goes out now
    console.print(f"Loa đang chạy: trang quản trị {web.url}/ — sức khoẻ {web.url}/healthz (Ctrl-C để dừng)")
    try:
        while not stop.wait(timeout=1.0):
            pass
    finally:
        engine.shutdown()
        web.stop()
        if sandbox is not None:
            sandbox.stop()
        console.print("Loa đã dừng.")
