"""Digest schedules such as "hourly", "daily 08:00", "weekly mon 09:30", "every 30m".

Pure: ``next_due(schedule, after)`` is the first due time strictly after ``after``.
Times are UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.units import parse_duration

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FORM = re.compile(
    r"(?:(?P<hourly>hourly)|(?P<daily>daily)|weekly\s+(?P<day>[a-z]{3}))(?:\s+(?P<h>\d{1,2}):(?P<m>\d{2}))?"
    r"|every\s+(?P<every>\S+)"
)
EXAMPLES = '"hourly", "daily 08:00", "weekly mon 09:30" or "every 30m"'


@dataclass(frozen=True, kw_only=True, slots=True)
class Cadence:
    period: timedelta
    offset: timedelta  # from the start of the period (the hour, day or Monday 00:00)
    anchor: str  # "hour", "day", "week" or "epoch"


def parse_cadence(text: str) -> Cadence:
    """The schedule in ``text``; ValueError naming the accepted forms otherwise."""
    m = _FORM.fullmatch(text.strip().lower())
    if m is None or (m.group("day") and m.group("day") not in _DAYS):
        raise ValueError(f"expected a schedule like {EXAMPLES}, got {text!r}")
    if m.group("every"):
        try:
            seconds = parse_duration(m.group("every"))
        except ValueError:
            raise ValueError(f"expected a duration after 'every', got {text!r}") from None
        if seconds < 60:
            raise ValueError(f"digests at most every minute, got {text!r}")
        return Cadence(period=timedelta(seconds=seconds), offset=timedelta(), anchor="epoch")
    hour, minute = int(m.group("h") or 0), int(m.group("m") or 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"expected a time of day like 08:00, got {text!r}")
    if m.group("hourly"):
        return Cadence(period=timedelta(hours=1), offset=timedelta(minutes=minute), anchor="hour")
    at = timedelta(hours=hour, minutes=minute)
    if m.group("daily"):
        return Cadence(period=timedelta(days=1), offset=at, anchor="day")
    day = _DAYS.index(m.group("day"))
    return Cadence(period=timedelta(weeks=1), offset=timedelta(days=day) + at, anchor="week")


def next_due(cadence: Cadence, after: datetime) -> datetime:
    """The first due time strictly after ``after`` (an aware datetime)."""
    if cadence.anchor == "epoch":
        start = datetime(1970, 1, 1, tzinfo=after.tzinfo)
    elif cadence.anchor == "hour":
        start = after.replace(minute=0, second=0, microsecond=0)
    elif cadence.anchor == "day":
        start = after.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        start = after.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
            days=after.weekday()
        )
    periods = max(0, (after - start - cadence.offset) // cadence.period)
    due = start + cadence.offset + periods * cadence.period
    while due <= after:
        due += cadence.period
    return due


def latest_due(cadence: Cadence, after: datetime, now: datetime) -> datetime | None:
    """The last due time in (after, now], or None when none has come yet."""
    due = next_due(cadence, after)
    if due > now:
        return None
    return max(due, next_due(cadence, now - cadence.period))
