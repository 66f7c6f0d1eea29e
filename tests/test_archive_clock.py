"""Stored times after steps of the wall clock: a step back moves them with it; times written
before a step nobody saw (a last poll, a message not tried yet, later than now) count as due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive import PollRecord
from monitor.archive.sqlite import SQLiteArchive
from monitor.types import Feed
from tests.builders import archive_with

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
FEEDS = [Feed(url=f"https://feeds.example/{n}", name=n) for n in ("alpha", "beta", "gamma")]


@pytest.fixture
def archive(tmp_path: Path) -> SQLiteArchive:
    return archive_with(tmp_path / "m.db", FEEDS, NOW)


def polled(archive: SQLiteArchive, feed: Feed, at: datetime, every: timedelta) -> None:
    archive.claim_due(at, owner="w", lease_seconds=60, limit=10, urls=[feed.url])
    archive.record_poll(
        PollRecord(url=feed.url, polled=at, next_poll=at + every, ok=True), owner="w"
    )


def due(archive: SQLiteArchive, at: datetime, owner: str = "w2") -> list[str]:
    return [s.name for s in archive.claim_due(at, owner=owner, lease_seconds=60, limit=10)]


def test_a_step_back_moves_the_schedule_with_it(archive: SQLiteArchive) -> None:
    polled(archive, FEEDS[0], NOW, timedelta(minutes=10))
    polled(archive, FEEDS[1], NOW - 5 * HOUR, 6 * HOUR)  # due an hour from now
    polled(archive, FEEDS[2], NOW, timedelta(minutes=10))
    # gamma is in flight, leased for ten minutes on the old clock.
    archive.claim_due(
        NOW, owner="w", lease_seconds=600, limit=1, all_feeds=True, urls=[FEEDS[2].url]
    )
    # The clock goes back an hour: on the new clock it is NOW - 1h.
    archive.clock_stepped(-3600.0, owner="svc")
    states = {s.name: s for s in archive.feed_states()}
    assert states["alpha"].last_polled == NOW - HOUR
    assert states["alpha"].next_poll == NOW - HOUR + timedelta(minutes=10)
    assert states["beta"].next_poll == NOW  # an hour from NOW - 1h, as planned
    new_now = NOW - HOUR
    # Ten minutes on, alpha is due again, and gamma's lease is over.
    assert due(archive, new_now + timedelta(minutes=9)) == []
    assert sorted(due(archive, new_now + timedelta(minutes=11))) == ["alpha", "gamma"]


def test_a_step_forward_keeps_the_schedule_and_extends_only_ones_own_leases(
    archive: SQLiteArchive,
) -> None:
    for feed in FEEDS:
        polled(archive, feed, NOW, HOUR)
    later = NOW + HOUR
    archive.claim_due(later, owner="svc", lease_seconds=60, limit=1, urls=[FEEDS[0].url])
    archive.claim_due(later, owner="other", lease_seconds=60, limit=1, urls=[FEEDS[1].url])
    archive.clock_stepped(3600.0, owner="svc")
    # What was due within the step is due now, except svc's own feed in flight.
    assert due(archive, later + timedelta(minutes=2)) == ["beta", "gamma"]
    assert "alpha" in due(archive, later + HOUR + timedelta(minutes=2))


def test_a_last_poll_later_than_now_means_the_clock_went_back_and_the_feed_is_due(
    archive: SQLiteArchive,
) -> None:
    polled(archive, FEEDS[0], NOW, timedelta(minutes=10))
    polled(archive, FEEDS[1], NOW, timedelta(minutes=10))
    polled(archive, FEEDS[2], NOW - 2 * HOUR, 3 * HOUR)
    assert due(archive, NOW - timedelta(seconds=30)) == []  # another worker's clock, a bit behind
    assert due(archive, NOW - HOUR) == ["alpha", "beta"]  # stepped back, unseen


def test_a_message_never_tried_and_created_later_than_now_is_due(
    archive: SQLiteArchive,
) -> None:
    for n in ("new", "tried"):
        archive.enqueue_message(id=n, notifier="hook", kind="test", topic="", payload={}, now=NOW)
    archive.claim_outbox(NOW, owner="w", lease_seconds=900, limit=10)
    archive.finish_delivery("new", owner="w", now=NOW, error="deferred", count_attempt=False)
    archive.finish_delivery("tried", owner="w", now=NOW, error="HTTP 500", next_attempt=NOW)
    back = NOW - HOUR
    # The failed one waits for its next attempt, counted on the clock as it was then.
    assert [e.id for e in archive.claim_outbox(back, owner="w2", lease_seconds=900, limit=10)] == [
        "new"
    ]


def test_a_step_back_moves_pending_messages_and_article_retries(archive: SQLiteArchive) -> None:
    archive.enqueue_message(id="m", notifier="hook", kind="test", topic="", payload={}, now=NOW)
    archive.claim_outbox(NOW, owner="w", lease_seconds=900, limit=10)
    archive.finish_delivery(
        "m", owner="w", now=NOW, error="HTTP 500", next_attempt=NOW + timedelta(minutes=5)
    )
    archive.clock_stepped(-3600.0, owner="svc")
    back = NOW - HOUR
    assert (
        archive.claim_outbox(back + timedelta(minutes=4), owner="w2", lease_seconds=9, limit=9)
        == []
    )
    again = archive.claim_outbox(back + timedelta(minutes=6), owner="w2", lease_seconds=9, limit=9)
    assert [e.id for e in again] == ["m"]
    assert again[0].next_attempt == back + timedelta(minutes=5)
