from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.aio import loop_factory
from tests.backends import BACKENDS, archive_url_for, postgres_database
from tests.feedserver import FeedServer
from tests.servers import SECRET, Mailbox, Receiver, smtp_server


class _ProgramsLoop(asyncio.DefaultEventLoopPolicy):
    """The tests' ``asyncio.run`` runs on the event loop the program runs on (monitor/aio.py)."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return loop_factory()()


asyncio.set_event_loop_policy(_ProgramsLoop())


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A loopback HTTP server serving per-test routes and logging every request."""
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped config, sample feeds and rules, with its own archive."""
    from tests.cli_project import ROOT

    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    return tmp_path / "config.toml"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """An SMTP server on loopback keeping the mail it receives, and its port."""
    box = Mailbox()
    with smtp_server(box) as port:
        yield box, port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback that checks signatures (tests/servers.py)."""
    hook = Receiver()
    try:
        yield hook
    finally:
        hook.gate.set()  # no request left waiting at a gate the test closed
        hook.stop()


@pytest.fixture
def hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook secret where configurations name it: secret_env = "HOOK_SECRET"."""
    monkeypatch.setenv("HOOK_SECRET", SECRET)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses ``archive_url`` runs on each backend; one marked ``sqlite_only``
    (it looks at SQLite's own file or statements) on SQLite alone."""
    if "archive_url" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only")
        metafunc.parametrize("archive_url", ("sqlite",) if only else BACKENDS, indirect=True)


@pytest.fixture
def archive_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty archive's URL, on the backend the test is run for."""
    with archive_url_for(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of an empty PostgreSQL database of the test's own."""
    with postgres_database() as url:
        yield url
