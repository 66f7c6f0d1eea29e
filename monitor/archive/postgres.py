"""The archive in PostgreSQL, shared by several ``monitor run`` workers.

Every look-up and write is ``SQLArchive``'s; what this backend adds is what sharing needs:

- Claims take rows with ``FOR UPDATE SKIP LOCKED`` (a worker never waits for, nor takes,
  what another is claiming) and at most ``limit`` of them. Leases are timed by the
  database's clock, so the workers' clocks need not agree.
- Completions are fenced: a poll record or a delivery outcome is stored only while the
  row is still leased to its worker (checked under the row's lock, which a claim takes
  too); one that comes after another worker claimed the work (the first was paused past
  its lease) is refused (``LeaseLost``) and changes nothing. A lease that ran out and was
  taken by nobody still counts: nobody's outcome is overwritten. Long polls renew their
  feeds' leases, and a delivery its message's before each send.
- Writes that look up before they write (storing stories: the decider reads what is
  archived, then writes what it decided; recording matches) take one transaction-scoped
  advisory lock, so two workers never both add the same story or alert.
- Work that must happen once (housekeeping) takes a lease row with ``exclusive``;
  feed-health alerts and digests are made once by their statements.
- Per-host politeness holds across workers through ``SharedHosts``: request slots per
  host and the spacing between requests, kept in tables.
- Full-text search uses a ``tsvector`` of the story's tokens, made by the rules' own
  tokenizer (SQLite FTS5's ``unicode61``), so a query finds what it finds in SQLite.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from monitor.archive import PollRecord
from monitor.archive.candidates import clip, tsquery, widen
from monitor.archive.db import Db, marks, translate_faults
from monitor.archive.outbox import ENTRY_COLUMNS, gone_owners, outbox_entry
from monitor.archive.postgres_schema import MIGRATIONS
from monitor.archive.sql import STORE_LOCK, SQLArchive, _feed_state
from monitor.dedupe import Decision, ReplaceText
from monitor.errors import ArchiveError, ArchiveMissing, ArchiveUnreachable, LeaseLost
from monitor.redact import redact_text, redact_url, remember_url
from monitor.rules.ast import Node
from monitor.text.tokens import tokenize
from monitor.types import FeedState, OutboxEntry

try:
    import psycopg
    from psycopg.rows import RowMaker
except ImportError:  # pragma: no cover - the extra is not installed
    psycopg = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# The database's clock, in Unix seconds as the archive stores times.
NOW = "extract(epoch FROM clock_timestamp())"
# Advisory lock key of schema upgrades (the others: sql.STORE_LOCK, SYNC_LOCK).
MIGRATE_LOCK = 0x6D6F6E69746F7202
# Housekeeping held by a worker that died is anybody's again after this long.
EXCLUSIVE_SECONDS = 3600.0
_LARGEST_VECTOR = 900_000  # and a tsvector of 1 MB or more
_PLACEHOLDER = re.compile(r"%|\?")


@functools.lru_cache(maxsize=1024)
def _pg_sql(sql: str) -> str:
    """The archive's SQL (``?`` placeholders) as psycopg takes it (``%s``; a ``%`` doubled)."""
    return _PLACEHOLDER.sub(lambda m: "%s" if m.group() == "?" else "%%", sql)


class Row(tuple[Any, ...]):
    """A row read by index or by column name, as ``sqlite3.Row`` is."""

    _names: ClassVar[Mapping[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self._names[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._names)


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"_names": {n: i for i, n in enumerate(names)}})


def _rows(cursor: Any) -> RowMaker[Row]:
    names = tuple(c.name for c in cursor.description or ())
    cls = _row_class(names)
    return lambda values: cls(values)


