"""The embedded archive: SQLite in WAL mode with FTS5 full-text search."""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from monitor.archive import Matcher, PollRecord, StoreResult
from monitor.archive.migrations import MIGRATIONS
from monitor.archive.sqlite_outbox import OutboxStore
from monitor.dedupe import INDEXED_HASHES, is_near_duplicate
from monitor.errors import ArchiveError, StoryNotFound
from monitor.types import Entry, Feed, FeedState, Story
from monitor.urls import story_id

MIN_SHARED_PROBES = 2
# Exact-text matches across different URLs need enough words to mean anything.
MIN_TOKENS_FOR_TEXT_MATCH = 12

_STORY_COLUMNS = """
    s.seq, s.id, s.url, s.headline, s.body, s.published, s.first_seen, s.updated,
    s.content_source,
    (SELECT group_concat(name, char(31)) FROM (
        SELECT f.name AS name FROM story_sources ss JOIN feeds f ON f.id = ss.feed_id
        WHERE ss.story_seq = s.seq ORDER BY ss.first_seen, f.id)) AS sources
"""


def _ts(value: datetime) -> float:
    return value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def _pack(sketch: Sequence[int]) -> bytes:
    return array("I", sketch).tobytes()


def _unpack(blob: bytes | None) -> tuple[int, ...]:
    if not blob:
        return ()
    values = array("I")
    values.frombytes(blob)
    return tuple(values)


def _story(row: sqlite3.Row) -> Story:
    return Story(
        id=row["id"],
        seq=row["seq"],
        url=row["url"],
        headline=row["headline"],
        paragraphs=tuple(p for p in row["body"].split("\n\n") if p),
        published=datetime.fromtimestamp(row["published"], tz=UTC),
        first_seen=datetime.fromtimestamp(row["first_seen"], tz=UTC),
        updated=datetime.fromtimestamp(row["updated"], tz=UTC),
        sources=tuple(row["sources"].split("\x1f")) if row["sources"] else (),
        content_source=row["content_source"],
    )


