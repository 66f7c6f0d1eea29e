"""Polls that parse in the worker pool, when a parse fails, kills its worker or overruns.

Real components end to end: the loopback feed server, the fetcher, the pool's worker
processes, the parser and a SQLite archive. Enough feeds are polled for the pool to be used
(``PROCESS_POOL_MIN_FEEDS``), with two workers.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.poll.poller import PARSE_NICENESS, PROCESS_POOL_MIN_FEEDS
from monitor.types import FeedOutcome
from tests.feedserver import FeedServer
from tests.harness import PollHarness, harnesses
from tests.procs import alive, cpu_seconds, wait_until, workers_below

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")

ROOT = Path(__file__).resolve().parent.parent
VOCABULARY = (
    "harbour council budget bridge river election minister vote farmers harvest storm coast "
    "trade talks envoy summit rights court judge ruling museum festival rail strike union "
    "wages factory export market shares bank inflation drought flood rescue hospital nurses "
    "school teachers science telescope comet energy wind solar grid pipeline mayor city park "
    "forest wildfire police inquiry report"
)
WORDS = VOCABULARY.split()
NOT_A_FEED = (
    "<!doctype html><html><head><title>We have moved</title></head>"
    "<body><p>Our news is now at a new address.</p></body></html>"
)
ILL_FORMED = "<?xml version='1.0'?><data><row>1</row><row>2</data>"


def prose(seed: str, words: int) -> str:
    """Made-up news text, its own for each seed (no two are near-duplicates)."""
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def small_feed(name: str) -> str:
    items = "".join(
        f"<item><title>{name} story {k}</title><link>http://{name}.example/{k}</link>"
        f"<guid>{name}-{k}</guid><pubDate>Sat, 01 Mar 2025 0{k}:00:00 GMT</pubDate>"
        f"<description>{prose(f'{name}-{k}', 30)}</description></item>"
        for k in (1, 2)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{name}</title>'
        f"<link>http://{name}.example/</link><description>d</description>{items}</channel></rss>"
    )


def long_feed(name: str, entries: int) -> str:
    """A full-text Atom feed with a long history: one that takes its parser a while."""
    parts = []
    for i in range(entries):
        body = "".join(f"&lt;p&gt;{prose(f'{name}-{i}-{j}', 25)}&lt;/p&gt;" for j in range(2))
        parts.append(
            f"<entry><title>{name} story {i}</title><id>urn:{name}:{i}</id>"
            f'<link href="http://{name}.example/{i}"/><updated>2025-02-01T10:00:00Z</updated>'
            f'<content type="html">{body}</content></entry>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{name}</title><id>urn:{name}</id><updated>2025-02-01T10:00:00Z</updated>"
        + "".join(parts)
        + "</feed>"
    )


class Farm(PollHarness):
    """Feeds on the loopback server, polled with two parse workers into a real archive."""

    def __init__(
        self,
        tmp_path: Path,
        server: FeedServer,
        names: list[str],
        readers: tuple[str, ...] = (),
        **schedule: Any,
    ) -> None:
        """``readers``: the feeds that fetch every item's page (full_article = true)."""
        super().__init__(
            tmp_path,
            server,
            feeds=[
                {
                    "url": server.url(f"/{name}.xml"),
                    "name": name,
                    "full_article": name in readers,
                }
                for name in names
            ],
            schedule={"workers": 2, **schedule},
            articles={"allow": ["127.0.0.1"]},
        )
        for name in names:
            self.serve(name, small_feed(name))

    def serve(self, name: str, body: str, content_type: str = "application/rss+xml") -> None:
        self.server.route(f"/{name}.xml", body, content_type=content_type)

    def url(self, name: str) -> str:
        return self.server.url(f"/{name}.xml")

    def poll(self, *, all_feeds: bool = True) -> dict[str, FeedOutcome]:
        outcomes = self.outcomes(self.run_poll(all_feeds=all_feeds))
        for outcome in outcomes.values():
            assert "internal error" not in (outcome.error or ""), outcome
            assert "Broken" not in (outcome.error or ""), outcome
        return outcomes

    def article_retry(self, url: str) -> str | None:
        """When the story's article is due another attempt, if ever."""
        retry = self.story_row(url)["article_retry"]
        return None if retry is None else str(retry)


@pytest.fixture
def farms(tmp_path: Path, feed_server: FeedServer) -> Iterator[Any]:
    def build(names: list[str], readers: tuple[str, ...] = (), **schedule: Any) -> Farm:
        return Farm(tmp_path, feed_server, names, readers, **schedule)

    with harnesses(build) as make:
        yield make


READER_TEXT = "The council met on Tuesday to discuss the harbour budget."


def reader_feed(link: str) -> str:
    """One item whose page is at ``link``."""
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Reader</title>'
        "<link>http://reader.example/</link><description>d</description>"
        f"<item><title>Harbour budget</title><link>{link}</link><guid>reader-1</guid>"
        f"<description>{READER_TEXT}</description></item></channel></rss>"
    )


