"""What a poll means for the next one, end to end: a loopback server, the real fetcher and
parser, a real SQLite archive, and a clock the test moves."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.archive import Archive, open_archive
from monitor.config import Config
from monitor.poll.poller import Poller
from monitor.poll.schedule import spread
from monitor.types import FeedState
from tests.clock import START, FakeClock
from tests.feedserver import FeedServer, Request, Response
from tests.harness import poll_config


def rss(*, every: timedelta, ttl_minutes: int | None = None, items: int = 6) -> str:
    ttl = f"<ttl>{ttl_minutes}</ttl>" if ttl_minutes is not None else ""
    body = "".join(
        f"<item><title>Story {n}</title><link>http://news.example/{n}</link>"
        f"<pubDate>{format_datetime(START - n * every, usegmt=True)}</pubDate>"
        f"<description>What happened on the coast, part {n}.</description></item>"
        for n in range(items)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
        f"<link>http://news.example/</link>{ttl}{body}</channel></rss>"
    )


class Setup:
    """An archive polled by pollers over successive configurations, as after edits."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.clock = FakeClock()
        self.archive: Archive | None = None
        self.pollers: list[Poller] = []

    def config(self, feeds: list[dict[str, Any]], **schedule: Any) -> Config:
        return poll_config(self.tmp_path, schedule=schedule, feeds=feeds, fetch={"timeout": "5s"})

    def poller(self, feeds: list[dict[str, Any]], **schedule: Any) -> Poller:
        config = self.config(feeds, **schedule)
        if self.archive is None:
            self.archive = open_archive(config.archive_url)
        poller = Poller(config, self.archive, clock=self.clock, owner="test")
        self.pollers.append(poller)
        return poller

    def poll(self, poller: Poller, **kw: Any) -> dict[str, str]:
        summary = asyncio.run(poller.poll(**kw))
        return {o.url: o.status for o in summary.outcomes}

    def state(self, url: str) -> FeedState:
        assert self.archive is not None
        (state,) = [s for s in self.archive.feed_states() if s.url == url]
        return state

    def wait(self, url: str) -> float:
        """Seconds from the feed's last poll to its next."""
        state = self.state(url)
        assert state.next_poll is not None and state.last_polled is not None
        return (state.next_poll - state.last_polled).total_seconds()

    def close(self) -> None:
        for poller in self.pollers:
            poller.close()
        if self.archive is not None:
            self.archive.close()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path)
    yield made
    made.close()


