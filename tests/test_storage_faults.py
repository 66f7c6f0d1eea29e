"""The service meets real storage faults: a full disk, a deleted, replaced, read-only or
damaged archive, a metrics port in use.

Each is built for real (a small tmpfs filled up, a read-only mount, pages overwritten with
garbage) under `monitor run` as a subprocess, with loopback feeds and a webhook receiver.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.builders import LiveFeed
from tests.disks import fill, read_only_file, remount_read_only, small_disk
from tests.feedserver import FeedServer, Request, Response
from tests.procs import wait_for
from tests.servers import SECRET, Receiver, free_port
from tests.test_service_e2e import ROOT

ENV = {**os.environ, "HOOK_SECRET": SECRET}


def body(n: int) -> str:
    """A text of its own per story (near-identical ones would rightly be one story)."""
    cities = ["Geneva", "Vienna", "Oslo", "Lima", "Accra", "Hanoi", "Quito", "Dakar", "Perth"]
    city = cities[n % len(cities)]
    return (
        f"Delegations met in {city} on day {n} and agreed to resume the human rights dialogue "
        f"that {city} hosted {n + 2} years ago; talks number {n * 7 + 3} follow in week {n + 5}."
    )


class GatedFeed(LiveFeed):
    """A live feed whose responses wait while ``gate`` is clear."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = 0

    def response(self, request: object) -> Response:
        self.waiting += 1
        self.gate.wait()
        self.waiting -= 1
        return super().response(request)


class Service:
    """`monitor run` as a subprocess, its log lines collected as they come."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait(self, timeout: float = 30) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self._reader.join(timeout=10)
        print(self.log)  # shown by pytest when the test fails
        return code

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.wait()


def write_config(
    directory: Path, *, archive: Path, feed_url: str, hook_url: str, metrics_port: int | None = None
) -> Path:
    shutil.copytree(ROOT / "rules", directory / "rules", dirs_exist_ok=True)
    config = directory / "config.toml"
    metrics = f"metrics_port = {metrics_port}\n" if metrics_port else ""
    config.write_text(
        f"""
[archive]
url = "sqlite:///{archive}"

[service]
tick = "200ms"
deliver_every = "500ms"
reload_every = "300ms"
grace = "5s"
{metrics}
[delivery]
backoff = "100ms"
max_backoff = "300ms"

[notifiers.hook]
type = "webhook"
url = "{hook_url}"
secret_env = "HOOK_SECRET"
timeout = "30s"

[[feeds]]
url = "{feed_url}"
name = "Live"
interval = "1s"
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def feed(feed_server: FeedServer) -> Iterator[GatedFeed]:
    live = GatedFeed()
    feed_server.route("/live.xml", handler=live.response)
    try:
        yield live
    finally:
        live.gate.set()


def config_for(
    tmp_path: Path, archive: Path, feed_server: FeedServer, receiver: Receiver, **extra: int
) -> Path:
    return write_config(
        tmp_path,
        archive=archive,
        feed_url=feed_server.url("/live.xml"),
        hook_url=receiver.url,
        **extra,
    )


def one_line_error(service: Service, *expected: str) -> str:
    """The service ended with status 1 and one line saying what is wrong (no traceback)."""
    code = service.wait(timeout=60)
    assert code == 1, service.log
    assert "Traceback" not in service.log
    last = service.lines[-1]
    assert last.startswith("Error: "), service.log
    for text in expected:
        assert text in last
    return last


def checkpoint_fully(db: Path) -> None:
    """Move the write-ahead log into the database and empty it, so the next write needs
    new space on the disk."""
    with closing(sqlite3.connect(db, timeout=10)) as conn:
        for _ in range(200):
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.05)
    raise AssertionError("the log could not be checkpointed")


def requests_since(feed_server: FeedServer, count: int) -> list[Request]:
    return feed_server.requests_to("/live.xml")[count:]


# -- a full disk ----------------------------------------------------------------------------