def slow_page(blocks: int = 20000) -> str:
    """A page of many short blocks: its extraction takes half a second or more."""
    return (
        "<!doctype html><html><head><title>Slow page</title></head><body>"
        + "".join(
            f"<div><div><p>{prose(f'block-{i}', 20)}</p><span>{prose(f'aside-{i}', 5)}</span>"
            "</div></div>"
            for i in range(blocks)
        )
        + "</body></html>"
    )


def names(count: int) -> list[str]:
    return [f"feed{i:02}" for i in range(count)]


def assert_archived(farm: Farm, outcomes: dict[str, FeedOutcome], names: list[str]) -> None:
    for name in names:
        assert outcomes[name].status == "updated", outcomes[name]
        assert outcomes[name].new == 2
        assert {s.headline for s in farm.stories(name)} == {f"{name} story {k}" for k in (1, 2)}


def test_feeds_that_are_not_feeds_fail_alone_in_the_parse_pool(farms: Any) -> None:
    good = names(22)
    farm = farms([*good, "page", "broken"])
    farm.serve("page", NOT_A_FEED, content_type="text/html")
    farm.serve("broken", ILL_FORMED, content_type="text/xml")

    outcomes = farm.poll()
    assert farm.poller._pool is not None  # parsed in worker processes
    # ... which give way to this process: its event loop and archive writer serve them all.
    for pid in farm.poller._pool.pids():
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(os.nice(0) + PARSE_NICENESS, 19)
    assert_archived(farm, outcomes, good)
    for name in ("page", "broken"):
        assert outcomes[name].status == "failed"
        assert outcomes[name].error is not None
        assert outcomes[name].error.startswith("not a feed: ")
        assert farm.state(name).last_error == outcomes[name].error

    # The pool is fine: the next poll parses every feed, the two repaired ones included.
    farm.serve("page", small_feed("page"))
    farm.serve("broken", small_feed("broken"))
    again = farm.poll()
    assert {o.status for n, o in again.items() if n in good} == {"unchanged"}
    assert_archived(farm, again, ["page", "broken"])


def test_a_worker_killed_mid_poll_fails_its_feed_alone_which_the_next_tick_polls(
    farms: Any,
) -> None:
    others = names(49)
    farm = farms([*others, "long"])
    farm.serve("long", long_feed("long", 1000), content_type="application/atom+xml")
    killed: list[int] = []

    def kill_the_long_parse() -> None:
        def pool_running() -> bool:
            pool = farm.poller._pool
            return pool is not None and any(j.label == farm.url("long") for j in pool.running())

        wait_until(pool_running, 60, "the long feed's parse")
        assert farm.poller._pool is not None
        (job,) = [j for j in farm.poller._pool.running() if j.label == farm.url("long")]
        os.kill(job.pid, signal.SIGKILL)
        killed.append(job.pid)

    killer = threading.Thread(target=kill_the_long_parse)
    killer.start()
    outcomes = farm.poll()
    killer.join()

    assert killed and not alive(killed[0])
    assert_archived(farm, outcomes, others)
    assert outcomes["long"].status == "failed"
    assert outcomes["long"].error == "parsing worker died (killed by signal 9, SIGKILL)"
    assert farm.state("long").next_poll <= farm.clock.now  # not backed off

    # The next tick (feeds due now only) polls just that feed, and archives it.
    farm.clock.now += timedelta(seconds=30)
    tick = farm.poll(all_feeds=False)
    assert set(tick) == {"long"}
    assert tick["long"].status == "updated" and tick["long"].new == 1000
    assert farm.state("long").error_count == 0

    # And a poll of every feed goes through the pool as usual.
    assert {o.status for o in farm.poll().values()} == {"unchanged"}


def test_a_parse_past_the_deadline_is_abandoned_and_fails_its_feed_alone(farms: Any) -> None:
    others = names(PROCESS_POOL_MIN_FEEDS + 4)
    # A parse of a few seconds (0.5 ms or so per entry) against a deadline of 0.3 s: the
    # other feeds' parses take milliseconds.
    farm = farms([*others, "endless"], parse_timeout="300ms")
    farm.serve("endless", long_feed("endless", 5000), content_type="application/atom+xml")

    outcomes = farm.poll()
    assert_archived(farm, outcomes, others)
    assert outcomes["endless"].status == "failed"
    assert outcomes["endless"].error == "parsing took longer than 0.3 s"
    assert farm.state("endless").next_poll > farm.clock.now  # backed off like any failure
    pool = farm.poller._pool
    assert pool is not None
    wait_until(lambda: len(pool.pids()) == 2, 60, "the replacement worker")
    assert all(alive(pid) for pid in pool.pids())

    farm.serve("endless", small_feed("endless"))
    again = farm.poll()
    assert {o.status for n, o in again.items() if n in others} == {"unchanged"}
    assert_archived(farm, again, ["endless"])