class PgDb:
    """A psycopg connection that takes the archive's SQL (``Db``)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.conn.execute(_pg_sql(sql), tuple(parameters))

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        cursor = self.conn.cursor()
        rows = [tuple(p) for p in parameters]
        if rows:
            cursor.executemany(_pg_sql(sql), rows)
        return cursor


def connect(url: str, *, read_only: bool = False) -> Any:
    """An autocommit connection to ``url`` whose rows read as ``Row``s."""
    if psycopg is None:
        raise ArchiveError(
            "a postgresql:// archive needs the PostgreSQL driver: "
            "pip install 'news-monitor[postgres]'"
        )
    remember_url(url)  # a password in it is masked wherever a message repeats it
    options = "-c default_transaction_read_only=on" if read_only else None
    try:
        conn = psycopg.connect(
            url, autocommit=True, row_factory=_rows, connect_timeout=10, options=options
        )
    except psycopg.OperationalError as exc:
        raise ArchiveUnreachable(redact_url(url), redact_text(_first_line(exc))) from exc
    except psycopg.Error as exc:  # a URL libpq cannot read: its message may quote it whole
        raise ArchiveError(
            f"{redact_url(url)}: not a PostgreSQL URL libpq can read ({type(exc).__name__})"
        ) from exc
    return conn


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@translate_faults
class PostgresArchive(SQLArchive):
    """The archive in a PostgreSQL database, for any number of workers at once.

    One instance is one connection, used by one thread at a time (as ``SQLiteArchive``).
    A connection that breaks is opened again at the next call; meanwhile calls raise
    ``ArchiveUnreachable``, a ``StorageFault``, so polls and deliveries wait as they do
    for a full disk.
    """

    shared = True
    _SKIP_LOCKED = " FOR UPDATE OF s SKIP LOCKED"
    _ONE_STATEMENT_EDITS = False  # no FTS5 here; psycopg pipelines the many statements
    _SOURCES = """(SELECT string_agg(f.name, chr(31) ORDER BY ss.first_seen, f.id)
        FROM story_sources ss JOIN feeds f ON f.id = ss.feed_id WHERE ss.story_seq = s.seq)"""
    _RETRY_SOURCES = """(SELECT string_agg(f.url || chr(30) || ss.link, chr(31)
            ORDER BY ss.first_seen, f.id)
        FROM story_sources ss JOIN feeds f ON f.id = ss.feed_id
        WHERE ss.story_seq = s.seq AND f.active AND NOT f.gone)"""

    @staticmethod
    def _search_words(headline: str, body: str) -> str | None:
        return tsvector(headline, body)

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.url = url
        self.path = redact_url(url)  # what messages name
        self.read_only = read_only
        self._batch_depth = 0
        self._conn = connect(url, read_only=read_only)
        self._db = PgDb(self._conn)
        try:
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _faults(self) -> Iterator[None]:
        if not self._batch_depth:  # a broken connection is opened again by the next call
            self._reconnect()
        try:
            yield
        except psycopg.OperationalError as exc:
            if self._conn.closed or self._conn.broken:
                raise ArchiveUnreachable(self.path, _first_line(exc)) from exc
            raise ArchiveError(f"{self.path}: {_first_line(exc)}") from exc

    def _reconnect(self) -> None:
        if self._conn.closed or self._conn.broken:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = connect(self.url, read_only=self.read_only)
            self._db = PgDb(self._conn)

    @contextmanager
    def _tx(self) -> Iterator[Db]:
        if self._batch_depth:
            yield self._db  # part of the batch's transaction
            return
        self._reconnect()
        with self._conn.transaction():
            self._batch_depth += 1  # what is called inside joins this transaction
            try:
                yield self._db
            finally:
                self._batch_depth -= 1

    def _migrate(self) -> None:
        exists = self._db.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        version = 0
        if exists[0]:
            version = self._db.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise ArchiveError(
                f"{self.path}: archive schema version {version} is newer than this program "
                f"knows ({len(MIGRATIONS)}); upgrade the monitor"
            )
        if version == len(MIGRATIONS):
            return
        if self.read_only:
            if version == 0:
                raise ArchiveMissing(self.path)
            raise ArchiveError(
                f"{self.path}: archive schema version {version} is older than this program's "
                f"({len(MIGRATIONS)}); `monitor run` or `monitor poll` upgrades it"
            )
        with self._tx() as db:
            # Workers starting together: one upgrades, the others wait and find it done.
            db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATE_LOCK,))
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
            version = db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[
                0
            ]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._conn.execute(script)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))

    def close(self) -> None:
        self._conn.close()

    def check_file(self) -> None:
        """A database server has no file to be deleted under it: nothing to check."""

    def _serialize(self, db: Db, lock: int = STORE_LOCK) -> None:
        db.execute("SELECT pg_advisory_xact_lock(?)", (lock,))

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Whether this worker is the one doing ``name`` now (housekeeping): true for one
        worker at a time; the others get false at once and skip it. A lease row, not a
        session lock, so it holds through a pooler that hands out sessions per transaction,
        and one whose holder died runs out after ``EXCLUSIVE_SECONDS``."""
        token = f"{os.getpid()}:{id(self)}:{time.monotonic_ns()}"
        got = self._db.execute(
            f"""
            INSERT INTO jobs (name, holder, until) VALUES (?, ?, {NOW} + ?)
            ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                WHERE jobs.until <= {NOW}
            RETURNING 1
            """,
            (name, token, EXCLUSIVE_SECONDS),
        ).fetchone()
        try:
            yield got is not None
        finally:
            if got is not None:
                with contextlib.suppress(psycopg.Error):
                    self._db.execute(
                        "UPDATE jobs SET until = 0 WHERE name = ? AND holder = ?", (name, token)
                    )

    def shared_hosts(self, owner: str) -> SharedHosts:
        return SharedHosts(self.url, owner)

    def vacuum(self) -> None:
        self._db.execute("VACUUM ANALYZE")

    # -- claims, on the database's clock ------------------------------------------------------

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
        t = now.timestamp()
        only = "" if urls is None else f"AND url IN ({marks(len(urls))})"
        with self._tx() as db:
            gone = gone_owners(db, "feeds", _db_now(db))
            rows = db.execute(
                f"""
                UPDATE feeds SET lease_owner = ?, lease_until = {NOW} + ?
                WHERE id IN (
                    SELECT id FROM feeds
                    WHERE active AND NOT gone {only}
                      AND (? OR next_poll IS NULL OR next_poll <= ?)
                      AND (lease_until IS NULL OR lease_until <= {NOW}
                           OR lease_owner IN ({marks(len(gone))}))
                    ORDER BY next_poll NULLS FIRST LIMIT ?
                    FOR UPDATE SKIP LOCKED)
                RETURNING *, 0 AS story_count
                """,
                (owner, lease_seconds, *(urls or ()), all_feeds, t, *gone, limit),
            ).fetchall()
        rows.sort(key=lambda r: (r["next_poll"] is not None, r["next_poll"] or 0.0))
        return [_feed_state(r) for r in rows]

    def record_poll(self, record: PollRecord, *, owner: str) -> None:
        with self._tx() as db:
            held = db.execute(
                "SELECT 1 FROM feeds WHERE url = ? AND lease_owner = ? FOR UPDATE",
                (record.url, owner),
            ).fetchone()
            if held is None:
                raise LeaseLost(f"feed {redact_url(record.url)}")
            super().record_poll(record, owner=owner)

    @staticmethod
    def _lease_until(now: datetime, lease_seconds: float) -> tuple[str, tuple[float, ...]]:
        return f"{NOW} + ?", (lease_seconds,)

    def claim_outbox(
        self, now: datetime, *, owner: str, lease_seconds: float, limit: int
    ) -> list[OutboxEntry]:
        t = now.timestamp()
        with self._tx() as db:
            gone = gone_owners(db, "outbox", _db_now(db))
            ids = [
                r[0]
                for r in db.execute(
                    f"""
                    UPDATE outbox SET lease_owner = ?, lease_until = {NOW} + ?
                    WHERE id IN (
                        SELECT id FROM outbox o
                        WHERE o.status = 'pending' AND o.next_attempt <= ?
                          AND (o.lease_until IS NULL OR o.lease_until <= {NOW}
                               OR o.lease_owner = ? OR o.lease_owner IN ({marks(len(gone))}))
                          AND o.notifier NOT IN (
                              SELECT name FROM notifiers WHERE disabled_at IS NOT NULL)
                        ORDER BY o.next_attempt, o.created LIMIT ?
                        FOR UPDATE SKIP LOCKED)
                    RETURNING id
                    """,
                    (owner, lease_seconds, t, owner, *gone, limit),
                )
            ]
        return self._entries(ids)

    def _entries(self, ids: Sequence[str]) -> list[OutboxEntry]:
        if not ids:
            return []
        rows = self._db.execute(
            f"SELECT {ENTRY_COLUMNS} FROM outbox o WHERE o.id IN ({marks(len(ids))})"
            " ORDER BY o.next_attempt, o.created",
            tuple(ids),
        ).fetchall()
        return [outbox_entry(r) for r in rows]

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
    ) -> None:
        with self._tx() as db:
            held = db.execute(
                "SELECT 1 FROM outbox WHERE id = ? AND lease_owner = ? FOR UPDATE",
                (outbox_id, owner),
            ).fetchone()
            if held is None:
                raise LeaseLost(f"message {outbox_id}")
            super().finish_delivery(
                outbox_id,
                owner=owner,
                now=now,
                error=error,
                next_attempt=next_attempt,
                dead=dead,
                count_attempt=count_attempt,
            )

    def clock_stepped(self, step: float, *, owner: str) -> None:
        """Nothing: leases are timed by the database's clock, and the due times are shared
        by every worker, so one worker's clock step moves none of them."""

    # -- full-text search ---------------------------------------------------------------------

    def _write(
        self, db: Db, feed_id: int, decision: Decision, ids: Mapping[int, str], t: float
    ) -> None:
        super()._write(db, feed_id, decision, ids, t)
        texts = [
            (u.seq, u.text.headline, u.text.body)
            for u in decision.updates
            if isinstance(u, ReplaceText)
        ]
        db.executemany(
            "UPDATE stories SET words = CAST(? AS tsvector) WHERE seq = ?",
            [(tsvector(headline, body), seq) for seq, headline, body in texts],
        )

    def _search_seqs(self, node: Node, *, before: int | None, limit: int) -> list[int] | None:
        wide = widen(node)
        if wide is None:
            return None
        rows = self._db.execute(
            # A story too large to index (words NULL) is a candidate of every query.
            "SELECT seq FROM stories WHERE (words @@ CAST(? AS tsquery) OR words IS NULL)"
            " AND seq < ?"
            " ORDER BY seq DESC LIMIT ?",
            (tsquery(wide), 2**62 if before is None else before, limit),
        ).fetchall()
        return [r[0] for r in rows]


