from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive import PollRecord, sql
from monitor.archive.migrations import MIGRATIONS
from monitor.archive.search import search
from monitor.archive.sql import UNSKETCHED, SQLArchive
from monitor.archive.sqlite import PAGE_SIZE, SQLiteArchive
from monitor.archive.sqlite_check import check_archive
from monitor.config import ScheduleSettings
from monitor.errors import ArchiveError, StoryNotFound
from monitor.poll.schedule import replanner
from monitor.text.fingerprint import probes as fingerprint_probes
from monitor.text.pagetext import read_page_text
from monitor.types import Entry, Feed, Match, PlannedMatch
from tests import builders
from tests.backends import expire_leases

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
    return builders.entry(
        url=url,
        guid=guid,
        headline=headline,
        body=body,
        published=NOW - timedelta(hours=1),
        fingerprint=True,
    )


def seed_entry(url: str) -> Entry:
    headline, body = read_page_text(next(SEEDS.glob("003_*.txt")).read_text(encoding="utf-8"))
    return entry(url=url, headline=headline, body=tuple(body))


@pytest.fixture
def archive(archive_url: str) -> Iterator[SQLArchive]:
    archive = builders.archive_with(archive_url, FEEDS, NOW)
    yield archive
    archive.close()


def record(archive: SQLArchive, poll: PollRecord, owner: str = "w") -> None:
    """Store a poll outcome as a worker does: under its claim of the feed (a shared archive
    refuses one from a worker that holds none)."""
    claim = archive.claim_due(
        poll.polled, owner=owner, lease_seconds=60, limit=1, all_feeds=True, urls=[poll.url]
    )
    assert [s.url for s in claim] == [poll.url]
    archive.record_poll(poll, owner=owner)


def found(archive: SQLArchive, query: str) -> list[str]:
    """The ids of the stories ``monitor search`` finds for ``query``, newest first."""
    return [hit.story.id for hit in search(archive, query, limit=5)]