def test_killing_monitor_poll_leaves_no_process_behind(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A SIGKILL mid-poll: its forkserver, workers and resource tracker go too."""
    feeds = names(20)
    for name in feeds:
        feed_server.route(f"/{name}.xml", small_feed(name))
    for i in range(4):
        feed_server.route(
            f"/long{i}.xml", long_feed(f"long{i}", 1500), content_type="application/atom+xml"
        )
    (tmp_path / "rules").mkdir()  # no topics (and so no notifier needed): only the processes
    config = tmp_path / "config.toml"
    config.write_text(
        '[archive]\nurl = "sqlite:///archive/monitor.db"\n\n[schedule]\nworkers = 2\n'
        + "".join(
            f'\n[[feeds]]\nurl = "{feed_server.url(f"/{name}.xml")}"\n'
            for name in [*feeds, *(f"long{i}" for i in range(4))]
        ),
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "poll", "--once", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        tree: set[int] = set()

        def parsing() -> bool:
            # Workers are the forkserver's children, two levels below the poll; one busy
            # for a while is parsing a long feed.
            workers = workers_below(proc.pid, tree)
            return any(cpu_seconds(w) > 0.3 for w in workers) or proc.poll() is not None

        wait_until(parsing, 60, "a parse worker at work")
        assert proc.poll() is None, "the poll ended before it could be killed"
        proc.kill()
        proc.wait(timeout=60)
        try:
            wait_until(lambda: not any(alive(pid) for pid in tree), 30, "the processes to exit")
        except AssertionError:
            pytest.fail(f"left behind: {sorted(pid for pid in tree if alive(pid))}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_an_extraction_past_the_deadline_keeps_the_feeds_text(farms: Any) -> None:
    fillers = names(PROCESS_POOL_MIN_FEEDS + 2)
    # The page's extraction takes half a second or more, against a deadline of 0.15 s; a small
    # feed's parse takes a few milliseconds.
    farm = farms([*fillers, "reader"], readers=("reader",), parse_timeout="150ms")
    farm.server.route("/pages/slow", slow_page(), content_type="text/html")
    farm.serve("reader", reader_feed(farm.server.url("/pages/slow")))

    outcomes = farm.poll()
    assert outcomes["reader"].status == "updated" and outcomes["reader"].articles == 0
    (story,) = farm.stories("reader")
    assert story.content_source == "feed" and story.paragraphs == (READER_TEXT,)
    assert story.article_error == "extraction took longer than 0.15 s"
    assert farm.article_retry(story.url) is None  # the same page would take as long again


def test_an_extraction_whose_worker_dies_keeps_the_feeds_text_and_is_tried_again(
    farms: Any,
) -> None:
    fillers = names(PROCESS_POOL_MIN_FEEDS + 2)
    farm = farms([*fillers, "reader"], readers=("reader",))
    page = farm.server.route("/pages/slow", slow_page(), content_type="text/html")
    farm.serve("reader", reader_feed(page))

    def kill_the_extraction() -> None:
        def extracting() -> bool:
            pool = farm.poller._pool
            return pool is not None and any(j.label == page for j in pool.running())

        wait_until(extracting, 60, "the page's extraction")
        assert farm.poller._pool is not None
        (job,) = [j for j in farm.poller._pool.running() if j.label == page]
        os.kill(job.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_the_extraction)
    killer.start()
    outcomes = farm.poll()
    killer.join()

    assert_archived(farm, outcomes, fillers)
    assert outcomes["reader"].status == "updated" and outcomes["reader"].articles == 0
    (story,) = farm.stories("reader")
    assert story.content_source == "feed" and story.paragraphs == (READER_TEXT,)
    assert story.article_error == "extraction worker died (killed by signal 9, SIGKILL)"
    assert farm.article_retry(story.url) is not None


def test_without_worker_processes_feeds_are_parsed_in_threads(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # A program read from standard input cannot start forkserver workers (they would import
    # its __main__ from a file named "-"): parsing must go on all the same.
    names = [f"t{i:02d}" for i in range(PROCESS_POOL_MIN_FEEDS + 4)]
    for name in names:
        feed_server.route(f"/{name}.xml", small_feed(name), content_type="application/rss+xml")
    feeds = [{"url": feed_server.url(f"/{n}.xml"), "name": n} for n in names]
    script = f"""
import asyncio, logging
from pathlib import Path
from monitor.archive import open_archive
from monitor.config import parse_config
from monitor.poll.poller import Poller
logging.basicConfig(level=logging.ERROR)
config = parse_config({{"archive": {{"url": "sqlite:///archive.db"}}, "feeds": {feeds!r},
                       "schedule": {{"workers": 2}}}}, Path({str(tmp_path / "config.toml")!r}))
archive = open_archive(config.archive_url)
poller = Poller(config, archive)
summary = asyncio.run(poller.poll(all_feeds=True))
poller.close()
print(sorted({{o.status for o in summary.outcomes}}), archive.count_stories())
"""
    done = subprocess.run(
        [sys.executable, "-"], input=script, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['updated']", str(2 * len(names))]
    assert "no parse worker process could be started: parsing in threads" in done.stderr
