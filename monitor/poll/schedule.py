"""When to poll a feed next, and why. Pure: ``now`` and the feed's history come in as arguments.

A feed is polled at its configured interval: its own ``interval``, else the schedule's
``default_interval``. Only feeds without their own interval may deviate, and only to be
polled more often: by a fixed per-feed spread (so feeds added together drift apart) and,
when ``adaptive`` is on, by following a busy publishing rate. Server hints (Cache-Control
max-age, RSS ttl) can lengthen an adaptive interval back up to the configured one, never
past it. Failures back off; a Retry-After (the server refusing) is honoured as given, up
to ``max_interval``.
"""

from __future__ import annotations

import statistics
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Literal

from monitor.config import ScheduleSettings
from monitor.types import Feed, FeedState
from monitor.units import format_duration

SPREAD = 0.1  # default and adaptive intervals are up to 10% shorter, fixed per feed
RECENT_ITEMS = 20  # the publishing rate is measured over the newest items

# Where the interval of a working feed comes from.
Basis = Literal["configured", "default", "adaptive"]
# Why the next poll is when it is: the basis, or what put it off (or brought it forward).
Why = Literal["configured", "default", "adaptive", "backoff", "retry-after", "at-once"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """The next poll of a feed polled at ``polled``, and the reason for its time."""

    polled: datetime
    due: datetime
    why: Why
    interval: float  # seconds between polls while the feed works
    basis: Basis
    errors: int = 0  # consecutive failures, this poll's included
    publish_gap: float | None = None  # seconds between items, when adaptive used it
    hint: float | None = None  # seconds the server asked for, when it lengthened the interval
    retry_until: datetime | None = None  # the server's Retry-After, as a time

    @property
    def wait(self) -> float:
        """Seconds from the poll to the next one: the effective interval."""
        return (self.due - self.polled).total_seconds()


def spread(key: str) -> float:
    """A fixed fraction in [0, SPREAD) for the feed ``key``, the same at every poll (so a
    schedule counted again under the same settings is the same). Intervals are shortened
    by it, never lengthened: the configured interval stays the longest wait."""
    return zlib.crc32(key.encode()) / 2**32 * SPREAD


def working_interval(
    key: str,
    interval: float | None,
    settings: ScheduleSettings,
    *,
    publish_gap: float | None = None,
    hint: float | None = None,
) -> tuple[float, Basis]:
    """Seconds between polls of a working feed, and where that comes from.

    A feed's own interval is taken as given. Otherwise the default applies, less the
    feed's spread; with ``adaptive`` on, a feed that publishes more often than that is
    polled about twice per item, down to ``min_interval``, and a server hint may
    lengthen that back up to (never past) the default.
    """
    every, basis, _ = _working(key, interval, settings, publish_gap, hint)
    return every, basis


def _working(
    key: str,
    interval: float | None,
    settings: ScheduleSettings,
    publish_gap: float | None,
    hint: float | None,
) -> tuple[float, Basis, bool]:
    """working_interval, and whether the server's hint lengthened it."""
    if interval is not None:
        return interval, "configured", False
    configured = settings.default_interval
    if not settings.adaptive or publish_gap is None:
        return configured * (1.0 - spread(key)), "default", False
    rate, hinted = max(publish_gap / 2, settings.min_interval), False
    if hint is not None and hint > rate:
        rate, hinted = hint, True
    if rate >= configured:
        return configured * (1.0 - spread(key)), "default", False
    return rate * (1.0 - spread(key)), "adaptive", hinted


def plan_next(
    polled: datetime,
    *,
    key: str,
    interval: float | None,
    settings: ScheduleSettings,
    publish_gap: float | None = None,
    hint: float | None = None,
    errors: int = 0,
    retry_until: datetime | None = None,
) -> Plan:
    """The next poll after one at ``polled``; ``errors`` counts consecutive failures.

    After a failure the delay doubles per error up to ``max_backoff`` (or the interval,
    if longer), so a failing feed is retried for ever, ever more slowly; a success
    brings the interval back. ``retry_until`` is never polled before.
    """
    every, basis, hinted = _working(key, interval, settings, publish_gap, hint)
    why: Why = basis
    delay = every
    if errors > 0:
        delay = min(every * 2.0 ** min(errors, 32), max(settings.max_backoff, every))
        if delay > every:
            why = "backoff"
    due = polled + timedelta(seconds=delay)
    if retry_until is not None and retry_until > due:
        due, why = retry_until, "retry-after"
    return Plan(
        polled=polled,
        due=due,
        why=why,
        interval=every,
        basis=basis,
        errors=errors,
        publish_gap=publish_gap if basis == "adaptive" else None,
        hint=hint if hinted else None,
        retry_until=retry_until,
    )


def after_success(
    now: datetime,
    *,
    key: str,
    interval: float | None,
    settings: ScheduleSettings,
    publish_gap: float | None = None,
    hint: float | None = None,
) -> Plan:
    """The next poll of a feed whose poll started at ``now`` and worked (200 or 304)."""
    return plan_next(
        now, key=key, interval=interval, settings=settings, publish_gap=publish_gap, hint=hint
    )


def after_failure(
    now: datetime,
    *,
    key: str,
    interval: float | None,
    settings: ScheduleSettings,
    errors: int,
    retry_after: float | None = None,
    publish_gap: float | None = None,
    hint: float | None = None,
    at_once: bool = False,
) -> Plan:
    """The next poll of a feed whose poll started at ``now`` and failed for the
    ``errors``-th time in a row; ``retry_after``: seconds the server asked us to wait
    (cut to ``max_interval``); ``at_once``: due again now, not backed off."""
    if at_once:
        every, basis = working_interval(key, interval, settings, publish_gap=publish_gap, hint=hint)
        return Plan(polled=now, due=now, why="at-once", interval=every, basis=basis, errors=errors)
    until = None
    if retry_after is not None:
        until = now + timedelta(seconds=min(max(retry_after, 0.0), settings.max_interval))
    return plan_next(
        now,
        key=key,
        interval=interval,
        settings=settings,
        publish_gap=publish_gap,
        hint=hint,
        errors=errors,
        retry_until=until,
    )


def replanner(settings: ScheduleSettings) -> Callable[[Feed, FeedState], datetime | None]:
    """When each known feed is due under ``settings``: what the archive applies to the
    feeds it keeps when the configuration changes (``Archive.sync_feeds``)."""

    def due(feed: Feed, state: FeedState) -> datetime | None:
        plan = replan(feed, state, settings)
        return None if plan is None else plan.due

    return due


def replan(feed: Feed, state: FeedState, settings: ScheduleSettings) -> Plan | None:
    """The plan for the feed's next poll from its stored state and the configuration now.

    Counted from its last poll, so a changed interval or schedule applies at once to a
    feed already scheduled, keeping its backoff and Retry-After. None for a feed never
    polled (it is due at once) or retired.
    """
    if state.gone or state.last_polled is None:
        return None
    if state.error_count and state.next_poll is not None and state.next_poll <= state.last_polled:
        return after_failure(
            state.last_polled,
            key=feed.url,
            interval=feed.interval,
            settings=settings,
            errors=state.error_count,
            at_once=True,
        )
    return plan_next(
        state.last_polled,
        key=feed.url,
        interval=feed.interval,
        settings=settings,
        publish_gap=state.publish_gap,
        hint=server_hint(state.max_age, state.ttl),
        errors=state.error_count,
        retry_until=state.retry_until,
    )


def describe(plan: Plan) -> str:
    """The effective interval and why, as ``monitor feeds`` shows it."""
    wait = format_duration(plan.wait)
    if plan.why == "retry-after" and plan.retry_until is not None:
        return f"{wait} (Retry-After until {plan.retry_until:%Y-%m-%d %H:%M} UTC)"
    if plan.why == "backoff":
        s = "" if plan.errors == 1 else "s"
        return f"{wait} (backoff after {plan.errors} error{s})"
    if plan.why == "at-once":
        return "now (tried again at once)"
    if plan.basis == "adaptive":
        gap = format_duration(plan.publish_gap or 0.0)
        asks = f", server asks {format_duration(plan.hint)}" if plan.hint else ""
        return f"every {wait} (adaptive: publishes every ~{gap}{asks})"
    return f"every {wait} ({plan.basis})"


def explain(feed: Feed, state: FeedState, settings: ScheduleSettings) -> str:
    """The feed's effective interval and why, from the configuration and its stored state."""
    if state.gone:
        return "retired"
    plan = replan(feed, state, settings)
    if plan is not None:
        return describe(plan)
    every, basis = working_interval(
        feed.url, feed.interval, settings, publish_gap=state.publish_gap
    )
    return f"every {format_duration(every)} ({basis})"  # never polled: due at once


def publishing_gap(published: Iterable[datetime]) -> float | None:
    """Median seconds between a feed's newest items, or None with fewer than three dates."""
    times = sorted({p.timestamp() for p in published}, reverse=True)[:RECENT_ITEMS]
    if len(times) < 3:
        return None
    return statistics.median(a - b for a, b in pairwise(times))


def server_hint(max_age: float | None, ttl: float | None) -> float | None:
    """The soonest the server wants to be asked again: Cache-Control max-age or RSS ttl."""
    hints = [h for h in (max_age, ttl) if h]
    return max(hints) if hints else None
