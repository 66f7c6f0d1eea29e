"""Real storage faults for tests: a small file system to fill up, a read-only archive.

Mounting needs root (or CAP_SYS_ADMIN). Where it is not permitted a test is skipped,
except under CI (``MONITOR_CI``, set by ``.ci/run``), where it fails: CI must run them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _cannot(why: str) -> None:
    if os.environ.get("MONITOR_CI"):
        pytest.fail(f"{why}; CI runs these tests as root, where mount works")
    pytest.skip(why)


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        _cannot(f"mount {' '.join(args)} failed: {result.stderr.strip() or result.returncode}")


@contextlib.contextmanager
def small_disk(where: Path, size: str = "16m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where``: a disk that fills up for real."""
    where.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where))
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount_read_only(where: Path) -> None:
    """Make the file system mounted at ``where`` (a small_disk) read-only, as a disk that
    failed or a volume mounted ``:ro`` is: even root cannot write it."""
    _mount("-o", "remount,ro", str(where))


@contextlib.contextmanager
def read_only_file(path: Path) -> Iterator[None]:
    """``path`` alone cannot be written, its folder still can. As root chmod stops nothing,
    so the file is bind-mounted read-only onto itself; otherwise chmod does."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield
    finally:
        subprocess.run(["umount", str(path)], check=False)


def fill(directory: Path) -> Path:
    """A file taking every free byte of the file system ``directory`` is on; delete it to
    free the space again."""
    path = directory / "filler"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        chunk = 1 << 20
        block = bytes(chunk)
        while chunk:
            try:
                os.write(fd, block[:chunk])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk //= 2
    finally:
        os.close(fd)
    return path
