"""What only a shared archive does: claims that skip rows another worker holds, leases on
the database's clock, fenced completions, work done once by any number of workers, and
per-host limits across workers. Real PostgreSQL, a database of each test's own."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from monitor.archive import PollRecord, open_archive
from monitor.archive.postgres import PostgresArchive, SharedHosts
from monitor.archive.search import search
from monitor.errors import ArchiveError, ArchiveUnreachable, LeaseLost
from monitor.types import Feed
from tests import builders

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FEEDS = [Feed(url=f"https://feeds.example/{n}", name=f"feed {n}") for n in range(6)]


@pytest.fixture
def workers(postgres_url: str) -> Iterator[tuple[PostgresArchive, PostgresArchive]]:
    """Two workers' connections to one archive that knows FEEDS."""
    first = builders.archive_with(postgres_url, FEEDS, NOW)
    second = open_archive(postgres_url)
    assert isinstance(first, PostgresArchive) and isinstance(second, PostgresArchive)
    yield first, second
    first.close()
    second.close()


def ok(url: str) -> PollRecord:
    return PollRecord(url=url, polled=NOW, next_poll=NOW + timedelta(hours=1), ok=True)


def test_a_claim_skips_rows_another_worker_has_locked_and_never_takes_more_than_its_limit(
    workers: tuple[PostgresArchive, PostgresArchive], postgres_url: str
) -> None:
    a, b = workers
    with psycopg.connect(postgres_url) as other:  # a transaction holding two feeds' rows
        locked = (FEEDS[0].url, FEEDS[1].url)
        other.execute("SELECT id FROM feeds WHERE url IN (%s, %s) FOR UPDATE", locked)
        started = time.monotonic()
        claimed = a.claim_due(NOW, owner="a", lease_seconds=60, limit=3)
        assert time.monotonic() - started < 2  # it did not wait for the lock
        assert len(claimed) == 3
        assert not {s.url for s in claimed} & set(locked)
    rest = b.claim_due(NOW, owner="b", lease_seconds=60, limit=10)
    assert {s.url for s in rest} == {f.url for f in FEEDS} - {s.url for s in claimed}


def test_leases_are_timed_by_the_database_clock_not_the_workers(
    workers: tuple[PostgresArchive, PostgresArchive],
) -> None:
    a, b = workers
    assert len(a.claim_due(NOW, owner="a", lease_seconds=60, limit=10)) == len(FEEDS)
    # A worker whose clock is a day ahead still sees the leases held.
    assert b.claim_due(NOW + timedelta(days=1), owner="b", lease_seconds=60, limit=10) == []
    # One step of a worker's clock moves nothing shared.
    b.clock_stepped(-86400, owner="b")
    assert b.claim_due(NOW, owner="b", lease_seconds=60, limit=10) == []


def test_a_completion_after_the_lease_ran_out_is_refused_and_the_new_owners_stands(
    workers: tuple[PostgresArchive, PostgresArchive],
) -> None:
    a, b = workers
    feed = FEEDS[0].url
    a.claim_due(NOW, owner="a", lease_seconds=0.3, limit=1, urls=[feed])
    time.sleep(0.5)  # worker a is paused past its lease; b takes the feed over
    taken = b.claim_due(NOW, owner="b", lease_seconds=60, limit=1, urls=[feed])
    assert [s.url for s in taken] == [feed]
    # a wakes up and stores its poll: its stories and record go together, refused.
    item = builders.entry(url="https://n.example/1", headline="Late news", fingerprint=True)
    with pytest.raises(LeaseLost, match=r"feed https://feeds\.example/0"), a.batch():
        a.store_entries(feed, [item], NOW)
        a.record_poll(
            PollRecord(url=feed, polled=NOW, next_poll=NOW, ok=False, error="late"), owner="a"
        )
    assert a.count_stories() == 0
    state = next(s for s in a.feed_states() if s.url == feed)
    assert (state.error_count, state.last_error) == (0, None)
    b.record_poll(ok(feed), owner="b")  # the new owner's completion stands
    assert next(s for s in b.feed_states() if s.url == feed).next_poll == ok(feed).next_poll


