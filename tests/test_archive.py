from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive import PollRecord
from monitor.archive.migrations import MIGRATIONS
from monitor.archive.sqlite import SQLiteArchive
from monitor.dedupe import sketch, text_hash
from monitor.errors import ArchiveError, StoryNotFound
from monitor.pagetext import read_page_text
from monitor.tokens import tokenize
from monitor.types import Entry, Feed

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SEEDS = Path(__file__).parent / "fixtures" / "seeds"
FEEDS = [Feed(url=f"https://feeds.example/{n}", name=n) for n in ("alpha", "beta", "gamma")]


def entry(
    *,
    url: str = "",
    guid: str | None = None,
    headline: str = "Talks resume",
    body: tuple[str, ...] = (),
) -> Entry:
    body = body or (f"Officials said on Tuesday that talks about {headline.lower()} would resume.",)
    tokens = tokenize(" ".join([headline, *body]))
    return Entry(
        guid=guid,
        url=url,
        link=url,
        headline=headline,
        paragraphs=body,
        published=NOW - timedelta(hours=1),
        sketch=sketch(tokens),
        text_hash=text_hash(tokens),
        words=len(tokens),
    )


def seed_entry(url: str) -> Entry:
    headline, body = read_page_text(next(SEEDS.glob("003_*.txt")).read_text(encoding="utf-8"))
    return entry(url=url, headline=headline, body=tuple(body))


@pytest.fixture
def archive(tmp_path: Path) -> SQLiteArchive:
    db = SQLiteArchive(tmp_path / "archive" / "monitor.db")
    db.sync_feeds(FEEDS, NOW)
    return db


def test_new_schema_is_at_the_latest_version_and_in_wal_mode(archive: SQLiteArchive) -> None:
    conn = sqlite3.connect(archive.path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_refuses_an_archive_from_the_future(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(ArchiveError, match="newer than this program"):
        SQLiteArchive(path)


def test_same_guid_or_url_again_is_not_new(archive: SQLiteArchive) -> None:
    first = archive.store_entries(FEEDS[0].url, [entry(url="https://n.example/a", guid="1")], NOW)
    assert len(first.new) == 1
    again = archive.store_entries(FEEDS[0].url, [entry(url="https://n.example/a", guid="1")], NOW)
    assert (again.new, again.changed) == ((), ())
    by_guid = archive.store_entries(
        FEEDS[0].url, [entry(url="https://n.example/moved", guid="1")], NOW
    )
    assert by_guid.new == ()
    assert archive.count_stories() == 1


def test_changed_text_updates_the_story(archive: SQLiteArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(url="https://n.example/a")], NOW)
    later = NOW + timedelta(hours=1)
    result = archive.store_entries(
        FEEDS[0].url, [entry(url="https://n.example/a", headline="Talks resume (updated)")], later
    )
    assert [s.headline for s in result.changed] == ["Talks resume (updated)"]
    story = archive.get_story(result.changed[0].id)
    assert story.updated == later and story.first_seen == NOW
    assert archive.search('"updated"', limit=5)[0].id == story.id


def test_guids_are_scoped_to_their_feed(archive: SQLiteArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(guid="1", headline="First story")], NOW)
    result = archive.store_entries(FEEDS[1].url, [entry(guid="1", headline="Other story")], NOW)
    assert len(result.new) == 1


def test_same_url_from_two_feeds_is_one_story_with_two_sources(archive: SQLiteArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(url="https://n.example/a", guid="x")], NOW)
    result = archive.store_entries(
        FEEDS[1].url, [entry(url="https://n.example/a", guid="y", headline="Other")], NOW
    )
    assert (result.new, result.merged) == ((), 1)
    (story,) = archive.recent_stories(limit=10)
    assert story.sources == ("alpha", "beta")
    assert story.headline == "Talks resume"  # the other feed's text does not overwrite it


