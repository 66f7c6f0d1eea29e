from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import ScheduleSettings, parse_config
from monitor.errors import ConfigError
from monitor.headers import cache_max_age
from monitor.poll.schedule import (
    SPREAD,
    Plan,
    after_failure,
    after_success,
    describe,
    explain,
    plan_next,
    publishing_gap,
    replan,
    server_hint,
    spread,
)
from monitor.types import Feed, FeedState

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
KEY = "https://news.example/feed.xml"
J = 1 - spread(KEY)  # this feed's default and adaptive intervals are that much of it (0.979)
S = ScheduleSettings(default_interval=900, min_interval=60, max_interval=86400, max_backoff=3600)
ADAPTIVE = replace(S, adaptive=True)
WEEK = 7 * 86400.0
EVERY_TEN_MINUTES = [NOW - timedelta(minutes=10 * n) for n in range(10)]
WEEKLY = [NOW - timedelta(weeks=n) for n in range(5)]


def ok(settings: ScheduleSettings = S, **kw: object) -> Plan:
    return after_success(NOW, key=KEY, settings=settings, **kw)  # type: ignore[arg-type]


def failed(settings: ScheduleSettings = S, **kw: object) -> Plan:
    return after_failure(NOW, key=KEY, settings=settings, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "interval", "gap", "hint", "wait", "why"),
    [
        # The configured interval runs, whatever the items' dates and the server say.
        (S, 120.0, None, None, 120.0, "configured"),
        (S, 120.0, 600.0, None, 120.0, "configured"),
        (S, 120.0, WEEK, 6 * 3600.0, 120.0, "configured"),  # a ttl of 6 h changes nothing
        (S, 1.0, None, None, 1.0, "configured"),  # down to a second, below min_interval
        (S, 2 * 86400.0, None, None, 2 * 86400.0, "configured"),  # past max_interval too
        (ADAPTIVE, 120.0, 10.0, None, 120.0, "configured"),  # adaptive is for the others
        (S, None, None, None, 900 * J, "default"),
        (S, None, 600.0, None, 900 * J, "default"),  # adaptive is off by default
        (S, None, WEEK, None, 900 * J, "default"),  # a weekly feed: still every 15 min
        (S, None, None, 6 * 3600.0, 900 * J, "default"),  # hints ignored
        # Adaptive: busier feeds more often, down to min_interval; never less often.
        (ADAPTIVE, None, None, None, 900 * J, "default"),
        (ADAPTIVE, None, 600.0, None, 300 * J, "adaptive"),
        (ADAPTIVE, None, 1.0, None, 60 * J, "adaptive"),
        (ADAPTIVE, None, WEEK, None, 900 * J, "default"),
        (ADAPTIVE, None, 1800.0, None, 900 * J, "default"),
        (replace(ADAPTIVE, default_interval=30.0), None, 1.0, None, 30 * J, "default"),
        # ... and a server hint lengthens an adaptive interval up to the configured one.
        (ADAPTIVE, None, 600.0, 450.0, 450 * J, "adaptive"),
        (ADAPTIVE, None, 600.0, 100.0, 300 * J, "adaptive"),
        (ADAPTIVE, None, 600.0, 6 * 3600.0, 900 * J, "default"),
    ],
)
def test_interval_of_a_working_feed(
    settings: ScheduleSettings,
    interval: float | None,
    gap: float | None,
    hint: float | None,
    wait: float,
    why: str,
) -> None:
    plan = ok(settings, interval=interval, publish_gap=gap, hint=hint)
    assert plan.wait == pytest.approx(wait)
    assert plan.why == plan.basis == why
    assert plan.due == NOW + timedelta(seconds=plan.wait)


def test_spread_only_ever_shortens_and_is_fixed_per_feed() -> None:
    keys = [f"https://feeds.example/{n}.xml" for n in range(500)]
    waits = [after_success(NOW, key=k, interval=None, settings=S).wait for k in keys]
    assert all(900 * (1 - SPREAD) <= w <= 900 for w in waits)
    assert len({round(w) for w in waits}) > 50  # feeds added together drift apart
    later = NOW + timedelta(hours=5, seconds=17)
    assert after_success(later, key=keys[0], interval=None, settings=S).wait == waits[0]
    busy = [
        after_success(NOW, key=k, interval=None, settings=ADAPTIVE, publish_gap=600).wait
        for k in keys
    ]
    assert all(300 * (1 - SPREAD) <= w <= 300 for w in busy)


