from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import ScheduleSettings
from monitor.schedule import next_poll, publishing_gap, server_hint

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
S = ScheduleSettings(default_interval=900, min_interval=60, max_interval=86400, max_backoff=3600)


def delay(**kw: object) -> float:
    return (next_poll(NOW, key="k", settings=S, **kw) - NOW).total_seconds()  # type: ignore[arg-type]


def test_explicit_interval_is_exact_and_default_has_bounded_jitter() -> None:
    assert delay(interval=1.0) == 1.0
    assert 900 <= delay(interval=None) < 990


def test_errors_back_off_to_a_cap_and_never_give_up() -> None:
    assert [delay(interval=10.0, error_count=n) for n in (1, 2, 3)] == [20.0, 40.0, 80.0]
    assert delay(interval=10.0, error_count=50) == 3600.0


def test_retry_after_and_server_hints() -> None:
    assert delay(interval=10.0, retry_after=600) == 600.0
    assert delay(interval=10.0, hint=300) == 300.0  # hints apply to explicit intervals too
    assert delay(interval=10.0, hint=10**9) == 86400.0
    assert server_hint("public, max-age=1800", None) == 1800
    assert server_hint('s-maxage=5, max-age="120"', 60.0) == 120
    assert server_hint("no-cache", 3600.0) == 3600
    assert server_hint(None, None) is None


def test_publishing_rate_sets_the_interval_of_feeds_without_one() -> None:
    every_ten_minutes = [NOW - timedelta(minutes=10 * n) for n in range(10)]
    weekly = [NOW - timedelta(weeks=n) for n in range(5)]
    assert publishing_gap(every_ten_minutes) == 600
    assert 300 <= delay(interval=None, publish_gap=600) < 330
    assert 86400 <= delay(interval=None, publish_gap=publishing_gap(weekly)) < 86400 * 1.1
    assert 60 <= delay(interval=None, publish_gap=1) < 66  # clamped
    assert delay(interval=5.0, publish_gap=600) == 5.0  # an explicit interval wins
    assert publishing_gap([NOW, NOW]) is None