def test_near_identical_wire_copy_under_different_urls_is_one_story(archive: SQLiteArchive) -> None:
    archive.store_entries(FEEDS[0].url, [seed_entry("https://a.example/1")], NOW)
    copy = seed_entry("https://b.example/other-path")
    edited = (*copy.paragraphs[:-1], copy.paragraphs[-1] + " (Reporting by a wire service)")
    tokens = tokenize(" ".join([copy.headline, *edited]))
    copy = Entry(
        guid="b-1",
        url=copy.url,
        link=copy.url,
        headline=copy.headline,
        paragraphs=edited,
        published=copy.published,
        sketch=sketch(tokens),
        text_hash=text_hash(tokens),
        words=len(tokens),
    )
    result = archive.store_entries(FEEDS[2].url, [copy], NOW)
    assert result.new == () and result.merged == 1
    (story,) = archive.recent_stories(limit=10)
    assert story.sources == ("alpha", "gamma")
    # ...and the copy is now known by its own URL too.
    assert archive.store_entries(FEEDS[2].url, [copy], NOW).merged == 0


def test_different_stories_stay_apart(archive: SQLiteArchive) -> None:
    archive.store_entries(FEEDS[0].url, [seed_entry("https://a.example/1")], NOW)
    other = entry(url="https://a.example/2", headline="Harbour closed by storm")
    assert len(archive.store_entries(FEEDS[1].url, [other], NOW).new) == 1


def test_story_lookup_by_prefix_and_search(archive: SQLiteArchive) -> None:
    (story,) = archive.store_entries(FEEDS[0].url, [seed_entry("https://a.example/1")], NOW).new
    assert archive.get_story(story.id[:6]).id == story.id
    with pytest.raises(StoryNotFound):
        archive.get_story("ffffffffffffffff" if story.id[0] != "f" else "0000000000000000")
    with pytest.raises(StoryNotFound):
        archive.get_story("not-hex")
    assert [s.id for s in archive.search("NEAR(asean forum, 2)", limit=5)] == [story.id]
    assert archive.search("uighurs", limit=5)[0].id == story.id  # diacritics and case folded
    with pytest.raises(ArchiveError, match="bad search query"):
        archive.search('"unbalanced', limit=5)


def test_poll_state_round_trip_and_claims(archive: SQLiteArchive) -> None:
    claimed = archive.claim_due(NOW, owner="w1", lease_seconds=60, limit=10)
    assert len(claimed) == 3
    # Leased feeds are not handed to another worker.
    assert archive.claim_due(NOW, owner="w2", lease_seconds=60, limit=10) == []
    archive.record_poll(
        PollRecord(
            url=FEEDS[0].url,
            polled=NOW,
            next_poll=NOW + timedelta(minutes=15),
            ok=True,
            etag='W/"abc def"',
            last_modified="Tue, 10 Jun 2003 04:00:00 GMT",
            content_hash="h1",
        ),
        owner="w1",
    )
    archive.record_poll(
        PollRecord(url=FEEDS[1].url, polled=NOW, next_poll=NOW, ok=False, error="HTTP 500"),
        owner="w1",
    )
    states = {s.url: s for s in archive.feed_states()}
    ok = states[FEEDS[0].url]
    assert (ok.etag, ok.last_modified, ok.content_hash) == (
        'W/"abc def"',
        "Tue, 10 Jun 2003 04:00:00 GMT",
        "h1",
    )
    bad = states[FEEDS[1].url]
    assert (bad.error_count, bad.last_error, bad.failing_since) == (1, "HTTP 500", NOW)
    # Released feeds that are due can be claimed again; the one polled later is not due.
    due = archive.claim_due(NOW + timedelta(seconds=30), owner="w2", lease_seconds=60, limit=10)
    assert {s.url for s in due} == {FEEDS[1].url}
    # A lease that expired (crashed worker) is claimable.
    later = NOW + timedelta(minutes=2)
    assert {s.url for s in archive.claim_due(later, owner="w3", lease_seconds=60, limit=10)} == {
        FEEDS[1].url,
        FEEDS[2].url,
    }


def test_feeds_removed_from_config_become_inactive(archive: SQLiteArchive) -> None:
    archive.sync_feeds(FEEDS[:1], NOW)
    assert [s.url for s in archive.feed_states()] == [FEEDS[0].url]
    assert len(archive.feed_states(include_inactive=True)) == 3


