"""The embedded archive: SQLite in WAL mode with FTS5 full-text search."""

from __future__ import annotations

import logging
import os
import sqlite3
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from monitor.archive import (
    ARTICLE_RETRY_DELAYS,
    ArticleRetry,
    Matcher,
    PollRecord,
    Replan,
    StoreResult,
    StoryMatches,
)
from monitor.archive.migrations import MIGRATIONS
from monitor.archive.sqlite_faults import faults, os_fault, storage_fault, translate_faults
from monitor.archive.sqlite_outbox import CLOCK_SLACK, OutboxStore, _dt, _utc, gone_owners
from monitor.dedupe import INDEXED_HASHES, is_near_duplicate, sketch, text_hash
from monitor.errors import ArchiveDeleted, ArchiveError, ArchiveGone, ArchiveMissing, StoryNotFound
from monitor.text.tokens import tokenize
from monitor.types import ContentSource, Entry, Feed, FeedState, Story
from monitor.urls import story_id

log = logging.getLogger(__name__)
MIN_SHARED_PROBES = 2
# Near-duplicate candidates compared per entry, those sharing the most indexed hashes first.
NEAR_CANDIDATES = 32
_CHUNK = 500  # values bound in one IN (...) list
_ROWS_PER_INSERT = 100  # stories in one multi-row INSERT
# Exact-text matches across different URLs need enough words to mean anything.
MIN_TOKENS_FOR_TEXT_MATCH = 12

_STORY_COLUMNS = """
    s.seq, s.id, s.url, s.headline, s.body, s.published, s.first_seen, s.updated,
    s.content_source, s.article_error,
    (SELECT group_concat(name, char(31)) FROM (
        SELECT f.name AS name FROM story_sources ss JOIN feeds f ON f.id = ss.feed_id
        WHERE ss.story_seq = s.seq ORDER BY ss.first_seen, f.id)) AS sources
"""


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


def _marks(n: int) -> str:
    return ",".join("?" * n)


@dataclass(slots=True)
class _Fresh:
    """A story that ``store_entries`` adds, until its row is written at the end of the call."""

    id: str
    url: str
    headline: str
    body: str
    published: float
    first_seen: float
    updated: float
    author: str | None
    text_hash: str
    sketch: tuple[int, ...]
    feed_sketch: tuple[int, ...]  # with an article's text: the sketch of the feed's own
    probes: frozenset[int]  # the indexed hashes of both sketches
    paragraphs: tuple[str, ...]  # those joined into body
    article: _ArticleState
    text_feed: int  # the feed whose text this is
    text_words: int

    def row(self, seq: int) -> tuple[object, ...]:
        return (
            seq,
            self.id,
            self.url,
            self.headline,
            self.body,
            self.published,
            self.first_seen,
            self.updated,
            self.author,
            self.text_hash,
            _pack(self.sketch),
            _pack(self.feed_sketch) if self.feed_sketch else None,
            *self.article.row(),
            self.text_feed,
            self.text_words,
        )

    def story(self, seq: int, sources: tuple[str, ...], at: datetime) -> Story:
        """The story as ``_story`` would read it back from its row (``at``: its first_seen)."""
        paragraphs = self.paragraphs
        # Splitting the body gives the paragraphs back unless one is empty or has a line
        # break: then split, as reading the row would.
        if not (all(paragraphs) and self.body.count("\n") == 2 * len(paragraphs) - 2):
            paragraphs = _paragraphs(self.body)
        return Story(
            id=self.id,
            seq=seq,
            url=self.url,
            headline=self.headline,
            paragraphs=paragraphs,
            published=_utc(self.published),
            first_seen=at,
            updated=at if self.updated == self.first_seen else _utc(self.updated),
            sources=sources,
            content_source=self.article.source,
            article_error=self.article.error,
        )


@dataclass(frozen=True, slots=True)
class _ArticleState:
    """A story's article columns: which text it has, and the attempts at its page."""

    source: ContentSource = "feed"
    error: str | None = None
    tries: int = 0
    retry: float | None = None  # when to try the page again

    def row(self) -> tuple[object, ...]:
        return (self.source, self.error, self.tries, self.retry)

    def after(self, entry: Entry, t: float) -> _ArticleState:
        """The state once ``entry`` is stored: its article attempt counted, if it made one."""
        failure = entry.article_failure
        if entry.content_source == "article":
            return _ArticleState(source="article", tries=self.tries + 1)
        if failure is None:
            return self
        if self.source == "article":  # a late failure (a retry claimed twice) changes nothing
            return replace(self, retry=None)
        tries = self.tries + (1 if failure.counted else 0)
        retry = None
        if failure.retry and tries <= len(ARTICLE_RETRY_DELAYS):
            retry = t + max(ARTICLE_RETRY_DELAYS[max(tries, 1) - 1], failure.retry_after)
        return _ArticleState(error=failure.reason, tries=tries, retry=retry)


