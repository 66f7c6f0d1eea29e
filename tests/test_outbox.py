"""The outbox: alerts written with their story, delivered once, retried, dead-lettered."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.alerts.deliver import Deliverer, HeldOutcomes, run_digests
from monitor.archive.sql import SQLArchive
from monitor.config import DeliverySettings
from monitor.errors import ArchiveError, ArchiveFull, NotifierGone, NotifyError, PermanentFailure
from monitor.notify.message import Message
from monitor.rules import RuleSet
from monitor.rules.files import ParsedTopic
from monitor.rules.parser import parse_query
from monitor.types import Entry, Feed, Match, PlannedMatch, TermHit, Topic
from tests import builders
from tests.backends import expire_leases, reopen
from tests.clock import FakeClock

T0 = datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
FEEDS = [Feed(url="https://a.example/rss", name="A"), Feed(url="https://b.example/rss", name="B")]


class FakeNotifier:
    """Records what it is sent; fails with the queued exceptions first."""

    def __init__(self, name: str, failures: Sequence[Exception] = ()) -> None:
        self.name = name
        self.failures = list(failures)
        self.sent: list[Message] = []
        self.attempts = 0

    def send(self, message: Message) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)

    def close(self) -> None:
        pass


def entry(n: int) -> Entry:
    return builders.entry(n, published=T0)


def matcher(
    notifiers: tuple[str, ...] = ("mail", "hook"),
    delivery: str = "immediate",
    max_per_hour: int | None = None,
):  # type: ignore[no-untyped-def]
    def plan(headline: str, body: str, sources: Sequence[str]) -> list[PlannedMatch]:
        hit = TermHit(term="talks", field="title", span=(headline.index("talks"), len(headline)))
        return [
            PlannedMatch(
                match=Match(topic="talks", terms=(hit,), snippet=body, snippet_terms=((4, 9),)),
                notifiers=notifiers,
                delivery=delivery,  # type: ignore[arg-type]
                max_per_hour=max_per_hour,
            )
        ]

    return plan


@pytest.fixture
def archive(archive_url: str) -> Iterator[SQLArchive]:
    archive = builders.archive_with(archive_url, FEEDS, T0)
    yield archive
    archive.close()


def deliverer(
    archive: SQLArchive, clock: FakeClock, *notifiers: FakeNotifier, **settings: float
) -> Deliverer:
    return Deliverer(
        archive,
        {n.name: n for n in notifiers},
        DeliverySettings(**settings),  # type: ignore[arg-type]
        owner="test",
        clock=clock,
        jitter=lambda: 0.5,
    )


def test_alerts_are_written_with_the_story_and_never_twice(archive: SQLArchive) -> None:
    result = archive.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=matcher())
    assert result.alerts == 2
    again = archive.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=matcher())
    other_feed = archive.store_entries(FEEDS[1].url, [entry(1)], T0, matcher=matcher())
    assert (again.alerts, other_feed.alerts) == (0, 0)
    assert other_feed.merged == 1
    reopened = reopen(archive)  # after a restart
    assert reopened.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=matcher()).alerts == 0
    assert reopened.outbox_counts() == {"pending": 2}


def test_each_alert_is_delivered_once_with_its_story(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1), entry(2)], T0, matcher=matcher())
    clock = FakeClock(T0)
    mail, hook = FakeNotifier("mail"), FakeNotifier("hook")
    report = deliverer(archive, clock, mail, hook).run_once()
    assert report.sent == 4
    assert sorted(m.items[0].headline for m in mail.sent) == [
        "Story 1 about talks",
        "Story 2 about talks",
    ]
    item = mail.sent[0].items[0]
    assert (
        item.sources == ("A",) and item.why == "matched talks" and item.snippet_terms == ((4, 9),)
    )
    assert mail.sent[0].id != hook.sent[0].id
    assert deliverer(archive, clock, mail, hook).run_once().sent == 0
    assert len(mail.sent) == 2


def test_failures_back_off_then_succeed_exactly_once(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=matcher(("hook",)))
    clock = FakeClock(T0)
    hook = FakeNotifier("hook", [NotifyError("hook", "HTTP 500")] * 3)
    d = deliverer(archive, clock, hook, backoff=10, max_backoff=1000)
    waits = []
    for _ in range(3):
        assert d.run_once().retrying == 1
        (pending,) = archive.list_outbox(["pending"])
        waits.append((pending.next_attempt - clock.now).total_seconds())
        assert d.run_once().sent == 0  # not due yet
        clock.now = pending.next_attempt
    assert waits == [10.0, 20.0, 40.0]  # doubling (jitter fixed at 1.0x)
    assert d.run_once().sent == 1
    assert len(hook.sent) == 1 and hook.attempts == 4
    (sent,) = archive.list_outbox(["sent"])
    assert sent.attempts == 4 and sent.last_error is None


def test_retry_after_is_honoured(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=matcher(("hook",)))
    clock = FakeClock(T0)
    hook = FakeNotifier("hook", [NotifyError("hook", "HTTP 429", retry_after=600)])
    deliverer(archive, clock, hook, backoff=10).run_once()
    (pending,) = archive.list_outbox(["pending"])
    assert pending.next_attempt == T0 + timedelta(seconds=600)


def test_dead_letters_and_retry(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=matcher(("hook",)))
    clock = FakeClock(T0)
    hook = FakeNotifier("hook", [NotifyError("hook", "HTTP 500")] * 3)
    d = deliverer(archive, clock, hook, max_attempts=3, backoff=1)
    for _ in range(3):
        d.run_once()
        clock.advance(3600)
    (dead,) = archive.list_outbox(["dead"])
    assert "gave up after 3 attempts" in (dead.last_error or "")
    assert archive.retry_outbox(clock.now, all_dead=True) == 1
    assert d.run_once().sent == 1


def test_permanent_failure_is_dead_at_once(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=matcher(("mail",)))
    mail = FakeNotifier("mail", [PermanentFailure("mail", "550 no such user")])
    assert deliverer(archive, FakeClock(T0), mail).run_once().dead == 1


def test_one_failing_notifier_never_delays_the_others(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(n) for n in range(5)], T0, matcher=matcher())
    mail = FakeNotifier("mail", [NotifyError("mail", "connection refused")] * 100)
    hook = FakeNotifier("hook")
    report = deliverer(archive, FakeClock(T0), mail, hook).run_once()
    assert len(hook.sent) == 5
    assert mail.attempts == 1  # its other messages wait for the next batch
    assert (report.sent, report.retrying, report.deferred) == (5, 1, 4)


def test_gone_disables_the_notifier_and_keeps_its_messages(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=matcher(("hook",)))
    clock = FakeClock(T0)
    hook = FakeNotifier("hook", [NotifierGone("hook", "410 Gone")])
    deliverer(archive, clock, hook).run_once()
    assert archive.disabled_notifiers() == {"hook": "410 Gone"}
    assert deliverer(archive, clock, hook).run_once().sent == 0
    archive.enable_notifier("hook")
    assert deliverer(archive, clock, hook).run_once().sent == 1


def test_a_crashed_deliverers_claims_expire(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=matcher(("hook",)))
    assert len(archive.claim_outbox(T0, owner="crashed", lease_seconds=60, limit=10)) == 1
    clock = FakeClock(T0)
    hook = FakeNotifier("hook")
    assert deliverer(archive, clock, hook).run_once().sent == 0  # still leased
    clock.advance(61)
    expire_leases(archive)  # 60 s on the clock that times them
    assert deliverer(archive, clock, hook).run_once().sent == 1


def rules_with(topic: Topic) -> RuleSet:
    return RuleSet.build([ParsedTopic(topic=topic, query=parse_query(topic.query), exclude=None)])


def test_digest_collects_matches_and_goes_out_when_due(archive: SQLArchive) -> None:
    rules = rules_with(Topic(name="talks", query="talks", delivery="digest", digest="daily 08:00"))
    archive.store_entries(
        FEEDS[0].url, [entry(1), entry(2)], T0, matcher=matcher(("mail",), delivery="digest")
    )
    assert archive.outbox_counts() == {}
    assert run_digests(archive, rules, T0 + timedelta(minutes=10)).created == ()
    (digest,) = run_digests(archive, rules, T0 + timedelta(minutes=31)).created
    assert run_digests(archive, rules, T0 + timedelta(minutes=32)).created == ()
    clock = FakeClock(T0)
    clock.now = T0 + timedelta(minutes=31)
    mail = FakeNotifier("mail")
    deliverer(archive, clock, mail).run_once()
    (message,) = mail.sent
    assert message.kind == "digest" and message.id == digest and len(message.items) == 2
    assert message.subject == "[talks] 2 new stories"


def test_a_daily_digest_is_due_at_that_time_in_the_configured_zone(
    archive: SQLArchive,
) -> None:
    rules = rules_with(Topic(name="talks", query="talks", delivery="digest", digest="daily 08:00"))
    archive.store_entries(
        FEEDS[0].url, [entry(1)], T0, matcher=matcher(("mail",), delivery="digest")
    )
    berlin = ZoneInfo("Europe/Berlin")  # T0, 07:30 UTC, is 08:30 there in November
    assert run_digests(archive, rules, T0 + timedelta(minutes=31), zone=berlin).created == ()
    tomorrow_8am = datetime(2026, 11, 3, 7, 0, tzinfo=UTC)
    assert not run_digests(archive, rules, tomorrow_8am - timedelta(minutes=1), zone=berlin).created
    assert len(run_digests(archive, rules, tomorrow_8am, zone=berlin).created) == 1


def test_digest_missed_while_down_goes_out_at_next_start(archive: SQLArchive) -> None:
    rules = rules_with(Topic(name="talks", query="talks", delivery="digest", digest="daily 08:00"))
    archive.store_entries(
        FEEDS[0].url, [entry(1)], T0, matcher=matcher(("mail",), delivery="digest")
    )
    three_days_later = T0 + timedelta(days=3)
    assert len(run_digests(archive, rules, three_days_later).created) == 1
    assert archive.outbox_counts() == {"pending": 1}


def test_a_burst_over_the_hourly_limit_becomes_one_digest(archive: SQLArchive) -> None:
    rules = rules_with(Topic(name="talks", query="talks", max_per_hour=2))
    plan = matcher(("mail",), max_per_hour=2)
    archive.store_entries(FEEDS[0].url, [entry(n) for n in range(6)], T0, matcher=plan)
    assert archive.outbox_counts() == {"pending": 2}
    assert len(run_digests(archive, rules, T0 + timedelta(minutes=31)).created) == 1
    clock = FakeClock(T0)
    clock.now = T0 + timedelta(minutes=31)
    mail = FakeNotifier("mail")
    deliverer(archive, clock, mail).run_once()
    assert sorted(len(m.items) for m in mail.sent) == [1, 1, 4]


def test_a_delivery_that_cannot_be_recorded_is_held_and_never_sent_twice(
    archive: SQLArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1), entry(2)], T0, matcher=matcher())
    mail, hook = FakeNotifier("mail"), FakeNotifier("hook")
    record = archive.finish_delivery
    calls = 0

    def flaky(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ArchiveError("database is locked")
        record(*args, **kwargs)

    monkeypatch.setattr(archive, "finish_delivery", flaky)
    send = deliverer(archive, FakeClock(T0), mail, hook)
    report = send.run_once()
    # The run finished; the outcome it could not record is held, and what was not sent
    # yet waits (the other notifier's thread may have sent one more meanwhile).
    assert report.held == 1 and any("cannot record the delivery" in e for e in report.errors)
    first = [m.id for m in mail.sent + hook.sent]
    assert len(first) == len(set(first)) < 4
    report = send.run_once()  # records the held outcome first, then sends the rest
    assert report.held == 0
    ids = [m.id for m in mail.sent + hook.sent]
    assert len(ids) == len(set(ids)) == 4
    assert archive.outbox_counts() == {"sent": 4}


def test_an_outcome_held_over_a_reload_is_recorded_by_the_new_deliverer(
    archive: SQLArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service builds a new deliverer on reload; it shares the held outcomes, so a
    message sent while the disk was full is recorded, not sent again."""
    archive.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=matcher(("mail",)))
    record = archive.finish_delivery

    def full(*args: Any, **kwargs: Any) -> None:
        raise ArchiveFull(str(archive.path), "database or disk is full")

    monkeypatch.setattr(archive, "finish_delivery", full)
    held = HeldOutcomes()
    mail = FakeNotifier("mail")
    old = Deliverer(
        archive, {"mail": mail}, DeliverySettings(), owner="test", clock=FakeClock(T0), held=held
    )
    assert old.run_once().held == 1 and len(mail.sent) == 1
    with pytest.raises(ArchiveFull):  # still full: nothing is claimed, nothing sent
        old.run_once()
    old.close()
    monkeypatch.setattr(archive, "finish_delivery", record)
    new = Deliverer(
        archive, {"mail": mail}, DeliverySettings(), owner="test", clock=FakeClock(T0), held=held
    )
    report = new.run_once()
    assert report.sent == 0 and report.held == 0 and len(mail.sent) == 1
    assert archive.outbox_counts() == {"sent": 1}


