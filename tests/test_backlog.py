"""New feeds don't flood: a feed's first poll alerts only recent items; the rest is archived."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive.sql import SQLArchive
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.poll.backlog import backlog_flags
from monitor.types import Entry, Feed, Match, PlannedMatch
from tests import builders
from tests.cli_project import run
from tests.feedserver import FeedServer
from tests.servers import Receiver

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("hook_secret")


def entry(n: int, published: datetime | None) -> Entry:
    return builders.entry(
        n,
        headline=f"Harbour story {n}",
        body=f"The harbour was closed on day {n}.",
        published=published,
    )


# -- which items are backlog (pure) ------------------------------------------------------------


def test_a_first_poll_alerts_only_what_is_recent() -> None:
    entries = [
        entry(1, NOW - timedelta(hours=2)),
        entry(2, NOW - timedelta(days=3)),
        entry(3, None),
        entry(4, NOW + timedelta(hours=1)),  # dated ahead (a clock or time zone off): news
    ]
    flags = backlog_flags(entries, first_poll=True, window=86400, now=NOW)
    assert flags == (False, True, True, False)


def test_later_polls_alert_everything_new_dated_or_not() -> None:
    entries = [entry(1, NOW - timedelta(days=300)), entry(2, None)]
    assert backlog_flags(entries, first_poll=False, window=86400, now=NOW) == ()


@pytest.mark.parametrize(
    ("window", "first_poll", "alerts", "expected"),
    [
        (math.inf, True, True, ()),  # backlog_alerts = "all"
        (0.0, True, True, (True, True)),  # "0s": none, whatever the dates
        (86400.0, False, False, (True, True)),  # poll --no-alerts
        (math.inf, True, False, (True, True)),
    ],
)
def test_settings_and_polls_without_alerts(
    window: float, first_poll: bool, alerts: bool, expected: tuple[bool, ...]
) -> None:
    entries = [entry(1, NOW), entry(2, NOW + timedelta(days=1))]
    flags = backlog_flags(entries, first_poll=first_poll, window=window, now=NOW, alerts=alerts)
    assert flags == expected


def test_backlog_alerts_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[schedule]\nbacklog_alerts = "3d"\n'
        '[[feeds]]\nurl = "https://a.example/rss"\n'
        '[[feeds]]\nurl = "https://b.example/rss"\nbacklog_alerts = "all"\n'
        '[[feeds]]\nurl = "https://c.example/rss"\nbacklog_alerts = "0s"\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.schedule.backlog_alerts == 3 * 86400
    assert [f.backlog_alerts for f in config.feeds] == [None, math.inf, 0.0]
    path.write_text("", encoding="utf-8")
    assert load_config(path).schedule.backlog_alerts == 86400
    path.write_text('[[feeds]]\nurl = "https://a.example/rss"\nbacklog_alerts = "some"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "feeds[0].backlog_alerts"
    assert 'expected a duration like "1d", "0s" for none, or "all"' in str(info.value)


# -- the archive: backlog is matched, never alerted ---------------------------------------------

FEEDS = [Feed(url="https://a.example/rss", name="A"), Feed(url="https://b.example/rss", name="B")]


def plan(headline: str, body: str, sources: Sequence[str]) -> list[PlannedMatch]:
    return [PlannedMatch(match=Match(topic="harbour", terms=()), notifiers=("hook",))]


@pytest.fixture
def archive(archive_url: str) -> Iterator[SQLArchive]:
    db = builders.archive_with(archive_url, FEEDS, NOW)
    try:
        yield db
    finally:
        db.close()


def test_backlog_is_matched_but_never_alerted(archive: SQLArchive) -> None:
    old = entry(1, NOW - timedelta(days=9))
    result = archive.store_entries(
        FEEDS[0].url, [old, entry(2, NOW)], NOW, matcher=plan, backlog=(True, False)
    )
    assert (len(result.new), result.alerts) == (2, 1)
    assert archive.topic_hits(NOW - timedelta(days=1)) == {"harbour": 2}
    # Edited later (matched again): still old news, as is its article read for it.
    edited = Entry(**{**_fields(old), "paragraphs": ("The harbour was closed again.",)})
    assert archive.store_entries(FEEDS[0].url, [edited], NOW, matcher=plan).alerts == 0
    assert archive.outbox_counts() == {"pending": 1}


def test_a_feed_that_brings_the_story_as_news_alerts_it(archive: SQLArchive) -> None:
    old = entry(1, NOW - timedelta(days=9))
    archive.store_entries(FEEDS[0].url, [old], NOW, matcher=plan, backlog=(True,))
    assert archive.store_entries(FEEDS[1].url, [old], NOW, matcher=plan).alerts == 1


def test_a_new_feeds_backlog_does_not_alert_a_story_again(archive: SQLArchive) -> None:
    story = entry(1, NOW - timedelta(days=9))

    def only_b(headline: str, body: str, sources: Sequence[str]) -> list[PlannedMatch]:
        # A topic limited to feed B: B carrying the story makes it match.
        if FEEDS[1].url not in sources:
            return []
        return [PlannedMatch(match=Match(topic="b only", terms=()), notifiers=("hook",))]

    archive.store_entries(FEEDS[0].url, [story], NOW, matcher=only_b)
    result = archive.store_entries(FEEDS[1].url, [story], NOW, matcher=only_b, backlog=(True,))
    assert result.alerts == 0
    assert archive.topic_hits(NOW - timedelta(days=1)) == {"b only": 1}


def _fields(e: Entry) -> dict[str, object]:
    return {name: getattr(e, name) for name in e.__dataclass_fields__}


# -- end to end: monitor poll against a loopback feed and a webhook receiver --------------------


def harbour_feed() -> builders.LiveFeed:
    """A feed about the harbour whose items a test adds between polls."""
    return builders.LiveFeed(
        title="H", guid="i", body="{headline}: the harbour was closed.", prolog=""
    )


def project(tmp_path: Path, url: str, hook: str, feed_options: str = "") -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "harbour.toml").write_text(
        "[[topic]]\nname = 'harbour'\nquery = 'harbour'\n", encoding="utf-8"
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f'[notifiers.hook]\ntype = "webhook"\nurl = "{hook}"\nsecret_env = "HOOK_SECRET"\n\n'
        f'[[feeds]]\nurl = "{url}"\nname = "Harbour"\n{feed_options}\n',
        encoding="utf-8",
    )
    return config


def headlines(receiver: Receiver) -> list[str]:
    return sorted(d["items"][0]["headline"] for d in receiver.deliveries)


def test_adding_a_feed_alerts_only_its_recent_items_then_everything_new(
    tmp_path: Path, feed_server: FeedServer, receiver: Receiver
) -> None:
    feed = harbour_feed()
    now = datetime.now(UTC)
    for n in range(3):
        feed.add(f"Old harbour story {n}", published=now - timedelta(days=30 + n))
    feed.add("Undated harbour story", published=None)
    feed.add("Fresh harbour story", published=now - timedelta(hours=2))
    feed_server.route("/h.xml", handler=feed.response)
    config = project(tmp_path, feed_server.url("/h.xml"), receiver.url)

    out = run(config, "poll", "--once")
    assert "5 new stories, 0 changed, 1 alert" in out
    assert headlines(receiver) == ["Fresh harbour story"]
    # Every item is archived and matched: hit counts count the backlog too.
    assert "harbour: 5 hits" in run(config, "rules", "test", "--since", "3650d")
    assert "    5 /     5  harbour" in run(config, "status")

    # From the second poll on, whatever is new is news, dated or not; an edited backlog
    # item (matched again) is still old news.
    feed.add("Another undated harbour story", published=None)
    feed.add("A late harbour story", published=now - timedelta(days=40))
    with feed.lock:
        headline, _, date = feed.items[0]
        feed.items[0] = (headline, "The harbour was closed for a month, officials said.", date)
    out = run(config, "poll", "--once")
    assert "2 new stories, 1 changed, 2 alerts" in out
    assert headlines(receiver) == [
        "A late harbour story",
        "Another undated harbour story",
        "Fresh harbour story",
    ]


@pytest.mark.parametrize(("setting", "alerted"), [('"all"', 3), ('"0s"', 0), ('"45d"', 2)])
def test_a_feed_sets_its_own_backlog(
    tmp_path: Path, feed_server: FeedServer, receiver: Receiver, setting: str, alerted: int
) -> None:
    feed = harbour_feed()
    now = datetime.now(UTC)
    feed.add("Harbour story from last month", published=now - timedelta(days=30))
    feed.add("Harbour story from two months ago", published=now - timedelta(days=60))
    feed.add("Harbour story of this morning", published=now - timedelta(hours=3))
    feed_server.route("/h.xml", handler=feed.response)
    config = project(
        tmp_path, feed_server.url("/h.xml"), receiver.url, f"backlog_alerts = {setting}"
    )
    assert f"3 new stories, 0 changed, {alerted} alert{'' if alerted == 1 else 's'}" in run(
        config, "poll", "--once"
    )
    assert len(receiver.deliveries) == alerted


def test_poll_without_alerts_archives_and_matches_only(
    tmp_path: Path, feed_server: FeedServer, receiver: Receiver
) -> None:
    feed = harbour_feed()
    now = datetime.now(UTC)
    feed.add("Harbour closed", published=now - timedelta(minutes=5))
    feed_server.route("/h.xml", handler=feed.response)
    config = project(tmp_path, feed_server.url("/h.xml"), receiver.url)
    out = run(config, "poll", "--once", "--no-alerts")
    assert "1 new story, 0 changed, 0 alerts" in out and "delivered" not in out
    db = sqlite3.connect(tmp_path / "archive" / "monitor.db")
    assert db.execute("SELECT count(*) FROM matches").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    db.close()
    feed.add("Harbour open again", published=now)
    assert "1 new story, 0 changed, 1 alert" in run(config, "poll", "--once")
    assert headlines(receiver) == ["Harbour open again"]


def test_the_sample_feeds_show_their_alerts_offline(project: Path) -> None:
    """The quick start: the bundled feeds (1994, 2002) say backlog_alerts = "all"."""
    out = run(project, "poll", "--once")
    assert "5 new stories, 0 changed, 4 alerts" in out and "delivered 2 messages" in out
    # The two reference stories match both topics: each arrives once, naming both.
    assert out.count("[MFN, human rights dialogue] ") == 2


def test_without_the_setting_the_sample_backlog_is_only_archived(project: Path) -> None:
    project.write_text(project.read_text().replace('backlog_alerts = "all"\n', ""))
    out = run(project, "poll", "--once")
    assert "5 new stories, 0 changed, 0 alerts" in out
    assert "MFN: 2 hits" in run(project, "rules", "test", "--since", "36500d")
