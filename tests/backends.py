"""The archive backends the tests run on: SQLite in a temporary folder, and PostgreSQL in a
database of the test's own, made for it and dropped after it.

PostgreSQL is the one on this machine (``MONITOR_TEST_POSTGRES``, by default the
``postgres`` user on 127.0.0.1:5432 with trust auth). Where it cannot be reached a test
that needs it is skipped, except under CI (``MONITOR_CI``, set by ``.ci/run``, which
starts it), where it fails: CI must run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from monitor.archive import Archive, open_archive
from monitor.archive.sql import SQLArchive

ADMIN_URL = os.environ.get("MONITOR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")


def _admin() -> object:
    try:
        import psycopg
    except ImportError:
        _cannot("psycopg is not installed (pip install -e '.[test]')")
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _cannot(f"PostgreSQL at {ADMIN_URL} cannot be reached: {exc}".strip())
    raise AssertionError("unreachable")


def _cannot(why: str) -> None:
    if os.environ.get("MONITOR_CI"):
        pytest.fail(f"{why}; CI starts PostgreSQL (.ci/run), so these tests must run")
    pytest.skip(why)


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a new, empty database, dropped (whoever is still connected) afterwards."""
    admin = _admin()
    name = f"monitor_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    parts = urlsplit(ADMIN_URL)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]


@contextmanager
def archive_url_for(backend: str, folder: Path) -> Iterator[str]:
    """An archive URL of ``backend``: a file in ``folder``, or a database of its own."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'archive' / 'monitor.db'}"
        return
    with postgres_database() as url:
        yield url


def reopen(archive: Archive) -> Archive:
    """Another connection to the same archive (a restart, another process)."""
    url = getattr(archive, "url", None) or f"sqlite:///{archive.path}"  # type: ignore[attr-defined]
    return open_archive(url)


def expire_leases(archive: SQLArchive) -> None:
    """Let every lease of feeds and messages run out, as time passing would on whichever
    clock times them (the caller's for SQLite, the database's for PostgreSQL)."""
    with archive._tx() as db:
        for table in ("feeds", "outbox"):
            db.execute(f"UPDATE {table} SET lease_until = 0 WHERE lease_until IS NOT NULL")