def test_a_full_disk_sends_nothing_twice_and_the_service_recovers_on_its_own(
    tmp_path: Path, feed_server: FeedServer, feed: GatedFeed, receiver: Receiver
) -> None:
    """The disk fills up while a message is on its way and a poll is fetching: the message
    is not sent again though its delivery could not be recorded, the poll's items are not
    lost, the fault is logged without tracebacks, and once space is freed every alert
    arrives exactly once."""
    with small_disk(tmp_path / "disk") as disk:
        db = disk / "monitor.db"
        service = Service(config_for(tmp_path, db, feed_server, receiver))
        try:
            receiver.gate.clear()  # messages are claimed, then wait at the receiver
            for n in range(5):
                feed.add(f"Envoys Resume Rights Talks, Round {n}", body(n))
            wait_for(lambda: receiver.arrived >= 1)
            feed.gate.clear()  # the next poll claims the feed, then waits for its answer
            for n in range(5, 8):
                feed.add(f"Envoys Resume Rights Talks, Round {n}", body(n))
            wait_for(lambda: feed.waiting >= 1)

            checkpoint_fully(db)
            filler = fill(disk)
            receiver.gate.set()  # sent; recording that fails
            feed.gate.set()  # fetched; storing its items fails
            wait_for(lambda: "cannot record that" in service.log)
            wait_for(lambda: "the disk is full" in service.log)
            assert len(receiver.ids) == 1  # the batch stopped at the unrecorded outcome

            filler.unlink()
            wait_for(lambda: len(set(receiver.ids)) == 8, timeout=30)
            wait_for(lambda: "the archive takes writes again" in service.log)
            time.sleep(1.5)  # a few more delivery rounds: nothing more arrives
        finally:
            code = service.stop()
    posts = Counter(receiver.ids)
    assert len(posts) == 8 and set(posts.values()) == {1}, posts
    headlines = {d["items"][0]["headline"] for d in receiver.deliveries}
    assert headlines == {f"Envoys Resume Rights Talks, Round {n}" for n in range(8)}
    assert code == 0
    # (A job cut short by the stop itself may log one after "stopping": not a storage matter.)
    running = service.log.split("stopping: no new work")[0]
    assert "Traceback" not in running
    # Said when it began (and by the deliverer holding its outcome), not at every tick.
    full = [line for line in service.lines if "database or disk is full" in line]
    assert 1 <= len(full) <= 3, full


