"""A damaged archive: `monitor archive check` finds the damage, `monitor export` saves what
is left; an archive file deleted under an open archive; the storage fault log.

The damage is real: pages of a real archive overwritten with garbage, found by SQLite's
own page map (the dbstat table), or the full-text index made to disagree with the stories.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import string
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from monitor.archive.sqlite import SQLiteArchive
from monitor.cli.main import main
from monitor.config import ScheduleSettings
from monitor.errors import ArchiveDeleted, ArchiveFull, ArchiveGone
from monitor.poll.schedule import replanner
from monitor.service.faultlog import FaultLog
from monitor.service.lock import ArchiveLock
from monitor.types import Entry, Feed
from tests import builders

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FEED = Feed(url="https://feeds.example/wire", name="Wire")
STORIES = 120


def story_entry(n: int) -> Entry:
    """A story with a text of its own (near-identical texts would be one story)."""
    rng = random.Random(n)

    def words(k: int) -> str:
        return " ".join(
            "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(k)
        )

    headline = f"Report {n}: {words(6)}"
    body = tuple(f"{words(40)} (item {n}.{p})." for p in range(3))
    return builders.entry(
        url=f"https://wire.example/{n}",
        guid=f"item-{n}",
        headline=headline,
        body=body,
        published=NOW - timedelta(minutes=n),
        fingerprint=True,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A configuration naming an archive of STORIES stories."""
    db = tmp_path / "archive" / "monitor.db"
    archive = builders.archive_with(db, [FEED], NOW)
    try:
        archive.store_entries(FEED.url, [story_entry(n) for n in range(STORIES)], NOW)
    finally:
        archive.close()
    path = tmp_path / "config.toml"
    path.write_text(f'[archive]\nurl = "sqlite:///{db}"\n', encoding="utf-8")
    return path


