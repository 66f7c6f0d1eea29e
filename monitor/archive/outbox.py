"""Matches, alerts and the outbox in the SQLite archive.

An alert's id is derived from (story, topic, notifier), so recording the same
match again (a re-poll, another feed, a restart) inserts nothing. Immediate
alerts get an outbox row in the same transaction as the story: the new alerts
of one story for one notifier share one message (named after all their topics,
with the id of the first alert), so a story matching several topics is sent
once. A topic matched later (a new rule, an edited story, a held match released)
gets a message of its own naming only that topic; what was sent is never sent
again. Digest and
throttled alerts wait in a queue until their digest falls due. Outbox rows are
claimed with a lease, so a crashed deliverer's rows become claimable again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from monitor.archive import Router
from monitor.archive.db import Db, marks
from monitor.notify.message import topics_label
from monitor.owner import owner_gone
from monitor.types import Match, OutboxEntry, PlannedMatch, Story, TermHit

THROTTLE_WINDOW = 3600.0
# A time written more than this far after now was written before the clock went back.
CLOCK_SLACK = 60.0
log = logging.getLogger(__name__)


def alert_id(story_id: str, topic: str, notifier: str) -> str:
    return hashlib.sha256(f"alert\0{story_id}\0{topic}\0{notifier}".encode()).hexdigest()[:32]


def digest_id(topic: str, notifier: str, queue: str, due: datetime) -> str:
    key = f"digest\0{topic}\0{notifier}\0{queue}\0{due.timestamp():.0f}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def explanation_json(match: Match) -> str:
    return json.dumps(
        {
            "terms": [[h.term, h.field, h.span[0], h.span[1]] for h in match.terms],
            "snippet": match.snippet,
            "snippet_terms": [list(s) for s in match.snippet_terms],
        },
        ensure_ascii=False,
    )


def match_from_json(topic: str, text: str) -> Match:
    data = json.loads(text)
    return Match(
        topic=topic,
        terms=tuple(
            TermHit(term=t, field="title" if f == "title" else "body", span=(a, b))
            for t, f, a, b in data["terms"]
        ),
        snippet=data["snippet"],
        snippet_terms=tuple((a, b) for a, b in data["snippet_terms"]),
    )


def _utc(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def _dt(value: float | None) -> datetime | None:
    return None if value is None else _utc(value)


def gone_owners(db: Db, table: str, t: float) -> list[str]:
    """Owners of leases still running at ``t`` in ``table`` whose process has ended."""
    pending = " AND status = 'pending'" if table == "outbox" else ""  # sent ones hold none
    rows = db.execute(
        f"SELECT DISTINCT lease_owner FROM {table}"
        f" WHERE lease_until > ? AND lease_owner IS NOT NULL{pending}",
        (t,),
    ).fetchall()
    gone = [r[0] for r in rows if owner_gone(r[0])]
    for owner in gone:
        log.info("taking over the %s leases of %s, which has ended", table, owner)
    return gone


def outbox_entry(row: Any) -> OutboxEntry:
    return OutboxEntry(
        id=row["id"],
        notifier=row["notifier"],
        kind=row["kind"],
        topic=row["topic"],
        status=row["status"],
        created=_utc(row["created"]),
        next_attempt=_utc(row["next_attempt"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        sent_at=_dt(row["sent_at"]),
        headline=row["headline"] or "",
    )


ENTRY_COLUMNS = """
    o.*, (SELECT s.headline FROM alerts a JOIN stories s ON s.seq = a.story_seq
          WHERE a.outbox_id = o.id ORDER BY s.seq LIMIT 1) AS headline