@pytest.mark.sqlite_only
def test_new_schema_is_at_the_latest_version_and_in_wal_mode(archive: SQLiteArchive) -> None:
    conn = sqlite3.connect(archive.path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE


def test_an_archive_keeps_the_page_size_it_was_made_with(tmp_path: Path) -> None:
    # Pages are 16 KB in a new archive; an older one, made with 4 KB pages, is migrated and
    # written as it is (its page size is fixed once it has been written).
    path = tmp_path / "old.db"
    _version_5_archive(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096 != PAGE_SIZE
    conn.close()
    archive = SQLiteArchive(path)
    try:
        archive.store_entries(FEEDS[0].url, [entry(url="https://n.example/new", guid="9")], NOW)
        assert archive.count_stories() == 3
    finally:
        archive.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_refuses_an_archive_from_the_future(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(ArchiveError, match="newer than this program"):
        SQLiteArchive(path)


def test_same_guid_or_url_again_is_not_new(archive: SQLArchive) -> None:
    first = archive.store_entries(FEEDS[0].url, [entry(url="https://n.example/a", guid="1")], NOW)
    assert len(first.new) == 1
    again = archive.store_entries(FEEDS[0].url, [entry(url="https://n.example/a", guid="1")], NOW)
    assert (again.new, again.changed) == ((), ())
    by_guid = archive.store_entries(
        FEEDS[0].url, [entry(url="https://n.example/moved", guid="1")], NOW
    )
    assert by_guid.new == ()
    assert archive.count_stories() == 1


def test_changed_text_updates_the_story(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(url="https://n.example/a")], NOW)
    later = NOW + timedelta(hours=1)
    result = archive.store_entries(
        FEEDS[0].url, [entry(url="https://n.example/a", headline="Talks resume (updated)")], later
    )
    assert [s.headline for s in result.changed] == ["Talks resume (updated)"]
    story = archive.get_story(result.changed[0].id)
    assert story.updated == later and story.first_seen == NOW
    assert found(archive, '"updated"') == [story.id]


def test_guids_are_scoped_to_their_feed(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(guid="1", headline="First story")], NOW)
    result = archive.store_entries(FEEDS[1].url, [entry(guid="1", headline="Other story")], NOW)
    assert len(result.new) == 1


def test_same_url_from_two_feeds_is_one_story_with_two_sources(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [entry(url="https://n.example/a", guid="x")], NOW)
    result = archive.store_entries(
        FEEDS[1].url, [entry(url="https://n.example/a", guid="y", headline="Other")], NOW
    )
    assert (result.new, result.merged) == ((), 1)
    (story,) = archive.recent_stories(limit=10)
    assert story.sources == ("alpha", "beta")
    assert story.headline == "Talks resume"  # the other feed's text does not overwrite it


def test_near_identical_wire_copy_under_different_urls_is_one_story(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [seed_entry("https://a.example/1")], NOW)
    copy = seed_entry("https://b.example/other-path")
    edited = (*copy.paragraphs[:-1], copy.paragraphs[-1] + " (Reporting by a wire service)")
    copy = builders.entry(
        url=copy.url,
        guid="b-1",
        headline=copy.headline,
        body=edited,
        published=copy.published,
        fingerprint=True,
    )
    result = archive.store_entries(FEEDS[2].url, [copy], NOW)
    assert result.new == () and result.merged == 1
    (story,) = archive.recent_stories(limit=10)
    assert story.sources == ("alpha", "gamma")
    # ...and the copy is now known by its own URL too.
    assert archive.store_entries(FEEDS[2].url, [copy], NOW).merged == 0


def test_a_text_too_short_for_a_sketch_is_found_by_its_hash(archive: SQLArchive) -> None:
    # Twelve words and more, but fewer than a sketch needs: only the text's hash finds it.
    text = "Ministers meet in Geneva on Monday to resume the stalled trade talks quietly"
    first = builders.entry(url="https://a.example/short", headline=text, fingerprint=True)
    assert first.sketch == ()
    archive.store_entries(FEEDS[0].url, [first], NOW)
    copy = builders.entry(url="https://b.example/copy", headline=text, fingerprint=True)
    assert archive.store_entries(FEEDS[1].url, [copy], NOW).merged == 1


@pytest.mark.sqlite_only
def test_the_text_hash_look_up_uses_its_partial_index(archive: SQLiteArchive) -> None:
    # The look-up's condition must stay written as the index's, or it scans every story.
    plan = archive._db.execute(
        "EXPLAIN QUERY PLAN SELECT text_hash, min(seq) FROM stories"
        f" WHERE text_hash IN (?, ?) AND {UNSKETCHED} GROUP BY text_hash",
        ("a", "b"),
    ).fetchall()
    assert any("USING INDEX stories_text_hash" in row[3] for row in plan)


def _probe_rows(archive: SQLArchive, table: str, seq: int) -> set[int]:
    rows = archive._db.execute(f"SELECT hash FROM {table} WHERE story_seq = ?", (seq,))
    return {r[0] for r in rows}


def _wire_copy(url: str, guid: str) -> Entry:
    """The seed story as another outlet runs it: a credit line added at its end."""
    seed = seed_entry(url)
    body = (*seed.paragraphs[:-1], seed.paragraphs[-1] + " (Reporting by a wire service)")
    return builders.entry(
        url=url, guid=guid, headline=seed.headline, body=body, published=NOW, fingerprint=True
    )


def test_near_duplicates_are_found_in_both_tables_of_the_probe_index(
    archive: SQLArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql, "PROBE_MERGE_STORIES", 3)  # merged as story 3 is stored
    first = archive.store_entries(FEEDS[0].url, [seed_entry("https://a.example/1")], NOW).new[0]
    probes = _probe_rows(archive, "story_minhash_new", first.seq)
    assert probes and not _probe_rows(archive, "story_minhash", first.seq)
    others = [entry(url=f"https://a.example/{n}", headline=f"Harbour {n} closed") for n in (2, 3)]
    archive.store_entries(FEEDS[0].url, others, NOW)
    # Merged: every row is in the big table now, none left among the recent ones.
    assert _probe_rows(archive, "story_minhash", first.seq) == probes
    assert archive._db.execute("SELECT count(*) FROM story_minhash_new").fetchone()[0] == 0
    for recent, _ in archive._ID_TABLES[1:]:  # SQLite's story ids too
        assert archive._db.execute(f"SELECT count(*) FROM {recent}").fetchone()[0] == 0
    copy = archive.store_entries(FEEDS[1].url, [_wire_copy("https://b.example/x", "b1")], NOW)
    assert copy.new == () and copy.merged == 1  # found in the big table
    # A story after the merge is found among the recent rows.
    fourth = entry(url="https://a.example/4", headline="Storm closes the harbour for a week")
    (story,) = archive.store_entries(FEEDS[0].url, [fourth], NOW).new
    assert _probe_rows(archive, "story_minhash_new", story.seq) and not _probe_rows(
        archive, "story_minhash", story.seq
    )
    again = replace(fourth, url="https://c.example/4", link="https://c.example/4", guid="c4")
    assert archive.store_entries(FEEDS[2].url, [again], NOW).merged == 1
    # A new text is indexed afresh: its old rows leave the big table, its new ones are recent.
    edited = seed_entry("https://a.example/1")
    edited = builders.entry(
        url=edited.url,
        headline=edited.headline,
        body=(*edited.paragraphs, "A paragraph added later changes the story's sketch."),
        published=NOW,
        fingerprint=True,
    )
    archive.store_entries(FEEDS[0].url, [edited], NOW + timedelta(hours=1))
    assert not _probe_rows(archive, "story_minhash", first.seq)
    assert _probe_rows(archive, "story_minhash_new", first.seq) == set(
        fingerprint_probes(edited.sketch)
    )


def test_different_stories_stay_apart(archive: SQLArchive) -> None:
    archive.store_entries(FEEDS[0].url, [seed_entry("https://a.example/1")], NOW)
    other = entry(url="https://a.example/2", headline="Harbour closed by storm")
    assert len(archive.store_entries(FEEDS[1].url, [other], NOW).new) == 1


def test_story_lookup_by_prefix_and_search(archive: SQLArchive) -> None:
    (story,) = archive.store_entries(FEEDS[0].url, [seed_entry("https://a.example/1")], NOW).new
    assert archive.get_story(story.id[:6]).id == story.id
    with pytest.raises(StoryNotFound):
        archive.get_story("ffffffffffffffff" if story.id[0] != "f" else "0000000000000000")
    with pytest.raises(StoryNotFound):
        archive.get_story("not-hex")
    assert found(archive, "asean NEAR/2 forum") == [story.id]
    assert found(archive, "uighurs") == [story.id]  # diacritics and case folded
    assert found(archive, "title:uighurs") == []
    assert found(archive, "uighur*") == [story.id]
    assert found(archive, '"human rights" AND NOT asean') == []
    assert found(archive, "NOT asean") == []
    assert found(archive, "NOT xylophone") == [story.id]


def test_poll_state_round_trip_and_claims(archive: SQLArchive) -> None:
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
    expire_leases(archive)
    later = NOW + timedelta(minutes=2)
    assert {s.url for s in archive.claim_due(later, owner="w3", lease_seconds=60, limit=10)} == {
        FEEDS[1].url,
        FEEDS[2].url,
    }


def test_editing_an_interval_moves_the_next_poll_of_a_scheduled_feed_at_once(
    archive: SQLArchive,
) -> None:
    schedule = ScheduleSettings()
    hourly = [replace(f, interval=3600.0) for f in FEEDS]
    archive.sync_feeds(hourly, NOW, replan=replanner(schedule))
    archive.claim_due(NOW, owner="w", lease_seconds=60, limit=10)
    ok = PollRecord(url=FEEDS[0].url, polled=NOW, next_poll=NOW + timedelta(hours=1), ok=True)
    archive.record_poll(ok, owner="w")
    # Failing: its third error in a row, and the server asked for 8 hours (more than the
    # backoff, which is at most max_backoff, 6 h).
    until = NOW + timedelta(hours=8)
    archive.record_poll(
        PollRecord(url=FEEDS[1].url, polled=NOW, next_poll=until, ok=False, error="HTTP 503"),
        owner="w",
    )
    for _ in range(2):
        record(
            archive,
            PollRecord(
                url=FEEDS[1].url,
                polled=NOW,
                next_poll=until,
                ok=False,
                error="HTTP 503",
                retry_until=until,
            ),
        )
    backoff = NOW + timedelta(hours=2)
    archive.record_poll(
        PollRecord(url=FEEDS[2].url, polled=NOW, next_poll=backoff, ok=False, error="HTTP 500"),
        owner="w",
    )

    def next_polls() -> list[datetime | None]:
        return [s.next_poll for s in archive.feed_states()]

    assert next_polls() == [NOW + timedelta(hours=1), until, backoff]
    later = NOW + timedelta(minutes=10)
    every_2m = [replace(f, interval=120.0) for f in FEEDS]
    archive.sync_feeds(every_2m, later, replan=replanner(schedule))
    # Polled 10 minutes ago with a 2 m interval: due (overdue) now. Retry-After stands, and
    # a failing feed backs off from the new interval (one error: twice 2 m).
    assert next_polls() == [NOW + timedelta(minutes=2), until, NOW + timedelta(minutes=4)]
    assert archive.claim_due(later, owner="w", lease_seconds=60, limit=10)[0].url == FEEDS[0].url
    archive.release_leases()
    archive.sync_feeds(hourly, later, replan=replanner(schedule))
    assert next_polls() == [NOW + timedelta(hours=1), until, backoff]
    # The same configuration again changes nothing.
    archive.sync_feeds(hourly, later, replan=replanner(schedule))
    assert next_polls() == [NOW + timedelta(hours=1), until, backoff]


def test_claiming_only_some_feeds(archive: SQLArchive) -> None:
    urls = [FEEDS[2].url, FEEDS[0].url]
    claimed = archive.claim_due(NOW, owner="w", lease_seconds=60, limit=10, urls=urls)
    assert sorted(s.url for s in claimed) == sorted(urls)
    assert [s.url for s in archive.claim_due(NOW, owner="w", lease_seconds=60, limit=10)] == [
        FEEDS[1].url
    ]


def test_server_hints_and_retry_after_are_kept(archive: SQLArchive) -> None:
    archive.claim_due(NOW, owner="w", lease_seconds=60, limit=10)
    archive.record_poll(
        PollRecord(url=FEEDS[0].url, polled=NOW, next_poll=NOW, ok=True, max_age=60.0, ttl=600.0),
        owner="w",
    )
    until = NOW + timedelta(hours=1)
    record(
        archive,
        PollRecord(
            url=FEEDS[0].url,
            polled=NOW,
            next_poll=until,
            ok=False,
            error="HTTP 429",
            retry_until=until,
        ),
    )
    state = archive.feed_states()[0]
    assert (state.max_age, state.ttl, state.retry_until) == (60.0, 600.0, until)
    record(archive, PollRecord(url=FEEDS[0].url, polled=NOW, next_poll=NOW, ok=True))
    state = archive.feed_states()[0]
    assert (state.max_age, state.ttl, state.retry_until) == (None, None, None)


def test_feeds_removed_from_config_become_inactive(archive: SQLArchive) -> None:
    archive.sync_feeds(FEEDS[:1], NOW, replan=replanner(ScheduleSettings()))
    assert [s.url for s in archive.feed_states()] == [FEEDS[0].url]
    assert len(archive.feed_states(include_inactive=True)) == 3


def test_a_fuller_text_from_another_feed_replaces_the_story_text(archive: SQLArchive) -> None:
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


def _version_5_archive(path: Path) -> None:
    """An archive as the release before migration 6 left it: one story carried by alpha then
    beta, and one story into which that release merged two episodes alpha gave under one
    link (two GUIDs of one feed)."""
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:5]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 5")
    t = NOW.timestamp()
    for n, feed in enumerate(FEEDS[:2], start=1):
        conn.execute(
            "INSERT INTO feeds (id, url, name, fetch_url) VALUES (?, ?, ?, ?)",
            (n, feed.url, feed.name, feed.url),
        )
    for seq, url, headline in ((1, "https://n.example/a", "Talks resume"),
                               (2, "https://podcast.example/show", "Episode 1")):  # fmt: skip
        body = f"Officials said on Tuesday that talks about {headline.lower()} would resume."
        conn.execute(
            "INSERT INTO stories (seq, id, url, headline, body, published, first_seen, updated,"
            " text_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, f"{seq:016x}", url, headline, body, t, t, t, f"hash{seq}"),
        )
    conn.executemany(
        "INSERT INTO story_keys (key, story_seq) VALUES (?, ?)",
        [
            ("url:https://n.example/a", 1),
            ("url:https://podcast.example/show", 2),
            ("guid:1:episode-1", 2),
            ("guid:1:episode-2", 2),
        ],
    )
    conn.executemany(
        "INSERT INTO story_sources (story_seq, feed_id, link, first_seen) VALUES (?, ?, ?, ?)",
        [
            (1, 1, "https://n.example/a", t),
            (1, 2, "https://n.example/a", t + 1),
            (2, 1, "https://podcast.example/show", t),
        ],
    )
    conn.commit()
    conn.close()