def test_a_full_disk_at_start_is_one_line(
    tmp_path: Path, feed_server: FeedServer, feed: GatedFeed, receiver: Receiver
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        db = disk / "monitor.db"
        config = config_for(tmp_path, db, feed_server, receiver)
        first = Service(config)
        feed.add("Envoys Resume Rights Talks", body(1))
        try:
            wait_for(lambda: len(receiver.ids) == 1)
        finally:
            assert first.stop() == 0
        filler = fill(disk)
        one_line_error(Service(config), f"{db}: the disk is full", "free some space")
        filler.unlink()
        again = Service(config)  # and once there is space, it starts
        try:
            wait_for(lambda: "monitor running" in again.log)
        finally:
            assert again.stop() == 0


# -- the archive deleted, replaced, read-only ----------------------------------------------


def test_an_archive_deleted_while_running_stops_the_service_and_no_new_one_is_made(
    tmp_path: Path, feed_server: FeedServer, feed: GatedFeed, receiver: Receiver
) -> None:
    db = tmp_path / "archive" / "monitor.db"
    config = config_for(tmp_path, db, feed_server, receiver)
    service = Service(config)
    feed.add("Envoys Resume Rights Talks", body(1))
    wait_for(lambda: len(receiver.ids) == 1)
    db.unlink()
    line = one_line_error(service, f"{db}: the archive file was deleted or replaced")
    assert "there is no file at that path now" in line and "put the archive back" in line
    # A restart (a supervisor's, at once) does not make a new archive to alert old news in.
    marker = tmp_path / "archive" / "monitor.db.gone"
    one_line_error(Service(config), f"{db} was deleted while the service had it open")
    assert not db.exists()
    marker.unlink()  # the way to say: start a new one
    fresh = Service(config)
    try:
        wait_for(lambda: "monitor running" in fresh.log and db.exists())
    finally:
        assert fresh.stop() == 0


def test_an_archive_replaced_while_running_stops_the_service(
    tmp_path: Path, feed_server: FeedServer, feed: GatedFeed, receiver: Receiver
) -> None:
    db = tmp_path / "archive" / "monitor.db"
    service = Service(config_for(tmp_path, db, feed_server, receiver))
    feed.add("Envoys Resume Rights Talks", body(1))
    wait_for(lambda: len(receiver.ids) == 1)
    backup = tmp_path / "backup.db"
    with closing(sqlite3.connect(db)) as live, closing(sqlite3.connect(backup)) as copy:
        live.backup(copy)
    os.replace(backup, db)  # a restore from backup while the service runs
    line = one_line_error(service, f"{db}: the archive file was deleted or replaced")
    assert "another file is at that path now" in line


def test_a_read_only_archive_folder_is_one_line(
    tmp_path: Path, feed_server: FeedServer, receiver: Receiver
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        db = disk / "monitor.db"
        config = config_for(tmp_path, db, feed_server, receiver)
        first = Service(config)
        try:
            wait_for(lambda: "monitor running" in first.log)
        finally:
            assert first.stop() == 0
        remount_read_only(disk)
        one_line_error(Service(config), "cannot be written (Read-only file system)")


def test_a_read_only_archive_file_is_one_line(
    tmp_path: Path, feed_server: FeedServer, receiver: Receiver
) -> None:
    db = tmp_path / "archive" / "monitor.db"
    config = config_for(tmp_path, db, feed_server, receiver)
    first = Service(config)
    try:
        wait_for(lambda: "monitor running" in first.log)
    finally:
        assert first.stop() == 0
    with read_only_file(db):
        one_line_error(
            Service(config), f"{db}: the archive cannot be written", "make the file and its folder"
        )


# -- a damaged archive, the metrics port --------------------------------------------------


def overwrite_pages(db: Path, table: str, count: int = 1) -> list[int]:
    """Garbage over the first ``count`` pages of ``table`` (by SQLite's own page map)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = [
            p
            for (p,) in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno", (table,)
            )
        ][:count]
    with db.open("r+b") as f:
        for page in pages:
            f.seek((page - 1) * size)
            f.write(b"\xde\xad\xbe\xef" * (size // 4))
    return pages


def test_a_damaged_archive_is_one_line_at_start(
    tmp_path: Path, feed_server: FeedServer, feed: GatedFeed, receiver: Receiver
) -> None:
    db = tmp_path / "archive" / "monitor.db"
    config = config_for(tmp_path, db, feed_server, receiver)
    first = Service(config)
    feed.add("Envoys Resume Rights Talks", body(1))
    try:
        wait_for(lambda: len(receiver.ids) == 1)
    finally:
        assert first.stop() == 0
    overwrite_pages(db, "feeds")
    line = one_line_error(Service(config), f"{db}: the archive is damaged")
    assert "`monitor archive check`" in line and "`monitor export DIR`" in line


def test_a_garbage_file_as_archive_is_one_line(
    tmp_path: Path, feed_server: FeedServer, receiver: Receiver
) -> None:
    db = tmp_path / "archive" / "monitor.db"
    db.parent.mkdir()
    db.write_bytes(os.urandom(64 * 1024))
    config = config_for(tmp_path, db, feed_server, receiver)
    one_line_error(Service(config), f"{db}: the archive is damaged (file is not a database)")


def test_a_metrics_port_in_use_is_one_line(
    tmp_path: Path, feed_server: FeedServer, receiver: Receiver
) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        db = tmp_path / "archive" / "monitor.db"
        config = config_for(tmp_path, db, feed_server, receiver, metrics_port=port)
        one_line_error(
            Service(config), f"cannot serve /metrics on 127.0.0.1:{port}", "metrics_port"
        )
