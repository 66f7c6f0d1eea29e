"""The poll harness: a configuration, a real SQLite archive and a Poller on a clock the test
moves, over feeds the loopback server serves. Test files subclass it for what they check."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from monitor.archive import Archive, open_archive
from monitor.config import Config, parse_config
from monitor.poll.poller import Poller
from monitor.types import FeedOutcome, FeedState, PollSummary, Story
from tests.clock import FakeClock
from tests.feedserver import FeedServer


def poll_config(folder: Path, **tables: Any) -> Config:
    """A configuration of ``tables`` (feeds=[...], fetch={...}, ...) whose archive is
    ``folder``/archive/monitor.db."""
    data = {"archive": {"url": "sqlite:///archive/monitor.db"}, **tables}
    return parse_config(data, folder / "config.toml")


class PollHarness:
    """``poll_config(tmp_path, **tables)``, its archive, and a Poller over both whose clock
    stands at ``tests.clock.START`` until the test moves ``clock``."""

    def __init__(self, tmp_path: Path, server: FeedServer, **tables: Any) -> None:
        self.server = server
        self.archive_dir = tmp_path / "archive"
        self.db_path = self.archive_dir / "monitor.db"
        self.config = poll_config(tmp_path, **tables)
        self.archive: Archive = open_archive(self.config.archive_url)
        self.clock = FakeClock()
        self.poller = Poller(self.config, self.archive, clock=self.clock, owner="test")
        self.names = {f.url: f.name for f in self.config.feeds}

    def close(self) -> None:
        self.poller.close()
        self.archive.close()

    def run_poll(self, *, all_feeds: bool = True) -> PollSummary:
        return asyncio.run(self.poller.poll(all_feeds=all_feeds))

    def outcomes(self, summary: PollSummary) -> dict[str, FeedOutcome]:
        """The poll's outcomes by feed name."""
        return {self.names[o.url]: o for o in summary.outcomes}

    def state(self, name: str, *, include_inactive: bool = False) -> FeedState:
        (state,) = [
            s for s in self.archive.feed_states(include_inactive=include_inactive) if s.name == name
        ]
        return state

    def stories(self, name: str) -> list[Story]:
        """The archived stories the feed ``name`` carried."""
        return [s for s in self.archive.iter_stories() if name in s.sources]

    def story_row(self, url: str) -> sqlite3.Row:
        """The article columns of the story at ``url``, read from the database file."""
        with contextlib.closing(sqlite3.connect(self.db_path)) as db:
            db.row_factory = sqlite3.Row
            row: sqlite3.Row | None = db.execute(
                "SELECT content_source, article_error, article_tries, article_retry"
                " FROM stories WHERE url = ?",
                (url,),
            ).fetchone()
        assert row is not None, url
        return row


H = TypeVar("H", bound=PollHarness)


@contextlib.contextmanager
def harnesses(build: Callable[..., H]) -> Iterator[Callable[..., H]]:
    """``build``, for a fixture to hand out: every harness it made is closed at the end."""
    made: list[H] = []

    def make(*args: Any, **kwargs: Any) -> H:
        made.append(build(*args, **kwargs))
        return made[-1]

    try:
        yield make
    finally:
        for harness in made:
            harness.close()