def _db_now(db: Db) -> float:
    return float(db.execute(f"SELECT {NOW}").fetchone()[0])


def tsvector(headline: str, body: str) -> str | None:
    """The distinct tokens of a story's text as a ``tsvector`` literal (tokens are letters
    and digits, so none needs escaping); None when it would be too large to store."""
    words = {clip(w) for w in tokenize(headline)} | {clip(w) for w in tokenize(body)}
    literal = " ".join(f"'{w}'" for w in sorted(words))
    if len(literal.encode()) > _LARGEST_VECTOR:
        # Searched as a candidate of every query instead (words IS NULL).
        log.warning("a story has too many distinct words to index for search: not indexed")
        return None
    return literal


class SharedHosts:
    """Per-host request slots and spacing kept in the database, so ``per_host`` and
    ``host_spacing`` hold across every worker (``fetch.limits.HostLimits`` asks it). Its
    own connection: the archive's is inside the poll's transactions."""

    def __init__(self, url: str, owner: str) -> None:
        self._url = url
        self._owner = owner
        self._conn: Any = None

    def _db(self) -> PgDb:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self._url)
        return PgDb(self._conn)

    def _call(self, call: Callable[[PgDb], Any]) -> Any:
        try:
            return call(self._db())
        except psycopg.OperationalError as exc:
            raise ArchiveUnreachable(redact_url(self._url), _first_line(exc)) from exc

    def take_slot(self, host: str, slots: int, hold: float) -> int | None:
        """One of ``host``'s ``slots`` request slots, held for at most ``hold`` seconds
        (a dead worker's are free again then); None when every one is taken."""

        def take(db: PgDb) -> int | None:
            row = db.execute(
                f"""
                WITH free AS (
                    SELECT n FROM generate_series(0, CAST(? AS integer) - 1) AS n
                    WHERE n NOT IN (
                        SELECT slot FROM host_slots WHERE host = ? AND until > {NOW})
                    ORDER BY random() LIMIT 1)
                INSERT INTO host_slots (host, slot, owner, until)
                SELECT ?, n, ?, {NOW} + ? FROM free
                ON CONFLICT (host, slot) DO UPDATE
                    SET owner = excluded.owner, until = excluded.until
                    WHERE host_slots.until <= {NOW}
                RETURNING slot
                """,
                (slots, host, host, self._owner, hold),
            ).fetchone()
            return None if row is None else int(row[0])

        result: int | None = self._call(take)
        return result

    def give_slot(self, host: str, slot: int) -> None:
        self._call(
            lambda db: db.execute(
                "DELETE FROM host_slots WHERE host = ? AND slot = ? AND owner = ?",
                (host, slot, self._owner),
            )
        )

    def next_start(self, host: str, gap: float) -> float:
        """Book the next start of a request to ``host``, ``gap`` seconds after the one
        booked before (by any worker); the seconds to wait for it."""
        row = self._call(
            lambda db: db.execute(
                f"""
                INSERT INTO host_gates (host, next_start) VALUES (?, {NOW} + ?)
                ON CONFLICT (host) DO UPDATE
                    SET next_start = greatest(host_gates.next_start, {NOW}) + ?
                RETURNING next_start - ? - {NOW}
                """,
                (host, gap, gap, gap),
            ).fetchone()
        )
        return max(0.0, float(row[0]))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
