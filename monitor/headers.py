"""HTTP response headers that both the feed fetcher and the notifiers read. Pure.

Retry-After may be an HTTP-date on the server's clock, so its delay is taken against the
server's Date header when there is one; Cache-Control's ``max-age`` is a polling hint.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def server_now(date: str | None, fallback: datetime) -> datetime:
    """The server's clock from its Date header, else ``fallback``."""
    try:
        when = email.utils.parsedate_to_datetime(date or "")
    except (TypeError, ValueError):
        return fallback
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def cache_max_age(cache_control: str | None) -> float | None:
    """Seconds of a Cache-Control ``max-age``, if any (``s-maxage`` is for shared caches)."""
    m = _MAX_AGE.search(cache_control or "")
    return float(m.group(1)) if m else None