def conditional(body: str, headers: dict[str, str], not_modified: dict[str, str]) -> Any:
    """A handler that answers 200 with an ETag, then 304 to a request that sends it back."""

    def handle(request: Request) -> Response:
        if request.header("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"', **not_modified})
        return Response(body=body, headers={"ETag": '"v1"', **headers})

    return handle


def test_an_explicit_interval_wins_over_max_age_and_ttl_after_200_and_304(
    setup: Setup, feed_server: FeedServer
) -> None:
    six_hours = {"Cache-Control": "max-age=21600"}
    body = rss(every=timedelta(days=7), ttl_minutes=360)
    url = feed_server.route("/feed", handler=conditional(body, six_hours, six_hours))
    poller = setup.poller([{"url": url, "interval": "2m"}])
    assert setup.poll(poller) == {url: "updated"}
    assert setup.wait(url) == 120
    setup.clock.advance(minutes=2)
    assert setup.poll(poller) == {url: "unchanged"}
    assert feed_server.requests_to("/feed")[-1].status == 304
    assert setup.wait(url) == 120
    assert setup.state(url).last_polled == setup.clock.now


def test_a_weekly_feed_without_an_interval_is_polled_at_the_default(
    setup: Setup, feed_server: FeedServer
) -> None:
    url = feed_server.route("/weekly", rss(every=timedelta(days=7), ttl_minutes=1440))
    for adaptive in (False, True):
        poller = setup.poller([{"url": url}], default_interval="15m", adaptive=adaptive)
        setup.poll(poller, all_feeds=True)
        assert setup.wait(url) == pytest.approx(900 * (1 - spread(url)))
        assert 810 <= setup.wait(url) <= 900


def test_an_adaptive_feed_is_planned_the_same_after_a_304(
    setup: Setup, feed_server: FeedServer
) -> None:
    # Items every 10 minutes: polled every 5; its ttl of 8 minutes lengthens that, and the
    # 304s (without the body, nor any Cache-Control) keep it.
    body = rss(every=timedelta(minutes=10), ttl_minutes=8)
    url = feed_server.route("/busy", handler=conditional(body, {}, {}))
    poller = setup.poller([{"url": url}], default_interval="1h", adaptive=True)
    assert setup.poll(poller) == {url: "updated"}
    expected = 480 * (1 - spread(url))
    assert setup.wait(url) == pytest.approx(expected)
    for _ in range(2):
        setup.clock.now = setup.state(url).next_poll or START
        assert setup.poll(poller) == {url: "unchanged"}
        assert setup.wait(url) == pytest.approx(expected)


def test_retry_after_is_honoured_for_a_feed_with_its_own_interval(
    setup: Setup, feed_server: FeedServer
) -> None:
    url = feed_server.route("/busy", status=429, headers={"Retry-After": "3600"})
    poller = setup.poller([{"url": url, "interval": "2m"}])
    assert setup.poll(poller) == {url: "failed"}
    assert setup.wait(url) == 3600
    assert setup.state(url).retry_until == START + timedelta(hours=1)
    setup.clock.advance(minutes=59)
    assert setup.poll(poller, all_feeds=False) == {}


def test_an_edited_interval_applies_at_once_to_a_scheduled_feed(
    setup: Setup, feed_server: FeedServer
) -> None:
    url = feed_server.route("/feed", rss(every=timedelta(hours=1)))
    hourly = setup.poller([{"url": url, "interval": "1h"}])
    assert setup.poll(hourly) == {url: "updated"}
    setup.clock.advance(minutes=10)
    assert setup.poll(hourly, all_feeds=False) == {}
    # The interval is edited to 2 m: the feed, polled 10 minutes ago, is due now.
    fast = setup.poller([{"url": url, "interval": "2m"}])
    assert setup.poll(fast, all_feeds=False) == {url: "unchanged"}
    assert setup.state(url).next_poll == setup.clock.now + timedelta(minutes=2)
    # Back to 1 h: pushed out to an hour after that poll, without polling it first.
    setup.clock.advance(minutes=1)
    slow = setup.poller([{"url": url, "interval": "1h"}])
    assert setup.poll(slow, all_feeds=False) == {}
    assert setup.state(url).next_poll == setup.clock.now + timedelta(minutes=59)
    assert len(feed_server.requests_to("/feed")) == 2


def test_an_edited_default_applies_at_once_and_keeps_the_backoff(
    setup: Setup, feed_server: FeedServer
) -> None:
    ok = feed_server.route("/ok", rss(every=timedelta(hours=1)))
    bad = feed_server.route("/bad", status=500)
    feeds = [{"url": ok}, {"url": bad}]
    poller = setup.poller(feeds, default_interval="1h")
    setup.poll(poller)
    setup.clock.now = setup.state(bad).next_poll or START
    setup.poll(poller, all_feeds=False)  # both feeds (the good one is due by then too)
    assert setup.state(bad).error_count == 2
    setup.clock.advance(minutes=1)
    edited = setup.poller(feeds, default_interval="1m", max_backoff="10m")
    assert setup.poll(edited, all_feeds=False) == {ok: "unchanged"}
    # The failing feed: a 1 m interval after 2 errors is 4 m, counted from its last poll.
    assert setup.wait(bad) == pytest.approx(240 * (1 - spread(bad)))


def test_only_the_feeds_asked_for_are_polled(setup: Setup, feed_server: FeedServer) -> None:
    urls = [feed_server.route(f"/{n}", rss(every=timedelta(hours=1))) for n in "abc"]
    poller = setup.poller([{"url": u, "interval": "1h"} for u in urls])
    assert setup.poll(poller, all_feeds=True, urls=[urls[1]]) == {urls[1]: "updated"}
    assert set(setup.poll(poller)) == {urls[0], urls[2]}  # due: never polled


def test_a_poll_in_flight_during_an_edit_is_planned_again_on_resync(
    setup: Setup, feed_server: FeedServer
) -> None:
    # The service keeps polls in flight on the configuration they started with; once they
    # are done, the new poller applies its configuration again (resync).
    release = threading.Event()
    asked = threading.Event()

    def slow(_: Request) -> Response:
        asked.set()
        release.wait(10)
        return Response(body=rss(every=timedelta(hours=1)))

    url = feed_server.route("/feed", handler=slow)
    hourly = setup.poller([{"url": url, "interval": "1h"}])
    in_flight = threading.Thread(target=setup.poll, args=(hourly,))
    in_flight.start()
    try:
        assert asked.wait(10)
        fast = setup.poller([{"url": url, "interval": "2m"}])
        assert setup.poll(fast, all_feeds=False) == {}  # leased by the poll in flight
    finally:
        release.set()
        in_flight.join()
    assert setup.wait(url) == 3600  # planned by the configuration it was polled under
    fast.resync()
    setup.clock.advance(minutes=2)
    assert setup.poll(fast, all_feeds=False) == {url: "unchanged"}