def test_migration_6_on_an_archive_of_the_release_before(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _version_5_archive(path)
    migrated = SQLiteArchive(path)
    conn = sqlite3.connect(path)
    assert conn.execute(
        "SELECT seq, text_feed, text_words FROM stories ORDER BY seq"
    ).fetchall() == [
        (1, 1, None),
        (2, 1, None),
    ]
    # The merged story keeps the first GUID; the other episode is a story of its own again.
    keys = conn.execute("SELECT key FROM story_keys WHERE story_seq = 2 ORDER BY key").fetchall()
    assert keys == [("guid:1:episode-1",), ("url:https://podcast.example/show",)]
    episode = entry(url="https://podcast.example/show", guid="episode-2", headline="Episode 2",
                    body=("Notes of the second episode.",))  # fmt: skip
    assert [s.headline for s in migrated.store_entries(FEEDS[0].url, [episode], NOW).new] == [
        "Episode 2"
    ]
    # A longer text from beta replaces alpha's, its length counted from the stored text (and
    # kept).
    longer = entry(
        url="https://n.example/a", body=("One more sentence than before, officials said.",) * 3
    )
    assert migrated.store_entries(FEEDS[1].url, [longer], NOW).changed != ()
    assert conn.execute("SELECT text_feed FROM stories WHERE seq = 1").fetchone() == (2,)


def test_migration_15_rebuilds_the_stories_and_keeps_every_row_that_refers_to_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    _version_5_archive(path)
    conn = sqlite3.connect(path)  # as the release before migration 15 left it
    for script in MIGRATIONS[5:14]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 14")
    conn.executemany(
        "INSERT INTO story_minhash (hash, story_seq) VALUES (?, ?)", [(7, 1), (8, 2), (9, 2)]
    )
    conn.execute("INSERT INTO unmatched (story_seq, news, version) VALUES (2, 1, 1)")
    conn.commit()
    tables = ("stories", "story_keys", "story_sources", "story_minhash", "unmatched")
    before = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables}
    conn.close()
    SQLiteArchive(path).close()  # migrates: the stories table dropped and made again
    conn = sqlite3.connect(path)
    assert {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables} == (
        before
    )
    assert conn.execute(
        "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_autoindex_stories_1'"
    ).fetchone() == (0,)
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    conn.close()
    assert check_archive(path).problems == ()
    archive = SQLiteArchive(path)
    try:
        assert tuple(archive._db.execute("PRAGMA foreign_keys").fetchone()) == (1,)
        assert archive.get_story("0000000000000001").headline == "Talks resume"
        assert [h.story.id for h in search(archive, "episode", limit=5)] == ["0000000000000002"]
        new = archive.store_entries(FEEDS[0].url, [entry(url="https://n.example/b")], NOW).new
        assert archive.get_story(new[0].id[:8]).url == "https://n.example/b"
    finally:
        archive.close()