@pytest.mark.parametrize(
    ("interval", "errors", "wait"),
    [
        (10.0, 1, 20.0),
        (10.0, 2, 40.0),
        (10.0, 3, 80.0),
        (10.0, 50, 3600.0),  # capped at max_backoff, and never abandoned
        (10.0, 10**6, 3600.0),
        (7200.0, 1, 7200.0),  # an interval past max_backoff is the cap itself
        (None, 3, 3600.0),
    ],
)
def test_failures_back_off_doubling_up_to_a_cap(
    interval: float | None, errors: int, wait: float
) -> None:
    plan = failed(interval=interval, errors=errors)
    assert plan.wait == wait
    assert plan.why == ("backoff" if wait > plan.interval else "configured")
    assert plan.errors == errors


def test_a_success_after_failures_brings_the_interval_back() -> None:
    assert failed(interval=120.0, errors=4).wait == 1920.0
    assert ok(interval=120.0).wait == 120.0


@pytest.mark.parametrize(
    ("interval", "errors", "retry_after", "wait", "why"),
    [
        (120.0, 1, 6 * 3600.0, 6 * 3600.0, "retry-after"),  # a 2 m feed waits as told
        (1.0, 1, 30.0, 30.0, "retry-after"),
        (None, 1, 7200.0, 7200.0, "retry-after"),
        (120.0, 1, 10 * 86400.0, 86400.0, "retry-after"),  # cut to max_interval
        (120.0, 5, 60.0, 3600.0, "backoff"),  # never sooner than the backoff either
        (120.0, 1, 0.0, 240.0, "backoff"),
    ],
)
def test_retry_after_is_honoured_for_every_feed(
    interval: float | None, errors: int, retry_after: float, wait: float, why: str
) -> None:
    plan = failed(interval=interval, errors=errors, retry_after=retry_after)
    assert (plan.wait, plan.why) == (wait, why)
    assert plan.retry_until == NOW + timedelta(seconds=min(retry_after, 86400.0))


def test_a_crashed_parse_is_tried_again_at_once() -> None:
    plan = failed(interval=120.0, errors=1, at_once=True)
    assert (plan.due, plan.why) == (NOW, "at-once")


def state(**kw: object) -> FeedState:
    return FeedState(url=KEY, name="News", fetch_url=KEY, **kw)  # type: ignore[arg-type]


def test_replan_counts_from_the_last_poll_under_the_configuration_now() -> None:
    polled = NOW - timedelta(minutes=10)
    was = state(last_polled=polled, next_poll=polled + timedelta(hours=1))
    sooner = replan(Feed(url=KEY, name="News", interval=120.0), was, S)
    assert sooner is not None and sooner.due == polled + timedelta(minutes=2)  # due now
    later = replan(Feed(url=KEY, name="News", interval=3600.0), was, S)
    assert later is not None and later.due == polled + timedelta(hours=1)
    default = replan(Feed(url=KEY, name="News"), was, replace(S, default_interval=86400.0))
    assert default is not None and default.due == polled + timedelta(seconds=86400 * J)


def test_replan_keeps_backoff_and_retry_after() -> None:
    polled = NOW - timedelta(minutes=10)
    failing = state(last_polled=polled, error_count=3, next_poll=polled)
    plan = replan(Feed(url=KEY, name="News", interval=60.0), replace(failing, next_poll=None), S)
    assert plan is not None and (plan.wait, plan.why) == (480.0, "backoff")
    until = polled + timedelta(hours=5)
    refused = replace(failing, error_count=1, retry_until=until, next_poll=until)
    plan = replan(Feed(url=KEY, name="News", interval=60.0), refused, S)
    assert plan is not None and (plan.due, plan.why) == (until, "retry-after")
    # A feed due again at once (its parse worker died) stays due.
    plan = replan(Feed(url=KEY, name="News", interval=60.0), failing, S)
    assert plan is not None and (plan.due, plan.why) == (polled, "at-once")