def test_a_digest_that_fails_never_holds_up_the_others(
    archive: SQLArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One topic's digest cannot be made (a schedule that does not read, here built in code
    past the rule compiler; or the archive refusing it): the other topics' go out."""
    topics = [
        Topic(name="broken", query="talks", delivery="digest", digest="daily 25:00"),
        Topic(name="refused", query="talks", delivery="digest", digest="hourly"),
        Topic(name="fine", query="talks", delivery="digest", digest="hourly"),
    ]
    rules = RuleSet.build(
        [ParsedTopic(topic=t, query=parse_query(t.query), exclude=None) for t in topics]
    )

    def plan(headline: str, body: str, sources: Sequence[str]) -> list[PlannedMatch]:
        match = Match(topic="", terms=())
        return [
            PlannedMatch(match=replace(match, topic=t.name), notifiers=("mail",), delivery="digest")
            for t in topics
        ]

    archive.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=plan)
    create = archive.create_digest

    def refuse(*, topic: str, **kwargs: Any) -> str | None:
        if topic == "refused":
            raise ArchiveError("disk I/O error")
        return create(topic=topic, **kwargs)

    monkeypatch.setattr(archive, "create_digest", refuse)
    run = run_digests(archive, rules, T0 + timedelta(hours=1))
    assert len(run.created) == 1 and archive.list_outbox(["pending"])[0].topic == "fine"
    assert dict(run.failed) == {
        "broken": "expected a time of day like 08:00, got 'daily 25:00'",
        "refused": "disk I/O error",
    }


