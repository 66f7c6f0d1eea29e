"""Digest schedules: due times on the clock of the configured time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.rules.cadence import latest_due, next_due, parse_cadence

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_utc_by_default() -> None:
    daily = parse_cadence("daily 08:00")
    assert next_due(daily, utc(2024, 7, 1, 6, 0)) == utc(2024, 7, 1, 8, 0)
    assert next_due(daily, utc(2024, 7, 1, 8, 0)) == utc(2024, 7, 2, 8, 0)
    assert next_due(parse_cadence("every 30m"), utc(2024, 7, 1, 6, 10)) == utc(2024, 7, 1, 6, 30)


@pytest.mark.parametrize(
    ("after", "due"),
    [
        (utc(2024, 1, 15, 6, 0), utc(2024, 1, 15, 7, 0)),  # winter: UTC+1
        (utc(2024, 7, 15, 5, 0), utc(2024, 7, 15, 6, 0)),  # summer: UTC+2
        (utc(2024, 3, 30, 12, 0), utc(2024, 3, 31, 6, 0)),  # across the spring change
        (utc(2024, 10, 26, 12, 0), utc(2024, 10, 27, 7, 0)),  # across the autumn change
    ],
)
def test_daily_is_at_that_time_on_the_zones_clock(after: datetime, due: datetime) -> None:
    found = next_due(parse_cadence("daily 08:00"), after, BERLIN)
    assert found == due
    assert found.astimezone(BERLIN).strftime("%H:%M") == "08:00"


def test_a_time_the_clock_skips_or_repeats_is_due_once() -> None:
    night = parse_cadence("daily 02:30")
    skipped = next_due(night, utc(2024, 3, 30, 12, 0), BERLIN)  # 02:00 -> 03:00 that night
    assert skipped == utc(2024, 3, 31, 1, 30)  # 03:30 summer time: 30 minutes past the jump
    assert next_due(night, skipped, BERLIN) == utc(2024, 4, 1, 0, 30)
    twice = next_due(night, utc(2024, 10, 26, 12, 0), BERLIN)  # 02:30 comes twice
    assert twice == utc(2024, 10, 27, 0, 30)
    assert next_due(night, twice, BERLIN) == utc(2024, 10, 28, 1, 30)


def test_weekly_and_hourly_in_a_zone() -> None:
    weekly = parse_cadence("weekly mon 09:30")
    assert next_due(weekly, utc(2024, 3, 25, 8, 0), BERLIN) == utc(2024, 3, 25, 8, 30)
    assert next_due(weekly, utc(2024, 3, 25, 8, 0), UTC) == utc(2024, 3, 25, 9, 30)
    # India is UTC+05:30: its o'clock is half past in UTC.
    assert next_due(parse_cadence("hourly"), utc(2024, 1, 1, 10, 0), ZoneInfo("Asia/Kolkata")) == (
        utc(2024, 1, 1, 10, 30)
    )


def test_latest_due_after_an_absence_across_a_clock_change() -> None:
    daily = parse_cadence("daily 08:00")
    since = utc(2024, 10, 1, 0, 0)
    assert latest_due(daily, since, utc(2024, 10, 28, 7, 30), BERLIN) == utc(2024, 10, 28, 7, 0)
    assert latest_due(daily, since, utc(2024, 10, 28, 6, 30), BERLIN) == utc(2024, 10, 27, 7, 0)
    assert latest_due(daily, utc(2024, 10, 28, 7, 1), utc(2024, 10, 28, 9, 0), BERLIN) is None
    # Walking day by day gives the same answer as the shortcut over a long absence.
    now = utc(2024, 10, 27, 7, 0) + timedelta(minutes=1)
    walked = next_due(daily, utc(2024, 1, 1), BERLIN)
    while (following := next_due(daily, walked, BERLIN)) <= now:
        walked = following
    assert latest_due(daily, utc(2024, 1, 1), now, BERLIN) == walked == utc(2024, 10, 27, 7, 0)