def _feed_state(row: sqlite3.Row) -> FeedState:
    return FeedState(
        url=row["url"],
        name=row["name"],
        fetch_url=row["fetch_url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        content_hash=row["content_hash"],
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


class SQLiteArchive(OutboxStore):
    """Archive backed by one SQLite file. Not for concurrent use: one thread at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Used by one thread at a time (the poller hands writes to its writer thread).
            self._db = sqlite3.connect(
                self.path, isolation_level=None, timeout=10.0, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise ArchiveError(f"{self.path}: cannot open archive: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        for pragma in (
            "journal_mode = WAL",
            "synchronous = NORMAL",
            "foreign_keys = ON",
            "busy_timeout = 10000",
        ):
            self._db.execute(f"PRAGMA {pragma}")
        self._migrate()

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _tx(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute(f"BEGIN {mode}")
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self.path}: {exc}") from exc
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise ArchiveError(
                f"{self.path}: archive schema version {version} is newer than this program "
                f"knows ({len(MIGRATIONS)}); upgrade the monitor"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._tx("EXCLUSIVE") as db:
                for statement in _statements(script):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        self._db.close()

    # -- feeds ------------------------------------------------------------------------------

    def sync_feeds(self, feeds: Sequence[Feed], now: datetime) -> None:
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
    ) -> list[FeedState]:
        t = _ts(now)
        with self._tx() as db:
            rows = db.execute(
                """
                SELECT f.*, 0 AS story_count FROM feeds f
                WHERE active = 1 AND gone = 0
                  AND (? OR next_poll IS NULL OR next_poll <= ?)
                  AND (lease_until IS NULL OR lease_until <= ? OR lease_owner = ?)
                ORDER BY next_poll LIMIT ?
                """,
                (all_feeds, t, t, owner, limit),
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
                        fetch_url = coalesce(?, fetch_url), next_poll = ?, last_polled = ?,
                        last_success = ?, error_count = 0, last_error = NULL,
                        failing_since = NULL, lease_owner = NULL, lease_until = NULL
                    WHERE url = ?
                    """,
                    (
                        record.etag,
                        record.last_modified,
                        record.content_hash,
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
                        gone = gone OR ?, lease_owner = NULL, lease_until = NULL
                    WHERE url = ?
                    """,
                    (_ts(record.next_poll), polled, record.error, polled, record.gone, record.url),
                )

    # -- stories ----------------------------------------------------------------------------

    def store_entries(
        self,
        feed_url: str,
        entries: Sequence[Entry],
        now: datetime,
        *,
        matcher: Matcher | None = None,
    ) -> StoreResult:
        new: list[int] = []
        changed: list[int] = []
        merged = 0
        alerts = 0
        t = _ts(now)
        with self._tx() as db:
            row = db.execute("SELECT id FROM feeds WHERE url = ?", (feed_url,)).fetchone()
            if row is None:
                raise ArchiveError(f"unknown feed {feed_url}")
            feed_id = row["id"]
            for entry in entries:
                keys = _keys(entry, feed_id)
                seq, own = self._find(db, entry, keys, feed_id)
                rematch = False
                if seq is None:
                    seq = self._insert(db, entry, feed_id, t)
                    new.append(seq)
                elif own:
                    rematch = self._update_text(db, seq, entry, t)
                    if rematch:
                        changed.append(seq)
                else:
                    merged += 1
                db.executemany(
                    "INSERT OR IGNORE INTO story_keys (key, story_seq) VALUES (?, ?)",
                    [(k, seq) for k in keys],
                )
                added_source = db.execute(
                    "INSERT OR IGNORE INTO story_sources (story_seq, feed_id, link, first_seen)"
                    " VALUES (?, ?, ?, ?)",
                    (seq, feed_id, entry.link, t),
                ).rowcount
                # New and changed stories, and stories another feed now carries too (a topic
                # may be limited to that feed), are matched; known alerts are not repeated.
                if matcher is not None and (rematch or added_source):
                    # In the same transaction as the story: a crash loses neither, ever.
                    alerts += self._match(db, seq, matcher, t)
        return StoreResult(
            new=tuple(self._stories_by_seq(new)),
            changed=tuple(self._stories_by_seq(changed)),
            merged=merged,
            alerts=alerts,
        )

    def _match(self, db: sqlite3.Connection, seq: int, matcher: Matcher, t: float) -> int:
        row = db.execute("SELECT id, headline, body FROM stories WHERE seq = ?", (seq,)).fetchone()
        sources = [
            r[0]
            for r in db.execute(
                """
                SELECT f.url FROM story_sources ss JOIN feeds f ON f.id = ss.feed_id
                WHERE ss.story_seq = ? ORDER BY ss.first_seen, f.id
                """,
                (seq,),
            )
        ]
        planned = matcher(row["headline"], row["body"], sources)
        return self._record_matches(db, seq, row["id"], planned, t) if planned else 0

    def _find(
        self, db: sqlite3.Connection, entry: Entry, keys: list[str], feed_id: int
    ) -> tuple[int | None, bool]:
        """The story this entry is, if any, and whether this feed already carries it."""
        if keys:
            marks = ",".join("?" * len(keys))
            row = db.execute(
                f"SELECT story_seq FROM story_keys WHERE key IN ({marks}) LIMIT 1", keys
            ).fetchone()
            if row is not None:
                return int(row[0]), self._carries(db, int(row[0]), feed_id)
        near = self._near_duplicate(db, entry)
        return (near, self._carries(db, near, feed_id)) if near is not None else (None, False)

    @staticmethod
    def _carries(db: sqlite3.Connection, seq: int, feed_id: int) -> bool:
        return (
            db.execute(
                "SELECT 1 FROM story_sources WHERE story_seq = ? AND feed_id = ?", (seq, feed_id)
            ).fetchone()
            is not None
        )

    @staticmethod
    def _near_duplicate(db: sqlite3.Connection, entry: Entry) -> int | None:
        if entry.sketch:
            probe = entry.sketch[:INDEXED_HASHES]
            # Candidates share at least two of the probe hashes: one alone is often a
            # common phrase ("according to the") and would pull in a growing share of
            # the archive, while near-duplicates (similarity >= 0.8) share three or more.
            rows = db.execute(
                f"""
                SELECT s.seq, s.sketch FROM (
                    SELECT story_seq FROM story_minhash
                    WHERE hash IN ({",".join("?" * len(probe))})
                    GROUP BY story_seq HAVING count(*) >= {MIN_SHARED_PROBES}
                ) AS c JOIN stories s ON s.seq = c.story_seq
                """,
                probe,
            ).fetchall()
            for row in rows:
                if is_near_duplicate(entry.sketch, _unpack(row["sketch"])):
                    return int(row["seq"])
            return None
        if len(" ".join([entry.headline, *entry.paragraphs]).split()) < MIN_TOKENS_FOR_TEXT_MATCH:
            return None
        row = db.execute(
            "SELECT seq FROM stories WHERE text_hash = ? LIMIT 1", (entry.text_hash,)
        ).fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def _insert(db: sqlite3.Connection, entry: Entry, feed_id: int, t: float) -> int:
        # GUIDs without a link are only unique within their feed.
        identity = entry.url or (
            f"guid:{feed_id}:{entry.guid}" if entry.guid else f"text:{entry.text_hash}"
        )
        published = entry.published.timestamp() if entry.published else t
        for attempt in range(100):
            # An id already taken (a 64-bit prefix collision, or a story that changed its
            # URL) must not drop this story: derive another one.
            key = identity if attempt == 0 else f"{identity}#{attempt}"
            row = db.execute(
                """
                INSERT INTO stories (id, url, headline, body, published, first_seen, updated,
                                     author, text_hash, sketch)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO NOTHING RETURNING seq
                """,
                (
                    story_id(key),
                    entry.url or entry.link,
                    entry.headline,
                    "\n\n".join(entry.paragraphs),
                    published,
                    t,
                    t,
                    entry.author,
                    entry.text_hash,
                    _pack(entry.sketch),
                ),
            ).fetchone()
            if row is not None:
                break
        else:
            raise ArchiveError(f"no free story id for {identity!r}")
        seq = int(row[0])
        db.executemany(
            "INSERT OR IGNORE INTO story_minhash (hash, story_seq) VALUES (?, ?)",
            [(h, seq) for h in entry.sketch[:INDEXED_HASHES]],
        )
        return seq

    @staticmethod
    def _update_text(db: sqlite3.Connection, seq: int, entry: Entry, t: float) -> bool:
        row = db.execute("SELECT text_hash FROM stories WHERE seq = ?", (seq,)).fetchone()
        if row["text_hash"] == entry.text_hash:
            return False
        db.execute(
            """
            UPDATE stories SET headline = ?, body = ?, text_hash = ?, sketch = ?, updated = ?
            WHERE seq = ?
            """,
            (
                entry.headline,
                "\n\n".join(entry.paragraphs),
                entry.text_hash,
                _pack(entry.sketch),
                t,
                seq,
            ),
        )
        db.execute("DELETE FROM story_minhash WHERE story_seq = ?", (seq,))
        db.executemany(
            "INSERT OR IGNORE INTO story_minhash (hash, story_seq) VALUES (?, ?)",
            [(h, seq) for h in entry.sketch[:INDEXED_HASHES]],
        )
        return True

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
