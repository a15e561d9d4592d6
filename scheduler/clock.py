"""Time a long-running process can trust when the host's wall clock jumps.

The wall clock answers "what time is it" (due times are wall times), but a person or a
broken NTP set-up can move it by an hour or by two centuries. The monotonic clock never
jumps, so it measures how long to wait, and it is the yardstick for the wall clock: if the
wall clock moved much more or much less than the monotonic clock since the last look, the
wall clock jumped.

- A jump back is taken at once: going back in time makes nothing overdue, and every timer
  of the engine counts monotonic seconds, so nothing stalls until the old time comes back.
- A jump forward is not believed until it is confirmed: the new wall time has to hold
  (stay consistent with the monotonic clock) for ``confirm_after`` seconds. Meanwhile the
  trusted time runs on from the last consistent reading, so a clock set to 2200 by mistake
  neither publishes next month's posts nor marks today's as missed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.i18n import process_text
from scheduler.models import utcnow

log = logging.getLogger("loa.clock")

# Readings further apart than this (wall against monotonic) are a jump, not NTP's slewing
# (which moves the clock by at most half a millisecond a second).
JUMP_THRESHOLD = timedelta(seconds=30)


@dataclass(frozen=True)
class PendingJump:
    """A forward jump not yet believed: by how much, and since when (monotonic seconds)."""

    by: timedelta
    since: float


class TrustedClock:
    """``now()``: the wall clock, unless it just jumped forward; jumps are logged once each."""

    def __init__(
        self,
        *,
        confirm_after: float,
        threshold: timedelta = JUMP_THRESHOLD,
        wall: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.confirm_after = confirm_after
        self.threshold = threshold
        self._wall = wall
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._base_wall = wall()
        self._base_mono = monotonic()
        self.pending: PendingJump | None = None
        self.jumps = 0  # jumps seen since start, either way

    def now(self) -> datetime:
        with self._lock:
            wall, mono = self._wall(), self._monotonic()
            expected = self._base_wall + timedelta(seconds=mono - self._base_mono)
            drift = wall - expected
            if abs(drift) <= self.threshold:
                if self.pending is not None:
                    log.warning(process_text("log.clock_jump_undone", seconds=_seconds(self.pending.by)))
                    self.pending = None
                return self._follow(wall, mono)
            if drift < timedelta(0):
                self.jumps += 1
                self.pending = None
                log.warning(process_text("log.clock_jump_back", seconds=_seconds(-drift)))
                return self._follow(wall, mono)
            if self.pending is None or abs(drift - self.pending.by) > self.threshold:
                self.jumps += 1
                self.pending = PendingJump(by=drift, since=mono)
                log.warning(
                    process_text("log.clock_jump_forward", seconds=_seconds(drift), confirm=round(self.confirm_after))
                )
                return expected
            if mono - self.pending.since >= self.confirm_after:
                log.warning(process_text("log.clock_jump_confirmed", seconds=_seconds(drift)))
                self.pending = None
                return self._follow(wall, mono)
            return expected

    def _follow(self, wall: datetime, mono: float) -> datetime:
        self._base_wall, self._base_mono = wall, mono
        return wall

    def monotonic(self) -> float:
        return self._monotonic()


def _seconds(delta: timedelta) -> int:
    return round(delta.total_seconds())