@dataclass(frozen=True, slots=True)
class _Text:
    """A story's text after an update, with its fingerprints."""

    headline: str
    paragraphs: tuple[str, ...]
    sketch: tuple[int, ...]
    text_hash: str
    words: int
    article_body: bool = False  # the body is now the article's (it was the feed's)

    @classmethod
    def of(cls, headline: str, paragraphs: tuple[str, ...], *, article_body: bool) -> _Text:
        tokens = tokenize(" ".join([headline, *paragraphs]))
        return cls(
            headline, paragraphs, sketch(tokens), text_hash(tokens), len(tokens), article_body
        )

    @classmethod
    def of_entry(cls, entry: Entry, headline: str, *, article_body: bool) -> _Text:
        return cls(
            headline, entry.paragraphs, entry.sketch, entry.text_hash, entry.words, article_body
        )


def _new_text(
    state: _ArticleState,
    entry: Entry,
    current: Callable[[], tuple[str, tuple[str, ...]]],
    current_hash: str,
    *,
    supplier: bool,
    current_words: Callable[[], int],
) -> _Text | None:
    """The story's text once ``entry`` (of a feed) is taken in; None: as is.

    Of its feeds' texts, a story has the fullest: the text of the feed that gave it
    (``supplier``) replaces it, edits and corrections included, and another feed's replaces
    it when it has more words (so every word a feed carries reaches the archive and the
    matcher, and two feeds' versions never take turns). An article's body replaces the
    feed's body (under the story's headline); a story with its article's body keeps it when
    a feed brings its own text again, taking only a changed headline from its supplier; a
    failed attempt changes nothing.
    """
    if entry.article_failure is not None:
        return None
    if entry.content_source == "article":
        if state.source == "article":
            return None  # the page was read already (a retry claimed twice)
        headline = current()[0]
        if headline == entry.headline:
            text = _Text.of_entry(entry, headline, article_body=True)
        else:
            text = _Text.of(headline, entry.paragraphs, article_body=True)
    elif state.source == "article":
        headline, paragraphs = current()
        if headline == entry.headline or not supplier:
            return None
        text = _Text.of(entry.headline, paragraphs, article_body=False)
    else:
        if entry.text_hash == current_hash:
            return None
        if not supplier and entry.words <= current_words():
            return None
        text = _Text.of_entry(entry, entry.headline, article_body=False)
    return None if text.text_hash == current_hash else text


def _feed_text_of_article_story(state: _ArticleState, entry: Entry) -> bool:
    """The entry is its feed's own text, for a story that has its article's."""
    return (
        state.source == "article"
        and entry.content_source == "feed"
        and entry.article_failure is None
        and bool(entry.sketch)
    )


def _reindex(db: sqlite3.Connection, seq: int, *sketches: Sequence[int]) -> None:
    """A stored story's near-duplicate index rows, for its sketches as they are now."""
    db.execute("DELETE FROM story_minhash WHERE story_seq = ?", (seq,))
    db.executemany(
        "INSERT OR IGNORE INTO story_minhash (hash, story_seq) VALUES (?, ?)",
        [(h, seq) for h in _probes(*sketches)],
    )


def _probes(*sketches: Sequence[int]) -> frozenset[int]:
    return frozenset(h for s in sketches for h in s[:INDEXED_HASHES])


def _paragraphs(body: str) -> tuple[str, ...]:
    """A stored body's paragraphs (it holds them joined by blank lines)."""
    return tuple(p for p in body.split("\n\n") if p)


def _story(row: sqlite3.Row) -> Story:
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


def _feed_state(row: sqlite3.Row) -> FeedState:
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


def gone_marker(path: Path) -> Path:
    """Left beside an archive found deleted while open: no new one is made there until it
    is removed, so a restart (a supervisor's, at once) cannot alert old news again."""
    return path.with_name(path.name + ".gone")