"""


class OutboxStore:
    """Mixin for ``SQLArchive``: needs its connection and transaction helper."""

    _db: Db
    _tx: Callable[..., AbstractContextManager[Db]]
    _stories_by_seq: Callable[[Sequence[int]], list[Story]]
    _serialize: Callable[[Db], None]
    _renew: Callable[..., set[str]]

    # -- written with the story ---------------------------------------------------------------

    @staticmethod
    def _record_matches(
        db: Db,
        seq: int,
        story_id: str,
        planned: Sequence[PlannedMatch],
        t: float,
        *,
        quiet: bool = False,
    ) -> int:
        """Store matches and create their alerts; return how many alerts are new.

        ``quiet``: the story is backlog; its matches are recorded and nothing is alerted
        (a match held earlier stays held). Otherwise a plan's ``held`` reason marks the
        match as held, and clears when a plan routes it fully.
        """
        created = 0
        # The new immediate alerts per notifier, in plan order: one message each notifier.
        immediate: dict[str, list[tuple[str, str]]] = {}
        for plan in planned:
            topic = plan.match.topic
            db.execute(
                """
                INSERT INTO matches (story_seq, topic, matched_at, explanation, held)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (story_seq, topic) DO UPDATE SET explanation = excluded.explanation,
                    held = CASE WHEN ? THEN matches.held ELSE excluded.held END
                """,
                (seq, topic, t, explanation_json(plan.match), None if quiet else plan.held, quiet),
            )
            if quiet:
                continue
            for notifier in plan.notifiers:
                aid = alert_id(story_id, topic, notifier)
                queue = "digest" if plan.delivery == "digest" else None
                if queue is None and plan.max_per_hour is not None:
                    recent = db.execute(
                        """
                        SELECT count(*) FROM alerts WHERE topic = ? AND notifier = ?
                        AND created > ? AND queue IS NULL
                        """,
                        (topic, notifier, t - THROTTLE_WINDOW),
                    ).fetchone()[0]
                    if recent >= plan.max_per_hour:
                        queue = "throttled"  # the burst goes out as one digest instead
                inserted = db.execute(
                    """
                    INSERT INTO alerts (id, story_seq, topic, notifier, created, outbox_id, queue)
                    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id
                    """,
                    (aid, seq, topic, notifier, t, None if queue else aid, queue),
                ).fetchone()
                if inserted is None:
                    continue  # already alerted (or queued) for this story, topic and notifier
                created += 1
                if queue is None:
                    immediate.setdefault(notifier, []).append((aid, topic))
        for notifier, alerts in immediate.items():
            # The message takes the id of its first alert; the others point at it.
            oid = alerts[0][0]
            db.executemany(
                "UPDATE alerts SET outbox_id = ? WHERE id = ?", [(oid, a) for a, _ in alerts[1:]]
            )
            db.execute(
                """
                INSERT INTO outbox (id, notifier, kind, topic, created, next_attempt)
                VALUES (?, ?, 'alert', ?, ?, ?) ON CONFLICT (id) DO NOTHING
                """,
                (oid, notifier, topics_label(sorted(name for _, name in alerts)), t, t),
            )
        return created

    # -- held matches ---------------------------------------------------------------------------

    def release_held(self, route: Router, now: datetime) -> int:
        """Route every held match again and make the alerts it can now have; return how
        many alerts were made. A match stays held while ``route`` cannot route it fully."""
        query = """
            SELECT m.story_seq, m.topic, m.explanation, s.id FROM matches m
            JOIN stories s ON s.seq = m.story_seq
            WHERE m.held IS NOT NULL ORDER BY m.story_seq
        """
        # Asked at every delivery: look before taking the write lock, which polls need.
        if self._db.execute(query + " LIMIT 1").fetchone() is None:
            return 0
        t = now.timestamp()
        created = 0
        with self._tx() as db:
            self._serialize(db)
            plans: dict[tuple[int, str], list[PlannedMatch]] = {}
            for seq, topic, explanation, sid in db.execute(query).fetchall():
                plan = route(match_from_json(topic, explanation))
                if plan is not None:
                    plans.setdefault((seq, sid), []).append(plan)
            for (seq, sid), planned in plans.items():  # a story's released topics: one message
                created += self._record_matches(db, seq, sid, planned, t)
        return created

    def alerted_stories(self, seqs: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(seqs), 500):
            chunk = list(seqs[start : start + 500])
            found.update(
                r[0]
                for r in self._db.execute(
                    f"""
                    SELECT DISTINCT a.story_seq FROM alerts a JOIN outbox o ON o.id = a.outbox_id
                    WHERE o.status = 'sent' AND a.story_seq IN ({marks(len(chunk))})
                    """,
                    chunk,
                )
            )
        return found

    def held_matches(self) -> dict[str, tuple[int, str]]:
        """Per topic: how many matches wait for their alerts, and the latest reason why."""
        rows = self._db.execute(
            """
            SELECT m.topic, count(*), (
                SELECT h.held FROM matches h WHERE h.topic = m.topic AND h.held IS NOT NULL
                ORDER BY h.matched_at DESC LIMIT 1)
            FROM matches m WHERE m.held IS NOT NULL GROUP BY m.topic
            """
        ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    # -- delivery -------------------------------------------------------------------------------

    def enqueue_message(
        self,
        *,
        id: str,
        notifier: str,
        kind: str,
        topic: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> bool:
        """Queue a test or health message; False when one with this id exists already."""
        t = now.timestamp()
        with self._tx() as db:
            row = db.execute(
                """
                INSERT INTO outbox (id, notifier, kind, topic, payload, created, next_attempt)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id
                """,
                (id, notifier, kind, topic, json.dumps(payload), t, t),
            ).fetchone()
        return row is not None

    def claim_outbox(
        self, now: datetime, *, owner: str, lease_seconds: float, limit: int
    ) -> list[OutboxEntry]:
        t = now.timestamp()
        with self._tx() as db:
            gone = gone_owners(db, "outbox", t)
            # A message never tried, created later than now, was created before the clock
            # went back: it is due, whatever its next attempt says.
            rows = db.execute(
                f"""
                SELECT {ENTRY_COLUMNS} FROM outbox o
                WHERE o.status = 'pending'
                  AND (o.next_attempt <= ? OR (o.attempts = 0 AND o.created > ?))
                  AND (o.lease_until IS NULL OR o.lease_until <= ? OR o.lease_owner = ?
                       OR o.lease_owner IN ({marks(len(gone))}))
                  AND o.notifier NOT IN (
                      SELECT name FROM notifiers WHERE disabled_at IS NOT NULL)
                ORDER BY o.next_attempt, o.created LIMIT ?
                """,
                (t, t + CLOCK_SLACK, t, owner, *gone, limit),
            ).fetchall()
            db.executemany(
                "UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE id = ?",
                [(owner, t + lease_seconds, r["id"]) for r in rows],
            )
        return [outbox_entry(r) for r in rows]

    def renew_outbox(
        self, ids: Sequence[str], *, owner: str, now: datetime, lease_seconds: float
    ) -> set[str]:
        return self._renew(
            "outbox", "id", ids, owner, now, lease_seconds, " AND status = 'pending'"
        )

    def message_stories(self, outbox_id: str) -> list[tuple[Story, Match]]:
        """The stories of an alert or digest with their matches, in archive order."""
        rows = self._db.execute(
            """
            SELECT a.story_seq, a.topic, m.explanation FROM alerts a
            JOIN matches m ON m.story_seq = a.story_seq AND m.topic = a.topic
            WHERE a.outbox_id = ? ORDER BY a.story_seq, a.topic
            """,
            (outbox_id,),
        ).fetchall()
        stories = {s.seq: s for s in self._stories_by_seq([r["story_seq"] for r in rows])}
        return [
            (stories[r["story_seq"]], match_from_json(r["topic"], r["explanation"]))
            for r in rows
            if r["story_seq"] in stories
        ]

    def message_payload(self, outbox_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT payload FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
        return json.loads(row["payload"]) if row and row["payload"] else {}

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
        """Record a delivery outcome: sent (no error), retry at ``next_attempt``, or dead."""
        t = now.timestamp()
        with self._tx() as db:
            if error is None:
                db.execute(
                    """
                    UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,
                        last_error = NULL, lease_owner = NULL, lease_until = NULL
                    WHERE id = ? AND status = 'pending'
                    """,
                    (t, outbox_id),
                )
                return
            db.execute(
                """
                UPDATE outbox SET status = ?, attempts = attempts + ?, last_error = ?,
                    next_attempt = ?, lease_owner = NULL, lease_until = NULL
                WHERE id = ? AND status = 'pending'
                """,
                (
                    "dead" if dead else "pending",
                    1 if count_attempt else 0,
                    error,
                    (next_attempt or now).timestamp(),
                    outbox_id,
                ),
            )

    def list_outbox(self, statuses: Sequence[str], *, limit: int = 200) -> list[OutboxEntry]:
        rows = self._db.execute(
            f"""
            SELECT {ENTRY_COLUMNS} FROM outbox o WHERE o.status IN ({marks(len(statuses))})
            ORDER BY o.created DESC LIMIT ?
            """,
            (*statuses, limit),
        ).fetchall()
        return [outbox_entry(r) for r in rows]

    def retry_outbox(
        self, now: datetime, *, ids: Sequence[str] = (), all_dead: bool = False
    ) -> int:
        """Put dead (or pending) messages back to be sent now, with a fresh attempt count."""
        t = now.timestamp()
        with self._tx() as db:
            if all_dead:
                cursor = db.execute(
                    """
                    UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = ?,
                        created = ? WHERE status = 'dead'
                    """,
                    (t, t),
                )
                return cursor.rowcount
            changed = 0
            for prefix in ids:
                cursor = db.execute(
                    """
                    UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = ?,
                        created = ? WHERE id >= ? AND id < ? AND status IN ('dead', 'pending')
                    """,
                    (t, t, prefix, prefix + "g"),
                )
                changed += cursor.rowcount
            return changed

    def outbox_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        return {r[0]: r[1] for r in rows}

    # -- notifiers ------------------------------------------------------------------------------

    def disable_notifier(self, name: str, reason: str, now: datetime) -> None:
        with self._tx() as db:
            db.execute(
                """
                INSERT INTO notifiers (name, disabled_at, disabled_reason) VALUES (?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET disabled_at = excluded.disabled_at,
                    disabled_reason = excluded.disabled_reason
                """,
                (name, now.timestamp(), reason),
            )

    def enable_notifier(self, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM notifiers WHERE name = ?", (name,))

    def disabled_notifiers(self) -> dict[str, str]:
        rows = self._db.execute(
            "SELECT name, disabled_reason FROM notifiers WHERE disabled_at IS NOT NULL"
        ).fetchall()
        return {r[0]: r[1] or "" for r in rows}

    def digest_queues(self) -> Iterator[tuple[str, str, str, datetime, datetime | None]]:
        """(topic, notifier, queue, oldest queued alert, last due time) of every waiting queue."""
        rows = self._db.execute(
            """
            SELECT a.topic, a.notifier, a.queue, min(a.created) AS oldest, d.last_due
            FROM alerts a LEFT JOIN digests d
              ON d.topic = a.topic AND d.notifier = a.notifier AND d.queue = a.queue
            WHERE a.outbox_id IS NULL AND a.queue IS NOT NULL
            GROUP BY a.topic, a.notifier, a.queue, d.last_due
            """
        ).fetchall()
        for r in rows:
            oldest = _utc(r["oldest"])
            yield r["topic"], r["notifier"], r["queue"], oldest, _dt(r["last_due"])

    def create_digest(
        self, *, topic: str, notifier: str, queue: str, due: datetime, now: datetime
    ) -> str | None:
        """Move the queued alerts into one digest message due at ``due``; its id, or None."""
        did = digest_id(topic, notifier, queue, due)
        t = now.timestamp()
        with self._tx() as db:
            cursor = db.execute(
                """
                UPDATE alerts SET outbox_id = ?
                WHERE outbox_id IS NULL AND topic = ? AND notifier = ? AND queue = ?
                  AND created <= ?
                """,
                (did, topic, notifier, queue, due.timestamp()),
            )
            db.execute(
                """
                INSERT INTO digests (topic, notifier, queue, last_due) VALUES (?, ?, ?, ?)
                ON CONFLICT (topic, notifier, queue) DO UPDATE SET last_due = excluded.last_due
                """,
                (topic, notifier, queue, due.timestamp()),
            )
            if cursor.rowcount == 0:
                return None
            db.execute(
                """
                INSERT INTO outbox (id, notifier, kind, topic, created, next_attempt)
                VALUES (?, ?, 'digest', ?, ?, ?) ON CONFLICT (id) DO NOTHING
                """,
                (did, notifier, topic, t, t),
            )
        return did
