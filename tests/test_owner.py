"""Lease owners: a process of this host that has ended holds nothing, a live one keeps its
leases, and one that cannot be checked keeps them until they expire."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive import open_archive
from monitor.owner import default_owner, owner_gone, owner_of
from monitor.types import Feed
from tests.builders import archive_with

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FEEDS = [Feed(url=f"https://feeds.example/{n}", name=n) for n in ("alpha", "beta")]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def ended(proc: subprocess.Popen[bytes]) -> str:
    """The owner name of ``proc``, which is then killed and reaped."""
    owner = owner_of(proc.pid)
    proc.kill()
    proc.wait()
    return owner


def test_an_owner_names_host_pid_and_the_process_start(sleeper: subprocess.Popen[bytes]) -> None:
    host, pid, identity = default_owner().rsplit(":", 2)
    assert (host, pid) == (socket.gethostname(), str(os.getpid()))
    start, _, namespace = identity.partition("@")
    inode, _, boot = namespace.partition(".")
    assert start.isdigit() and inode.isdigit() and len(boot) == 32
    assert owner_of(sleeper.pid) != default_owner()
    assert not owner_gone(default_owner())
    assert not owner_gone(owner_of(sleeper.pid))


def test_an_ended_process_is_gone_reaped_or_not(sleeper: subprocess.Popen[bytes]) -> None:
    owner = owner_of(sleeper.pid)
    sleeper.send_signal(signal.SIGKILL)
    # Not yet reaped: a zombie, which still answers kill(pid, 0).
    os.waitid(os.P_PID, sleeper.pid, os.WEXITED | os.WNOWAIT)
    assert owner_gone(owner)
    sleeper.wait()
    assert owner_gone(owner)


def test_a_pid_taken_by_a_later_process_is_not_the_owner(
    sleeper: subprocess.Popen[bytes],
) -> None:
    host, pid, identity = owner_of(sleeper.pid).rsplit(":", 2)
    start, _, namespace = identity.partition("@")
    earlier = f"{host}:{pid}:{int(start) - 1}@{namespace}"  # the same pid, started before
    assert owner_gone(earlier)


def test_owners_that_cannot_be_checked_keep_their_leases(tmp_path: Path) -> None:
    gone = ended(subprocess.Popen(["true"]))
    host, pid, identity = gone.rsplit(":", 2)
    start, _, namespace = identity.partition("@")
    assert owner_gone(gone)
    assert not owner_gone(f"elsewhere.example:{pid}:{identity}")  # another host
    inode, _, boot = namespace.partition(".")
    assert not owner_gone(f"{host}:{pid}:{start}@{int(inode) + 1}.{boot}")  # another container
    # Another machine of the same name: its first pid namespace has the same inode.
    assert not owner_gone(f"{host}:{pid}:{start}@{inode}.{'0' * 32}")
    assert not owner_gone(f"{host}:{pid}")  # written without a start time
    assert not owner_gone("test")


def test_leases_of_an_ended_process_are_taken_over_at_once(archive_url: str) -> None:
    archive = archive_with(archive_url, FEEDS, NOW)
    live = subprocess.Popen(["sleep", "60"])
    try:
        dead = ended(subprocess.Popen(["true"]))
        for owner, feed in ((owner_of(live.pid), FEEDS[1]), (dead, FEEDS[0])):
            claimed = archive.claim_due(
                NOW, owner=owner, lease_seconds=500, limit=1, urls=[feed.url]
            )
            assert [s.url for s in claimed] == [feed.url]
        later = NOW + timedelta(seconds=5)
        claimed = archive.claim_due(later, owner=default_owner(), lease_seconds=500, limit=10)
        assert [s.url for s in claimed] == [FEEDS[0].url]  # the live one's stays its own
    finally:
        live.kill()
        live.wait()


def test_outbox_leases_of_an_ended_process_are_taken_over_at_once(archive_url: str) -> None:
    archive = open_archive(archive_url)
    live = subprocess.Popen(["sleep", "60"])
    try:
        for n, created in (("m1", NOW), ("m2", NOW + timedelta(seconds=1))):
            archive.enqueue_message(
                id=n, notifier="hook", kind="test", topic="", payload={}, now=created
            )
        dead = ended(subprocess.Popen(["true"]))
        at = NOW + timedelta(seconds=1)
        for owner, message in ((owner_of(live.pid), "m1"), (dead, "m2")):
            claimed = archive.claim_outbox(at, owner=owner, lease_seconds=900, limit=1)
            assert [e.id for e in claimed] == [message]
        later = NOW + timedelta(seconds=5)
        again = archive.claim_outbox(later, owner=default_owner(), lease_seconds=900, limit=10)
        assert [e.id for e in again] == ["m2"]
    finally:
        live.kill()
        live.wait()
