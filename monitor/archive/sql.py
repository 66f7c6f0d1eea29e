"""What the SQL backends of the archive share: every look-up and write, in SQL that SQLite
and PostgreSQL both read (``?`` placeholders, ``ON CONFLICT``, ``RETURNING``).

A backend supplies its connection (``Db``), its transactions, its schema, full-text search,
and where several workers share the database, claims that skip what another holds
(``monitor.archive.postgres``). What to write is decided by the pure decider
(``monitor.dedupe``); this module looks up what it needs and writes what it decided.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from monitor.archive import (
    ArticleRetry,
    Matcher,
    PollRecord,
    Replan,
    StoreResult,
    StoryMatches,
)
from monitor.archive.db import Db, marks
from monitor.archive.outbox import CLOCK_SLACK, OutboxStore, _dt, _utc, gone_owners
from monitor.archive.status import StatusStore
from monitor.dedupe import (
    UNTRIED,
    AddStory,
    Attempts,
    Candidate,
    Decider,
    Decision,
    Found,
    Known,
    ReplaceFeedSketch,
    ReplaceText,
    Search,
    SetArticle,
    SetWords,
    Text,
    Update,
    entry_keys,
)
from monitor.errors import ArchiveError, StoryNotFound
from monitor.fetch.limits import SharedHosts
from monitor.rules.ast import Node
from monitor.text.fingerprint import probes
from monitor.types import Entry, Feed, FeedState, Story

log = logging.getLogger(__name__)
_CHUNK = 500  # values bound in one IN (...) list
_NO_SEQ = 2**62  # above every story's seq
_SEARCHES_PER_STATEMENT = 50  # near-duplicate searches asked in one statement
# Locks of the transactions that must take turns (``_serialize``).
STORE_LOCK = 0x6D6F6E69746F7201
SYNC_LOCK = 0x6D6F6E69746F7203
PROBE_POSTINGS = 16  # stories a near-duplicate probe is followed to, the most recent
# New stories between two merges of the near-duplicate index's recent rows (``_merge_probes``):
# some 300,000 rows, a few MB that the page cache holds.
PROBE_MERGE_STORIES = 50_000
# Stories deleted by retention in one transaction at most.
PRUNE_BATCH = 500
# Stories retention may delete: first seen before the cut-off (matched ones before their own,
# if any), with no alert still to be sent or queued for a digest and no match pending.
_PRUNABLE = """
    SELECT s.seq FROM stories s
    WHERE s.first_seen < ?
      AND (s.first_seen < ? OR NOT EXISTS (SELECT 1 FROM matches m WHERE m.story_seq = s.seq))
      AND NOT EXISTS (
        SELECT 1 FROM alerts a LEFT JOIN outbox o ON o.id = a.outbox_id
        WHERE a.story_seq = s.seq AND (a.outbox_id IS NULL OR o.status = 'pending'))
      AND NOT EXISTS (SELECT 1 FROM unmatched u WHERE u.story_seq = s.seq)
    ORDER BY s.seq LIMIT ?
"""
_ROWS_PER_INSERT = 100  # stories in one multi-row INSERT
# Each probe hash of ``q`` with the stories of one table of the near-duplicate index that have
# it: the most recent only (the OFFSET: PROBE_POSTINGS - 1).
_POSTINGS = """SELECT q.n, m.story_seq FROM q JOIN {table} m
    ON m.hash = q.hash AND m.story_seq >= coalesce((SELECT r.story_seq FROM {table} r
        WHERE r.hash = q.hash ORDER BY r.story_seq DESC LIMIT 1 OFFSET ?), 0)"""
# Stories whose text is too short for a sketch: the only ones found by their text's hash
# (written as the SQLite archive's partial index on text_hash is, for it to be used).
UNSKETCHED = "(sketch IS NULL OR length(sketch) = 0)"

# A story's columns as ``_story`` reads them; ``sources`` is each backend's own.
STORY_COLUMNS = """
    s.seq, s.id, s.url, {text}, s.published, s.first_seen, s.updated,
    s.content_source, s.article_error, {sources} AS sources
