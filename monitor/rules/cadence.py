"""Digest schedules such as "hourly", "daily 08:00", "weekly mon 09:30", "every 30m".

Pure: ``next_due(schedule, after, zone)`` is the first due time strictly after ``after``;
times of day are on the clock of ``zone`` (``[schedule] timezone``, UTC by default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from monitor.units import parse_duration

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FORM = re.compile(
    r"(?:(?P<hourly>hourly)|(?P<daily>daily)|weekly\s+(?P<day>[a-z]{3}))(?:\s+(?P<h>\d{1,2}):(?P<m>\d{2}))?"
    r"|every\s+(?P<every>\S+)"
)
MAX_EVERY = 365 * 86400
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
        if seconds > MAX_EVERY:  # longer ones overflow date arithmetic when due times are counted
            raise ValueError(f"digests at least every 365d, got {text!r}")
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


def next_due(cadence: Cadence, after: datetime, zone: tzinfo = UTC) -> datetime:
    """The first due time strictly after ``after`` (an aware datetime).

    Times of day and days are those of ``zone``'s clock, so "daily 08:00" stays at 08:00
    across daylight saving time; a time the clock skips (02:30 on the night it springs
    forward) falls at the same distance past the jump, a time it passes twice counts once.
    "hourly" and "every" schedules count real time.
    """
    shown = after.tzinfo
    # Compared in UTC: aware times that share a tzinfo compare (and add) as wall clocks.
    after = after.astimezone(UTC)
    if cadence.anchor == "epoch":
        start = datetime(1970, 1, 1, tzinfo=UTC)
        periods = max(0, (after - start) // cadence.period)
        due = start + periods * cadence.period
        while due <= after:
            due += cadence.period
        return due.astimezone(shown)
    if cadence.anchor == "hour":
        return _next_minute_of_hour(cadence, after, zone).astimezone(shown)
    # Walk the zone's wall clock (naive times), from the period before the one ``after``
    # is in, taking each due time to the instant it stands for.
    local = after.astimezone(zone).replace(tzinfo=None)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if cadence.anchor == "week":
        start -= timedelta(days=local.weekday())
    wall = start - cadence.period + cadence.offset
    while True:
        due = wall.replace(tzinfo=zone).astimezone(UTC)
        if due > after:
            return due.astimezone(shown)
        wall += cadence.period


def _next_minute_of_hour(cadence: Cadence, after: datetime, zone: tzinfo) -> datetime:
    """The first instant after ``after`` (UTC) whose minute on ``zone``'s clock is the
    offset's.

    Zones that are half an hour off UTC see "hourly 00" at :30 UTC; every real hour has
    one such instant, daylight saving time or not.
    """
    minute = int(cadence.offset.total_seconds() // 60)
    due = after.replace(second=0, microsecond=0)
    for _ in range(2 * 60 + 1):  # within the next two hours whatever the zone does
        due += timedelta(minutes=1)
        if due.astimezone(zone).minute == minute:
            return due
    raise ValueError(f"no minute {minute} in {zone} after {after}")  # pragma: no cover


def latest_due(
    cadence: Cadence, after: datetime, now: datetime, zone: tzinfo = UTC
) -> datetime | None:
    """The last due time in (after, now], or None when none has come yet."""
    now = now.astimezone(UTC)
    due = next_due(cadence, after, zone)
    if due > now:
        return None
    # Skip ahead over a long absence, to a period (plus a clock change) before ``now``.
    skip = now - cadence.period - timedelta(hours=3)
    if skip > due:
        due = next_due(cadence, skip, zone)
    while (following := next_due(cadence, due, zone)) <= now:
        due = following
    return due
