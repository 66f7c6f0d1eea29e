"""When to poll a feed next. Pure: ``now`` and the feed's history come in as arguments."""

from __future__ import annotations

import re
import statistics
import zlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import pairwise

from monitor.config import ScheduleSettings

JITTER = 0.1  # up to 10% later, so feeds added together drift apart
MAX_RETRY_AFTER = 86400.0
RECENT_ITEMS = 20  # the publishing rate is measured over the newest items
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def base_interval(
    explicit: float | None, settings: ScheduleSettings, publish_gap: float | None = None
) -> float:
    """The feed's own interval if set (taken as given), else one that follows its rate.

    A feed that publishes every few minutes is polled about twice per item; one that
    publishes weekly, rarely; without a known rate, the default. Clamped to the bounds.
    """
    if explicit is not None:
        return explicit
    wanted = settings.default_interval if publish_gap is None else publish_gap / 2
    return min(max(wanted, settings.min_interval), settings.max_interval)


def publishing_gap(published: Iterable[datetime]) -> float | None:
    """Median seconds between a feed's newest items, or None with fewer than three dates."""
    times = sorted({p.timestamp() for p in published}, reverse=True)[:RECENT_ITEMS]
    if len(times) < 3:
        return None
    return statistics.median(a - b for a, b in pairwise(times))


def server_hint(cache_control: str | None, ttl: float | None) -> float | None:
    """The soonest the server wants to be asked again: Cache-Control max-age or RSS ttl."""
    hints = [ttl] if ttl else []
    if cache_control:
        m = _MAX_AGE.search(cache_control)
        if m:
            hints.append(float(m.group(1)))
    return max(hints) if hints else None


def next_poll(
    now: datetime,
    *,
    key: str,
    interval: float | None,
    settings: ScheduleSettings,
    error_count: int = 0,
    retry_after: float | None = None,
    hint: float | None = None,
    publish_gap: float | None = None,
) -> datetime:
    """The next poll time after a poll at ``now``.

    ``error_count`` counts consecutive failures including this one: the delay
    doubles with each up to ``max_backoff`` and falls back to the interval after
    a success, so a failing feed is retried forever, ever more slowly.
    ``retry_after`` (from the server) is honoured up to a day; ``hint``
    (max-age or ttl) up to ``max_interval``, even for an explicit interval.
    """
    delay = base_interval(interval, settings, publish_gap)
    if hint is not None:
        delay = max(delay, min(hint, settings.max_interval))
    if error_count > 0:
        delay = min(delay * 2.0 ** min(error_count, 32), max(settings.max_backoff, delay))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    if interval is None:
        # Deterministic jitter from the feed and the time, so the function stays pure.
        spread = zlib.crc32(f"{key}|{now.timestamp():.0f}".encode()) / 2**32
        delay *= 1.0 + JITTER * spread
    return now + timedelta(seconds=delay)
