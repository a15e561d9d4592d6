"""Loaded (through PYTHONPATH) only by Loa processes the clock tests start under libfaketime.

Debian's libfaketime 0.9.10 turns Python's ``time.sleep`` into EINVAL when the monotonic
clock is left real (``FAKETIME_DONT_FAKE_MONOTONIC=1``): it shifts the absolute monotonic
deadline of ``clock_nanosleep`` by the fake wall-clock offset. Waiting on a lock measures
the same monotonic seconds through a call libfaketime leaves alone, so the process under
test sleeps as it would on a host whose clock was moved.
"""

from __future__ import annotations

import threading
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    if not seconds:
        return
    lock = threading.Lock()
    lock.acquire()
    lock.acquire(timeout=seconds)


time.sleep = _sleep
