"""SQLite's full-text index follows the stories: what a transaction writes reaches the index
when it ends (migration 14), a story's last text in, the text the index held out."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive.migrations import MIGRATIONS
from monitor.archive.search import search
from monitor.archive.sql import SQLArchive
from monitor.archive.sqlite import SQLiteArchive
from monitor.archive.sqlite_check import check_archive
from monitor.types import Entry, Feed
from tests import builders

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FEEDS = [Feed(url=f"https://feeds.example/{n}", name=n) for n in ("alpha", "beta")]


def entry(n: int, words: str) -> Entry:
    return builders.entry(
        url=f"https://news.example/{n}",
        guid=f"g{n}",
        headline=f"Story {n}",
        body=f"Officials said on Tuesday that the {words} talks would resume next week.",
        published=NOW - timedelta(hours=1),
        fingerprint=True,
    )


def insert_story(db: sqlite3.Connection, seq: int, words: str) -> None:
    """Story ``seq`` written with SQL alone, as another program would: no keys, no sources."""
    t = NOW.timestamp()
    story_id = f"{seq:08x}{len(words):08x}"  # unique here, a number taken again included
    db.execute(
        "INSERT INTO stories (seq, id, url, headline, body, published, first_seen, updated,"
        " text_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6, '')",
        (seq, story_id, f"https://x.example/{story_id}", f"Story {seq}", f"The {words} talks.", t),
    )


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[SQLiteArchive]:
    archive = builders.archive_with(tmp_path / "a.db", FEEDS, NOW)
    assert isinstance(archive, SQLiteArchive)
    yield archive
    archive.close()


def indexed(path: Path, word: str) -> list[int]:
    """What the index itself answers for ``word``, read by another connection."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT rowid FROM stories_fts WHERE stories_fts MATCH ? ORDER BY rowid", (word,)
        )
        return [r[0] for r in rows]


def assert_index_matches_stories(path: Path) -> None:
    """FTS5's own check, against the stories' text too (rank 1): it fails on a story whose
    text the index lacks or holds stale. Nothing waits to be indexed between transactions."""
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO stories_fts (stories_fts, rank) VALUES ('integrity-check', 1)")
        for table in ("stories_fts_pending", "stories_fts_stale"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


def found(archive: SQLArchive, query: str) -> list[str]:
    return [hit.story.headline for hit in search(archive, query, limit=10)]


def test_stories_of_a_batch_are_indexed_when_it_commits(archive: SQLiteArchive) -> None:
    with archive.batch():
        archive.store_entries(FEEDS[0].url, [entry(1, "harbour"), entry(2, "harbour")], NOW)
        archive.store_entries(FEEDS[1].url, [entry(3, "harbour")], NOW)
        # Not indexed yet, and still found by a search made inside the transaction.
        assert indexed(archive.path, "harbour") == []
        assert found(archive, "harbour") == ["Story 3", "Story 2", "Story 1"]
    assert indexed(archive.path, "harbour") == [1, 2, 3]
    assert_index_matches_stories(archive.path)
    # A story stored alone, in a transaction of its own, is indexed when that one commits.
    archive.store_entries(FEEDS[0].url, [entry(4, "harbour")], NOW)
    assert indexed(archive.path, "harbour") == [1, 2, 3, 4]
    assert_index_matches_stories(archive.path)


def test_a_story_edited_in_the_batch_that_stored_it_is_indexed_with_its_last_text(
    archive: SQLiteArchive,
) -> None:
    with archive.batch():
        archive.store_entries(FEEDS[0].url, [entry(1, "harbour")], NOW)
        result = archive.store_entries(FEEDS[0].url, [entry(1, "railway")], NOW)
        assert len(result.changed) == 1
    assert indexed(archive.path, "harbour") == []
    assert indexed(archive.path, "railway") == [1]
    assert_index_matches_stories(archive.path)


def test_an_edit_in_a_later_transaction_replaces_the_indexed_text(
    archive: SQLiteArchive,
) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1, "harbour"), entry(2, "harbour")], NOW)
    with archive.batch():
        assert len(archive.store_entries(FEEDS[0].url, [entry(1, "railway")], NOW).changed) == 1
        assert indexed(archive.path, "railway") == []  # the new text waits for the commit
    assert indexed(archive.path, "harbour") == [2]
    assert indexed(archive.path, "railway") == [1]
    assert_index_matches_stories(archive.path)


def test_a_story_edited_twice_in_a_transaction_loses_the_text_that_was_indexed(
    archive: SQLiteArchive,
) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1, "harbour")], NOW)
    with archive.batch():
        for words in ("railway", "canal"):
            assert len(archive.store_entries(FEEDS[0].url, [entry(1, words)], NOW).changed) == 1
        assert indexed(archive.path, "harbour") == [1]  # until the commit
    assert [indexed(archive.path, w) for w in ("harbour", "railway", "canal")] == [[], [], [1]]
    assert_index_matches_stories(archive.path)