@translate_faults
class SQLiteArchive(OutboxStore):
    """Archive backed by one SQLite file. Not for concurrent use: one thread at a time.

    ``read_only`` opens an existing archive through a read-only connection (for commands
    that only look): a write fails in SQLite itself, and a missing archive is not created
    (``ArchiveMissing``).

    Storage failures (disk full, read-only, damaged) are raised as ``StorageFault``. A
    connection that writes refuses to once its file was deleted or replaced (``ArchiveGone``):
    SQLite would go on writing into the unlinked file.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._identity: tuple[int, int] | None = None
        marker = gone_marker(self.path)
        if marker.exists() and not self.path.exists():
            raise ArchiveDeleted(str(self.path), str(marker))
        try:
            if read_only:
                if not self.path.is_file():
                    raise ArchiveMissing(str(self.path))
                self._db = sqlite3.connect(
                    f"file:{quote(str(self.path.resolve()))}?mode=ro",
                    uri=True,
                    isolation_level=None,
                    timeout=10.0,
                    check_same_thread=False,
                )
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Used by one thread at a time (the poller hands writes to its writer thread).
                self._db = sqlite3.connect(
                    self.path, isolation_level=None, timeout=10.0, check_same_thread=False
                )
                # SQLite has the file open now: this is the file the connection writes.
                stat = self.path.stat()
                self._identity = (stat.st_dev, stat.st_ino)
        except OSError as exc:
            raise os_fault(exc, str(self.path)) from exc
        except sqlite3.Error as exc:
            fault = storage_fault(exc, str(self.path))
            raise fault or ArchiveError(f"{self.path}: cannot open archive: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        self._batch_depth = 0
        pragmas = ["foreign_keys = ON", "busy_timeout = 10000"]
        if not read_only:  # the journal mode is a property of the file: setting it writes
            pragmas[:0] = ["journal_mode = WAL", "synchronous = NORMAL"]
        try:
            for pragma in pragmas:
                self._db.execute(f"PRAGMA {pragma}")
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            fault = storage_fault(exc, str(self.path))
            raise fault or ArchiveError(f"{self.path}: cannot open archive: {exc}") from exc
        except ArchiveError:
            self._db.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------

    def check_file(self) -> None:
        """Raise ArchiveGone when the path no longer leads to the file this connection
        writes (deleted, or another file put in its place); a deletion leaves the marker."""
        if self._identity is None:
            return  # read-only: reading a deleted file harms nobody
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            marker = gone_marker(self.path)
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                if not marker.exists():
                    when = datetime.now(UTC).isoformat(timespec="seconds")
                    marker.write_text(
                        f"{self.path} was deleted while process {os.getpid()} had it open "
                        f"(found at {when}).\nDelete this file to let the monitor start a new, "
                        "empty archive there.\n",
                        encoding="utf-8",
                    )
            except OSError:
                pass  # the refusal to write stands without it
            raise ArchiveGone(str(self.path), "there is no file at that path now") from None
        except OSError:
            return  # cannot tell (a permission changed): SQLite says what it meets
        if (stat.st_dev, stat.st_ino) != self._identity:
            raise ArchiveGone(str(self.path), "another file is at that path now")

    @contextmanager
    def _tx(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        if self._batch_depth:
            yield self._db  # part of the batch's transaction
            return
        self.check_file()
        with faults(str(self.path)):
            try:
                if self._db.in_transaction:  # a ROLLBACK that failed (disk I/O) left one open
                    self._db.execute("ROLLBACK")
                self._db.execute(f"BEGIN {mode}")
            except sqlite3.Error as exc:
                if storage_fault(exc, str(self.path)) is not None:
                    raise
                raise ArchiveError(f"{self.path}: {exc}") from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    # The first error says more; a failed ROLLBACK is tried again next time.
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise

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

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise ArchiveError(
                f"{self.path}: archive schema version {version} is newer than this program "
                f"knows ({len(MIGRATIONS)}); upgrade the monitor"
            )
        if self.read_only and version < len(MIGRATIONS):
            if version == 0:  # an empty file: nothing was ever archived in it
                raise ArchiveMissing(str(self.path))
            raise ArchiveError(
                f"{self.path}: archive schema version {version} is older than this program's "
                f"({len(MIGRATIONS)}); `monitor run` or `monitor poll` upgrades it"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._tx("EXCLUSIVE") as db:
                for statement in _statements(script):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        self._db.close()

    # -- feeds ------------------------------------------------------------------------------

    def sync_feeds(self, feeds: Sequence[Feed], now: datetime, *, replan: Replan) -> None:
        with self._tx() as db:
            db.execute("UPDATE feeds SET active = 0")
            for feed in feeds:
                db.execute(
                    """
                    INSERT INTO feeds (url, name, fetch_url, active, next_poll)
                    VALUES (?, ?, ?, 1, ?)
                    ON CONFLICT (url) DO UPDATE SET name = excluded.name, active = 1
                    """,
                    (feed.url, feed.name, feed.url, _ts(now)),
                )
            # The next poll of a feed already scheduled follows the configuration now, not
            # the one it was polled under; with the same configuration nothing changes.
            configured = {f.url: f for f in feeds}
            rows = db.execute(
                "SELECT *, 0 AS story_count FROM feeds WHERE active = 1 AND gone = 0"
                " AND last_polled IS NOT NULL"
            ).fetchall()
            moved = []
            for row in rows:
                due = replan(configured[row["url"]], _feed_state(row))
                if due is not None and abs(_ts(due) - (row["next_poll"] or 0.0)) > 1e-3:
                    moved.append((_ts(due), row["id"]))
            db.executemany("UPDATE feeds SET next_poll = ? WHERE id = ?", moved)

    def feed_states(self, *, include_inactive: bool = False) -> list[FeedState]:
        where = "" if include_inactive else "WHERE f.active = 1"
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
        only = "" if urls is None else f"AND url IN ({_marks(len(urls))})"
        with self._tx() as db:
            gone = gone_owners(db, "feeds", t)
            # A last poll later than now means the clock went back since (a step this
            # process did not see): the feed's next poll counts from a time not yet come.
            rows = db.execute(
                f"""
                SELECT f.*, 0 AS story_count FROM feeds f
                WHERE active = 1 AND gone = 0 {only}
                  AND (? OR next_poll IS NULL OR next_poll <= ? OR last_polled > ?)
                  AND (lease_until IS NULL OR lease_until <= ?
                       OR lease_owner IN ({_marks(len(gone))}))
                ORDER BY next_poll LIMIT ?
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

    def release_feeds(self, urls: Sequence[str], *, owner: str) -> None:
        for start in range(0, len(urls), _CHUNK):
            chunk = urls[start : start + _CHUNK]
            with self._tx() as db:
                db.execute(
                    "UPDATE feeds SET lease_owner = NULL, lease_until = NULL"
                    f" WHERE lease_owner = ? AND url IN ({_marks(len(chunk))})",
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
                    query + f" WHERE u.story_seq IN ({_marks(len(chunk))})", chunk
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
                JOIN feeds f ON f.id = ss.feed_id WHERE ss.story_seq IN ({_marks(len(chunk))})
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
        keys_of = [_keys(entry, row[0]) for entry in entries]
        known = self._known_keys(self._db, {k for keys in keys_of for k in keys})
        seqs = sorted(set(known.values()))
        tried: set[int] = set()
        for start in range(0, len(seqs), _CHUNK):
            chunk = seqs[start : start + _CHUNK]
            tried.update(
                seq
                for (seq,) in self._db.execute(
                    f"SELECT seq FROM stories WHERE seq IN ({_marks(len(chunk))})"
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
                """
                SELECT s.seq, s.url, s.headline, s.body, s.published, s.author, s.text_hash,
                    s.sketch, s.text_words,
                    -- "feed URL<RS>its link" of each active feed carrying it, first first
                    (SELECT group_concat(source, char(31)) FROM (
                        SELECT f.url || char(30) || ss.link AS source
                        FROM story_sources ss JOIN feeds f ON f.id = ss.feed_id
                        WHERE ss.story_seq = s.seq AND f.active AND NOT f.gone
                        ORDER BY ss.first_seen, f.id)) AS sources
                FROM stories s
                WHERE s.article_retry <= ? ORDER BY s.article_retry LIMIT ?
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
        db: sqlite3.Connection,
        feed_url: str,
        entries: Sequence[Entry],
        t: float,
        mark: bool,
        stories: Sequence[int] | None = None,
        backlog: Sequence[bool] = (),
    ) -> StoreResult:
        """Deduplicate and archive one feed's entries, in the caller's transaction.

        The same as taking the entries one by one, each seeing what the ones before it
        wrote, but in two passes: the first decides what each entry is (looking up every
        key of the feed's entries in one query, and the stories this call adds in memory),
        the second writes. New stories go in with one INSERT: FTS5 flushes what it has
        indexed at each statement that may need rolling back, and the trigger that indexes
        a story makes its INSERT such a statement, so one INSERT per story would flush (and
        later merge) one tiny index segment per story.
        """
        row = db.execute("SELECT id, name FROM feeds WHERE url = ?", (feed_url,)).fetchone()
        if row is None:
            raise ArchiveError(f"unknown feed {feed_url}")
        feed_id: int = row[0]
        feed_name: str = row[1]
        keys_of = [_keys(entry, feed_id) for entry in entries]
        known = self._known_keys(db, {k for keys in keys_of for k in keys})
        carried = self._carried(db, feed_id, set(known.values()))
        # The id each entry would get as a new story, and which of those are taken.
        identities = [_identity(entry, feed_id) for entry in entries]
        first_ids = [story_id(identity) for identity in identities]
        taken = self._taken_ids(db, set(first_ids))
        at = _utc(t)
        fresh: dict[int, _Fresh] = {}  # the stories this call adds, by seq
        next_seq = 0
        new: list[int] = []
        changed: list[int] = []
        merged = 0
        key_rows: list[tuple[str, int]] = []
        source_rows: list[tuple[int, int, str, float, bool]] = []
        to_match: dict[int, bool] = {}  # seq -> some entry brought it as news
        guids: dict[int, str] = {}  # the GUIDs this call gives stories, by seq
        for n, (entry, keys, identity, first_id) in enumerate(
            zip(entries, keys_of, identities, first_ids, strict=True)
        ):
            old_news = bool(backlog) and backlog[n]
            if stories is not None:
                seq: int | None = stories[n]  # known to the caller (an article retry)
            else:
                seq = self._story_of(db, feed_id, entry, keys, known, fresh, guids)
            own = seq is not None and self._carries(db, seq, feed_id, carried)
            rematch = False
            if seq is None:
                if not next_seq:
                    next_seq = db.execute(
                        "SELECT coalesce(max(seq), 0) + 1 FROM stories"
                    ).fetchone()[0]
                seq = next_seq
                next_seq += 1
                fresh[seq] = self._fresh(db, entry, first_id, identity, taken, t, feed_id)
                new.append(seq)
            else:
                # The story takes the entry's text when it is its own feed's, when it is
                # fuller, and when it is an article read for it here (whichever feed stored
                # it first, it gets the page): see _new_text.
                rematch = self._update_text(db, seq, entry, t, fresh, feed_id)
                if rematch and seq not in changed:
                    changed.append(seq)
                if not own:
                    merged += 1
            for key in keys:
                if key not in known:  # INSERT OR IGNORE: a key keeps its first story
                    known[key] = seq
                    key_rows.append((key, seq))
            if entry.guid:
                guids.setdefault(seq, entry.guid)
            added_source = not carried.get(seq, False)
            if added_source:
                carried[seq] = True
                source_rows.append((seq, feed_id, entry.link, t, old_news))
            # New and changed stories, and stories another feed now carries too (a topic
            # may be limited to that feed), are matched; known alerts are not repeated.
            if mark and (rematch or added_source):
                to_match[seq] = to_match.get(seq, False) or not old_news

        self._insert_fresh(db, fresh)
        db.executemany("INSERT OR IGNORE INTO story_keys (key, story_seq) VALUES (?, ?)", key_rows)
        db.executemany(
            "INSERT OR IGNORE INTO story_sources (story_seq, feed_id, link, first_seen, backlog)"
            " VALUES (?, ?, ?, ?, ?)",
            source_rows,
        )
        # Marked in the same transaction as the story, matched after it: a crash between
        # the two leaves the mark, and the story is matched at the next poll.
        db.executemany(
            """
            INSERT INTO unmatched (story_seq, news, version) VALUES (?, ?, 1)
            ON CONFLICT (story_seq) DO UPDATE SET news = news OR excluded.news,
                version = version + 1
            """,
            list(to_match.items()),
        )
        return StoreResult(
            new=tuple(fresh[seq].story(seq, (feed_name,), at) for seq in new),
            changed=tuple(self._changed_stories(changed, fresh, feed_name, at)),
            merged=merged,
            unmatched=tuple(to_match),
        )

    @staticmethod
    def _known_keys(db: sqlite3.Connection, keys: set[str]) -> dict[str, int]:
        """The story of each of ``keys`` that is archived already."""
        found: dict[str, int] = {}
        ordered = sorted(keys)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            found.update(
                db.execute(
                    f"SELECT key, story_seq FROM story_keys WHERE key IN ({_marks(len(chunk))})",
                    chunk,
                ).fetchall()
            )
        return found

    @staticmethod
    def _taken_ids(db: sqlite3.Connection, ids: set[str]) -> dict[str, bool]:
        """Which of ``ids`` stories have."""
        taken = dict.fromkeys(ids, False)
        ordered = sorted(ids)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            for (sid,) in db.execute(
                f"SELECT id FROM stories WHERE id IN ({_marks(len(chunk))})", chunk
            ):
                taken[sid] = True
        return taken

    @staticmethod
    def _carried(db: sqlite3.Connection, feed_id: int, seqs: set[int]) -> dict[int, bool]:
        """For each of ``seqs``: does the feed carry that story already?"""
        carried = dict.fromkeys(seqs, False)
        ordered = sorted(seqs)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            for (seq,) in db.execute(
                f"SELECT story_seq FROM story_sources WHERE feed_id = ?"
                f" AND story_seq IN ({_marks(len(chunk))})",
                [feed_id, *chunk],
            ):
                carried[seq] = True
        return carried

    @staticmethod
    def _carries(db: sqlite3.Connection, seq: int, feed_id: int, carried: dict[int, bool]) -> bool:
        known = carried.get(seq)
        if known is None:
            known = carried[seq] = (
                db.execute(
                    "SELECT 1 FROM story_sources WHERE story_seq = ? AND feed_id = ?",
                    (seq, feed_id),
                ).fetchone()
                is not None
            )
        return known

    def _story_of(
        self,
        db: sqlite3.Connection,
        feed_id: int,
        entry: Entry,
        keys: list[str],
        known: dict[str, int],
        fresh: dict[int, _Fresh],
        guids: dict[int, str],
    ) -> int | None:
        """The story the entry is, if it is one already: by its keys, else by its text.

        A story the feed gave another GUID is another item when the entry shares only its
        URL (a podcast's episodes all linking the show's page, fragments of one page in a
        weblog) or only near-identical text (a series of posts sharing most of their text):
        the entry must not disappear into it. Its URL and its text both the same, it is that
        item under a new GUID (a feed that moved its GUIDs).
        """
        seq = next((known[k] for k in sorted(keys) if k in known), None)
        if (
            seq is not None
            and f"guid:{feed_id}:{entry.guid}" not in known
            and self._other_guid(db, feed_id, seq, entry, guids)
            and not self._same_text(db, seq, entry, fresh)
        ):
            seq = None
        if seq is None:
            seq = self._near_duplicate(
                db, entry, fresh, lambda s: self._other_guid(db, feed_id, s, entry, guids)
            )
        return seq

    @staticmethod
    def _other_guid(
        db: sqlite3.Connection, feed_id: int, seq: int, entry: Entry, guids: dict[int, str]
    ) -> bool:
        """Whether the feed gave the story a GUID, and not the entry's."""
        if not entry.guid:
            return False
        given = guids.get(seq)
        if given is None:
            prefix = f"guid:{feed_id}:"
            row = db.execute(
                "SELECT key FROM story_keys WHERE story_seq = ? AND substr(key, 1, ?) = ? LIMIT 1",
                (seq, len(prefix), prefix),
            ).fetchone()
            given = str(row[0])[len(prefix) :] if row else None
        return given not in (None, entry.guid)

    @staticmethod
    def _same_text(
        db: sqlite3.Connection, seq: int, entry: Entry, fresh: dict[int, _Fresh]
    ) -> bool:
        """Whether the story's text is (nearly) the entry's."""
        story = fresh.get(seq)
        if story is not None:
            text_hash, sketches = story.text_hash, (story.sketch, story.feed_sketch)
        else:
            row = db.execute(
                "SELECT text_hash, sketch, feed_sketch FROM stories WHERE seq = ?", (seq,)
            ).fetchone()
            text_hash, sketches = row[0], (_unpack(row[1]), _unpack(row[2]))
        if text_hash == entry.text_hash:
            return True
        return bool(entry.sketch) and _any_near([entry.sketch, entry.feed_sketch], sketches)

    @staticmethod
    def _near_duplicate(
        db: sqlite3.Connection,
        entry: Entry,
        fresh: dict[int, _Fresh],
        other_item: Callable[[int], bool] = lambda seq: False,
    ) -> int | None:
        """The story whose text is (nearly) the entry's, if any: of those sharing the most
        indexed hashes, the earliest that is not ``other_item`` (another item of the
        entry's feed)."""
        if entry.sketch:
            # An entry with its article's text is also recognised by the feed's own text,
            # and a story with an article's text by the text its feed gave.
            sketches = [x for x in (entry.sketch, entry.feed_sketch) if x]
            probe = sorted(_probes(*sketches))
            # Candidates share at least two of the probe hashes: one alone is often a
            # common phrase ("according to the") and would pull in a growing share of
            # the archive, while near-duplicates (similarity >= 0.8) share three or more.
            # Only the closest few are compared: a feed of items that share most of their
            # text (a template) would otherwise compare each new item with all before it.
            rows = db.execute(
                f"""
                SELECT s.seq, s.sketch, s.feed_sketch FROM (
                    SELECT story_seq, count(*) AS shared FROM story_minhash
                    WHERE hash IN ({_marks(len(probe))})
                    GROUP BY story_seq HAVING shared >= {MIN_SHARED_PROBES}
                    ORDER BY shared DESC, story_seq LIMIT {NEAR_CANDIDATES}
                ) AS c JOIN stories s ON s.seq = c.story_seq ORDER BY c.shared DESC, s.seq
                """,
                probe,
            ).fetchall()
            for seq, blob, feed_blob in rows:
                near = _any_near(sketches, (_unpack(blob), _unpack(feed_blob)))
                if near and not other_item(int(seq)):
                    return int(seq)
            # The stories this call adds have no rows in the tables yet: the same test here.
            wanted = set(probe)
            close = [(len(wanted & s.probes), seq) for seq, s in fresh.items()]
            close = sorted(
                (c for c in close if c[0] >= MIN_SHARED_PROBES), key=lambda c: (-c[0], c[1])
            )
            for _, seq in close[:NEAR_CANDIDATES]:
                story = fresh[seq]
                if _any_near(sketches, (story.sketch, story.feed_sketch)) and not other_item(seq):
                    return seq
            return None
        if len(" ".join([entry.headline, *entry.paragraphs]).split()) < MIN_TOKENS_FOR_TEXT_MATCH:
            return None
        row = db.execute(
            "SELECT seq FROM stories WHERE text_hash = ? ORDER BY seq LIMIT 1", (entry.text_hash,)
        ).fetchone()
        if row is not None:
            return int(row[0])
        return next((seq for seq, s in fresh.items() if s.text_hash == entry.text_hash), None)

    @staticmethod
    def _fresh(
        db: sqlite3.Connection,
        entry: Entry,
        first_id: str,
        identity: str,
        taken: dict[str, bool],
        t: float,
        feed_id: int,
    ) -> _Fresh:
        """A new story for ``entry``, with an id no other story has.

        ``first_id`` is the id of ``identity``; ``taken`` says which ids are in use (those
        of the stories this call adds, and those looked up already).
        """
        for attempt in range(100):
            # An id already taken (a 64-bit prefix collision, or a story that changed its
            # URL) must not drop this story: derive another one.
            sid = first_id if attempt == 0 else story_id(f"{identity}#{attempt}")
            used = taken.get(sid)
            if used is None:
                row = db.execute("SELECT 1 FROM stories WHERE id = ?", (sid,)).fetchone()
                used = taken[sid] = row is not None
            if not used:
                taken[sid] = True
                break
        else:
            raise ArchiveError(f"no free story id for {identity!r}")
        return _Fresh(
            id=sid,
            url=entry.url or entry.link,
            headline=entry.headline,
            body="\n\n".join(entry.paragraphs),
            published=entry.published.timestamp() if entry.published else t,
            first_seen=t,
            updated=t,
            author=entry.author,
            text_hash=entry.text_hash,
            sketch=entry.sketch,
            feed_sketch=entry.feed_sketch,
            probes=_probes(entry.sketch, entry.feed_sketch),
            paragraphs=tuple(entry.paragraphs),
            article=_ArticleState().after(entry, t),
            text_feed=feed_id,
            text_words=entry.words,
        )

    @staticmethod
    def _insert_fresh(db: sqlite3.Connection, fresh: dict[int, _Fresh]) -> None:
        rows = [story.row(seq) for seq, story in fresh.items()]
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            db.execute(
                "INSERT INTO stories (seq, id, url, headline, body, published, first_seen,"
                " updated, author, text_hash, sketch, feed_sketch, content_source,"
                " article_error, article_tries, article_retry, text_feed, text_words) VALUES "
                + ",".join([f"({_marks(18)})"] * len(chunk)),
                [value for row in chunk for value in row],
            )
        db.executemany(
            "INSERT OR IGNORE INTO story_minhash (hash, story_seq) VALUES (?, ?)",
            [(h, seq) for seq, story in fresh.items() for h in story.probes],
        )

    @staticmethod
    def _update_text(
        db: sqlite3.Connection,
        seq: int,
        entry: Entry,
        t: float,
        fresh: dict[int, _Fresh],
        feed_id: int,
    ) -> bool:
        """Take the entry's text and article attempt into the story; whether its text changed."""
        story = fresh.get(seq)
        if story is not None:
            state, story.article = story.article, story.article.after(entry, t)
            supplier = story.text_feed == feed_id
            if supplier and _feed_text_of_article_story(state, entry):
                story.feed_sketch = entry.sketch
                story.probes = _probes(story.sketch, story.feed_sketch)
            text = _new_text(
                state,
                entry,
                lambda: (story.headline, story.paragraphs),
                story.text_hash,
                supplier=supplier,
                current_words=lambda: story.text_words,
            )
            if text is None:
                return False
            if text.article_body:
                story.feed_sketch = story.sketch
            story.headline, story.paragraphs = text.headline, text.paragraphs
            story.body = "\n\n".join(text.paragraphs)
            story.text_hash, story.sketch = text.text_hash, text.sketch
            story.probes = _probes(story.sketch, story.feed_sketch)
            story.text_feed, story.text_words = feed_id, text.words
            story.updated = t
            return True
        row = db.execute(
            "SELECT text_hash, sketch, feed_sketch, content_source, article_error, article_tries,"
            " article_retry, text_feed, text_words FROM stories WHERE seq = ?",
            (seq,),
        ).fetchone()
        state = _ArticleState(*row[3:7])
        # Stories archived before text_feed was kept have it from their first source.
        supplier = row["text_feed"] == feed_id
        after = state.after(entry, t)
        if after != state:
            db.execute(
                "UPDATE stories SET content_source = ?, article_error = ?, article_tries = ?,"
                " article_retry = ? WHERE seq = ?",
                (*after.row(), seq),
            )

        def current() -> tuple[str, tuple[str, ...]]:
            headline, body = db.execute(
                "SELECT headline, body FROM stories WHERE seq = ?", (seq,)
            ).fetchone()
            return headline, _paragraphs(body)

        def current_words() -> int:
            if row["text_words"] is not None:
                return int(row["text_words"])
            # Archived before the count was kept: counted once, and kept.
            headline, paragraphs = current()
            words = len(tokenize(" ".join([headline, *paragraphs])))
            db.execute("UPDATE stories SET text_words = ? WHERE seq = ?", (words, seq))
            return words

        text = _new_text(
            state,
            entry,
            current,
            row["text_hash"],
            supplier=supplier,
            current_words=current_words,
        )
        feed_sketch = _unpack(row["feed_sketch"])
        if supplier and _feed_text_of_article_story(state, entry) and entry.sketch != feed_sketch:
            # The feed's summary changed: copies of the new one must still find the story.
            feed_sketch = entry.sketch
            if text is None:
                db.execute(
                    "UPDATE stories SET feed_sketch = ? WHERE seq = ?", (_pack(feed_sketch), seq)
                )
                _reindex(db, seq, _unpack(row["sketch"]), feed_sketch)
        if text is None:
            return False
        if text.article_body:
            feed_sketch = _unpack(row["sketch"])
        db.execute(
            """
            UPDATE stories SET headline = ?, body = ?, text_hash = ?, sketch = ?, feed_sketch = ?,
                updated = ?, text_feed = ?, text_words = ?
            WHERE seq = ?
            """,
            (
                text.headline,
                "\n\n".join(text.paragraphs),
                text.text_hash,
                _pack(text.sketch),
                _pack(feed_sketch) if feed_sketch else None,
                t,
                feed_id,
                text.words,
                seq,
            ),
        )
        _reindex(db, seq, text.sketch, feed_sketch)
        return True

    def _changed_stories(
        self, seqs: Sequence[int], fresh: dict[int, _Fresh], feed_name: str, at: datetime
    ) -> list[Story]:
        stored = {s.seq: s for s in self._stories_by_seq([q for q in seqs if q not in fresh])}
        out = []
        for seq in seqs:
            story = fresh[seq].story(seq, (feed_name,), at) if seq in fresh else stored.get(seq)
            if story is not None:
                out.append(story)
        return out

    def _stories_by_seq(self, seqs: Sequence[int]) -> list[Story]:
        if not seqs:
            return []
        found: dict[int, Story] = {}
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT {_STORY_COLUMNS} FROM stories s WHERE s.seq IN ({marks})", chunk
            ).fetchall()
            found.update((r["seq"], _story(r)) for r in rows)
        return [found[s] for s in seqs if s in found]

    def recent_stories(self, *, limit: int, since: datetime | None = None) -> list[Story]:
        rows = self._db.execute(
            f"""
            SELECT {_STORY_COLUMNS} FROM stories s WHERE s.first_seen >= ?
            ORDER BY s.published DESC, s.seq DESC LIMIT ?
            """,
            (_ts(since) if since else 0.0, limit),
        ).fetchall()
        return [_story(r) for r in rows]

    def get_story(self, story_id: str) -> Story:
        prefix = story_id.strip().lower()
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            raise StoryNotFound(story_id)
        rows = self._db.execute(
            f"SELECT {_STORY_COLUMNS} FROM stories s WHERE s.id >= ? AND s.id < ? LIMIT 2",
            (prefix, prefix + "g"),
        ).fetchall()
        if len(rows) != 1:
            raise (
                StoryNotFound(story_id)
                if not rows
                else ArchiveError(f"story id prefix {story_id!r} is ambiguous; give more digits")
            )
        return _story(rows[0])

    def search(self, query: str, *, limit: int) -> list[Story]:
        try:
            rows = self._db.execute(
                f"""
                SELECT {_STORY_COLUMNS} FROM stories_fts
                JOIN stories s ON s.seq = stories_fts.rowid
                WHERE stories_fts MATCH ? ORDER BY bm25(stories_fts, 5.0, 1.0) LIMIT ?
                """,
                (query, limit),
            ).fetchall()
        except sqlite3.OperationalError as exc:
            raise ArchiveError(f"bad search query {query!r}: {exc}") from exc
        return [_story(r) for r in rows]

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
                SELECT {_STORY_COLUMNS} FROM stories s WHERE s.seq > ? AND s.first_seen >= ?
                ORDER BY s.seq LIMIT 500
                """,
                (last, start),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _story(row)
            last = rows[-1]["seq"]


def _any_near(ours: Sequence[Sequence[int]], theirs: Sequence[Sequence[int]]) -> bool:
    return any(a and b and is_near_duplicate(a, b) for a in ours for b in theirs)


def _identity(entry: Entry, feed_id: int) -> str:
    """What a new story's id is derived from: its URL, else its GUID, else its text."""
    # GUIDs without a link are only unique within their feed.
    return entry.url or (
        f"guid:{feed_id}:{entry.guid}" if entry.guid else f"text:{entry.text_hash}"
    )


def _keys(entry: Entry, feed_id: int) -> list[str]:
    keys = []
    if entry.url:
        keys.append(f"url:{entry.url}")
    if entry.guid:
        # GUIDs are only unique within their feed ("1", "2", ... are common).
        keys.append(f"guid:{feed_id}:{entry.guid}")
    return keys


def _statements(script: str) -> list[str]:
    """Split a migration script into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