def test_replan_with_the_same_configuration_changes_nothing() -> None:
    for settings, interval, gap, hint in [
        (S, None, None, None),
        (ADAPTIVE, None, 600.0, 450.0),
        (S, 120.0, None, None),
    ]:
        plan = after_success(
            NOW, key=KEY, interval=interval, settings=settings, publish_gap=gap, hint=hint
        )
        stored = state(last_polled=NOW, next_poll=plan.due, publish_gap=gap, ttl=hint)
        again = replan(Feed(url=KEY, name="News", interval=interval), stored, settings)
        assert again == plan
    plan = failed(interval=120.0, errors=2, retry_after=7200.0)
    stored = state(last_polled=NOW, next_poll=plan.due, error_count=2, retry_until=plan.retry_until)
    assert replan(Feed(url=KEY, name="News", interval=120.0), stored, S) == plan


def test_replan_leaves_new_and_retired_feeds_alone() -> None:
    assert replan(Feed(url=KEY, name="News"), state(next_poll=NOW), S) is None
    assert replan(Feed(url=KEY, name="News"), state(last_polled=NOW, gone=True), S) is None


@pytest.mark.parametrize(
    ("settings", "interval", "stored", "shown"),
    [
        (S, 120.0, {}, "every 2m (configured)"),
        (replace(S, default_interval=3600.0), None, {}, "every 58m43s (default)"),
        (ADAPTIVE, None, {"publish_gap": 600.0}, "every 4m54s (adaptive: publishes every ~10m)"),
        (
            ADAPTIVE,
            None,
            {"publish_gap": 600.0, "ttl": 450.0},
            "every 7m20s (adaptive: publishes every ~10m, server asks 7m30s)",
        ),
        (S, 120.0, {"error_count": 3}, "16m (backoff after 3 errors)"),
        (S, 120.0, {"error_count": 1}, "4m (backoff after 1 error)"),
        (
            S,
            120.0,
            {"error_count": 1, "retry_until": NOW + timedelta(hours=6)},
            "6h (Retry-After until 2026-11-01 18:00 UTC)",
        ),
        (S, 120.0, {"gone": True}, "retired"),
    ],
)
def test_explain_says_the_effective_interval_and_why(
    settings: ScheduleSettings, interval: float | None, stored: dict[str, object], shown: str
) -> None:
    feed = Feed(url=KEY, name="News", interval=interval)
    assert explain(feed, state(last_polled=NOW, **stored), settings) == shown
    if not stored:  # never polled: the interval it will have
        assert explain(feed, state(next_poll=NOW), settings) == shown


def test_describe_a_plan() -> None:
    assert describe(ok(interval=90.0)) == "every 1m30s (configured)"


def test_publishing_gap_is_the_median_of_the_newest_items() -> None:
    assert publishing_gap(EVERY_TEN_MINUTES) == 600
    assert publishing_gap(WEEKLY) == WEEK
    assert publishing_gap([NOW, NOW]) is None
    assert publishing_gap([NOW, NOW - timedelta(hours=1)]) is None


def test_server_hints() -> None:
    assert cache_max_age("public, max-age=1800") == 1800
    assert cache_max_age('s-maxage=5, max-age="120"') == 120
    assert cache_max_age("no-cache") is None
    assert cache_max_age(None) is None
    assert server_hint(1800.0, None) == 1800
    assert server_hint(120.0, 3600.0) == 3600
    assert server_hint(0.0, None) is None
    assert server_hint(None, None) is None


def test_plan_next_without_errors_is_a_success() -> None:
    assert plan_next(NOW, key=KEY, interval=60.0, settings=S) == ok(interval=60.0)


def test_adaptive_is_off_unless_set_and_must_be_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert parse_config({}, path).schedule.adaptive is False
    assert parse_config({"schedule": {"adaptive": True}}, path).schedule.adaptive is True
    with pytest.raises(ConfigError, match=r"schedule\.adaptive: expected true or false"):
        parse_config({"schedule": {"adaptive": "yes"}}, path)
