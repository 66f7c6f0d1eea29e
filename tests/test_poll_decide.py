"""What a poll's outcome means for its feed: plain values in, a record and outcome out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import ScheduleSettings
from monitor.poll.decide import Decision, failed, succeeded
from monitor.poll.schedule import spread
from monitor.types import Entry, Feed, FeedState

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
URL = "https://news.example/feed.xml"
FEED = Feed(url=URL, name="News")
J = 1 - spread(URL)  # this feed's default interval is that much of the configured one
S = ScheduleSettings(default_interval=900, min_interval=60, max_interval=86400, max_backoff=3600)
ADAPTIVE = replace(S, adaptive=True)
KNOWN = FeedState(
    url=URL,
    name="News",
    fetch_url=URL,
    etag='"v1"',
    last_modified="Sat, 31 Oct 2026 10:00:00 GMT",
    content_hash="old",
    publish_gap=1200.0,
    max_age=600.0,
    ttl=1800.0,
    last_polled=NOW - timedelta(minutes=15),
    last_success=NOW - timedelta(minutes=15),
)


@dataclass(frozen=True, kw_only=True)
class Answer:
    not_modified: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    permanent_url: str | None = None


def entry(minutes_ago: float) -> Entry:
    published = NOW - timedelta(minutes=minutes_ago)
    return Entry(
        guid=str(minutes_ago), url="", link="", headline="", paragraphs=(), published=published
    )


EVERY_TEN_MINUTES = tuple(entry(10 * n) for n in range(5))


def wait(decision: Decision) -> float:
    return (decision.record.next_poll - NOW).total_seconds()


NOT_MODIFIED = Answer(not_modified=True)


@pytest.mark.parametrize(
    ("answer", "etag", "modified"),
    [
        # A 304 may omit the validators: the ones we have are sent again.
        (NOT_MODIFIED, '"v1"', "Sat, 31 Oct 2026 10:00:00 GMT"),
        (Answer(not_modified=True, headers={"etag": '"v2"'}), '"v2"', KNOWN.last_modified),
        (
            Answer(not_modified=True, headers={"last-modified": "Sun, 01 Nov 2026 11:00:00 GMT"}),
            '"v1"',
            "Sun, 01 Nov 2026 11:00:00 GMT",
        ),
        # A 200 says what it has: no validators means none are sent next time.
        (Answer(), None, None),
        (Answer(headers={"etag": '"v3"'}), '"v3"', None),
    ],
)
def test_validators_kept_only_across_a_304(answer: Answer, etag: str, modified: str) -> None:
    d = succeeded(FEED, KNOWN, answer, NOW, S)
    assert (d.record.etag, d.record.last_modified) == (etag, modified)


@pytest.mark.parametrize(
    ("answer", "max_age", "ttl"),
    [
        # Not parsed, no Cache-Control on the 304: both hints stand (RFC 9111, 4.3.4).
        (NOT_MODIFIED, 600.0, 1800.0),
        # A 304 with Cache-Control updates max-age; the ttl is the body's and stays.
        (Answer(not_modified=True, headers={"cache-control": "max-age=60"}), 60.0, 1800.0),
        (Answer(not_modified=True, headers={"cache-control": "no-cache"}), None, 1800.0),
        # A 200 without Cache-Control has no max-age; same bytes (not parsed) keep the ttl.
        (Answer(), None, 1800.0),
    ],
)
def test_server_hints_of_a_body_not_parsed(
    answer: Answer, max_age: float | None, ttl: float | None
) -> None:
    d = succeeded(FEED, KNOWN, answer, NOW, S)
    assert (d.record.max_age, d.record.ttl) == (max_age, ttl)
    assert d.record.content_hash is None
    assert d.outcome.status == "unchanged"


@pytest.mark.parametrize(("ttl", "stored"), [(None, None), (300.0, 300.0)])
def test_a_parsed_body_brings_its_own_ttl_and_hash(ttl: float | None, stored: float) -> None:
    d = succeeded(FEED, KNOWN, Answer(), NOW, S, content_hash="new", entries=(), ttl=ttl)
    assert d.record.ttl == stored
    assert d.record.content_hash == "new"
    assert d.outcome.status == "updated"
    assert d.record.ok and d.record.polled == NOW and d.record.error is None


@pytest.mark.parametrize(
    ("entries", "gap"),
    [
        (None, 1200.0),  # not parsed: the measured gap stays
        (EVERY_TEN_MINUTES, 600.0),  # measured again
        (EVERY_TEN_MINUTES[:2], 1200.0),  # too few dates to measure: the old one stays
    ],
)
def test_publishing_gap(entries: tuple[Entry, ...] | None, gap: float) -> None:
    hashed = None if entries is None else "new"
    d = succeeded(FEED, KNOWN, Answer(), NOW, S, content_hash=hashed, entries=entries)
    assert d.record.publish_gap == gap


@pytest.mark.parametrize(
    ("settings", "feed", "answer", "seconds", "why"),
    [
        (S, FEED, NOT_MODIFIED, 900 * J, "default"),
        (S, replace(FEED, interval=120.0), NOT_MODIFIED, 120.0, "configured"),
        # Adaptive: every 20 minutes' items, polled every 10 minutes, but the stored
        # ttl of 30 minutes asks for less, up to the configured interval.
        (ADAPTIVE, FEED, NOT_MODIFIED, 900 * J, "default"),
        # ... and a fresh max-age of a minute leaves the publishing rate to decide.
        (ADAPTIVE, FEED, Answer(headers={"cache-control": "max-age=60"}), 600 * J, "adaptive"),
    ],
)
def test_next_poll_after_success(
    settings: ScheduleSettings, feed: Feed, answer: Answer, seconds: float, why: str
) -> None:
    state = replace(KNOWN, ttl=None) if "cache-control" in answer.headers else KNOWN
    d = succeeded(feed, state, answer, NOW, settings)
    assert wait(d) == pytest.approx(seconds)
    assert d.plan.why == why


def test_a_permanent_redirect_is_recorded() -> None:
    moved = "https://news.example/new.xml"
    d = succeeded(FEED, KNOWN, Answer(permanent_url=moved), NOW, S)
    assert d.record.moved_to == moved


@pytest.mark.parametrize(
    ("errors", "kw", "seconds", "why", "until"),
    [
        (0, {}, 1800 * J, "backoff", None),  # the first failure doubles the wait
        (1, {}, 3600 * J, "backoff", None),  # and so on
        (5, {}, 3600, "backoff", None),  # up to max_backoff
        # Retry-After is honoured as given, when it is later than the backoff...
        (0, {"retry_after": 7200.0}, 7200, "retry-after", 7200),
        # ... never past max_interval, and a negative one means nothing.
        (0, {"retry_after": 10 * 86400.0}, 86400, "retry-after", 86400),
        (0, {"retry_after": -5.0}, 1800 * J, "backoff", 0),
        # A parse worker that died: at once the first time, backed off when it was failing.
        (0, {"worker_died": True}, 0, "at-once", None),
        (1, {"worker_died": True}, 3600 * J, "backoff", None),
    ],
)
def test_failure(
    errors: int, kw: dict[str, object], seconds: float, why: str, until: float | None
) -> None:
    state = replace(KNOWN, error_count=errors)
    d = failed(FEED, state, "HTTP 503", NOW, S, **kw)  # type: ignore[arg-type]
    assert wait(d) == pytest.approx(seconds)
    assert d.plan.why == why
    assert d.plan.errors == errors + 1
    expected_until = None if until is None else NOW + timedelta(seconds=until)
    assert d.record.retry_until == expected_until
    assert (d.record.ok, d.record.error, d.record.polled) == (False, "HTTP 503", NOW)
    assert d.outcome.status == "failed" and d.outcome.error == "HTTP 503"
    # A failure changes none of what the feed's last success left.
    assert (d.record.etag, d.record.content_hash, d.record.publish_gap) == (None, None, None)


def test_a_gone_feed_is_retired() -> None:
    d = failed(FEED, KNOWN, "HTTP 410 Gone", NOW, S, gone=True)
    assert d.record.gone and not d.record.ok
    assert d.outcome.status == "gone"
    assert d.outcome.error == "HTTP 410 Gone"


def test_a_failing_feed_keeps_its_adaptive_rate_and_hints_when_backed_off() -> None:
    busy = replace(KNOWN, publish_gap=240.0, max_age=None, ttl=None, error_count=0)
    d = failed(FEED, busy, "timeout", NOW, ADAPTIVE)
    assert d.plan.basis == "adaptive"
    assert wait(d) == pytest.approx(2 * 120 * J)
