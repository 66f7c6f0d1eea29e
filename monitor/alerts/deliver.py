"""Delivering the outbox: claim due messages, send them, record each outcome.

Each notifier has its own sending thread, so a slow or failing receiver never
holds up the others; after a notifier's first failure in a batch the rest of its
messages wait for the next batch (unclaimed, no attempt counted) instead of
each waiting out its own timeout. Failures are retried with exponential backoff
and jitter, honouring Retry-After, until the attempt or age limit dead-letters
them. A message keeps its id on every attempt, so receivers can drop repeats.

Each outcome is recorded in its notifier's thread before that notifier sends the next
message. When the archive cannot record one (the disk is full), the outcome is held in
memory (``HeldOutcomes``) and nothing more is sent until every held outcome is recorded:
a message known to be sent is never claimed and sent again. Only a crash while one is
held (at most one per notifier) loses that knowledge, and the message goes out again
under its id after the restart, as one in flight at a crash does.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import partial

from monitor.alerts.retry import DeadLetter, after_failure
from monitor.archive import Archive
from monitor.clock import Clock
from monitor.config import DeliverySettings
from monitor.errors import LeaseLost, NotifierGone, NotifyError, PermanentFailure, StorageFault
from monitor.notify.message import AlertItem, Message, Notifier, topics_label
from monitor.rules import RuleSet
from monitor.rules.cadence import latest_due, parse_cadence
from monitor.types import Match, OutboxEntry, Story

log = logging.getLogger(__name__)
THROTTLE_CADENCE = "hourly"
# Long enough for a batch to one slow receiver; a crashed deliverer's claims expire after it.
LEASE_SECONDS = 900.0
DEFAULT_DIGEST = "daily 08:00"


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    deferred: int = 0  # not attempted: their notifier failed earlier in the batch or is disabled
    errors: tuple[str, ...] = ()
    held: int = 0  # outcomes the archive could not record yet, kept in memory


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """What became of one attempt to send a message, to be recorded in the outbox: sent (no
    ``error``), to be tried again at ``next_attempt``, or ``dead``."""

    outbox_id: str
    notifier: str
    at: datetime
    error: str | None = None
    next_attempt: datetime | None = None
    dead: bool = False
    count_attempt: bool = True
    disable: str | None = None  # the receiver is gone: the notifier is disabled, for this reason

    def record(self, archive: Archive, owner: str) -> None:
        if self.disable is not None:
            archive.disable_notifier(self.notifier, self.disable, self.at)
        try:
            archive.finish_delivery(
                self.outbox_id,
                owner=owner,
                now=self.at,
                error=self.error,
                next_attempt=self.next_attempt,
                dead=self.dead,
                count_attempt=self.count_attempt,
            )
        except LeaseLost as exc:  # the message is another worker's now: its outcome counts
            what = "sent" if self.error is None else "not sent"
            log.warning("%s (it was %s; its new owner may send it again)", exc, what)


class HeldOutcomes:
    """Outcomes the archive could not record, kept until it can.

    Shared by the deliverers of successive configurations (a reload builds a new one), so
    a reload while the disk is full forgets nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, Outcome] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)

    def hold(self, outcome: Outcome) -> None:
        with self._lock:
            self._held[outcome.outbox_id] = outcome

    def record(self, archive: Archive, owner: str) -> int:
        """Record the held outcomes, oldest first; how many. The first failure is raised,
        and what is left stays held."""
        with self._lock:
            waiting = list(self._held.values())
        for outcome in waiting:
            outcome.record(archive, owner)
            with self._lock:
                self._held.pop(outcome.outbox_id, None)
        return len(waiting)


def why_line(match: Match) -> str:
    terms = list(dict.fromkeys(h.term for h in match.terms))
    shown = ", ".join(f'"{t}"' if " " in t else t for t in terms[:8])
    more = f" and {len(terms) - 8} more" if len(terms) > 8 else ""
    return f"matched {shown}{more}" if terms else "matched the topic's query"


