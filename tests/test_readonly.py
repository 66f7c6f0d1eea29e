"""Commands that only look never write the archive, never create one, never apply the config.

The archive is that of a real poll; the commands run through the real command line.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.archive import open_archive
from monitor.archive.sqlite import SQLiteArchive
from monitor.config import ScheduleSettings
from monitor.errors import ArchiveError, ArchiveMissing, ArchiveReadOnly
from monitor.poll.schedule import replanner
from monitor.types import Feed
from tests.cli_project import run
from tests.servers import SECRET, Receiver

SEED = Path(__file__).parent / "fixtures" / "seeds"


def database(project: Path) -> Path:
    return project.parent / "archive" / "monitor.db"


def look_at_everything(project: Path, tmp_path: Path) -> None:
    """Every command that only looks, each with what it needs."""
    story = run(project, "stories").split()[0]
    for args in (
        ["status"],
        ["feeds"],
        ["feeds", "export"],
        ["stories"],
        ["stories", "--since", "30d"],
        ["show", story],
        ["show", story, "--json"],
        ["search", "talks"],
        ["export", str(tmp_path / "export")],
        ["check"],
        ["match", str(next(SEED.glob("*.txt")))],
        ["rules", "check"],
        ["rules", "test", "--since", "3650d"],
        ["alerts"],
        ["alerts", "--all"],
    ):
        run(project, *args)


@pytest.fixture
def polled(project: Path) -> Iterator[Path]:
    """The shipped project after a poll, its config then changed: a feed dropped, one added.

    As after an edit that a running service rejected: what is on disk is not what runs.
    """
    run(project, "poll")
    text = project.read_text(encoding="utf-8")
    dropped = text.replace('url = "samples/feeds/wire.atom"', 'url = "samples/feeds/other.xml"')
    assert dropped != text
    project.write_text(dropped, encoding="utf-8")
    yield project


def snapshot(path: Path) -> tuple[list[tuple[object, ...]], int, int]:
    """The feeds table, the file's modification time and size."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT * FROM feeds ORDER BY id").fetchall()
    stat = path.stat()
    return rows, stat.st_mtime_ns, stat.st_size


def test_read_only_commands_leave_the_archive_and_the_polled_feeds_as_they_are(
    polled: Path, tmp_path: Path
) -> None:
    path = database(polled)
    before = snapshot(path)
    wal = path.with_name(path.name + "-wal")
    wal_before = wal.stat() if wal.exists() else None
    # data_version changes for this connection whenever another one commits a write.
    with closing(sqlite3.connect(path)) as watcher:
        version = watcher.execute("PRAGMA data_version").fetchone()[0]
        look_at_everything(polled, tmp_path)
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
    assert snapshot(path) == before
    if wal_before is not None:
        assert wal.stat().st_size == wal_before.st_size
    # What the service would poll: the feeds applied by the poll, not those on disk now.
    with closing(SQLiteArchive(path)) as archive:
        active = [s.url for s in archive.feed_states()]
    assert [Path(u).name for u in active] == ["world-news.xml", "wire.atom"]


def test_feeds_and_status_say_how_the_config_differs_from_what_is_polled(polled: Path) -> None:
    for command in ("feeds", "status"):
        out = run(polled, command)
        assert f"{polled} differs from the feeds being polled" in out
        assert "/samples/feeds/other.xml>: in the config file, not applied yet" in out
        assert "/samples/feeds/wire.atom>: polled, but no longer in the config file" in out
    run(polled, "poll")  # applies the file: nothing differs any more
    assert "differs" not in run(polled, "feeds") + run(polled, "status")


def test_read_only_commands_never_create_an_archive(project: Path, tmp_path: Path) -> None:
    path = database(project)
    for args in (
        ["status"],
        ["feeds"],
        ["stories"],
        ["show", "0123456789abcdef"],
        ["search", "talks"],
        ["export", str(tmp_path / "export")],
        ["rules", "test"],
        ["alerts"],
    ):
        out = run(project, *args, code=1)
        assert f"no archive at {path} yet" in out, args
    # Those that do not need one work without it.
    for args in (["check"], ["feeds", "export"], ["rules", "check"]):
        run(project, *args)
    assert not path.parent.exists()


