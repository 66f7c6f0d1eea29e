"""Checking a SQLite archive for damage, and reading what is left of a damaged one.

Both open the file read-only and apply no migration, so they work on an archive the
service refuses. SQLite's integrity checks read every page; FTS5's check of the
full-text index needs a write transaction (SQLite's rule, though it writes nothing),
so it is run only when the caller says nothing else writes (the service is stopped).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from monitor.archive.sql import story_from_row
from monitor.archive.sqlite import _STORY_COLUMNS, flush_full_text
from monitor.archive.sqlite_faults import storage_fault
from monitor.errors import ArchiveError, ArchiveMissing
from monitor.types import Story

MAX_PROBLEMS = 100  # integrity_check stops after this many
# A story's own columns, for rows whose sources cannot be read.
_BARE_COLUMNS = """
    s.seq, s.id, s.url, s.headline, s.body, s.published, s.first_seen, s.updated,
    s.content_source, s.article_error, NULL AS sources
"""


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    if not path.is_file():
        raise ArchiveMissing(str(path))
    try:
        db = sqlite3.connect(
            f"file:{quote(str(path.resolve()))}?mode={mode}", uri=True, isolation_level=None
        )
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = 10000")
    except sqlite3.Error as exc:
        raise storage_fault(exc, str(path)) or ArchiveError(f"{path}: {exc}") from exc
    return db


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckResult:
    checked: tuple[str, ...]  # what was checked
    problems: tuple[str, ...]  # what is wrong, one line each
    not_checked: tuple[str, ...] = ()  # what was left out, and why


def check_archive(path: Path, *, quick: bool = False, full_text: bool = True) -> CheckResult:
    """Look for damage: SQLite's ``integrity_check`` (``quick_check`` with ``quick``:
    no index is compared with its table), rows whose parent row is missing, and, with
    ``full_text``, each FTS5 index against the stories."""
    checked: list[str] = []
    problems: list[str] = []
    db = _connect(path, "ro")
    try:
        pragma = "quick_check" if quick else "integrity_check"
        checked.append(pragma)
        try:
            rows = db.execute(f"PRAGMA {pragma}({MAX_PROBLEMS})").fetchall()
            problems += [str(r[0]) for r in rows if r[0] != "ok"]
        except sqlite3.Error as exc:  # damage that stops the check itself
            problems.append(f"{pragma} could not finish: {exc}")
        checked.append("references between tables")
        try:
            missing: dict[tuple[str, str], int] = {}
            for table, _, parent, _ in db.execute("PRAGMA foreign_key_check"):
                missing[table, parent] = missing.get((table, parent), 0) + 1
            problems += [
                f"{n} row{'s' if n != 1 else ''} of {table} refer to missing {parent} rows"
                for (table, parent), n in sorted(missing.items())
            ]
        except sqlite3.Error as exc:
            problems.append(f"the references could not be checked: {exc}")
        ids = _check_ids(db)
        if ids is not None:
            checked.append("story ids")
            problems += ids
        try:
            indexes = [
                r[0]
                for r in db.execute(
                    "SELECT name FROM sqlite_schema WHERE type = 'table'"
                    " AND sql LIKE 'CREATE VIRTUAL TABLE%USING fts5%'"
                )
            ]
        except sqlite3.Error as exc:
            indexes = []
            problems.append(f"the full-text indexes could not be listed: {exc}")
    finally:
        db.close()
    not_checked = []
    for name in indexes:
        if not full_text:
            not_checked.append(f"full-text index {name}")
            continue
        checked.append(f"full-text index {name}")
        problem = _check_fts(path, name)
        if problem:
            problems.append(f"full-text index {name}: {problem}")
    return CheckResult(
        checked=tuple(checked), problems=tuple(problems), not_checked=tuple(not_checked)
    )


def _check_fts(path: Path, name: str) -> str | None:
    """FTS5's integrity-check of index ``name``, compared with its content too (rank 1);
    rolled back, as it writes nothing. What is wrong, or None."""
    try:
        db = _connect(path, "rw")
    except ArchiveError as exc:
        return f"not checked: {exc}"
    try:
        db.execute("BEGIN")
        if name == "stories_fts" and _has_table(db, "stories_fts_pending"):
            flush_full_text(db)  # what another program wrote waits for our next write
        quoted = '"' + name.replace('"', '""') + '"'
        db.execute(f"INSERT INTO {quoted} ({quoted}, rank) VALUES ('integrity-check', 1)")
    except sqlite3.Error as exc:
        return f"{exc} (checked against the stories it indexes)"
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")
        db.close()
    return None


def _check_ids(db: sqlite3.Connection) -> list[str] | None:
    """The story-id index (its two tables, since migration 15) against the stories: a row
    for each story, no more; what is wrong, or None without the index."""
    try:
        if not _has_table(db, "story_ids"):
            return None
        unindexed, extra = db.execute(
            """
            SELECT count(*) FILTER (WHERE NOT EXISTS (
                    SELECT 1 FROM story_ids i WHERE i.id = s.id AND i.story_seq = s.seq)
                AND NOT EXISTS (
                    SELECT 1 FROM story_ids_new i WHERE i.id = s.id AND i.story_seq = s.seq)),
                (SELECT count(*) FROM story_ids) + (SELECT count(*) FROM story_ids_new)
                    - count(*)
            FROM stories s
            """
        ).fetchone()
    except sqlite3.Error as exc:
        return [f"the story ids could not be checked: {exc}"]
    problems = []
    if unindexed:
        problems.append(f"{unindexed} stories are missing from the story-id index")
    if extra + unindexed:  # rows that are no story's
        problems.append(f"the story-id index has {extra + unindexed} rows of no story")
    return problems


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    query = "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?"
    return db.execute(query, (name,)).fetchone() is not None


class Salvage:
    """The stories of a damaged archive that can still be read, in archive order.

    Stories are read one row at a time, so a damaged page costs only the rows on it: the
    table is scanned from both ends up to the damage, and each number between is looked
    up alone. ``skipped`` counts the rows that could not be read (after iterating);
    ``total`` is at most the number of stories there are.
    """

    def __init__(self, path: Path) -> None:
        self._db = _connect(path, "ro")
        self.skipped = 0
        try:
            try:  # the schema, on the first page: without it nothing can be found
                table = _has_table(self._db, "stories")
            except sqlite3.Error as exc:
                raise storage_fault(exc, str(path)) or ArchiveError(f"{path}: {exc}") from exc
            if not table:
                raise ArchiveError(f"{path}: no stories table: not an archive of the monitor")
            self._first, self._last, self._between = self._layout()
        except BaseException:
            self._db.close()
            raise
        self.total = len(self._first) + len(self._between) + len(self._last)

    def close(self) -> None:
        self._db.close()

    def __iter__(self) -> Iterator[Story]:
        for seq in (*self._first, *self._between, *self._last):
            story = self._read(seq, known=seq not in self._between)
            if story is not None:
                yield story

    def _scan(self, order: str) -> tuple[list[int], bool]:
        """Story numbers in this order until the damage; whether the scan got to the end."""
        seqs: list[int] = []
        try:
            for (seq,) in self._db.execute(f"SELECT seq FROM stories ORDER BY seq {order}"):
                seqs.append(int(seq))
        except sqlite3.Error:
            return seqs, False
        return seqs, True

    def _layout(self) -> tuple[list[int], list[int], range]:
        first, whole = self._scan("ASC")
        if whole:
            return first, [], range(0)
        last, _ = self._scan("DESC")
        last.reverse()
        low = first[-1] if first else 0
        # When the end of the table is damaged too: the highest number other tables know.
        high = last[0] if last else max([low, *self._numbers_elsewhere()]) + 1
        return first, last, range(low + 1, high)

    def _numbers_elsewhere(self) -> list[int]:
        found = []
        for table in ("story_sources", "story_keys", "matches", "alerts"):
            try:
                row = self._db.execute(f"SELECT max(story_seq) FROM {table}").fetchone()
            except sqlite3.Error:
                continue
            if row and isinstance(row[0], int):
                found.append(row[0])
        return found

    def _read(self, seq: int, *, known: bool) -> Story | None:
        """The story numbered ``seq``; None when it cannot be read (counted) or, for a
        number between the scans, when there is no such story."""
        for columns in (_STORY_COLUMNS, _BARE_COLUMNS):
            try:
                row = self._db.execute(
                    f"SELECT {columns} FROM stories s WHERE s.seq = ?", (seq,)
                ).fetchone()
            except sqlite3.Error:
                continue
            if row is None:
                if known:
                    break  # it was there a moment ago: the lookup meets damage the scan did not
                return None
            try:
                return story_from_row(row)
            except (TypeError, ValueError, AttributeError, OverflowError):
                break  # a row of the wrong shape: damaged too
        self.skipped += 1
        return None
