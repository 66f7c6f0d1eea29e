"""The embedded archive: SQLite in WAL mode with FTS5 full-text search."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

from monitor.archive.candidates import fts5_query, widen
from monitor.archive.db import Db, translate_faults
from monitor.archive.migrations import MIGRATIONS, REBUILDS
from monitor.archive.sql import STORY_COLUMNS, TEXT_COLUMNS, SQLArchive
from monitor.archive.sqlite_faults import faults, os_fault, storage_fault
from monitor.clock import utc_now
from monitor.errors import ArchiveDeleted, ArchiveError, ArchiveGone, ArchiveMissing
from monitor.rules.ast import Node

log = logging.getLogger(__name__)
# The feeds carrying story ``s`` by name, first first (``SQLArchive._SOURCES``).
_SOURCES = """(SELECT group_concat(name, char(31)) FROM (
    SELECT f.name AS name FROM story_sources ss JOIN feeds f ON f.id = ss.feed_id
    WHERE ss.story_seq = s.seq ORDER BY ss.first_seen, f.id))"""
_STORY_COLUMNS = STORY_COLUMNS.format(text=TEXT_COLUMNS, sources=_SOURCES)
CACHE_KB = 16384
# A new archive's page size. A story's text (a few KB) fits in a 16 KB page where it spilled
# from a 4 KB one into overflow pages: storing a cold poll's 10,000 stories took 15% less
# time, in a 9% smaller file.
PAGE_SIZE = 16384


def gone_marker(path: Path) -> Path:
    """Left beside an archive found deleted while open: no new one is made there until it
    is removed, so a restart (a supervisor's, at once) cannot alert old news again."""
    return path.with_name(path.name + ".gone")


@translate_faults
class SQLiteArchive(SQLArchive):
    """Archive backed by one SQLite file. Not for concurrent use: one thread at a time.

    ``read_only`` opens an existing archive through a read-only connection (for commands
    that only look): a write fails in SQLite itself, and a missing archive is not created
    (``ArchiveMissing``).

    Storage failures (disk full, read-only, damaged) are raised as ``StorageFault``. A
    connection that writes refuses to once its file was deleted or replaced (``ArchiveGone``):
    SQLite would go on writing into the unlinked file.
    """

    _db: sqlite3.Connection
    _SOURCES = _SOURCES
    _ID_TABLES = (("story_ids", "story_seq"), ("story_ids_new", "story_seq"))  # migration 15
    _RETRY_SOURCES = """(SELECT group_concat(source, char(31)) FROM (
        SELECT f.url || char(30) || ss.link AS source
        FROM story_sources ss JOIN feeds f ON f.id = ss.feed_id
        WHERE ss.story_seq = s.seq AND f.active AND NOT f.gone
        ORDER BY ss.first_seen, f.id))"""

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
        self._index_at_commit = False  # until the schema has its tables (migration 14)
        # A page cache for the indexes' hot pages as the archive grows: 16 MB at most, taken
        # as used. (The recent near-duplicate rows, the hot part of the biggest hash-keyed
        # index, fit in it; 32 MB made a poll at a million stories no faster, and the peak
        # memory of a cold poll 25 MB higher.)
        pragmas = ["foreign_keys = ON", "busy_timeout = 10000", f"cache_size = -{CACHE_KB}"]
        if not read_only:  # the journal mode is a property of the file: setting it writes
            # The page size goes first, while a new file can still take it (an existing one
            # keeps its own): see PAGE_SIZE.
            pragmas[:0] = [f"page_size = {PAGE_SIZE}", "journal_mode = WAL", "synchronous = NORMAL"]
        try:
            for pragma in pragmas:
                self._db.execute(f"PRAGMA {pragma}")
            self._migrate()
            self._index_at_commit = not read_only
        except sqlite3.Error as exc:
            self._db.close()
            fault = storage_fault(exc, str(self.path))
            raise fault or ArchiveError(f"{self.path}: cannot open archive: {exc}") from exc
        except ArchiveError:
            self._db.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------

    def _faults(self) -> AbstractContextManager[None]:
        return faults(str(self.path))

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
                    when = utc_now().isoformat(timespec="seconds")
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
    def _tx(self, mode: str = "IMMEDIATE") -> Iterator[Db]:
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
                if self._index_at_commit:  # see migration 14
                    flush_full_text(self._db)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    # The first error says more; a failed ROLLBACK is tried again next time.
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise

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
            rebuild = number in REBUILDS
            if rebuild:
                self._before_rebuild(number, fresh=version == 0)
            try:
                with self._tx("EXCLUSIVE") as db:
                    for statement in _statements(script):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {number}")
            finally:
                if rebuild:
                    self._db.execute("PRAGMA foreign_keys = ON")
            if rebuild and version > 0:  # the WAL holds the whole new table
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _before_rebuild(self, number: int, *, fresh: bool) -> None:
        """Make ready for migration ``number``, which copies a table into a new one: foreign
        keys off (or dropping the old table would delete every row that refers to it), and
        no column of the table left out of the copy."""
        table, fields = REBUILDS[number]
        columns = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
        if columns != {f.strip() for f in fields.split(",")}:
            raise ArchiveError(
                f"{self.path}: cannot upgrade the archive to schema {number}: its {table}"
                f" table has columns this program does not know ({', '.join(sorted(columns))})"
            )
        self._db.execute("PRAGMA foreign_keys = OFF")
        if self._db.execute("PRAGMA foreign_keys").fetchone()[0]:  # in a transaction: ignored
            raise ArchiveError(f"{self.path}: cannot turn foreign keys off to rebuild {table}")
        if not fresh:  # a new archive's tables are empty
            log.warning(
                "%s: upgrading the archive (schema %d): rebuilding its %s table, about a"
                " minute per million stories, with free disk space for a copy of it; the file"
                " keeps the old one's space for new stories (`monitor prune --vacuum` gives"
                " it back)",
                self.path,
                number,
                table,
            )

    def close(self) -> None:
        self._db.close()

    def vacuum(self) -> None:
        self._db.execute("VACUUM")

    def _search_seqs(self, node: Node, *, before: int | None, limit: int) -> list[int] | None:
        wide = widen(node)
        if wide is None:
            return None
        query = fts5_query(wide)
        # With the stories written in this transaction that the index does not hold yet.
        try:
            rows = self._db.execute(
                "SELECT * FROM (SELECT rowid FROM stories_fts"
                " WHERE stories_fts MATCH :query AND rowid < :before"
                " ORDER BY rowid DESC LIMIT :limit)"  # stops after the newest: no UNION above
                " UNION SELECT seq FROM stories_fts_pending WHERE seq < :before"
                " ORDER BY 1 DESC LIMIT :limit",
                {"query": query, "before": 2**62 if before is None else before, "limit": limit},
            ).fetchall()
        except sqlite3.OperationalError as exc:
            raise ArchiveError(f"bad search query {query!r}: {exc}") from exc
        return [r[0] for r in rows]


def flush_full_text(db: sqlite3.Connection) -> None:
    """Bring the full-text index up to date with what this transaction wrote, a statement
    for the texts it held and one for the texts it lacks (migration 14 says why)."""
    if db.execute("SELECT 1 FROM stories_fts_stale LIMIT 1").fetchone() is not None:
        db.execute(
            "INSERT INTO stories_fts (stories_fts, rowid, headline, body)"
            " SELECT 'delete', seq, headline, body FROM stories_fts_stale"
        )
        db.execute("DELETE FROM stories_fts_stale")
    if db.execute("SELECT 1 FROM stories_fts_pending LIMIT 1").fetchone() is not None:
        db.execute(
            "INSERT INTO stories_fts (rowid, headline, body)"
            " SELECT seq, headline, body FROM stories"
            " WHERE seq IN (SELECT seq FROM stories_fts_pending)"  # by rowid, in order
        )
        db.execute("DELETE FROM stories_fts_pending")


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