def test_an_empty_file_is_no_archive_yet(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    path.touch()
    with pytest.raises(ArchiveMissing):
        SQLiteArchive(path, read_only=True)
    assert path.stat().st_size == 0


def test_a_write_through_a_read_only_archive_fails_in_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    SQLiteArchive(path).close()  # created, migrated
    archive = open_archive(f"sqlite:///{path}", read_only=True)
    try:
        with pytest.raises(ArchiveReadOnly, match="readonly") as raised:
            archive.sync_feeds(
                [Feed(url="https://a.example/rss", name="A")],
                datetime.now(UTC),
                replan=replanner(ScheduleSettings()),
            )
        assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        assert archive.feed_states() == []
    finally:
        archive.close()


def test_an_archive_older_than_the_program_is_not_upgraded_by_a_read(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    SQLiteArchive(path).close()
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 5")
    with pytest.raises(ArchiveError, match=r"older than this program's .* upgrades it"):
        SQLiteArchive(path, read_only=True)
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 5


def test_status_with_a_config_that_does_not_load_shows_the_service_state(
    project: Path,
) -> None:
    run(project, "poll")
    good = project.read_text(encoding="utf-8")
    project.write_text(good + "\n[[feeds]]\nurl = 'https://x.example/rss'\ncolour = 1\n")
    out = run(project, "status", code=1)
    line = good.count("\n") + 4
    assert out.startswith(f"config: {project} does not load:\n")
    assert f"  {project}:{line}:1: feeds[2] (https://x.example/rss).colour: unknown key" in out
    assert f"(the archive shown is {database(project)}: its [archive] url)" in out
    assert "\nservice: " in out and "Example World News" in out and "outbox: " in out

    # Not even TOML: the [archive] table is still read, on its own.
    moved = project.parent / "elsewhere.db"
    project.write_text(
        good.replace('url = "sqlite:///archive/monitor.db"', f'url = "sqlite:///{moved}"')
    )
    run(project, "poll")
    project.write_text(project.read_text() + "\n[fetch\n")
    out = run(project, "status", code=1)
    assert "not valid TOML" in out and f"the archive shown is {moved}: its [archive] url" in out
    assert "Example World News" in out

    # Nothing readable about the archive: the default location beside the config file.
    project.write_text("[archive]\nurl = 7\n")
    out = run(project, "status", code=1)
    assert f"the archive shown is {database(project)}: the default location" in out
    missing = project.parent / "missing.toml"
    out = run(missing, "status", code=1)
    assert f"{missing}: file not found" in out and "the default location" in out


def test_notify_test_writes_only_to_enable_a_disabled_notifier(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver()
    monkeypatch.setenv("MONITOR_TEST_HOOK_SECRET", SECRET)
    project.write_text(
        project.read_text(encoding="utf-8")
        + f'\n[notifiers.hook]\ntype = "webhook"\nurl = "{receiver.url}"\n'
        'secret_env = "MONITOR_TEST_HOOK_SECRET"\n',
        encoding="utf-8",
    )
    try:
        assert "test message sent through hook" in run(project, "notify", "test", "hook")
        assert not database(project).exists()
        run(project, "poll")
        with closing(SQLiteArchive(database(project))) as archive:
            archive.disable_notifier("hook", "410 Gone", datetime.now(UTC))
        out = run(project, "notify", "test", "hook")
        assert "notifier hook was disabled; it works again and is enabled" in out
        with closing(sqlite3.connect(database(project))) as watcher:
            version = watcher.execute("PRAGMA data_version").fetchone()[0]
            assert "was disabled" not in run(project, "notify", "test", "hook")
            assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
        with closing(SQLiteArchive(database(project))) as archive:
            assert archive.disabled_notifiers() == {}
    finally:
        receiver.stop()