def test_a_long_poll_renews_its_lease_and_keeps_its_feeds(
    workers: tuple[PostgresArchive, PostgresArchive],
) -> None:
    a, b = workers
    urls = [s.url for s in a.claim_due(NOW, owner="a", lease_seconds=0.5, limit=2)]
    assert a.renew_feeds(urls, owner="a", now=NOW, lease_seconds=60) == set(urls)
    time.sleep(0.7)
    assert not {s.url for s in b.claim_due(NOW, owner="b", lease_seconds=60, limit=10)} & set(urls)
    a.record_poll(ok(urls[0]), owner="a")
    # Another's lease is not renewed for it.
    assert b.renew_feeds([urls[1]], owner="b", now=NOW, lease_seconds=60) == set()


def test_a_delivery_outcome_after_the_lease_ran_out_is_refused(
    workers: tuple[PostgresArchive, PostgresArchive],
) -> None:
    a, b = workers
    a.enqueue_message(id="m1", notifier="hook", kind="test", topic="", payload={}, now=NOW)
    assert [e.id for e in a.claim_outbox(NOW, owner="a", lease_seconds=0.3, limit=5)] == ["m1"]
    assert b.claim_outbox(NOW, owner="b", lease_seconds=60, limit=5) == []
    time.sleep(0.5)
    assert [e.id for e in b.claim_outbox(NOW, owner="b", lease_seconds=60, limit=5)] == ["m1"]
    with pytest.raises(LeaseLost, match="message m1"):
        a.finish_delivery("m1", owner="a", now=NOW)
    assert a.outbox_counts() == {"pending": 1}
    b.finish_delivery("m1", owner="b", now=NOW)
    assert a.outbox_counts() == {"sent": 1}


def test_health_alerts_and_housekeeping_happen_once_with_several_workers(
    postgres_url: str,
) -> None:
    archives = [builders.archive_with(postgres_url, FEEDS, NOW) for _ in range(4)]
    try:
        claimer = archives[0]
        claimer.claim_due(NOW, owner="w", lease_seconds=60, limit=10)
        for feed in FEEDS[:3]:
            failed = PollRecord(url=feed.url, polled=NOW, next_poll=NOW, ok=False, error="HTTP 500")
            claimer.record_poll(failed, owner="w")
        found: list[tuple[str, str, str]] = []
        start = threading.Barrier(len(archives))

        def ask(archive: PostgresArchive) -> None:
            start.wait()
            found.extend(archive.health_changes(NOW + timedelta(hours=2), 3600))

        threads = [threading.Thread(target=ask, args=(x,)) for x in archives]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(url for url, _, change in found if change == "failing") == sorted(
            f.url for f in FEEDS[:3]
        )
        first, second = archives[:2]
        with first.exclusive("retention") as mine:
            assert mine
            with second.exclusive("retention") as theirs:
                assert not theirs
            with second.exclusive("another job") as theirs:
                assert theirs
        with second.exclusive("retention") as theirs:
            assert theirs
    finally:
        for archive in archives:
            archive.close()


def test_per_host_slots_and_spacing_hold_across_workers(postgres_url: str) -> None:
    builders.archive_with(postgres_url, FEEDS, NOW).close()
    a, b = SharedHosts(postgres_url, "a"), SharedHosts(postgres_url, "b")
    try:
        taken = [a.take_slot("n.example", 3, 60), b.take_slot("n.example", 3, 60)]
        taken.append(a.take_slot("n.example", 3, 60))
        assert sorted(t for t in taken if t is not None) == [0, 1, 2]
        assert b.take_slot("n.example", 3, 60) is None  # the host's three are taken
        assert b.take_slot("other.example", 3, 60) is not None
        slot = taken[1]
        assert slot is not None
        b.give_slot("n.example", slot)
        assert a.take_slot("n.example", 3, 0.2) == slot
        time.sleep(0.4)  # a dead worker's slot comes free when its hold runs out
        assert b.take_slot("n.example", 3, 60) == slot
        # Spacing: each start is booked a gap after the last, whichever worker asks.
        waits = [w.next_start("n.example", 0.5) for w in (a, b, a, b)]
        assert waits[0] == 0.0
        for before, after in itertools.pairwise(waits):
            assert after - before == pytest.approx(0.5, abs=0.1)
    finally:
        a.close()
        b.close()


