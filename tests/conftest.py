from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.feedserver import FeedServer


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A loopback HTTP server serving per-test routes and logging every request."""
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()
