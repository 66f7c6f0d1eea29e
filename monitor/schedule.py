"""When to poll a feed next. Pure: ``now`` and the feed's history come in as arguments."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta

from monitor.config import ScheduleSettings

JITTER = 0.1  # up to 10% later, so feeds added together drift apart
MAX_RETRY_AFTER = 86400.0


def base_interval(explicit: float | None, settings: ScheduleSettings) -> float:
    """The feed's own interval if set (taken as given), else the clamped default."""
    if explicit is not None:
        return explicit
    return min(max(settings.default_interval, settings.min_interval), settings.max_interval)


def next_poll(
    now: datetime,
    *,
    key: str,
    interval: float | None,
    settings: ScheduleSettings,
    error_count: int = 0,
    retry_after: float | None = None,
) -> datetime:
    """The next poll time after a poll at ``now``.

    ``error_count`` counts consecutive failures including this one: the delay
    doubles with each up to ``max_backoff`` and falls back to the interval after
    a success, so a failing feed is retried forever, ever more slowly.
    ``retry_after`` (from the server) is honoured up to a day.
    """
    delay = base_interval(interval, settings)
    if error_count > 0:
        delay = min(delay * 2.0 ** min(error_count, 32), max(settings.max_backoff, delay))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    if interval is None:
        # Deterministic jitter from the feed and the time, so the function stays pure.
        spread = zlib.crc32(f"{key}|{now.timestamp():.0f}".encode()) / 2**32
        delay *= 1.0 + JITTER * spread
    return now + timedelta(seconds=delay)
