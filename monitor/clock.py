"""The wall clock, and its steps told apart from the passing of time.

Everything that needs the time of day takes a ``Clock`` (``utc_now`` by default), so a
test can set the time; pure code takes ``now`` as an argument instead.

Due times are wall-clock times in the archive (they are shared, and survive restarts), so
when the system clock is stepped (``date -s``, an NTP step, a VM resumed) every stored time
moves relative to now. A step is noticed by comparing how far the wall clock and a steady
clock (time since boot, or the monotonic clock) advanced between two looks: they advance
alike, but for a step (and NTP slewing, at most 0.05%). The comparison is pure;
``ClockWatch`` reads the clocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

# Smaller differences are not steps: reading two clocks one after the other, and slewing.
STEP_TOLERANCE = 1.0
SLEW = 0.001  # seconds of difference allowed per second elapsed, twice NTP's maximum
_BOOTTIME: int | None = getattr(time, "CLOCK_BOOTTIME", None)  # Linux

# The wall clock as an aware UTC time.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class ClockReading:
    wall: float  # seconds since the epoch
    monotonic: float


def clock_step(before: ClockReading, after: ClockReading) -> float:
    """Seconds the wall clock was stepped between two readings (negative: back), or 0."""
    elapsed = after.monotonic - before.monotonic
    step = (after.wall - before.wall) - elapsed
    if abs(step) <= STEP_TOLERANCE + SLEW * abs(elapsed):
        return 0.0
    return step


def steady() -> float:
    """Seconds on a clock no step moves: time since boot where the system has it (it counts
    a suspend, which is not a step of the wall clock), else the monotonic clock."""
    if _BOOTTIME is not None:
        return time.clock_gettime(_BOOTTIME)
    return time.monotonic()


class ClockWatch:
    """Says, at each look, whether the wall clock was stepped since the previous one."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = steady,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._last: ClockReading | None = None

    def look(self) -> float:
        """Seconds the wall clock was stepped since the last look (0 at the first)."""
        reading = ClockReading(wall=self._wall(), monotonic=self._monotonic())
        last, self._last = self._last, reading
        return 0.0 if last is None else clock_step(last, reading)
