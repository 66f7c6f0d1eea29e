"""SQLite's storage failures as the archive's own errors (``StorageFault``).

SQLite says "database or disk is full", "disk I/O error", "attempt to write a readonly
database" or "database disk image is malformed" as ``sqlite3.OperationalError`` or
``DatabaseError``, the same classes as a bad query. The primary result code tells them
apart; only these become faults, so a bug still shows as the error it is.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from monitor.errors import (
    ArchiveCorrupt,
    ArchiveError,
    ArchiveFull,
    ArchiveIOError,
    ArchiveReadOnly,
    ArchiveUnopenable,
    StorageFault,
)

# Primary result codes (https://sqlite.org/rescode.html).
_FAULTS: dict[int, type[StorageFault]] = {
    3: ArchiveReadOnly,  # SQLITE_PERM
    8: ArchiveReadOnly,  # SQLITE_READONLY
    10: ArchiveIOError,  # SQLITE_IOERR
    11: ArchiveCorrupt,  # SQLITE_CORRUPT
    13: ArchiveFull,  # SQLITE_FULL
    14: ArchiveUnopenable,  # SQLITE_CANTOPEN
    26: ArchiveCorrupt,  # SQLITE_NOTADB
}
_OS_FAULTS: dict[int, type[StorageFault]] = {
    errno.ENOSPC: ArchiveFull,
    errno.EDQUOT: ArchiveFull,
    errno.EROFS: ArchiveReadOnly,
    errno.EACCES: ArchiveReadOnly,
    errno.EPERM: ArchiveReadOnly,
    errno.EIO: ArchiveIOError,
}


def storage_fault(exc: sqlite3.Error, path: str) -> StorageFault | None:
    """The fault ``exc`` reports, or None when it is no storage failure."""
    code = getattr(exc, "sqlite_errorcode", None)
    cls = _FAULTS.get(code & 0xFF) if isinstance(code, int) else None
    if cls is ArchiveIOError and _no_space(path):
        # Growing the shared-memory file on a full disk fails as an I/O error.
        return ArchiveFull(path, f"{exc}: no space is left on its disk")
    return cls(path, str(exc)) if cls is not None else None


def _no_space(path: str) -> bool:
    try:
        return os.statvfs(os.path.dirname(os.path.abspath(path))).f_bavail == 0
    except OSError:
        return False


def os_fault(exc: OSError, path: str) -> ArchiveError:
    """An OSError met beside SQLite (making the folder, the lock file) as the archive's."""
    cls = _OS_FAULTS.get(exc.errno or 0)
    detail = exc.strerror or str(exc)
    return cls(path, detail) if cls is not None else ArchiveError(f"{path}: {detail}")


@contextmanager
def faults(path: str) -> Iterator[None]:
    """Raise SQLite's storage failures inside as StorageFault, from the original."""
    try:
        yield
    except sqlite3.Error as exc:
        fault = storage_fault(exc, path)
        if fault is None:
            raise
        raise fault from exc