def two_topics(talks_per_hour: int | None = None):  # type: ignore[no-untyped-def]
    """Every story matches "talks" (at most ``talks_per_hour``) and "world", by mail."""

    def plan(headline: str, body: str, sources: Sequence[str]) -> list[PlannedMatch]:
        hit = TermHit(term="talks", field="title", span=(headline.index("talks"), len(headline)))
        return [
            PlannedMatch(
                match=Match(topic=topic, terms=(hit,), snippet=body, snippet_terms=((4, 9),)),
                notifiers=("mail",),
                delivery="immediate",
                max_per_hour=limit,
            )
            for topic, limit in (("world", None), ("talks", talks_per_hour))
        ]

    return plan


def test_a_story_matching_two_topics_is_one_message_naming_both(archive: SQLArchive) -> None:
    assert archive.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=two_topics()).alerts == 2
    assert archive.outbox_counts() == {"pending": 1}
    clock, mail = FakeClock(T0), FakeNotifier("mail")
    assert deliverer(archive, clock, mail).run_once().sent == 1
    (message,) = mail.sent
    assert message.topics == ("talks", "world") and message.topic == "talks, world"
    assert message.subject == "[talks, world] Story 1 about talks"
    (item,) = message.items
    assert item.why == "talks: matched talks; world: matched talks" and len(item.terms) == 1
    # Again, from another feed, and after a restart: nothing more.
    archive.store_entries(FEEDS[1].url, [entry(1)], T0, matcher=two_topics())
    reopened = reopen(archive)
    assert reopened.store_entries(FEEDS[0].url, [entry(1)], T0, matcher=two_topics()).alerts == 0
    assert deliverer(reopened, clock, mail).run_once().sent == 0
    assert reopened.outbox_counts() == {"sent": 1}


def test_the_hourly_limit_still_counts_per_topic(archive: SQLArchive) -> None:
    """ "talks" allows one an hour: the second story's message names only "world", and its
    "talks" alert waits for the hourly digest of that topic."""
    plan = two_topics(talks_per_hour=1)
    archive.store_entries(FEEDS[0].url, [entry(1), entry(2)], T0, matcher=plan)
    clock, mail = FakeClock(T0), FakeNotifier("mail")
    deliverer(archive, clock, mail).run_once()
    assert sorted((m.topic, m.items[0].headline) for m in mail.sent) == [
        ("talks, world", "Story 1 about talks"),
        ("world", "Story 2 about talks"),
    ]
    rules = rules_with(Topic(name="talks", query="talks", max_per_hour=1))
    (digest,) = run_digests(archive, rules, T0 + timedelta(minutes=31)).created
    clock.now = T0 + timedelta(minutes=31)
    deliverer(archive, clock, mail).run_once()
    last = mail.sent[-1]
    assert last.id == digest and last.kind == "digest" and last.topics == ("talks",)
    assert [i.headline for i in last.items] == ["Story 2 about talks"]
