"""Matching runs outside the archive's write transaction, and a crash loses no alert.

A story is stored with a mark "to be matched" in one transaction; the matcher runs
holding no lock; a second transaction records matches and alerts and clears the
mark. Real SQLite throughout: a second connection plays the other writers (the
deliverer, the service's status, another command).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from monitor.archive import Archive, open_archive
from monitor.archive.outbox import alert_id
from monitor.archive.sql import SQLArchive
from monitor.poll.writer import ArchiveWriter
from monitor.types import Entry, Feed, Match, PlannedMatch
from tests import builders

NOW = datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
FEED = Feed(url="https://a.example/rss", name="A")
WAIT = 30.0  # for a thread to get somewhere; only ever reached when something is broken


def entry(n: int, body: str = "The talks on human rights resume.") -> Entry:
    return builders.entry(n, body=body, published=NOW, text_hash=f"h{n}:{body}")


def plan(headline: str, body: str, sources: Sequence[str]) -> list[PlannedMatch]:
    if "talks" not in body:
        return []
    return [PlannedMatch(match=Match(topic="talks", terms=()), notifiers=("hook",))]


class BlockingMatcher:
    """Matches like ``plan``, after waiting until the test lets it go on."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, headline: str, body: str, sources: Sequence[str]) -> list[PlannedMatch]:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(WAIT), "the test never released the matcher"
        return plan(headline, body, sources)


def archive_at(url: str) -> SQLArchive:
    return builders.archive_with(url, [FEED], NOW)


def outbox_ids(archive: Archive) -> list[str]:
    return [e.id for e in archive.list_outbox(["pending", "sent", "dead"])]


def test_a_matcher_that_blocks_locks_nobody_out_of_the_archive(archive_url: str) -> None:
    archive = archive_at(archive_url)
    other = open_archive(archive_url)  # another writer: the deliverer, say
    matcher = BlockingMatcher()
    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            archive.store_entries(FEED.url, [entry(1)], NOW, matcher=matcher)
        )
    )
    worker.start()
    try:
        assert matcher.entered.wait(WAIT)
        # While the matcher runs, the story is stored (committed) and the archive takes
        # writes from elsewhere: before, the store's transaction held the lock throughout.
        assert other.count_stories() == 1
        assert other.enqueue_message(
            id="m1", notifier="hook", kind="health", topic="", payload={"title": "t"}, now=NOW
        )
        other.set_status({"state": "running"}, NOW)
    finally:
        matcher.release.set()
        worker.join(WAIT)
    (stored,) = results
    assert stored.alerts == 1
    assert sorted(outbox_ids(other)) == sorted(["m1", alert_id(stored.new[0].id, "talks", "hook")])
    archive.close()
    other.close()


def test_a_crash_between_storing_and_matching_is_matched_later_and_alerted_once(
    archive_url: str,
) -> None:
    archive = archive_at(archive_url)
    stored = archive.store_entries(FEED.url, [entry(1), entry(2, "Nothing here.")], NOW, mark=True)
    assert stored.alerts == 0 and len(stored.unmatched) == 2
    archive.close()  # the process dies before matching: the marks are in the file

    archive = open_archive(archive_url)
    assert archive.match_stories(plan, NOW) == 1
    assert archive.match_stories(plan, NOW) == 0  # the marks are cleared
    # Storing the same items again changes nothing, so nothing is marked or alerted.
    again = archive.store_entries(FEED.url, [entry(1), entry(2, "Nothing here.")], NOW, mark=True)
    assert again.unmatched == ()
    assert outbox_ids(archive) == [alert_id(stored.new[0].id, "talks", "hook")]
    archive.close()


def test_a_text_changed_while_it_was_matched_stays_marked_for_its_own_match(
    archive_url: str,
) -> None:
    archive = archive_at(archive_url)
    archive.store_entries(FEED.url, [entry(1, "Nothing here yet.")], NOW, mark=True)
    found = archive.prepare_matches(plan)  # the first text: no match
    assert [f.planned for f in found] == [()]
    # Meanwhile the feed edits the story: it is marked again, a newer version.
    archive.store_entries(FEED.url, [entry(1, "Now the talks resume.")], NOW, mark=True)
    assert archive.record_matches(found, NOW) == 0
    # Recording the older match left the newer mark: the new text is matched and alerts.
    assert archive.match_stories(plan, NOW) == 1
    assert archive.prepare_matches(plan) == []
    archive.close()


def test_the_archive_writer_prepares_before_its_transaction(archive_url: str) -> None:
    archive = archive_at(archive_url)
    other = open_archive(archive_url)
    archive.store_entries(FEED.url, [entry(1)], NOW, mark=True)
    matcher = BlockingMatcher()
    writer = ArchiveWriter(archive, linger=WAIT)

    def prepare() -> object:
        found = archive.prepare_matches(matcher)
        return lambda: archive.record_matches(found, NOW)

    async def poll_like() -> tuple[int, object]:
        writer.expect(1)  # so the writer waits for the store and takes both in one batch
        matched = writer.submit_prepared(prepare)
        stored = writer.submit(
            lambda: archive.store_entries(FEED.url, [entry(2)], NOW, mark=True), expected=True
        )
        # The matcher runs first, with the batch's transaction not begun: others can write.
        await asyncio.to_thread(matcher.entered.wait, WAIT)
        other.set_status({"state": "running"}, NOW)
        matcher.release.set()
        return await matched, await stored

    try:
        alerts, _ = asyncio.run(poll_like())
    finally:
        writer.close()
    assert alerts == 1 and matcher.calls == 1
    assert other.count_stories() == 2
    assert len(archive.prepare_matches(plan)) == 1  # the story stored in the batch
    archive.close()
    other.close()
