"""A wall clock that stands still until the test moves it, for code that takes ``clock=``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """Called, it gives ``now``; the test sets ``now`` or advances it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0.0, **units: float) -> None:
        """Move on by ``seconds``, or by timedelta's ``minutes=``, ``hours=``, ``days=``..."""
        self.now += timedelta(seconds=seconds, **units)