def test_a_story_edited_then_deleted_in_a_transaction_leaves_the_index(
    archive: SQLiteArchive,
) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1, "harbour")], NOW)
    with archive.batch(), archive._tx() as db:
        archive.store_entries(FEEDS[0].url, [entry(1, "railway")], NOW)
        db.execute("DELETE FROM stories WHERE seq = 1")
    assert [indexed(archive.path, w) for w in ("harbour", "railway")] == [[], []]
    assert_index_matches_stories(archive.path)


def test_a_number_freed_and_taken_again_in_a_transaction_is_indexed_with_its_new_story(
    archive: SQLiteArchive,
) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1, "harbour"), entry(2, "harbour")], NOW)
    with archive.batch(), archive._tx() as db:
        db.execute("DELETE FROM stories WHERE seq = 2")
        (story,) = archive.store_entries(FEEDS[0].url, [entry(3, "railway")], NOW).new
        assert db.execute("SELECT seq FROM stories WHERE id = ?", (story.id,)).fetchone()[0] == 2
    assert [indexed(archive.path, w) for w in ("harbour", "railway")] == [[1], [2]]
    assert_index_matches_stories(archive.path)


def test_a_story_whose_number_changes_is_indexed_under_its_new_one(
    archive: SQLiteArchive,
) -> None:
    """No code path renumbers stories; an update must still keep the index whole."""
    with archive._tx() as db:
        insert_story(db, 1, "harbour")
        insert_story(db, 2, "railway")
    with archive._tx() as db:  # indexed, then moved onto a number freed in the same one
        db.execute("DELETE FROM stories WHERE seq = 1")
        db.execute("UPDATE stories SET seq = 1 WHERE seq = 2")
        db.execute("UPDATE stories SET headline = 'Story moved' WHERE seq = 1")
    with archive._tx() as db:  # stored, then moved, then its number taken again
        insert_story(db, 3, "canal")
        db.execute("UPDATE stories SET seq = 9 WHERE seq = 3")
        insert_story(db, 3, "bridge")
    words = ("harbour", "railway", "moved", "canal", "bridge")
    assert [indexed(archive.path, w) for w in words] == [[], [1], [1], [9], [3]]
    assert_index_matches_stories(archive.path)


def test_stories_deleted_before_or_after_their_indexing_leave_the_index(
    archive: SQLiteArchive,
) -> None:
    archive.store_entries(FEEDS[0].url, [entry(1, "harbour")], NOW)
    with archive.batch(), archive._tx() as db:
        archive.store_entries(FEEDS[0].url, [entry(2, "harbour")], NOW)
        db.execute("DELETE FROM stories WHERE seq IN (1, 2)")  # one indexed, one waiting
    assert indexed(archive.path, "harbour") == []
    assert_index_matches_stories(archive.path)


def test_a_batch_rolled_back_leaves_nothing_to_index(archive: SQLiteArchive) -> None:
    with pytest.raises(RuntimeError), archive.batch():
        archive.store_entries(FEEDS[0].url, [entry(1, "harbour")], NOW)
        raise RuntimeError("the poll failed")
    archive.store_entries(FEEDS[0].url, [entry(2, "railway")], NOW)
    assert indexed(archive.path, "harbour") == []
    assert indexed(archive.path, "railway") == [1]  # the number the rolled-back story had
    assert_index_matches_stories(archive.path)


def test_stories_indexed_before_migration_14_are_edited_and_deleted_in_step(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # as the release before left it: indexed at once
        for script in MIGRATIONS[:13]:
            db.executescript(script)
        db.execute("PRAGMA user_version = 13")
        insert_story(db, 1, "harbour")
        insert_story(db, 2, "harbour")
    assert indexed(path, "harbour") == [1, 2]
    migrated = SQLiteArchive(path)
    with migrated._tx() as db:
        db.execute("UPDATE stories SET body = 'The railway talks resume.' WHERE seq = 1")
        db.execute("DELETE FROM stories WHERE seq = 2")
    migrated.close()
    assert indexed(path, "harbour") == []
    assert indexed(path, "railway") == [1]
    assert_index_matches_stories(path)


def test_a_story_another_program_wrote_is_indexed_by_the_next_write(
    archive: SQLiteArchive,
) -> None:
    with sqlite3.connect(archive.path) as db:  # the sqlite3 shell, say: no index at commit
        insert_story(db, 7, "harbour")
    assert found(archive, "harbour") == ["Story 7"]  # searches look at what waits
    assert check_archive(archive.path).problems == ()  # nothing is damaged
    archive.store_entries(FEEDS[0].url, [entry(8, "railway")], NOW)
    assert indexed(archive.path, "harbour") == [7]
    assert_index_matches_stories(archive.path)