def test_a_fuller_text_from_another_feed_replaces_the_story_text(archive: SQLiteArchive) -> None:
    url = "https://n.example/talks"
    teaser = entry(url=url, body=("Talks resume in Beijing.",))
    full = entry(
        url=url,
        body=("Talks resume in Beijing.", "The dialogue had been suspended over MFN status."),
    )
    archive.store_entries(FEEDS[0].url, [teaser], NOW)
    stored = archive.store_entries(FEEDS[1].url, [full], NOW)
    assert [s.paragraphs for s in stored.changed] == [full.paragraphs]
    (story,) = archive.recent_stories(limit=10)
    assert story.paragraphs == full.paragraphs and story.sources == ("alpha", "beta")
    # Each feed sending its version again changes nothing: the versions never take turns.
    for feed, again in ((FEEDS[0], teaser), (FEEDS[1], full), (FEEDS[0], teaser)):
        assert archive.store_entries(feed.url, [again], NOW).changed == ()
    # The feed whose text the story has may edit it, shorter or not; the other may not.
    corrected = entry(url=url, body=("Talks resume in Beijing on Monday.",))
    assert archive.store_entries(FEEDS[0].url, [corrected], NOW).changed == ()
    assert archive.store_entries(FEEDS[1].url, [corrected], NOW).changed != ()
    assert archive.recent_stories(limit=1)[0].paragraphs == corrected.paragraphs


def test_stories_from_before_text_feed_take_it_from_their_first_source(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = SQLiteArchive(path)
    db.sync_feeds(FEEDS, NOW)
    db.store_entries(FEEDS[0].url, [entry(url="https://n.example/a")], NOW)
    db.store_entries(FEEDS[1].url, [entry(url="https://n.example/a")], NOW)
    db.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE stories SET text_feed = NULL, text_words = NULL")
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()
    # Migration 6 and those after it again (their ALTERs would fail on existing columns:
    # drop them first).
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE stories DROP COLUMN text_feed")
    conn.execute("ALTER TABLE stories DROP COLUMN text_words")
    conn.execute("DROP INDEX story_keys_story")
    conn.execute("ALTER TABLE story_sources DROP COLUMN backlog")
    conn.execute("DROP INDEX matches_held")
    conn.execute("ALTER TABLE matches DROP COLUMN held")
    conn.commit()
    conn.close()
    migrated = SQLiteArchive(path)
    conn = sqlite3.connect(path)
    (text_feed,) = conn.execute("SELECT text_feed FROM stories").fetchone()
    (alpha,) = conn.execute("SELECT id FROM feeds WHERE url = ?", (FEEDS[0].url,)).fetchone()
    assert text_feed == alpha
    # A longer text from beta replaces it, its length counted from the stored text.
    longer = entry(
        url="https://n.example/a", body=("One more sentence than before, officials said.",) * 3
    )
    assert migrated.store_entries(FEEDS[1].url, [longer], NOW).changed != ()


def test_items_of_one_feed_under_other_guids_are_other_stories(archive: SQLiteArchive) -> None:
    # Every episode of a podcast links the show's page; a weblog's posts are fragments of
    # one page (canonical URLs drop fragments): their GUIDs tell them apart.
    show = "https://podcast.example/show"
    episodes = [
        entry(url=show, guid=f"episode-{n}", headline=f"Episode {n}", body=(f"Notes {n}.",))
        for n in (1, 2)
    ]
    first = archive.store_entries(FEEDS[0].url, episodes, NOW)
    assert len(first.new) == 2
    # Their third, in a later poll, and the same again: one more story, then none.
    third = entry(url=show, guid="episode-3", headline="Episode 3", body=("Notes 3.",))
    assert len(archive.store_entries(FEEDS[0].url, [*episodes, third], NOW).new) == 1
    assert archive.store_entries(FEEDS[0].url, [*episodes, third], NOW).new == ()
    # Near-identical text under another GUID of the same feed: another item too (a series
    # of posts that share most of their text).
    seed = seed_entry("https://n.example/daily")
    other = entry(url="https://n.example/daily-2", guid="b", headline=seed.headline,
                  body=seed.paragraphs)  # fmt: skip
    archive.store_entries(FEEDS[1].url, [entry(url=seed.url, guid="a", headline=seed.headline,
                                               body=seed.paragraphs)], NOW)  # fmt: skip
    assert len(archive.store_entries(FEEDS[1].url, [other], NOW).new) == 1
    # Another feed with the same URL is the same story, whatever its GUID.
    assert archive.store_entries(FEEDS[2].url, [entry(url=show, guid="x1", headline="Episode 1",
                                               body=("Notes 1.",))], NOW).new == ()  # fmt: skip
    assert archive.count_stories() == 5
