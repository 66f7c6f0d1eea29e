"""One ``monitor run`` per SQLite archive: a second one refuses with a clear error.

An advisory ``flock`` on a file beside the database; the kernel releases it when
the process dies, even by SIGKILL, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from monitor.archive.sqlite_faults import os_fault
from monitor.errors import MonitorError


class AlreadyRunning(MonitorError):
    pass


class ArchiveLock:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_url(cls, archive_url: str) -> ArchiveLock:
        if archive_url.startswith("sqlite:///"):
            return cls(Path(archive_url.removeprefix("sqlite:///") + ".lock"))
        return cls(None)  # a shared database: workers coordinate through leases instead

    def __enter__(self) -> ArchiveLock:
        if self.path is None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only folder, a full disk: said as the archive's
            raise os_fault(exc, str(self.path)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            database = self.path.with_suffix("")
            raise AlreadyRunning(
                f"another `monitor run` (pid {holder}) is using the archive {database}; "
                "stop it first, or give this one its own [archive] url"
            ) from None
        # The pid only names the holder in messages: a full disk must not stop the start.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def holder(self) -> str | None:
        """The pid of the process holding the lock now, or None when nobody does."""
        if self.path is None or not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 64).decode(errors="replace").strip() or "?"
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