"""
TEXT_COLUMNS = "s.headline, s.body"
_NO_TEXT = "'' AS headline, '' AS body"


def _ts(value: datetime) -> float:
    return value.timestamp()


def _pack(sketch: Sequence[int]) -> bytes:
    return array("I", sketch).tobytes()


def _unpack(blob: bytes | None) -> tuple[int, ...]:
    if not blob:
        return ()
    values = array("I")
    values.frombytes(blob)
    return tuple(values)


def _reindex(db: Db, stories: Sequence[tuple[int, Sequence[int], Sequence[int]]]) -> None:
    """Stored stories' near-duplicate index rows, for their sketches (own, feed's) as they
    are now."""
    seqs = [seq for seq, _, _ in stories]
    for start in range(0, len(seqs), _CHUNK):
        chunk = seqs[start : start + _CHUNK]
        for table in ("story_minhash", "story_minhash_new"):
            db.execute(f"DELETE FROM {table} WHERE story_seq IN ({marks(len(chunk))})", chunk)
    _index_probes(db, stories)


def _index_probes(db: Db, stories: Sequence[tuple[int, Sequence[int], Sequence[int]]]) -> None:
    """The near-duplicate index rows of (seq, own sketch, feed's sketch): into the small
    table of recent rows, which ``_merge_probes`` empties into the big one now and then."""
    _insert(
        db,
        "INSERT INTO story_minhash_new (hash, story_seq) VALUES",
        [(h, seq) for seq, own, feed in stories for h in probes(own, feed)],
        " ON CONFLICT DO NOTHING",
    )


def _merge_probes(db: Db) -> None:
    """Move the recent near-duplicate index rows into the big table, in its key order.

    The index's keys are hashes, so each row written straight into the big table lands on
    a page of its own once that table outgrows the page cache: at a million stories a poll
    of 10,000 new items dirtied nearly every one of its pages, in every transaction, and
    storing them cost 1.5 to 2.5 times what it did at 10,000. Written here a few hundred
    thousand at a time, in order, each of its pages is written once per merge instead.

    A merge costs about 10 us per row moved, and little more as the big table grows
    (measured at a million stories: 7 us a row into a table of 2.4 million rows, 11 into
    one of 6 million; nearly half of it the story_seq index). Levels between the two
    tables, as an LSM tree has, would move each row once more and cost more than they save.
    """
    began = time.perf_counter()
    moved = db.execute(
        "INSERT INTO story_minhash (hash, story_seq)"
        " SELECT hash, story_seq FROM story_minhash_new WHERE TRUE ORDER BY hash, story_seq"
        " ON CONFLICT DO NOTHING"
    ).rowcount
    db.execute("DELETE FROM story_minhash_new")
    log.info(
        "near-duplicate index: merged %d recent rows in %.1f s", moved, time.perf_counter() - began
    )


def _paragraphs(body: str) -> tuple[str, ...]:
    """A stored body's paragraphs (it holds them joined by blank lines)."""
    return tuple(p for p in body.split("\n\n") if p)


def story_from_row(row: Any) -> Story:
    return Story(
        id=row["id"],
        seq=row["seq"],
        url=row["url"],
        headline=row["headline"],
        paragraphs=_paragraphs(row["body"]),
        published=_utc(row["published"]),
        first_seen=_utc(row["first_seen"]),
        updated=_utc(row["updated"]),
        sources=tuple(row["sources"].split("\x1f")) if row["sources"] else (),
        content_source=row["content_source"],
        article_error=row["article_error"],
    )


def _feed_state(row: Any) -> FeedState:
    return FeedState(
        url=row["url"],
        name=row["name"],
        fetch_url=row["fetch_url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        content_hash=row["content_hash"],
        publish_gap=row["publish_gap"],
        max_age=row["max_age"],
        ttl=row["ttl"],
        retry_until=_dt(row["retry_until"]),
        next_poll=_dt(row["next_poll"]),
        last_polled=_dt(row["last_polled"]),
        last_success=_dt(row["last_success"]),
        error_count=row["error_count"],
        last_error=row["last_error"],
        failing_since=_dt(row["failing_since"]),
        gone=bool(row["gone"]),
        active=bool(row["active"]),
        story_count=row["story_count"],
    )


class SQLArchive(OutboxStore, StatusStore):
    """The archive in SQL, for a backend to complete (``Archive`` in ``monitor.archive``).

    A backend gives ``_db`` and ``_tx`` (a transaction, or the batch's it is part of), the
    SQL of a story's feed names (``_SOURCES``) and of an article retry's feeds
    (``_RETRY_SOURCES``), and its full-text search; it may override the claims, which a
    shared database makes with row locks and its own clock.
    """

    _db: Db
    _batch_depth: int = 0
    # The names of the feeds that carry story ``s``, first first, joined by U+001F.
    _SOURCES: str
    # "feed URL<U+001E>its link" of each active feed that carries story ``s``, first first,
    # joined by U+001F.
    _RETRY_SOURCES: str

    @property
    def _columns(self) -> str:
        return STORY_COLUMNS.format(text=TEXT_COLUMNS, sources=self._SOURCES)

    @abstractmethod
    def _tx(self) -> AbstractContextManager[Db]:
        """A write transaction, or the batch's when one is open."""

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for every write made inside: all of them are kept, or none.

        For a poller that has many small writes to make (a feed's stories and its poll
        record, a few hundred poll records of unchanged feeds): one commit instead of
        one each. An exception rolls back everything written in the batch.
        """
        with self._tx():
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1

    shared = False  # several workers may use the database at once
    # New texts of many stories written with one statement (see ``_update``).
    _ONE_STATEMENT_EDITS = True
    # Appended to a claim's SELECT: rows another worker is claiming are skipped, not waited for.
    _SKIP_LOCKED = ""
    # A story's search words for a column of their own (None: the database indexes them).
    _search_words: Callable[[str, str], str | None] | None = None
    # Where story ids are looked up: (table, its column of story seqs). The stories table's
    # own unique index, or (SQLite, migration 15) an index of their own, kept by triggers:
    # its big table, then the table of recent rows merged into it (``_merge_recent``).
    _ID_TABLES: tuple[tuple[str, str], ...] = (("stories", "seq"),)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Whether this worker does ``name`` (housekeeping) now: one archive, one worker."""
        yield True

    def shared_hosts(self, owner: str) -> SharedHosts | None:
        """Per-host limits across workers: none to share with one worker."""
        return None

    def _serialize(self, db: Db, lock: int = STORE_LOCK) -> None:
        """Called first in a transaction that reads, then writes what it read decided
        (storing or matching stories; applying the configured feeds): a backend whose
        writers do not exclude each other makes those of one ``lock`` take turns."""

    @abstractmethod
    def _search_seqs(self, node: Node, *, before: int | None, limit: int) -> list[int] | None:
        """Stories whose text may match ``node`` (a superset is fine: the caller checks each),
        newest first, older than ``before``; None when the index cannot narrow it down."""

    @abstractmethod
    def vacuum(self) -> None:
        """Give the space of deleted stories back (see ``StoryStore.vacuum``)."""

    @abstractmethod
    def close(self) -> None: ...

    # -- feeds ------------------------------------------------------------------------------

    def sync_feeds(self, feeds: Sequence[Feed], now: datetime, *, replan: Replan) -> None:
        configured = {f.url: f for f in feeds}
        with self._tx() as db:
            # Workers starting together: one applies the configuration, the others then find
            # it applied (without this they queued on the first's rows, one batch at a time).
            self._serialize(db, SYNC_LOCK)
            # Only what differs is written: with the same configuration nothing is, so a
            # worker starting beside others waits for none of their feed rows' locks.
            known = {
                r[0]: (r[1], bool(r[2])) for r in db.execute("SELECT url, name, active FROM feeds")
            }
            db.executemany(
                "UPDATE feeds SET active = FALSE WHERE url = ?",
                [(url,) for url, (_, active) in known.items() if active and url not in configured],
            )
            db.executemany(
                "UPDATE feeds SET name = ?, active = TRUE WHERE url = ?",
                [
                    (f.name, f.url)
                    for f in feeds
                    if f.url in known and known[f.url] != (f.name, True)
                ],
            )
            db.executemany(
                "INSERT INTO feeds (url, name, fetch_url, active, next_poll)"
                " VALUES (?, ?, ?, TRUE, ?) ON CONFLICT (url) DO NOTHING",
                [(f.url, f.name, f.url, _ts(now)) for f in feeds if f.url not in known],
            )
            # The next poll of a feed already scheduled follows the configuration now, not
            # the one it was polled under; with the same configuration nothing changes.
            rows = db.execute(
                "SELECT *, 0 AS story_count FROM feeds WHERE active AND NOT gone"
                " AND last_polled IS NOT NULL ORDER BY id"  # rows locked in one order
            ).fetchall()
            moved = []
            for row in rows:
                due = replan(configured[row["url"]], _feed_state(row))
                if due is not None and abs(_ts(due) - (row["next_poll"] or 0.0)) > 1e-3:
                    moved.append((_ts(due), row["id"]))
            db.executemany("UPDATE feeds SET next_poll = ? WHERE id = ?", moved)

    def feed_states(self, *, include_inactive: bool = False) -> list[FeedState]:
        where = "" if include_inactive else "WHERE f.active"
        rows = self._db.execute(
            f"""
            SELECT f.*, (SELECT count(*) FROM story_sources ss WHERE ss.feed_id = f.id)
                AS story_count
            FROM feeds f {where} ORDER BY f.id
            """
        ).fetchall()
        return [_feed_state(r) for r in rows]

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
        t = _ts(now)
        only = "" if urls is None else f"AND url IN ({marks(len(urls))})"
        with self._tx() as db:
            gone = gone_owners(db, "feeds", t)
            # A last poll later than now means the clock went back since (a step this
            # process did not see): the feed's next poll counts from a time not yet come.
            rows = db.execute(
                f"""
                SELECT f.*, 0 AS story_count FROM feeds f
                WHERE active AND NOT gone {only}
                  AND (? OR next_poll IS NULL OR next_poll <= ? OR last_polled > ?)
                  AND (lease_until IS NULL OR lease_until <= ?
                       OR lease_owner IN ({marks(len(gone))}))
                ORDER BY next_poll NULLS FIRST LIMIT ?
                """,
                (*(urls or ()), all_feeds, t, t + CLOCK_SLACK, t, *gone, limit),
            ).fetchall()
            db.executemany(
                "UPDATE feeds SET lease_owner = ?, lease_until = ? WHERE id = ?",
                [(owner, t + lease_seconds, r["id"]) for r in rows],
            )
        return [_feed_state(r) for r in rows]

    def record_poll(self, record: PollRecord, *, owner: str) -> None:
        polled = _ts(record.polled)
        with self._tx() as db:
            if record.ok:
                db.execute(
                    """
                    UPDATE feeds SET etag = ?, last_modified = ?,
                        content_hash = coalesce(?, content_hash),
                        publish_gap = coalesce(?, publish_gap), max_age = ?, ttl = ?,
                        retry_until = NULL,
                        fetch_url = coalesce(?, fetch_url), next_poll = ?, last_polled = ?,
                        last_success = ?, error_count = 0, last_error = NULL,
                        failing_since = NULL, lease_owner = NULL, lease_until = NULL
                    WHERE url = ?
                    """,
                    (
                        record.etag,
                        record.last_modified,
                        record.content_hash,
                        record.publish_gap,
                        record.max_age,
                        record.ttl,
                        record.moved_to,
                        _ts(record.next_poll),
                        polled,
                        polled,
                        record.url,
                    ),
                )
            else:
                db.execute(
                    """
                    UPDATE feeds SET next_poll = ?, last_polled = ?, error_count = error_count + 1,
                        last_error = ?, failing_since = coalesce(failing_since, ?),
                        gone = gone OR ?, retry_until = ?, lease_owner = NULL, lease_until = NULL
                    WHERE url = ?
                    """,
                    (
                        _ts(record.next_poll),
                        polled,
                        record.error,
                        polled,
                        record.gone,
                        None if record.retry_until is None else _ts(record.retry_until),
                        record.url,
                    ),
                )

    def renew_feeds(
        self, urls: Sequence[str], *, owner: str, now: datetime, lease_seconds: float
    ) -> set[str]:
        return self._renew("feeds", "url", urls, owner, now, lease_seconds)

    def _renew(
        self,
        table: str,
        key: str,
        keys: Sequence[str],
        owner: str,
        now: datetime,
        lease_seconds: float,
        where: str = "",
    ) -> set[str]:
        """Extend ``owner``'s leases of the rows of ``table`` whose ``key`` is one of
        ``keys`` (and ``where``); the keys it still held."""
        until, clock = self._lease_until(now, lease_seconds)
        held: set[str] = set()
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            with self._tx() as db:
                rows = db.execute(
                    f"UPDATE {table} SET lease_until = {until} WHERE lease_owner = ?{where}"
                    f" AND {key} IN ({marks(len(chunk))}) RETURNING {key}",
                    (*clock, owner, *chunk),
                ).fetchall()
            held.update(r[0] for r in rows)
        return held

    @staticmethod
    def _lease_until(now: datetime, lease_seconds: float) -> tuple[str, tuple[float, ...]]:
        """A lease's end as SQL and its parameters: on the caller's clock here; a shared
        database uses its own."""
        return "?", (_ts(now) + lease_seconds,)

    def release_feeds(self, urls: Sequence[str], *, owner: str) -> None:
        for start in range(0, len(urls), _CHUNK):
            chunk = urls[start : start + _CHUNK]
            with self._tx() as db:
                db.execute(
                    "UPDATE feeds SET lease_owner = NULL, lease_until = NULL"
                    f" WHERE lease_owner = ? AND url IN ({marks(len(chunk))})",
                    (owner, *chunk),
                )

    # -- stories ----------------------------------------------------------------------------

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
        if backlog and len(backlog) != len(entries):
            raise ValueError("backlog needs one flag per entry")
        if matcher is not None and self._batch_depth:
            raise ValueError("stories are matched outside the transaction: mark them instead")
        with self._tx() as db:
            self._serialize(db)
            stored = self._store(
                db, feed_url, entries, _ts(now), matcher is not None or mark, stories, backlog
            )
        if matcher is None or not stored.unmatched:
            return stored
        alerts = self.match_stories(matcher, now, seqs=stored.unmatched)
        return replace(stored, alerts=alerts)

    def prepare_matches(
        self, matcher: Matcher, *, seqs: Sequence[int] | None = None, limit: int = 500
    ) -> list[StoryMatches]:
        if self._batch_depth:
            raise ValueError("stories are matched outside the transaction")
        # One statement reads the mark with the text: a newer text comes with a newer mark.
        query = """
            SELECT u.story_seq, u.news, u.version, s.id, s.headline, s.body FROM unmatched u
            JOIN stories s ON s.seq = u.story_seq
        """
        if seqs is None:
            rows = self._db.execute(query + " ORDER BY u.story_seq LIMIT ?", (limit,)).fetchall()
        else:
            rows = []
            ordered = sorted(set(seqs))
            for start in range(0, len(ordered), _CHUNK):
                chunk = ordered[start : start + _CHUNK]
                rows += self._db.execute(
                    query + f" WHERE u.story_seq IN ({marks(len(chunk))})", chunk
                ).fetchall()
        sources = self._sources([r[0] for r in rows])
        found = []
        for seq, news, version, sid, headline, body in rows:
            carried = sources.get(seq, [])
            try:
                planned = matcher(headline, body, [url for url, _ in carried])
            except Exception:  # the others are matched; this one waits for the next poll
                log.exception("cannot match story %s; it stays marked to be matched", sid)
                continue
            # Backlog alerts nothing: neither the entry brought as backlog, nor a story that
            # only feeds' backlogs carry (when it is edited, or its article read, later).
            quiet = not news or (bool(carried) and all(b for _, b in carried))
            found.append(
                StoryMatches(
                    story=seq, story_id=sid, version=version, quiet=quiet, planned=tuple(planned)
                )
            )
        return found

    def record_matches(self, found: Sequence[StoryMatches], now: datetime) -> int:
        if not found:
            return 0
        t = _ts(now)
        alerts = 0
        with self._tx() as db:
            self._serialize(db)
            for story in found:
                if story.planned:
                    alerts += self._record_matches(
                        db, story.story, story.story_id, story.planned, t, quiet=story.quiet
                    )
            db.executemany(
                "DELETE FROM unmatched WHERE story_seq = ? AND version = ?",
                [(story.story, story.version) for story in found],
            )
        return alerts

    def match_stories(
        self, matcher: Matcher, now: datetime, *, seqs: Sequence[int] | None = None
    ) -> int:
        return self.record_matches(self.prepare_matches(matcher, seqs=seqs), now)

    def _sources(self, seqs: Sequence[int]) -> dict[int, list[tuple[str, bool]]]:
        """The feeds carrying each story (URL, brought as backlog), first first."""
        out: dict[int, list[tuple[str, bool]]] = {}
        for start in range(0, len(seqs), _CHUNK):
            chunk = seqs[start : start + _CHUNK]
            for seq, url, backlog in self._db.execute(
                f"""
                SELECT ss.story_seq, f.url, ss.backlog FROM story_sources ss
                JOIN feeds f ON f.id = ss.feed_id WHERE ss.story_seq IN ({marks(len(chunk))})
                ORDER BY ss.story_seq, ss.first_seen, f.id
                """,
                chunk,
            ):
                out.setdefault(seq, []).append((url, bool(backlog)))
        return out

    def untried_entries(self, feed_url: str, entries: Sequence[Entry]) -> list[bool]:
        row = self._db.execute("SELECT id FROM feeds WHERE url = ?", (feed_url,)).fetchone()
        if row is None:
            raise ArchiveError(f"unknown feed {feed_url}")
        keys_of = [entry_keys(entry, row[0]) for entry in entries]
        known = self._known_keys(self._db, {k for keys in keys_of for k in keys})
        seqs = sorted(set(known.values()))
        tried: set[int] = set()
        for start in range(0, len(seqs), _CHUNK):
            chunk = seqs[start : start + _CHUNK]
            tried.update(
                seq
                for (seq,) in self._db.execute(
                    f"SELECT seq FROM stories WHERE seq IN ({marks(len(chunk))})"
                    " AND (article_tries > 0 OR content_source = 'article')",
                    chunk,
                )
            )
        return [not any(known.get(k) in tried for k in keys) for keys in keys_of]

    def claim_article_retries(
        self, now: datetime, *, limit: int, lease_seconds: float
    ) -> list[ArticleRetry]:
        t = _ts(now)
        # Asked every poll tick: nothing due must not cost a write transaction.
        due = "SELECT 1 FROM stories WHERE article_retry <= ? LIMIT 1"
        if self._db.execute(due, (t,)).fetchone() is None:
            return []
        with self._tx() as db:
            rows = db.execute(
                f"""
                SELECT s.seq, s.url, s.headline, s.body, s.published, s.author, s.text_hash,
                    s.sketch, s.text_words,
                    {self._RETRY_SOURCES} AS sources
                FROM stories s
                WHERE s.article_retry <= ? ORDER BY s.article_retry LIMIT ?{self._SKIP_LOCKED}
                """,
                (t, limit),
            ).fetchall()
            # No feed in the configuration carries the story any more: no more attempts.
            db.executemany(
                "UPDATE stories SET article_retry = ? WHERE seq = ?",
                [(t + lease_seconds if r["sources"] else None, r["seq"]) for r in rows],
            )
        retries = []
        for r in rows:
            if not r["sources"]:
                continue
            sources = [source.split("\x1e") for source in r["sources"].split("\x1f")]
            retries.append(
                ArticleRetry(
                    story=r["seq"],
                    feed_urls=tuple(url for url, _ in sources),
                    entry=Entry(
                        guid=None,
                        url=r["url"],
                        link=sources[0][1] or r["url"],
                        headline=r["headline"],
                        paragraphs=_paragraphs(r["body"]),
                        published=_utc(r["published"]),
                        author=r["author"],
                        sketch=_unpack(r["sketch"]),
                        text_hash=r["text_hash"],
                        words=r["text_words"] or 0,
                    ),
                )
            )
        return retries

    def article_counts(self, since: datetime) -> dict[str, int]:
        rows = self._db.execute(
            """
            SELECT content_source, article_error, article_retry IS NOT NULL, count(*)
            FROM stories WHERE first_seen >= ? AND article_tries > 0
            GROUP BY 1, 2, 3
            """,
            (_ts(since),),
        ).fetchall()
        counts: dict[str, int] = {"article": 0, "feed": 0, "waiting": 0}
        for source, error, waiting, n in rows:
            counts[source] += n
            counts["waiting"] += n if waiting else 0
            if error:
                counts[f"error: {error}"] = counts.get(f"error: {error}", 0) + n
        return counts

    def _store(
        self,
        db: Db,
        feed_url: str,
        entries: Sequence[Entry],
        t: float,
        mark: bool,
        stories: Sequence[int] | None = None,
        backlog: Sequence[bool] = (),
    ) -> StoreResult:
        """Deduplicate and archive one feed's entries, in the caller's transaction: look up
        what they may be, let the decider (``monitor.dedupe``) decide, write what it decided.
        """
        row = db.execute("SELECT id, name FROM feeds WHERE url = ?", (feed_url,)).fetchone()
        if row is None:
            raise ArchiveError(f"unknown feed {feed_url}")
        feed_id: int = row[0]
        feed_name: str = row[1]
        at = _utc(t)
        decider = Decider(feed_id, entries, at, stories=stories, backlog=backlog, mark=mark)
        decision = decider.decide(self._look_up(db, decider))
        ids = self._name(db, decision)
        self._write(db, feed_id, decision, ids, t)
        if any(add.seq % PROBE_MERGE_STORIES == 0 for add in decision.new):
            self._merge_recent(db)
        new = {add.seq: _new_story(add, ids[add.seq], feed_name, at) for add in decision.new}
        return StoreResult(
            new=tuple(new.values()),
            changed=tuple(self._changed_stories(decision, new)),
            merged=decision.merged,
            unmatched=tuple(m.seq for m in decision.marks),
        )

    def _look_up(self, db: Db, decider: Decider) -> Found:
        """What the decider needs, as the archive is before the call writes anything."""
        keys = decider.keys()
        known = self._known_keys(db, keys)
        candidates = self._search(db, decider.searches(known))
        seqs = decider.stories_to_load(known, candidates)
        return Found(
            keys=known,
            stories=self._known_stories(db, decider.feed, seqs),
            candidates=candidates,
            next_seq=db.execute("SELECT coalesce(max(seq), 0) + 1 FROM stories").fetchone()[0],
            pruned=self._pruned_keys(db, keys - known.keys()),
        )

    @staticmethod
    def _search(db: Db, searches: Sequence[Search | None]) -> list[tuple[Candidate, ...]]:
        """Each search's candidates (see ``dedupe.Search``), with a statement for all the
        searches by probes and one for all those by text hash (a feed's items at once).

        A probe is followed to its PROBE_POSTINGS most recent stories only: a hash that many
        stories share comes from a stock phrase, not a copy, and following it to every one
        made each look-up slower as the archive grew (1.8 s for a hash of 200,000 stories; with
        256 a poll at 100,000 stories still cost 1.76x one at 10,000, with 64 1.24x; at a
        million stories the look-ups of 10,000 items took 1.1-1.4 s with 64, 0.7 with 16).
        A copy shares several probes, the rare ones among them, which still find it. The index
        is two tables, the big one and its recent rows (see ``_merge_probes``): a probe is
        followed to its most recent stories in each."""
        found: list[tuple[Candidate, ...]] = [() for _ in searches]
        by_hash = [(n, s.text_hash) for n, s in enumerate(searches) if s and not s.probes]
        hashes = sorted({h for _, h in by_hash})
        oldest: dict[str, int] = {}
        for start in range(0, len(hashes), _CHUNK):
            chunk = hashes[start : start + _CHUNK]
            oldest.update(
                db.execute(
                    "SELECT text_hash, min(seq) FROM stories"
                    f" WHERE text_hash IN ({marks(len(chunk))}) AND {UNSKETCHED}"
                    " GROUP BY text_hash",
                    chunk,
                ).fetchall()
            )
        for n, text_hash in by_hash:
            if text_hash in oldest:
                found[n] = (Candidate(oldest[text_hash]),)
        by_probes = [(n, s) for n, s in enumerate(searches) if s and s.probes]
        for start in range(0, len(by_probes), _SEARCHES_PER_STATEMENT):
            group = by_probes[start : start + _SEARCHES_PER_STATEMENT]
            pairs = [(n, h) for n, search in group for h in search.probes]
            least = min(search.min_shared for _, search in group)
            shared: dict[int, list[tuple[int, int]]] = {}
            for n, seq, count in db.execute(
                f"""
                WITH q (n, hash) AS (VALUES {",".join(["(?, ?)"] * len(pairs))})
                SELECT n, story_seq, count(*) FROM (
                    {_POSTINGS.format(table="story_minhash")}
                    UNION ALL
                    {_POSTINGS.format(table="story_minhash_new")}
                ) AS j GROUP BY n, story_seq HAVING count(*) >= ?
                """,
                (*(v for pair in pairs for v in pair), *[PROBE_POSTINGS - 1] * 2, least),
            ):
                shared.setdefault(n, []).append((seq, count))
            for n, search in group:
                best = sorted(
                    (pair for pair in shared.get(n, ()) if pair[1] >= search.min_shared),
                    key=lambda pair: (-pair[1], pair[0]),
                )[: search.limit]
                found[n] = tuple(Candidate(seq, count) for seq, count in best)
        return found

    @staticmethod
    def _known_stories(db: Db, feed_id: int, seqs: set[int]) -> dict[int, Known]:
        """The stories ``seqs`` as the decider sees them, for the feed ``feed_id``."""
        prefix = f"guid:{feed_id}:"
        found: dict[int, Known] = {}
        ordered = sorted(seqs)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            # The body only where the decider reads it (dedupe.reads_body); the GUID: the
            # first in key order, should the feed have given it several.
            rows = db.execute(
                f"""
                SELECT s.seq, s.headline,
                    CASE WHEN s.content_source = 'article' OR s.text_words IS NULL
                        THEN s.body END,
                    s.text_hash, s.sketch, s.feed_sketch,
                    s.text_words, s.text_feed, s.content_source, s.article_error,
                    s.article_tries, s.article_retry,
                    EXISTS (SELECT 1 FROM story_sources ss
                            WHERE ss.story_seq = s.seq AND ss.feed_id = ?),
                    (SELECT k.key FROM story_keys k
                     WHERE k.story_seq = s.seq AND substr(k.key, 1, CAST(? AS INTEGER)) = ? LIMIT 1)
                FROM stories s WHERE s.seq IN ({marks(len(chunk))})
                """,
                (feed_id, len(prefix), prefix, *chunk),
            ).fetchall()
            found.update((r[0], _known(r, len(prefix))) for r in rows)
        return found

    def _name(self, db: Db, decision: Decision) -> Mapping[int, str]:
        """The new stories' ids, asking which ids are taken as the decision needs to know."""
        taken: dict[str, bool] = {}
        while (naming := decision.name(taken)).missing:
            taken.update(self._taken_ids(db, set(naming.missing)))
        return naming.ids

    def _merge_recent(self, db: Db) -> None:
        """Move the recent rows of the hash-keyed indexes into their big tables."""
        _merge_probes(db)
        if len(self._ID_TABLES) > 1:
            (big, _), (recent, _) = self._ID_TABLES
            began = time.perf_counter()
            moved = db.execute(
                f"INSERT INTO {big} (id, story_seq) SELECT id, story_seq FROM {recent}"
                " WHERE TRUE ORDER BY id ON CONFLICT DO NOTHING"
            ).rowcount
            # Only what moved leaves: an id the big table held already (never: the triggers
            # refuse one) stays where look-ups still find it, and is reported.
            db.execute(
                f"DELETE FROM {recent} WHERE EXISTS (SELECT 1 FROM {big} b"
                f" WHERE b.id = {recent}.id AND b.story_seq = {recent}.story_seq)"
            )
            stuck = db.execute(f"SELECT count(*) FROM {recent}").fetchone()[0]
            if stuck:
                log.error("story ids: %d recent ids are in the big table for other stories", stuck)
            seconds = time.perf_counter() - began
            log.info("story ids: merged %d recent ids in %.1f s", moved, seconds)

    def _write(
        self, db: Db, feed_id: int, decision: Decision, ids: Mapping[int, str], t: float
    ) -> None:
        _update(db, decision.updates, t, one_statement=self._ONE_STATEMENT_EDITS)
        _insert_stories(db, decision.new, ids, t, self._search_words)
        _insert(
            db,
            "INSERT INTO story_keys (key, story_seq) VALUES",
            [(k.key, k.seq) for k in decision.keys],
            " ON CONFLICT DO NOTHING",
        )
        _insert(
            db,
            "INSERT INTO story_sources (story_seq, feed_id, link, first_seen, backlog) VALUES",
            [(s.seq, feed_id, s.link, t, s.backlog) for s in decision.sources],
            " ON CONFLICT DO NOTHING",
        )
        # Marked in the same transaction as the story, matched after it: a crash between
        # the two leaves the mark, and the story is matched at the next poll.
        _insert(
            db,
            "INSERT INTO unmatched (story_seq, news, version) VALUES",
            [(m.seq, m.news, 1) for m in decision.marks],
            " ON CONFLICT (story_seq) DO UPDATE SET news = unmatched.news OR excluded.news,"
            " version = unmatched.version + 1",
        )

    @staticmethod
    def _pruned_keys(db: Db, keys: set[str]) -> frozenset[str]:
        """Those of ``keys`` whose story retention pruned."""
        if not keys or db.execute("SELECT 1 FROM pruned_keys LIMIT 1").fetchone() is None:
            return frozenset()
        ordered = sorted(keys)
        found: set[str] = set()
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            found.update(
                r[0]
                for r in db.execute(
                    f"SELECT key FROM pruned_keys WHERE key IN ({marks(len(chunk))})", chunk
                )
            )
        return frozenset(found)

    @staticmethod
    def _known_keys(db: Db, keys: set[str]) -> dict[str, int]:
        """The story of each of ``keys`` that is archived already."""
        found: dict[str, int] = {}
        ordered = sorted(keys)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            found.update(
                db.execute(
                    f"SELECT key, story_seq FROM story_keys WHERE key IN ({marks(len(chunk))})",
                    chunk,
                ).fetchall()
            )
        return found

    def _taken_ids(self, db: Db, ids: set[str]) -> dict[str, bool]:
        """Which of ``ids`` stories have."""
        taken = dict.fromkeys(ids, False)
        ordered = sorted(ids)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            for table, _ in self._ID_TABLES:
                for (sid,) in db.execute(
                    f"SELECT id FROM {table} WHERE id IN ({marks(len(chunk))})", chunk
                ):
                    taken[sid] = True
        return taken

    def _changed_stories(self, decision: Decision, new: Mapping[int, Story]) -> list[Story]:
        """The stories the call changed, as reading them back would give them: a new text
        is taken from the decision, not read back (an edited feed changes every item)."""
        texts = {u.seq: u.text for u in decision.updates if isinstance(u, ReplaceText)}
        seqs = [q for q in decision.changed if q not in new]
        stored = {s.seq: s for s in self._stories_by_seq([q for q in seqs if q not in texts])}
        for story in self._stories_by_seq([q for q in seqs if q in texts], with_text=False):
            text = texts[story.seq]
            paragraphs = _read_back(text.paragraphs, text.body)
            stored[story.seq] = replace(story, headline=text.headline, paragraphs=paragraphs)
        return [s for q in decision.changed if (s := new.get(q) or stored.get(q)) is not None]

    def _stories_by_seq(self, seqs: Sequence[int], *, with_text: bool = True) -> list[Story]:
        """The stories ``seqs`` (without their text: empty headline and paragraphs)."""
        if not seqs:
            return []
        text = TEXT_COLUMNS if with_text else _NO_TEXT
        columns = STORY_COLUMNS.format(text=text, sources=self._SOURCES)
        found: dict[int, Story] = {}
        for start in range(0, len(seqs), _CHUNK):
            chunk = seqs[start : start + _CHUNK]
            rows = self._db.execute(
                f"SELECT {columns} FROM stories s WHERE s.seq IN ({marks(len(chunk))})", chunk
            ).fetchall()
            found.update((r["seq"], story_from_row(r)) for r in rows)
        return [found[s] for s in seqs if s in found]

    def recent_stories(self, *, limit: int, since: datetime | None = None) -> list[Story]:
        rows = self._db.execute(
            f"""
            SELECT {self._columns} FROM stories s WHERE s.first_seen >= ?
            ORDER BY s.published DESC, s.seq DESC LIMIT ?
            """,
            (_ts(since) if since else 0.0, limit),
        ).fetchall()
        return [story_from_row(r) for r in rows]

    def get_story(self, story_id: str) -> Story:
        prefix = story_id.strip().lower()
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            raise StoryNotFound(story_id)
        seqs = " UNION ALL ".join(
            f"SELECT {seq} FROM {table} WHERE id >= ? AND id < ?" for table, seq in self._ID_TABLES
        )
        rows = self._db.execute(
            f"SELECT {self._columns} FROM stories s WHERE s.seq IN ({seqs}) LIMIT 2",
            (prefix, prefix + "g") * len(self._ID_TABLES),
        ).fetchall()
        if len(rows) != 1:
            raise (
                StoryNotFound(story_id)
                if not rows
                else ArchiveError(f"story id prefix {story_id!r} is ambiguous; give more digits")
            )
        return story_from_row(rows[0])

    def story_topics(self, seq: int) -> list[str]:
        return [
            r[0]
            for r in self._db.execute(
                "SELECT topic FROM matches WHERE story_seq = ? ORDER BY topic", (seq,)
            )
        ]

    def candidates(self, node: Node) -> Iterator[Story]:
        before: int | None = None
        while True:
            seqs = self._search_seqs(node, before=before, limit=_CHUNK)
            if seqs is None:  # the index cannot narrow it down: every story, newest first
                seqs = [
                    r[0]
                    for r in self._db.execute(
                        "SELECT seq FROM stories WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                        (_NO_SEQ if before is None else before, _CHUNK),
                    )
                ]
            yield from self._stories_by_seq(seqs)
            if len(seqs) < _CHUNK:
                return
            before = seqs[-1]

    def prune(
        self,
        before: datetime,
        *,
        matched_before: datetime | None,
        now: datetime,
        batch: int = PRUNE_BATCH,
        most: int | None = None,
        dry_run: bool = False,
    ) -> int:
        # Without a cut-off for matched stories they are kept: no time is before -inf.
        cut = (_ts(before), _ts(matched_before) if matched_before else float("-inf"))
        if dry_run:
            query = f"SELECT count(*) FROM ({_PRUNABLE}) AS prunable"
            return int(self._db.execute(query, (*cut, _NO_SEQ)).fetchone()[0])
        total = 0
        while True:  # a batch per transaction: polls write in between
            size = batch if most is None else min(batch, most - total)
            with self._tx() as db:
                self._serialize(db)
                seqs = [r[0] for r in db.execute(_PRUNABLE, (*cut, size))]
                listed = marks(len(seqs))
                db.execute(
                    "INSERT INTO pruned_keys (key, pruned)"
                    f" SELECT key, ? FROM story_keys WHERE story_seq IN ({listed})"
                    " ON CONFLICT DO NOTHING",
                    (_ts(now), *seqs),
                )
                db.execute(f"DELETE FROM stories WHERE seq IN ({listed})", seqs)
            total += len(seqs)
            if len(seqs) < size or total == most:
                return total

    def count_stories(self, *, since: datetime | None = None) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM stories WHERE first_seen >= ?", (_ts(since) if since else 0.0,)
        ).fetchone()
        return int(row[0])

    def iter_stories(self, *, since: datetime | None = None) -> Iterator[Story]:
        last = 0
        start = _ts(since) if since else 0.0
        while True:
            rows = self._db.execute(
                f"""
                SELECT {self._columns} FROM stories s WHERE s.seq > ? AND s.first_seen >= ?
                ORDER BY s.seq LIMIT 500
                """,
                (last, start),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield story_from_row(row)
            last = rows[-1]["seq"]


def _known(row: Any, prefix: int) -> Known:
    """A row of ``_known_stories``."""
    (seq, headline, body, text_hash, sketch, feed_sketch, words, text_feed) = row[:8]
    source, error, tries, retry, carried, guid_key = row[8:]
    return Known(
        seq=seq,
        headline=headline,
        body=body,
        text_hash=text_hash,
        sketch=_unpack(sketch),
        feed_sketch=_unpack(feed_sketch),
        words=words,
        feed=text_feed,
        article=UNTRIED
        if (source, error, tries, retry) == ("feed", None, 0, None)
        else Attempts(
            source=source, error=error, tries=tries, retry=None if retry is None else _utc(retry)
        ),
        carried=bool(carried),
        guid=None if guid_key is None else str(guid_key)[prefix:],
    )


def _new_story(add: AddStory, sid: str, feed_name: str, at: datetime) -> Story:
    """The story as ``_story`` would read it back from its row (``at``: its first_seen)."""
    paragraphs = _read_back(add.text.paragraphs, add.text.body)
    return Story(
        id=sid,
        seq=add.seq,
        url=add.url,
        headline=add.text.headline,
        paragraphs=paragraphs,
        published=_utc(_ts(add.published)),
        first_seen=at,
        updated=at,
        sources=(feed_name,),
        content_source=add.article.source,
        article_error=add.article.error,
    )


def _read_back(paragraphs: tuple[str, ...], body: str) -> tuple[str, ...]:
    """A text's paragraphs as reading its stored body gives them back: the same, unless
    one is empty or has a line break (then the body is split, as reading the row does)."""
    if all(paragraphs) and body.count("\n") == 2 * len(paragraphs) - 2:
        return paragraphs
    return _paragraphs(body)


def _text_row(text: Text) -> tuple[object, ...]:
    """A text's stored columns: headline, body, text_hash, sketch, feed_sketch."""
    feed_sketch = _pack(text.feed_sketch) if text.feed_sketch else None
    return (text.headline, text.body, text.text_hash, _pack(text.sketch), feed_sketch)


def _article_row(article: Attempts) -> tuple[object, ...]:
    retry = None if article.retry is None else _ts(article.retry)
    return (article.source, article.error, article.tries, retry)


def _insert_stories(
    db: Db,
    adds: Sequence[AddStory],
    ids: Mapping[int, str],
    t: float,
    words: Callable[[str, str], str | None] | None,
) -> None:
    """New stories go in with one INSERT: FTS5 flushes what it has indexed at each statement
    that may need rolling back, and the trigger that indexes a story makes its INSERT such a
    statement, so one INSERT per story would flush (and later merge) one tiny index segment
    per story. ``words``: the search words of a story's text, for a backend that keeps them
    in a column of their own."""
    extra = () if words is None else ("words",)
    rows = [
        (
            add.seq,
            ids[add.seq],
            add.url,
            *_text_row(add.text),
            _ts(add.published),
            t,
            t,
            add.author,
            *_article_row(add.article),
            add.text.feed,
            add.text.words,
            *(() if words is None else (words(add.text.headline, add.text.body),)),
        )
        for add in adds
    ]
    columns = (
        "seq, id, url, headline, body, text_hash, sketch, feed_sketch, published, first_seen,"
        " updated, author, content_source, article_error, article_tries, article_retry,"
        " text_feed, text_words" + "".join(f", {c}" for c in extra)
    )
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        db.execute(
            f"INSERT INTO stories ({columns}) VALUES "
            + ",".join([f"({marks(18 + len(extra))})"] * len(chunk)),
            [value for row in chunk for value in row],
        )
    _index_probes(db, [(add.seq, add.text.sketch, add.text.feed_sketch) for add in adds])


def _insert(db: Db, head: str, rows: Sequence[tuple[object, ...]], tail: str = "") -> None:
    """``head`` ("INSERT ... VALUES") for each of ``rows``, then ``tail``: one prepared
    statement run for every row (SQLite: no statement journal to spill, as a multi-row
    INSERT has; PostgreSQL: psycopg sends them in one pipeline)."""
    if rows:
        db.executemany(f"{head} ({marks(len(rows[0]))}){tail}", rows)


def _update(db: Db, updates: Sequence[Update], t: float, *, one_statement: bool) -> None:
    """Write the changes the decider made to stored stories: a statement for each kind of
    change, run for every story it changes (an edited feed changes most of its items).

    ``one_statement``: new texts go in with one UPDATE for many stories, as new stories
    with one INSERT (see ``_insert_stories``): FTS5 flushes a segment at each statement, so
    an UPDATE a story made edits cost three times what new stories did."""
    texts = [u for u in updates if isinstance(u, ReplaceText)]
    rows = [(u.seq, *_text_row(u.text), t, u.text.feed, u.text.words) for u in texts]
    columns = "headline, body, text_hash, sketch, feed_sketch, updated, text_feed, text_words"
    if not one_statement:
        db.executemany(
            f"UPDATE stories SET ({columns}) = ({marks(8)}) WHERE seq = ?",
            [(*row[1:], row[0]) for row in rows],
        )
    else:
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            values = ",".join([f"({marks(9)})"] * len(chunk))
            db.execute(
                f"WITH v (seq, {columns}) AS (VALUES {values}) UPDATE stories"
                f" SET ({columns}) = (SELECT {columns} FROM v WHERE v.seq = stories.seq)"
                " WHERE seq IN (SELECT seq FROM v)",
                [value for row in chunk for value in row],
            )
    sketches = [u for u in updates if isinstance(u, ReplaceFeedSketch)]
    db.executemany(
        "UPDATE stories SET feed_sketch = ? WHERE seq = ?",
        [(_pack(u.feed_sketch), u.seq) for u in sketches],
    )
    _reindex(
        db,
        [(u.seq, u.text.sketch, u.text.feed_sketch) for u in texts]
        + [(u.seq, u.sketch, u.feed_sketch) for u in sketches],
    )
    db.executemany(
        "UPDATE stories SET content_source = ?, article_error = ?, article_tries = ?,"
        " article_retry = ? WHERE seq = ?",
        [(*_article_row(u.article), u.seq) for u in updates if isinstance(u, SetArticle)],
    )
    db.executemany(
        "UPDATE stories SET text_words = ? WHERE seq = ?",
        [(u.words, u.seq) for u in updates if isinstance(u, SetWords)],
    )