def test_stories_stored_by_workers_at_once_are_each_stored_once(postgres_url: str) -> None:
    """Two feeds carry the same items; two workers store them at the same moment: the
    decider's look-up and its writes are not interleaved, so each item is one story."""
    archives = [builders.archive_with(postgres_url, FEEDS, NOW) for _ in range(2)]
    items = [
        builders.entry(url=f"https://n.example/{n}", headline=f"Item {n}", fingerprint=True)
        for n in range(40)
    ]
    start = threading.Barrier(2)
    results = []

    def store(archive: PostgresArchive, feed: Feed) -> None:
        start.wait()
        results.append(archive.store_entries(feed.url, items, NOW))

    threads = [
        threading.Thread(target=store, args=(x, f)) for x, f in zip(archives, FEEDS, strict=False)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sum(len(r.new) for r in results) == 40
        assert sum(r.merged for r in results) == 40
        assert archives[0].count_stories() == 40
    finally:
        for archive in archives:
            archive.close()


def test_article_retries_are_claimed_by_one_worker(
    workers: tuple[PostgresArchive, PostgresArchive],
) -> None:
    a, b = workers
    item = builders.entry(url="https://n.example/1", headline="Short", fingerprint=True)
    a.store_entries(FEEDS[0].url, [item], NOW)
    a._db.execute("UPDATE stories SET article_retry = ?, article_tries = 1", (NOW.timestamp(),))
    first = a.claim_article_retries(NOW, limit=5, lease_seconds=600)
    assert [r.entry.url for r in first] == ["https://n.example/1"]
    assert b.claim_article_retries(NOW, limit=5, lease_seconds=600) == []


def test_a_completion_after_the_lease_ran_out_with_no_new_owner_stands(
    workers: tuple[PostgresArchive, PostgresArchive],
) -> None:
    a, _ = workers
    feed = FEEDS[0].url
    a.claim_due(NOW, owner="a", lease_seconds=0.2, limit=1, urls=[feed])
    a.enqueue_message(id="m1", notifier="hook", kind="test", topic="", payload={}, now=NOW)
    a.claim_outbox(NOW, owner="a", lease_seconds=0.2, limit=1)
    time.sleep(0.4)  # run out, and nobody took them: nobody's outcome is overwritten
    a.record_poll(ok(feed), owner="a")
    assert a.renew_outbox(["m1"], owner="a", now=NOW, lease_seconds=60) == {"m1"}
    a.finish_delivery("m1", owner="a", now=NOW)
    assert a.outbox_counts() == {"sent": 1}
    assert a.renew_outbox(["m1"], owner="a", now=NOW, lease_seconds=60) == set()  # sent


def test_a_worker_reconnects_after_the_server_drops_its_connection(
    workers: tuple[PostgresArchive, PostgresArchive], postgres_url: str
) -> None:
    a, b = workers
    a.set_status({"state": "running"}, NOW)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    time.sleep(0.2)
    with pytest.raises(ArchiveUnreachable):  # the call that finds it broken says so ...
        b.status()
    assert b.status() == {"state": "running"}  # ... and the next opens it again
    for read in (b.release_held, a.release_held):  # reads too, not only transactions
        try:
            read(lambda m: None, NOW)
        except ArchiveUnreachable:
            read(lambda m: None, NOW)
    with a.exclusive("retention") as mine:
        assert mine


def test_a_password_in_an_unreadable_url_is_not_repeated() -> None:
    with pytest.raises(ArchiveError) as caught:
        open_archive("postgresql://monitor:s3cret%zzpw@127.0.0.1:5432/nothing")
    assert "s3cret" not in str(caught.value)


def test_very_long_words_and_huge_texts_are_stored_and_found(
    workers: tuple[PostgresArchive, PostgresArchive],
) -> None:
    a, _ = workers
    thai = "ก" * 900  # 2,700 bytes in one token: more than PostgreSQL takes in a lexeme
    long_one = builders.entry(
        url="https://n.example/thai",
        headline="Long word",
        body=(f"Word {thai} here.",),
        fingerprint=True,
    )
    assert len(a.store_entries(FEEDS[0].url, [long_one], NOW).new) == 1
    found = [h.story.url for h in search(a, thai, limit=5)]
    assert found == ["https://n.example/thai"]
    # A story with more distinct words than a tsvector holds is a candidate of every query.
    many = " ".join(f"w{n:07d}abcdefghijklmnopqrst" for n in range(40_000))
    huge = builders.entry(
        url="https://n.example/huge", headline="Huge", body=(many,), fingerprint=True
    )
    a.store_entries(FEEDS[0].url, [huge], NOW)
    assert [h.story.url for h in search(a, "w0039999abcdefghijklmnopqrst", limit=5)] == [
        "https://n.example/huge"
    ]
