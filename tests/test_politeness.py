"""Per-host politeness: a minimum spacing between requests to one host."""

from __future__ import annotations

import asyncio
import time

from monitor.config import FetchSettings
from monitor.fetch.fetcher import Fetcher
from monitor.fetch.limits import HostLimits
from tests.feedserver import FeedServer


def test_requests_to_one_host_are_spaced_and_other_hosts_are_not(
    feed_server: FeedServer,
) -> None:
    feed_server.route("/a.xml", body=b"<rss/>")
    settings = FetchSettings(host_spacing=0.3, per_host=4)
    other_host = feed_server.url("/a.xml").replace("127.0.0.1", "localhost")

    async def fetch_all() -> tuple[float, float]:
        async with Fetcher(settings) as fetcher:
            start = time.monotonic()
            await asyncio.gather(*(fetcher.fetch(feed_server.url("/a.xml")) for _ in range(3)))
            same = time.monotonic() - start
            start = time.monotonic()
            await fetcher.fetch(other_host)
            other = time.monotonic() - start
        return same, other

    same, other = asyncio.run(fetch_all())
    assert same >= 0.6  # starts at 0, 0.3 and 0.6 s
    assert other < 0.3  # a different host waits for nobody
    assert len(feed_server.requests_to("/a.xml")) == 4


def test_spacing_holds_across_fetchers_that_share_it(feed_server: FeedServer) -> None:
    feed_server.route("/a.xml", body=b"<rss/>")
    settings = FetchSettings(host_spacing=0.3)
    shared: dict[str, float] = {}

    async def one() -> None:
        async with Fetcher(settings, limits=HostLimits(settings, spacing=shared)) as fetcher:
            await fetcher.fetch(feed_server.url("/a.xml"))

    start = time.monotonic()
    asyncio.run(one())
    asyncio.run(one())
    assert time.monotonic() - start >= 0.3