def archive_path(config: Path) -> Path:
    return config.parent / "archive" / "monitor.db"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def overwrite_pages(db: Path, table: str, which: slice) -> tuple[list[int], int]:
    """Garbage over some pages of ``table`` (its leaf pages, by SQLite's page map); the
    pages, and how many rows they held."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        leaves = conn.execute(
            "SELECT pageno, ncell FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
            (table,),
        ).fetchall()[which]
    with db.open("r+b") as f:
        for page, _ in leaves:
            f.seek((page - 1) * size)
            f.write(b"\xde\xad\xbe\xef" * (size // 4))
    return [page for page, _ in leaves], sum(cells for _, cells in leaves)


def exported(directory: Path) -> dict[str, str]:
    """Story id -> the text of its file."""
    return {p.stem.split("_", 1)[1]: p.read_text(encoding="utf-8") for p in directory.glob("*.txt")}


def test_a_sound_archive_checks_ok(config: Path) -> None:
    result = cli("archive", "check", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{archive_path(config)}: OK (integrity_check, references between tables, story ids, "
        "full-text index stories_fts)\n"
    )
    quick = cli("archive", "check", "--quick", "--config", str(config))
    assert quick.exit_code == 0 and "OK (quick_check," in quick.output


def test_damaged_pages_are_listed_and_export_saves_every_story_still_readable(
    config: Path, tmp_path: Path
) -> None:
    whole = cli("export", "--config", str(config), str(tmp_path / "before"))
    assert whole.exit_code == 0, whole.output
    before = exported(tmp_path / "before")
    assert len(before) == STORIES

    db = archive_path(config)
    pages, rows = overwrite_pages(db, "stories", slice(5, 8))
    assert len(pages) == 3 and rows < STORIES // 2

    check = cli("archive", "check", "--config", str(config))
    assert check.exit_code == 1
    assert check.output.startswith(f"{db}: 4 problems (integrity_check, ")
    assert "  the story ids could not be checked: database disk image is malformed" in check.output
    assert "  integrity_check could not finish: database disk image is malformed" in check.output
    assert "`monitor export DIR` saves the stories it can still read" in check.output

    out = tmp_path / "salvaged"
    result = cli("export", "--config", str(config), str(out))
    assert result.exit_code == 1
    assert f"{db}: the archive is damaged (database disk image is malformed)" in result.output
    saved = exported(out)
    skipped = int(result.output.split(" damaged row")[0].rsplit(" ", 1)[1])
    # Three pages hold a few stories each: those are lost, and only those.
    assert 0 < skipped <= rows and len(saved) + skipped == STORIES
    assert f"wrote {len(saved)} stories to {out}" in result.output
    # What was saved is what the archive held: every file as the sound export wrote it.
    assert all(before[sid] == text for sid, text in saved.items())
    # In archive order, numbered without gaps.
    names = sorted(p.name for p in out.glob("*.txt"))
    assert [int(n.split("_")[0]) for n in names] == list(range(len(saved)))


def test_a_full_text_index_that_disagrees_with_the_stories_is_a_problem(config: Path) -> None:
    db = archive_path(config)
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        # A story rewritten behind the index's back (its trigger away for the moment).
        (trigger,) = conn.execute(
            "SELECT sql FROM sqlite_schema WHERE name = 'stories_fts_update'"
        ).fetchone()
        conn.execute("DROP TRIGGER stories_fts_update")
        conn.execute("UPDATE stories SET body = 'a text the index never saw' WHERE seq = 7")
        conn.execute(trigger)
    result = cli("archive", "check", "--config", str(config))
    assert result.exit_code == 1
    assert "1 problem (integrity_check" in result.output
    assert "  full-text index stories_fts: database disk image is malformed" in result.output


def test_the_full_text_index_is_left_alone_while_the_service_runs(config: Path) -> None:
    db = archive_path(config)
    with ArchiveLock(db.with_name("monitor.db.lock")):  # as `monitor run` holds it
        result = cli("archive", "check", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "OK (integrity_check, references between tables, story ids)" in result.output
    assert "not checked: full-text index stories_fts: `monitor run` (pid" in result.output


def test_a_file_that_is_no_database_cannot_be_exported_or_checked(
    config: Path, tmp_path: Path
) -> None:
    db = archive_path(config)
    db.write_bytes(random.Random(1).randbytes(64 * 1024))
    result = cli("export", "--config", str(config), str(tmp_path / "out"))
    assert result.exit_code == 1
    assert (
        "Error: nothing can be read:" in result.output and "file is not a database" in result.output
    )
    check = cli("archive", "check", "--config", str(config))
    assert check.exit_code == 1 and "file is not a database" in check.output


def test_a_deleted_archive_takes_no_write_and_is_not_made_again(tmp_path: Path) -> None:
    db = tmp_path / "archive" / "monitor.db"
    archive = SQLiteArchive(db)
    try:
        archive.sync_feeds([FEED], NOW, replan=replanner(ScheduleSettings()))
        db.unlink()
        with pytest.raises(ArchiveGone, match="there is no file at that path now"):
            archive.sync_feeds([FEED], NOW, replan=replanner(ScheduleSettings()))
    finally:
        archive.close()
    marker = db.with_name("monitor.db.gone")
    assert "was deleted while process" in marker.read_text(encoding="utf-8")
    for read_only in (False, True):
        with pytest.raises(ArchiveDeleted, match=r"delete .*monitor\.db\.gone to start a new"):
            SQLiteArchive(db, read_only=read_only)
    assert not db.exists()
    marker.unlink()
    SQLiteArchive(db).close()  # said so: a new one


def test_a_replaced_archive_takes_no_write(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    archive = SQLiteArchive(db)
    try:
        SQLiteArchive(tmp_path / "other.db").close()
        (tmp_path / "other.db").replace(db)
        with pytest.raises(ArchiveGone, match="another file is at that path now"):
            archive.sync_feeds([FEED], NOW, replan=replanner(ScheduleSettings()))
    finally:
        archive.close()
    assert not db.with_name("monitor.db.gone").exists()


def test_the_fault_log_says_it_once_again_after_a_while_and_when_it_is_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    faults = FaultLog(logging.getLogger("test.faults"), repeat=300.0, clock=lambda: now[0])
    full = ArchiveFull("archive/monitor.db", "database or disk is full")
    with caplog.at_level(logging.INFO, logger="test.faults"):
        for _ in range(50):  # a tick every 200 ms for 10 s
            faults.failed(full)
            now[0] += 0.2
        now[0] = 301.0
        faults.failed(full)
        faults.failed(full)
        faults.worked()
        faults.worked()
    assert [r.getMessage()[:40] for r in caplog.records] == [
        "archive/monitor.db: the disk is full (da",
        "still: archive/monitor.db: the disk is f",
        "the archive takes writes again",
    ]
    assert "(51 times since it began)" in caplog.records[1].getMessage()
