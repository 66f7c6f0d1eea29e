"""The archive: stories, their sources and the feeds' poll state.

``Archive`` is the interface every backend implements (SQLite now, PostgreSQL
for several workers); ``open_archive`` picks one from the configured URL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.errors import ArchiveError
from monitor.types import Entry, Feed, FeedState, Story


@dataclass(frozen=True, kw_only=True, slots=True)
class PollRecord:
    """The outcome of one poll of one feed, to be stored in its state."""

    url: str
    polled: datetime
    next_poll: datetime
    ok: bool
    etag: str | None = None  # validators to send next time, exactly as received
    last_modified: str | None = None
    content_hash: str | None = None
    moved_to: str | None = None  # new fetch URL after a permanent redirect
    error: str | None = None
    gone: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreResult:
    new: tuple[Story, ...] = ()
    changed: tuple[Story, ...] = ()
    merged: int = 0  # items recognised as a story another source already brought


class Archive(Protocol):
    def sync_feeds(self, feeds: Sequence[Feed], now: datetime) -> None:
        """Make the configured feeds the active ones, keeping the state of known feeds."""

    def feed_states(self, *, include_inactive: bool = False) -> list[FeedState]: ...

    def claim_due(
        self,
        now: datetime,
        *,
        owner: str,
        lease_seconds: float,
        limit: int,
        all_feeds: bool = False,
    ) -> list[FeedState]:
        """Lease the feeds due at ``now`` (or every active feed) to ``owner``."""

    def record_poll(self, record: PollRecord, *, owner: str) -> None:
        """Store a poll outcome and release the lease."""

    def store_entries(self, feed_url: str, entries: Sequence[Entry], now: datetime) -> StoreResult:
        """Archive a feed's entries, deduplicating against every story already known."""

    def recent_stories(self, *, limit: int, since: datetime | None = None) -> list[Story]: ...

    def get_story(self, story_id: str) -> Story:
        """The story whose id is ``story_id`` or starts with it; StoryNotFound otherwise."""

    def search(self, query: str, *, limit: int) -> list[Story]: ...

    def count_stories(self, *, since: datetime | None = None) -> int: ...

    def iter_stories(self, *, since: datetime | None = None) -> Iterator[Story]:
        """Every story (first seen since ``since``) in archive order."""

    def close(self) -> None: ...


def open_archive(url: str) -> Archive:
    if url.startswith("sqlite:///"):
        from monitor.archive.sqlite import SQLiteArchive

        return SQLiteArchive(url.removeprefix("sqlite:///"))
    raise ArchiveError(f"unsupported archive URL {url.split('://')[0]}://... (use sqlite:///PATH)")