def test_migration_15_refuses_a_stories_table_of_columns_it_does_not_know(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    _version_5_archive(path)
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[5:14]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 14")
    conn.execute("ALTER TABLE stories ADD COLUMN mine TEXT")  # the copy would lose it
    conn.commit()
    conn.close()
    with pytest.raises(ArchiveError, match="columns this program does not know"):
        SQLiteArchive(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (14,)
    assert conn.execute("SELECT count(*) FROM stories").fetchone() == (2,)
    conn.close()


def test_story_ids_are_found_and_kept_unique_in_both_tables_of_their_index(
    tmp_path: Path,
) -> None:
    archive = builders.archive_with(tmp_path / "a.db", FEEDS, NOW)
    assert isinstance(archive, SQLiteArchive)
    try:
        first = archive.store_entries(FEEDS[0].url, [entry(url="https://n.example/1")], NOW).new
        with archive._tx() as db:  # as every 50,000 new stories: into the big table
            archive._merge_recent(db)
        later = archive.store_entries(
            FEEDS[0].url, [entry(url="https://n.example/2", headline="Other news")], NOW
        ).new
        db = archive._db
        assert [tuple(r) for r in db.execute("SELECT story_seq FROM story_ids")] == [
            (first[0].seq,)
        ]
        assert [tuple(r) for r in db.execute("SELECT story_seq FROM story_ids_new")] == [
            (later[0].seq,)
        ]
        for story in (*first, *later):
            assert archive.get_story(story.id).seq == story.seq
            assert archive._taken_ids(db, {story.id, "ffffffffffffffff"}) == {
                story.id: True,
                "ffffffffffffffff": False,
            }
        # Whoever writes a story, its id is indexed, and one taken in either table refused.
        insert = (
            "INSERT INTO stories (seq, id, url, headline, body, published, first_seen, updated,"
            " text_hash) VALUES (?, ?, 'https://x.example/', 'H', 'B', 0, 0, 0, '')"
        )
        for taken in (first[0].id, later[0].id):
            with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"), archive._tx() as tx:
                tx.execute(insert, (99, taken))
        with archive._tx() as tx:
            tx.execute(insert, (99, "0123456789abcdef"))
            tx.execute("DELETE FROM stories WHERE seq = ?", (first[0].seq,))
        assert archive.get_story("0123456789abcdef").seq == 99
        with pytest.raises(StoryNotFound):
            archive.get_story(first[0].id)
        with archive._tx() as tx:  # an id changed, by whoever
            tx.execute("UPDATE stories SET id = 'fedcba9876543210' WHERE seq = 99")
        assert archive.get_story("fedcba9876543210").seq == 99
        with pytest.raises(StoryNotFound):
            archive.get_story("0123456789abcdef")
    finally:
        archive.close()
    assert check_archive(archive.path).problems == ()
    # A story deleted through a connection without foreign keys takes its id along too (its
    # other rows are left behind, as `archive check` says).
    with closing(sqlite3.connect(archive.path)) as conn, conn:
        conn.execute("DELETE FROM stories WHERE seq = ?", (later[0].seq,))
        assert conn.execute(
            "SELECT count(*) FROM story_ids_new WHERE id = ?", (later[0].id,)
        ).fetchone() == (0,)
    assert not [p for p in check_archive(archive.path).problems if "story-id" in p]


def test_items_of_one_feed_under_other_guids_are_other_stories(archive: SQLArchive) -> None:
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


def test_a_feed_that_moves_its_guids_does_not_repeat_its_items(archive: SQLArchive) -> None:
    # The same URL and the same text under a new GUID (a CMS moved from ?p=123 GUIDs to
    # permalinks): the same item, not a new story to alert again.
    old = [seed_entry(f"https://n.example/{n}") for n in (1, 2)]
    old = [entry(url=e.url, guid=f"?p={n}", headline=e.headline, body=e.paragraphs)
           for n, e in enumerate(old)]  # fmt: skip
    archive.store_entries(FEEDS[0].url, old, NOW)
    moved = [entry(url=e.url, guid=e.url, headline=e.headline, body=e.paragraphs) for e in old]
    assert archive.store_entries(FEEDS[0].url, moved, NOW).new == ()
    assert archive.count_stories() == 2


def test_every_look_up_of_the_archive_answers_on_this_backend(archive: SQLArchive) -> None:
    """What `monitor status`, /metrics, the deliverer and the commands read, on a populated
    archive: each query runs (SQL both databases take) and says what was written."""

    def plan(headline: str, body: str, sources: Sequence[str]) -> list[PlannedMatch]:
        match = Match(topic="talks", terms=(), snippet=body[:40], snippet_terms=())
        if "held" in headline:
            return [PlannedMatch(match=match, notifiers=(), held="no notifier yet")]
        return [PlannedMatch(match=match, notifiers=("hook",))]

    archive.claim_due(NOW, owner="w", lease_seconds=60, limit=10)
    stored = archive.store_entries(
        FEEDS[0].url,
        [entry(url="https://n.example/1"), entry(url="https://n.example/2", headline="A held one")],
        NOW,
        matcher=plan,
    )
    first = stored.new[0]
    archive.record_poll(
        PollRecord(url=FEEDS[1].url, polled=NOW, next_poll=NOW, ok=False, error="HTTP 500"),
        owner="w",
    )
    archive.set_status({"state": "running", "errors": ["a"]}, NOW)
    assert archive.status() == {"state": "running", "errors": ["a"]}
    assert archive.feed_counts() == (3, 1)
    assert archive.topic_hits(NOW - timedelta(days=1)) == {"talks": 2}
    assert archive.stories_per_day(NOW - timedelta(days=1), NOW) == {FEEDS[0].url: 2.0}
    assert archive.article_counts(NOW - timedelta(days=1)) == {
        "article": 0,
        "feed": 0,
        "waiting": 0,
    }
    assert archive.held_matches() == {"talks": (1, "no notifier yet")}
    assert archive.story_topics(first.seq) == ["talks"]
    assert archive.count_stories() == 2 and archive.count_stories(since=NOW + timedelta(1)) == 0
    assert {s.id for s in archive.recent_stories(limit=5)} == {s.id for s in stored.new}
    assert [s.seq for s in archive.iter_stories()] == [s.seq for s in stored.new]
    assert archive.untried_entries(
        FEEDS[0].url, [entry(url="https://n.example/1"), entry(url="https://n.example/9")]
    ) == [True, True]
    assert archive.claim_article_retries(NOW, limit=5, lease_seconds=60) == []
    (message,) = archive.claim_outbox(NOW, owner="d", lease_seconds=60, limit=5)
    assert message.headline == first.headline and message.topic == "talks"
    assert [s.id for s, m in archive.message_stories(message.id)] == [first.id]
    assert archive.message_payload(message.id) == {}
    archive.finish_delivery(message.id, owner="d", now=NOW)
    assert archive.alerted_stories([s.seq for s in stored.new]) == {first.seq}
    assert [e.id for e in archive.list_outbox(["sent"])] == [message.id]
    assert archive.outbox_counts() == {"sent": 1}
    assert archive.retry_outbox(NOW, ids=[message.id[:8]]) == 0  # sent: not again
    archive.disable_notifier("hook", "HTTP 410", NOW)
    assert archive.disabled_notifiers() == {"hook": "HTTP 410"}
    archive.enable_notifier("hook")
    assert archive.disabled_notifiers() == {}
    assert list(archive.digest_queues()) == []
    assert archive.release_held(lambda m: PlannedMatch(match=m, notifiers=("hook",)), NOW) == 1
    assert archive.held_matches() == {}
    assert archive.health_changes(NOW + timedelta(hours=2), 3600) == [
        (FEEDS[1].url, FEEDS[1].name, "failing")
    ]
    assert archive.health_changes(NOW + timedelta(hours=2), 3600) == []
    assert archive.prune(NOW + timedelta(days=1), matched_before=None, now=NOW, dry_run=True) == 0
    archive.vacuum()