def alert_item(story: Story, match: Match, *more: Match) -> AlertItem:
    """One story of a message; with ``more`` matches, one item naming every topic: the
    snippet is the first match's, the terms are all of them, the why line one per topic."""
    matches = (match, *more)
    why = why_line(match)
    if more:
        why = "; ".join(f"{m.topic}: {why_line(m)}" for m in matches)
    return AlertItem(
        story_id=story.id,
        topic=topics_label([m.topic for m in matches]),
        topics=tuple(dict.fromkeys(m.topic for m in matches)),
        headline=story.headline,
        url=story.url,
        sources=story.sources,
        published=story.published,
        snippet=match.snippet,
        snippet_terms=match.snippet_terms,
        terms=tuple(dict.fromkeys(h for m in matches for h in m.terms)),
        why=why,
    )


def message_items(pairs: Sequence[tuple[Story, Match]]) -> tuple[AlertItem, ...]:
    """The items of an alert or digest: one per story, with all of its matches."""
    stories: dict[str, tuple[Story, list[Match]]] = {}
    for story, match in pairs:
        stories.setdefault(story.id, (story, []))[1].append(match)
    return tuple(alert_item(story, *matches) for story, matches in stories.values())


class Deliverer:
    def __init__(
        self,
        archive: Archive,
        notifiers: Mapping[str, Notifier],
        settings: DeliverySettings,
        *,
        owner: str,
        clock: Clock,
        jitter: Callable[[], float] = random.random,
        held: HeldOutcomes | None = None,
    ) -> None:
        self.archive = archive
        self.notifiers = notifiers
        self.settings = settings
        self.owner = owner
        self.clock = clock
        self.held = held if held is not None else HeldOutcomes()
        self._jitter = jitter
        self._threads = {name: ThreadPoolExecutor(1, f"notify-{name}") for name in notifiers}
        self._lock = threading.Lock()  # the notifier threads record outcomes one at a time

    def close(self) -> None:
        for pool in self._threads.values():
            pool.shutdown(wait=True)
        for notifier in self.notifiers.values():
            notifier.close()

    def message(self, entry: OutboxEntry) -> Message | None:
        """The message for an outbox entry, built from the archive as it is now."""
        if entry.kind in ("alert", "digest"):
            items = message_items(self.archive.message_stories(entry.id))
            if not items:
                return None
            topics = tuple(dict.fromkeys(t for item in items for t in item.topics))
            return Message(
                id=entry.id,
                kind=entry.kind,
                topic=topics_label(topics),
                topics=topics,
                items=items,
                created=entry.created,
            )
        payload = self.archive.message_payload(entry.id)
        return Message(
            id=entry.id,
            kind=entry.kind,
            topic=entry.topic,
            created=entry.created,
            title=str(payload.get("title", "")),
            text=str(payload.get("text", "")),
        )

    def run_once(self, *, limit: int = 200) -> DeliveryReport:
        """Send what is due now; return what happened.

        Outcomes held from earlier rounds are recorded first; while that fails, its error
        (a StorageFault, mostly) is raised and nothing is claimed or sent.
        """
        self.held.record(self.archive, self.owner)
        now = self.clock()
        entries = self.archive.claim_outbox(
            now, owner=self.owner, lease_seconds=LEASE_SECONDS, limit=limit
        )
        futures: dict[Future[None], OutboxEntry] = {}
        failed: set[str] = set()
        unrecorded = threading.Event()  # set: an outcome was held; the rest wait
        counts = {"sent": 0, "retrying": 0, "dead": 0, "deferred": 0}
        errors: list[str] = []
        by_notifier: dict[str, list[tuple[OutboxEntry, Message]]] = {}
        for entry in entries:
            notifier = self.notifiers.get(entry.notifier)
            # Nothing was sent: a failure to record these is raised, not held.
            if notifier is None:
                outcome = self._finish(entry, "notifier is not configured", counts=counts)
                outcome.record(self.archive, self.owner)
                continue
            message = self.message(entry)
            if message is None:
                outcome = self._finish(
                    entry, "its stories are no longer in the archive", permanent=True, counts=counts
                )
                outcome.record(self.archive, self.owner)
                continue
            by_notifier.setdefault(entry.notifier, []).append((entry, message))
        for name, batch in by_notifier.items():
            for entry, message in batch:
                job = partial(
                    self._deliver, name, entry, message, failed, unrecorded, counts, errors
                )
                futures[self._threads[name].submit(job)] = entry
        wait(futures)
        for future in futures:
            future.result()  # only a bug in _deliver itself raises here
        return DeliveryReport(**counts, errors=tuple(errors), held=len(self.held))

    def _deliver(
        self,
        name: str,
        entry: OutboxEntry,
        message: Message,
        failed: set[str],
        unrecorded: threading.Event,
        counts: dict[str, int],
        errors: list[str],
    ) -> None:
        """Send one message in its notifier's thread and record the outcome before the next
        is sent: a crash leaves at most one message per notifier sent but not recorded.

        Never raises: the run waits for every thread before the archive is used again.
        """
        if self.archive.shared and not self._still_mine(entry):
            counts["deferred"] += 1  # another worker has it now: its send counts
            return
        try:
            self._send(name, message, failed, unrecorded)
        except Exception as exc:
            outcome: Exception | None = exc
        else:
            outcome = None
        with self._lock:
            if outcome is None:
                self._record(Outcome(outbox_id=entry.id, notifier=name, at=self.clock()), errors)
                counts["sent"] += 1
            elif isinstance(outcome, _Skipped):
                try:
                    self.archive.finish_delivery(
                        entry.id,
                        owner=self.owner,
                        now=self.clock(),
                        error=entry.last_error or outcome.reason,
                        next_attempt=self.clock(),
                        count_attempt=False,
                    )
                except Exception:  # never sent: claimed again by this owner, or its lease ends
                    log.debug("cannot put back %s", entry.id, exc_info=True)
                counts["deferred"] += 1
            else:
                self._record(self._failure(entry, outcome, counts, errors), errors)
            if len(self.held):
                unrecorded.set()

    def _still_mine(self, entry: OutboxEntry) -> bool:
        """With workers sharing the outbox: renew the message's lease before it is sent (a
        batch to a slow receiver can outlast the lease it was claimed with); false when
        another worker holds it now, or when that cannot be told (it is sent later)."""
        with self._lock:
            try:
                held = self.archive.renew_outbox(
                    [entry.id], owner=self.owner, now=self.clock(), lease_seconds=LEASE_SECONDS
                )
            except Exception as exc:
                log.warning("cannot renew the claim on message %s: %s", entry.id, exc)
                return False
        return entry.id in held

    def _record(self, outcome: Outcome, errors: list[str]) -> None:
        """Record an outcome, or hold it when the archive cannot take it."""
        try:
            outcome.record(self.archive, self.owner)
        except Exception as exc:
            self.held.hold(outcome)
            what = "sent" if outcome.error is None else "failed"
            log.error(
                "cannot record that %s was %s (%s); kept in memory, and nothing more is sent "
                "until it is recorded",
                outcome.outbox_id,
                what,
                exc,
                exc_info=None if isinstance(exc, StorageFault) else exc,  # a bug: its traceback
            )
            errors.append(f"{outcome.notifier}: cannot record the delivery: {exc}")

    def _failure(
        self, entry: OutboxEntry, exc: Exception, counts: dict[str, int], errors: list[str]
    ) -> Outcome:
        if isinstance(exc, NotifierGone):
            log.error("notifier %s disabled: %s", entry.notifier, exc.reason)
            errors.append(str(exc))
            counts["deferred"] += 1
            now = self.clock()
            return Outcome(
                outbox_id=entry.id,
                notifier=entry.notifier,
                at=now,
                error=exc.reason,
                next_attempt=now,
                count_attempt=False,
                disable=exc.reason,
            )
        if isinstance(exc, PermanentFailure):
            errors.append(str(exc))
            return self._finish(entry, exc.reason, permanent=True, counts=counts)
        if isinstance(exc, NotifyError):
            errors.append(str(exc))
            return self._finish(entry, exc.reason, retry_after=exc.retry_after, counts=counts)
        # a bug in a notifier must not stop delivery
        log.error("notifier %s failed unexpectedly", entry.notifier, exc_info=exc)
        errors.append(f"{entry.notifier}: {exc!r}")
        return self._finish(entry, f"internal error: {exc!r}", counts=counts)

    def _send(
        self, name: str, message: Message, failed: set[str], unrecorded: threading.Event
    ) -> None:
        if unrecorded.is_set():
            raise _Skipped("deferred: a delivery could not be recorded")
        if name in failed:
            raise _Skipped("deferred: an earlier message to this notifier failed")
        try:
            self.notifiers[name].send(message)
        except Exception:
            failed.add(name)
            raise

    def _finish(
        self,
        entry: OutboxEntry,
        error: str,
        *,
        counts: dict[str, int],
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> Outcome:
        """The outcome of a failed attempt, as ``retry.after_failure`` decides it, counted
        and logged. ``permanent``: no attempt can work (dead-lettered at once)."""
        now = self.clock()
        fate = after_failure(
            attempts=entry.attempts + 1,
            created=entry.created,
            error=error,
            now=now,
            settings=self.settings,
            jitter=self._jitter(),
            permanent=permanent,
            retry_after=retry_after,
        )
        gave_up = isinstance(fate, DeadLetter)
        log.warning(
            "delivery to %s failed (%s)%s", entry.notifier, fate.error, "; dead" if gave_up else ""
        )
        counts["dead" if gave_up else "retrying"] += 1
        return Outcome(
            outbox_id=entry.id,
            notifier=entry.notifier,
            at=now,
            error=fate.error,
            next_attempt=fate.at,
            dead=gave_up,
        )


class _Skipped(Exception):
    """Not attempted in this batch."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, kw_only=True, slots=True)
class DigestRun:
    created: tuple[str, ...] = ()  # ids of the digest messages made
    failed: tuple[tuple[str, str], ...] = ()  # (topic, why) for each digest that could not be


def run_digests(
    archive: Archive, rules: RuleSet, now: datetime, *, zone: tzinfo = UTC
) -> DigestRun:
    """Turn every queue whose digest has fallen due into a digest message.

    A digest that fell due while the service was down goes out now, as one message
    holding everything queued up to the latest due time. Times of day in schedules
    ("daily 08:00") are in ``zone``. A queue that fails (a schedule that cannot be read,
    the archive refusing a write) is reported in ``failed`` and the other queues go on:
    one topic never holds up another's digests.
    """
    created: list[str] = []
    failed: dict[str, str] = {}
    for topic, notifier, queue, oldest, last_due in list(archive.digest_queues()):
        try:
            schedule = THROTTLE_CADENCE
            if queue == "digest":
                known = rules.topic(topic)
                schedule = (known.digest if known and known.digest else None) or DEFAULT_DIGEST
            due = latest_due(parse_cadence(schedule), last_due or oldest, now, zone)
            if due is None:
                continue
            digest = archive.create_digest(
                topic=topic, notifier=notifier, queue=queue, due=due, now=now
            )
        except Exception as exc:  # contained to this queue, like a failing feed
            failed.setdefault(topic, str(exc) or repr(exc))
            continue
        if digest is not None:
            created.append(digest)
    return DigestRun(created=tuple(created), failed=tuple(sorted(failed.items())))
