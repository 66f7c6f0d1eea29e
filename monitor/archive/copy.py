"""Moving a SQLite archive into PostgreSQL (``monitor archive copy --to postgresql://...``).

Every table is copied as it is, feed state, leases and outbox included, from one read
transaction of the SQLite file (a consistent snapshot) into one transaction of the new
database (all of it, or nothing); each story gets its search words on the way. The target
must be an empty archive. The counts of rows in both are compared at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from monitor.archive.postgres import PostgresArchive, tsvector
from monitor.archive.sqlite import SQLiteArchive
from monitor.errors import ArchiveError

# In an order that meets every foreign key.
TABLES = (
    "feeds",
    "stories",
    "story_keys",
    "story_sources",
    "story_minhash",
    "story_minhash_new",
    "matches",
    "outbox",
    "alerts",
    "digests",
    "notifiers",
    "service_status",
    "unmatched",
    "pruned_keys",
)
_BOOLEANS = {"active", "gone", "backlog", "news"}  # integers in SQLite, booleans here
_ROWS_PER_READ = 2000


@dataclass(frozen=True, slots=True)
class Copied:
    table: str
    source: int  # rows in the SQLite archive
    target: int  # rows in PostgreSQL after the copy


def copy_to_postgres(
    path: Path, url: str, *, progress: Callable[[str, int], None] | None = None
) -> list[Copied]:
    """Copy the SQLite archive at ``path`` into the empty PostgreSQL archive at ``url``
    (its schema is made if need be); the row counts of each table, on both sides.
    ArchiveError when the target holds anything or a count differs."""
    SQLiteArchive(path, read_only=True).close()  # exists, and is of this program's version
    source = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    target = PostgresArchive(url)
    try:
        source.execute("BEGIN")  # one snapshot of every table
        conn = target._conn
        with conn.transaction():
            for table in TABLES:
                if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
                    raise ArchiveError(
                        f"{target.path}: the target archive is not empty ({table} has rows); "
                        "copy into a new database"
                    )
            for table in TABLES:
                _copy_table(source, conn, table, progress)
            # Feeds keep their ids: new ones are numbered after them.
            conn.execute(
                "SELECT setval(pg_get_serial_sequence('feeds', 'id'),"
                " coalesce((SELECT max(id) FROM feeds), 0) + 1, false)"
            )
            counts = [
                Copied(
                    table,
                    source.execute(f"SELECT count(*) FROM {table}").fetchone()[0],
                    conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0],
                )
                for table in TABLES
            ]
            wrong = [c for c in counts if c.source != c.target]
            if wrong:  # rolls the copy back
                raise ArchiveError(
                    "the copy does not hold what the archive does: "
                    + ", ".join(f"{c.table} {c.target} of {c.source}" for c in wrong)
                )
        return counts
    finally:
        source.close()
        target.close()


def _copy_table(
    source: sqlite3.Connection,
    conn: Any,
    table: str,
    progress: Callable[[str, int], None] | None,
) -> None:
    target_columns = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        )
    }
    cursor = source.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cursor.description]
    missing = [n for n in names if n not in target_columns]
    if missing:
        raise ArchiveError(f"{table}: the PostgreSQL schema lacks {', '.join(missing)}")
    flags = [n in _BOOLEANS for n in names]
    words = table == "stories"
    columns = ", ".join(names + (["words"] if words else []))
    headline, body = (names.index("headline"), names.index("body")) if words else (0, 0)
    done = 0
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for rows in _chunks(cursor):
            for row in rows:
                values = [
                    bool(v) if flag and v is not None else v
                    for v, flag in zip(row, flags, strict=True)
                ]
                if words:
                    values.append(tsvector(row[headline], row[body]))
                copy.write_row(values)
            done += len(rows)
            if progress is not None:
                progress(table, done)


def _chunks(cursor: sqlite3.Cursor) -> Iterator[list[Any]]:
    while rows := cursor.fetchmany(_ROWS_PER_READ):
        yield rows
