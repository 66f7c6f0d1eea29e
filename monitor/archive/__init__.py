"""The archive: stories, their sources and the feeds' poll state.

``Archive`` is the interface every backend implements (SQLite, the embedded default;
PostgreSQL, for several workers); ``open_archive`` picks one from the configured URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from monitor.errors import ArchiveError
from monitor.fetch.limits import SharedHosts
from monitor.rules.ast import Node
from monitor.types import Entry, Feed, FeedState, Match, OutboxEntry, PlannedMatch, Story

# (headline, body, URLs of the feeds carrying the story) -> the topics it matches and their alerts
Matcher = Callable[[str, str, Sequence[str]], Sequence[PlannedMatch]]
# A held match -> its alerts as the configuration can route them now; None: not at all yet.
Router = Callable[[Match], PlannedMatch | None]


# When a known feed is due under the configuration now (None: as it is). Policy, passed in.
Replan = Callable[[Feed, FeedState], datetime | None]


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
    publish_gap: float | None = None  # seconds between the feed's items, when measured
    max_age: float | None = None  # server hints as of this poll (kept across a 304)
    ttl: float | None = None
    retry_until: datetime | None = None  # a failure's Retry-After, as a time
    error: str | None = None
    gone: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class ArticleRetry:
    """A story whose article page is due another attempt: the active feeds that carry it
    (first the first), and the story as an entry of the first (its link as that feed gave
    it, the story's text)."""

    story: int  # its seq: stories may share a URL, so the entry's keys cannot say which
    feed_urls: tuple[str, ...]
    entry: Entry


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreResult:
    new: tuple[Story, ...] = ()
    changed: tuple[Story, ...] = ()
    merged: int = 0  # items recognised as a story another source already brought
    alerts: int = 0  # alerts created (outbox rows or queued for a digest)
    unmatched: tuple[int, ...] = ()  # the stories (seq) marked to be matched


@dataclass(frozen=True, kw_only=True, slots=True)
class StoryMatches:
    """What matching a story marked to be matched found, to be recorded."""

    story: int  # its seq
    story_id: str
    version: int  # of the mark matched: recording it leaves a newer mark in place
    quiet: bool  # backlog: its matches are recorded, and nothing is alerted
    planned: tuple[PlannedMatch, ...]


class FeedStore(Protocol):
    """The feeds and their poll state.

    A feed is polled by one owner at a time: ``claim_due`` leases it, ``record_poll`` or
    ``release_feeds`` ends the lease; a lease not ended in time (its owner died) can be
    claimed again. Times are the caller's clock, passed in; the store decides nothing
    about when a feed is due beyond comparing the times it was given.
    """

    def sync_feeds(self, feeds: Sequence[Feed], now: datetime, *, replan: Replan) -> None:
        """Make the configured feeds the active ones, keeping the state of known feeds.

        New feeds are due at ``now``; a known feed's next poll becomes what ``replan``
        says of it (the scheduling policy counts it again from its last poll under the
        configuration now, ``poll.schedule.replanner``), so an edited interval applies at
        once.
        """

    def feed_states(self, *, include_inactive: bool = False) -> list[FeedState]:
        """Every active feed's state (with ``include_inactive``, those no longer configured
        too), with its story count."""

    def claim_due(
        self,
        now: datetime,
        *,
        owner: str,
        lease_seconds: float,
        limit: int,
        all_feeds: bool = False,
        urls: Sequence[str] | None = None,
    ) -> list[FeedState]:
        """Lease the feeds due at ``now`` (or every active feed) to ``owner``; with
        ``urls``, only those of them."""

    def record_poll(self, record: PollRecord, *, owner: str) -> None:
        """Store a poll outcome and release the lease."""

    def renew_feeds(
        self, urls: Sequence[str], *, owner: str, now: datetime, lease_seconds: float
    ) -> set[str]:
        """Extend ``owner``'s leases of these feeds to ``lease_seconds`` from now (a long
        poll); those it still held. A shared database times leases by its own clock."""

    def release_feeds(self, urls: Sequence[str], *, owner: str) -> None:
        """Give back ``owner``'s leases of these feeds, their state as it was: polls whose
        outcome could not be stored (the disk was full), due again at once."""

    def health_changes(self, now: datetime, failing_after: float) -> list[tuple[str, str, str]]:
        """Feeds to send a health alert about: (url, name, "failing" or "recovered"); one
        when a feed has failed for ``failing_after`` seconds, one when it recovers, each
        taken once (the flag that says it was is set in the same transaction)."""


class StoryStore(Protocol):
    """The stories, their sources and texts, their matches, and full-text search.

    Storing looks up what the entries may be (stories by key, near duplicates by their
    sketches) and writes what the dedupe decider (``monitor.dedupe``) decides. Every
    write of one call is one transaction: a crash keeps all of it or none.
    """

    def store_entries(
        self,
        feed_url: str,
        entries: Sequence[Entry],
        now: datetime,
        *,
        matcher: Matcher | None = None,
        mark: bool = False,
        stories: Sequence[int] | None = None,
        backlog: Sequence[bool] = (),
    ) -> StoreResult:
        """Archive a feed's entries, deduplicating against every story already known.

        ``stories``: the seq of the story each entry is, when the caller knows it (an
        article retry), instead of finding it by the entry's keys and text.

        With ``mark``, new and changed stories (and stories a further feed now carries)
        are marked to be matched, in the transaction that stores them (``unmatched`` in
        the result): ``prepare_matches`` and ``record_matches`` take it from there. With
        a ``matcher`` they are marked and matched at once (as ``match_stories`` does),
        after the stories are stored: outside ``batch()`` only. A story's article text
        is kept when the feed later brings its own text again; an entry with a failed
        article attempt schedules the next one (``dedupe.ARTICLE_RETRY_DELAYS``).

        ``backlog`` (one flag per entry; none: no entry is) marks the entries that are
        old news to this feed (its first poll, a poll without alerts): they are matched,
        but alert nothing; nor does their story later (an edit, its article read) as long
        as every feed that carries it brought it as backlog.
        """

    def prepare_matches(
        self, matcher: Matcher, *, seqs: Sequence[int] | None = None, limit: int = 500
    ) -> list[StoryMatches]:
        """Match stories marked to be matched (of ``seqs``, or the first ``limit`` of them):
        reads, then ``matcher``, in no transaction, so a slow rule holds up no writer. A
        story whose matcher fails is logged and stays marked."""

    def record_matches(self, found: Sequence[StoryMatches], now: datetime) -> int:
        """Store what ``prepare_matches`` found: matches, alerts and their outbox rows, and
        clear the marks matched, in one transaction. Alerts already made are not made
        again (their ids are stable). Returns how many alerts are new."""

    def match_stories(
        self, matcher: Matcher, now: datetime, *, seqs: Sequence[int] | None = None
    ) -> int:
        """``prepare_matches`` then ``record_matches``; how many alerts are new."""

    def untried_entries(self, feed_url: str, entries: Sequence[Entry]) -> list[bool]:
        """For each entry: true when no archived story has its URL (or the feed's GUID), or
        when that story's page was never asked for (a feed without full articles stored it)."""

    def claim_article_retries(
        self, now: datetime, *, limit: int, lease_seconds: float
    ) -> list[ArticleRetry]:
        """The stories whose article is due another attempt, put off by ``lease_seconds``
        (storing the attempt's entry schedules the next one, or none)."""

    def recent_stories(self, *, limit: int, since: datetime | None = None) -> list[Story]:
        """The newest stories (first seen since ``since``), newest first."""

    def get_story(self, story_id: str) -> Story:
        """The story whose id is ``story_id`` or starts with it; StoryNotFound otherwise."""

    def story_topics(self, seq: int) -> list[str]:
        """The topics the story matched, by name (as recorded: a topic since removed stays)."""

    def prune(
        self,
        before: datetime,
        *,
        matched_before: datetime | None,
        now: datetime,
        batch: int = 500,
        most: int | None = None,
        dry_run: bool = False,
    ) -> int:
        """Delete the stories first seen before ``before`` (those that matched a topic: before
        ``matched_before``; None: keep them), except those with an alert still to be sent or
        a match pending; how many (``dry_run``: would be; ``most``: at most that many). A batch
        per transaction, so polls go on meanwhile. Their keys are remembered: a feed that
        still carries one does not bring it back as a new story."""

    def vacuum(self) -> None:
        """Give the space of deleted stories back to the disk (rewrites the archive)."""

    def candidates(self, node: Node) -> Iterator[Story]:
        """Stories that may match the query ``node`` (aliases resolved), newest first: those
        the full-text index finds (a superset; ``archive.search.search`` checks each with the
        rules' matcher), or every story when the index cannot narrow the query down."""

    def count_stories(self, *, since: datetime | None = None) -> int:
        """How many stories were first seen since ``since`` (all of them without it)."""

    def iter_stories(self, *, since: datetime | None = None) -> Iterator[Story]:
        """Every story (first seen since ``since``) in archive order."""


class Outbox(Protocol):
    """Messages waiting to be sent, their delivery outcomes, digests, disabled notifiers.

    A message is enqueued in the transaction that makes its alert, claimed by one owner
    at a time (a lease, as feeds are), and finished once: sent, tried again at a given
    time, or dead. Message ids are stable, so a message enqueued twice is one message.
    """

    def enqueue_message(
        self,
        *,
        id: str,
        notifier: str,
        kind: str,
        topic: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> bool: ...

    def claim_outbox(
        self, now: datetime, *, owner: str, lease_seconds: float, limit: int
    ) -> list[OutboxEntry]: ...

    def renew_outbox(
        self, ids: Sequence[str], *, owner: str, now: datetime, lease_seconds: float
    ) -> set[str]:
        """Extend ``owner``'s leases of these messages to ``lease_seconds`` from now (before
        each send of a long batch); those it still held. A shared database times leases by
        its own clock."""

    def message_stories(self, outbox_id: str) -> list[tuple[Story, Match]]:
        """The stories of an alert or digest message with their matches, in archive order."""

    def message_payload(self, outbox_id: str) -> dict[str, Any]:
        """The payload an ``enqueue_message`` message was queued with."""

    def finish_delivery(
        self,
        outbox_id: str,
        *,
        owner: str,
        now: datetime,
        error: str | None = None,
        next_attempt: datetime | None = None,
        dead: bool = False,
        count_attempt: bool = True,
    ) -> None: ...

    def list_outbox(self, statuses: Sequence[str], *, limit: int = 200) -> list[OutboxEntry]:
        """Messages in any of ``statuses`` ("pending", "sent", "dead"), newest first."""

    def retry_outbox(
        self, now: datetime, *, ids: Sequence[str] = (), all_dead: bool = False
    ) -> int: ...

    def outbox_counts(self) -> dict[str, int]:
        """How many messages are in each status."""

    def disable_notifier(self, name: str, reason: str, now: datetime) -> None:
        """Stop claiming ``name``'s messages (its endpoint is gone) until it is enabled;
        they stay pending, nothing is dropped."""

    def enable_notifier(self, name: str) -> None:
        """Claim ``name``'s messages again."""

    def disabled_notifiers(self) -> dict[str, str]:
        """Disabled notifiers and why."""

    def digest_queues(self) -> Iterator[tuple[str, str, str, datetime, datetime | None]]:
        """(topic, notifier, queue, oldest queued alert, last due time) of every waiting
        digest queue."""

    def release_held(self, route: Router, now: datetime) -> int:
        """Make the alerts of held matches that ``route`` can route now; how many were made."""

    def alerted_stories(self, seqs: Sequence[int]) -> set[int]:
        """Those of the stories ``seqs`` that some sent message alerted."""

    def held_matches(self) -> dict[str, tuple[int, str]]:
        """Per topic: matches whose alerts wait to be routed, and why."""

    def create_digest(
        self, *, topic: str, notifier: str, queue: str, due: datetime, now: datetime
    ) -> str | None: ...


class ServiceState(Protocol):
    """What the running service records about itself, and the counts ``monitor status``
    and ``/metrics`` show."""

    def release_leases(self, owner: str | None = None) -> None:
        """Forget ``owner``'s leases of feeds and messages (a service stopping: what it cut
        short is claimable again at once); without ``owner``, every lease, for a service
        that holds the archive's single-instance lock, to which any lease left over is from
        a crashed run (a shared archive has no such lock: it keeps the others')."""

    def clock_stepped(self, step: float, *, owner: str) -> None:
        """The wall clock was stepped by ``step`` seconds: after a step back, move the
        stored due times and leases back with it; after a step forward, extend
        ``owner``'s leases."""

    def set_status(self, values: dict[str, Any], now: datetime) -> None:
        """Record ``values`` in the service's status, key by key (others are kept)."""

    def status(self) -> dict[str, Any]:
        """The service's recorded status, as ``set_status`` left it."""

    def feed_counts(self) -> tuple[int, int]:
        """(active feeds, of them failing)."""

    def topic_hits(self, since: datetime) -> dict[str, int]:
        """Matches per topic since ``since``."""

    def stories_per_day(self, since: datetime, now: datetime) -> dict[str, float]:
        """Per feed: stories first seen per day between ``since`` and ``now``."""

    def article_counts(self, since: datetime) -> dict[str, int]:
        """Of the stories first seen since ``since`` whose page was tried: how many have its
        text ("article"), kept the feed's ("feed"), of those wait for a retry ("waiting"), and
        each reason the feed's text was kept ("error: REASON")."""

    def check_file(self) -> None:
        """Raise ArchiveGone when the archive's file was deleted or replaced since it was
        opened (a database server has no such file: nothing to check)."""


class Archive(FeedStore, StoryStore, Outbox, ServiceState, Protocol):
    """Every role of the archive, as one backend implements them (SQLite now; PostgreSQL
    for several workers). Callers that need one role may take only that one."""

    shared: bool  # several workers may use it at once (PostgreSQL)

    def exclusive(self, name: str) -> AbstractContextManager[bool]:
        """Whether this worker is the one to do ``name`` (housekeeping) now: with several
        workers, one at a time gets true and the others false at once."""

    def shared_hosts(self, owner: str) -> SharedHosts | None:
        """Per-host request slots and spacing that every worker sees, for ``HostLimits``;
        None when one worker has the archive to itself."""

    def batch(self) -> AbstractContextManager[None]:
        """One transaction for every write made inside: all of them are kept, or none (a
        poller's many small writes: one commit instead of one each)."""

    def close(self) -> None: ...


def open_archive(url: str, *, read_only: bool = False) -> Archive:
    """The archive at ``url``; ``read_only``: an existing one, through a connection that
    cannot write (ArchiveMissing when there is none yet)."""
    if url.startswith("sqlite:///"):
        from monitor.archive.sqlite import SQLiteArchive

        return SQLiteArchive(url.removeprefix("sqlite:///"), read_only=read_only)
    if url.startswith(("postgresql://", "postgres://")):
        from monitor.archive.postgres import PostgresArchive

        return PostgresArchive(url, read_only=read_only)
    raise ArchiveError(
        f"unsupported archive URL {url.split('://')[0]}://... "
        "(use sqlite:///PATH or postgresql://USER@HOST/DATABASE)"
    )
