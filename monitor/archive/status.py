"""The running service's records in the SQLite archive: its status, leases after a crash or a
clock step, feed-health changes, and the counts `monitor status` and /metrics show."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from monitor.archive.db import Db


class StatusStore:
    """Mixin for ``SQLArchive``: needs its connection and transaction helper."""

    _db: Db
    _tx: Callable[..., AbstractContextManager[Db]]
    shared: bool

    def clock_stepped(self, step: float, *, owner: str) -> None:
        """The wall clock was stepped by ``step`` seconds (negative: back).

        After a step back, the times planned on the old clock (next polls and attempts,
        leases, Retry-After, the last polls they count from) move back with it, so every
        wait stays as long as it was planned. After a step forward they stay: what was
        due within the step is due now, early but never late; only ``owner``'s own leases
        move, since its work in flight is still its own.
        """
        with self._tx() as db:
            if step > 0:
                for table in ("feeds", "outbox"):
                    db.execute(
                        f"UPDATE {table} SET lease_until = lease_until + ? WHERE lease_owner = ?",
                        (step, owner),
                    )
                return
            db.execute(
                """
                UPDATE feeds SET next_poll = next_poll + ?, last_polled = last_polled + ?,
                    last_success = last_success + ?, failing_since = failing_since + ?,
                    retry_until = retry_until + ?, lease_until = lease_until + ?
                """,
                (step,) * 6,
            )
            db.execute(
                "UPDATE stories SET article_retry = article_retry + ?"
                " WHERE article_retry IS NOT NULL",
                (step,),
            )
            db.execute(
                """
                UPDATE outbox SET next_attempt = next_attempt + ?, lease_until = lease_until + ?
                WHERE status = 'pending'
                """,
                (step, step),
            )

    def release_leases(self, owner: str | None = None) -> None:
        """Forget ``owner``'s leases, or every lease (see ``Archive.release_leases``)."""
        if owner is None and self.shared:
            return  # the other workers' leases are theirs
        whose = "" if owner is None else " WHERE lease_owner = ?"
        with self._tx() as db:
            for table in ("feeds", "outbox"):
                db.execute(
                    f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL{whose}",
                    () if owner is None else (owner,),
                )

    def health_changes(self, now: datetime, failing_after: float) -> list[tuple[str, str, str]]:
        """Feeds to send a health alert about: (url, name, "failing" or "recovered").

        Each feed gets one alert when it has failed for ``failing_after`` seconds and one
        when it recovers: the flag that says which was sent is set by the statement that
        finds it, so of several workers asking at once one gets each change.
        """
        t = now.timestamp()
        with self._tx() as db:
            failing = db.execute(
                """
                UPDATE feeds SET health_alerted = ? WHERE active AND health_alerted IS NULL
                  AND failing_since IS NOT NULL AND failing_since <= ?
                RETURNING url, name
                """,
                (t, t - failing_after),
            ).fetchall()
            recovered = db.execute(
                """
                UPDATE feeds SET health_alerted = NULL
                WHERE health_alerted IS NOT NULL AND failing_since IS NULL
                RETURNING url, name
                """
            ).fetchall()
        failing.sort(key=lambda r: r[0])
        recovered.sort(key=lambda r: r[0])
        return [(r[0], r[1], "failing") for r in failing] + [
            (r[0], r[1], "recovered") for r in recovered
        ]

    def set_status(self, values: dict[str, Any], now: datetime) -> None:
        with self._tx() as db:
            db.executemany(
                """
                INSERT INTO service_status (key, value, updated) VALUES (?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated
                """,
                [(k, json.dumps(v), now.timestamp()) for k, v in values.items()],
            )

    def status(self) -> dict[str, Any]:
        rows = self._db.execute("SELECT key, value FROM service_status").fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    def feed_counts(self) -> tuple[int, int]:
        """Active feeds, and how many of them are failing."""
        row = self._db.execute(
            "SELECT count(*), count(*) FILTER (WHERE error_count > 0) FROM feeds WHERE active"
        ).fetchone()
        return int(row[0]), int(row[1])

    def topic_hits(self, since: datetime) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT topic, count(*) FROM matches WHERE matched_at >= ? GROUP BY topic",
            (since.timestamp(),),
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def stories_per_day(self, since: datetime, now: datetime) -> dict[str, float]:
        """Per feed URL, stories first carried since ``since``, per day."""
        days = max((now - since).total_seconds() / 86400, 1e-9)
        rows = self._db.execute(
            """
            SELECT f.url, count(*) FROM story_sources ss JOIN feeds f ON f.id = ss.feed_id
            WHERE ss.first_seen >= ? GROUP BY f.url
            """,
            (since.timestamp(),),
        ).fetchall()
        return {r[0]: r[1] / days for r in rows}

    # -- digests --------------------------------------------------------------------------------
