"""Full articles in the poll: a real loopback server serving feeds and article pages, the real
fetcher (with its address checks: the server's 127.0.0.1 is on the allow list), extractor and
SQLite archive. Each test checks which pages were requested, the text each story got and what
the archive recorded about it."""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.articles.extract import Article, read_page
from monitor.articles.fulltext import (
    ARTICLES_PER_HOST,
    same_story,
    wants_article,
    with_article,
    without_article,
)
from monitor.dedupe import ARTICLE_RETRY_DELAYS
from monitor.errors import ArchiveError
from monitor.poll.poller import PROCESS_POOL_MIN_FEEDS, Poller
from monitor.text.pagetext import read_page_text
from monitor.types import ArticleFailure, Entry, PollSummary, Story
from tests import builders
from tests.builders import rss
from tests.clock import START
from tests.feedserver import FeedServer, Request, Response
from tests.harness import PollHarness, harnesses

SEEDS = sorted((Path(__file__).parent / "fixtures" / "seeds").glob("*.txt"))
WORDS = (
    "harbour valley council minister treaty market tariff border summit envoy ministry delegation"
    " parliament budget harvest railway pipeline election court ruling strike union export import"
    " quota dispute ceasefire coalition referendum reform inflation currency shipment convoy"
)
VOCABULARY = WORDS.split()
LONG_TEXT = " ".join(["The valley's farmers expect an early harvest of apples this year."] * 30)


def seed(n: int) -> tuple[str, tuple[str, ...]]:
    headline, paragraphs = read_page_text(SEEDS[n].read_text(encoding="utf-8"))
    return headline, tuple(paragraphs)


def prose(n: int, sentences: int) -> tuple[str, ...]:
    """Paragraphs of made-up news text, each ``n`` its own (no two are near-duplicates)."""
    rng = random.Random(n)
    return tuple(
        " ".join(rng.choice(VOCABULARY) for _ in range(18)).capitalize() + "."
        for _ in range(sentences)
    )


def article_page(headline: str, paragraphs: tuple[str, ...]) -> str:
    """A news page around the story: the chrome a reader must not get, and metadata."""
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return f"""<!doctype html><html><head><title>{html.escape(headline)} | Example News</title>
<meta property="og:title" content="{html.escape(headline)}">
<meta property="article:published_time" content="2025-03-01T07:30:00Z">
<meta name="author" content="Jane Reporter"></head><body>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies</div>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/business">Business</a></nav>
<div class="app-banner">Get the app: read the news on the go</div>
<article><h1>{html.escape(headline)}</h1>
<div class="share-bar">Share on Facebook Share on Twitter Email this story</div>
<figure><img src="/p.jpg"><figcaption>Officials at the talks in Beijing.</figcaption></figure>
{body}
<aside class="related"><h3>Related stories</h3><ul><li><a href="/x">Markets rally on
trade hopes</a></li><li><a href="/y">Five things to know today</a></li></ul></aside>
</article><div class="ad">Advertisement</div>
<footer>Copyright 2025 Example News. All rights reserved.</footer></body></html>"""


def item(guid: str, title: str, text: str, link: str) -> str:
    return builders.item(html.escape(title), html.escape(text), link, guid=guid)


class Monitor(PollHarness):
    """A feed on the loopback server with full_article set, polled into a real archive."""

    def __init__(
        self,
        tmp_path: Path,
        server: FeedServer,
        mode: Any = "auto",
        also: tuple[Any, ...] = (),
        workers: int = 1,
        **extra: Any,
    ):
        super().__init__(
            tmp_path,
            server,
            # Each of ``also`` is a path (with ``mode``) or a (path, its own mode) pair.
            feeds=[
                {"url": server.url(path), "name": path, "full_article": feed_mode}
                for path, feed_mode in [
                    (a, mode) if isinstance(a, str) else a for a in ("/feed.xml", *also)
                ]
            ],
            fetch={
                "timeout": "3s",
                "connect_timeout": "2s",
                "read_timeout": "2s",
                "max_bytes": "1MB",
            },
            articles={"allow": ["127.0.0.1"], **extra},
            schedule={"workers": workers},
        )

    def poll(self, *, all_feeds: bool = True) -> PollSummary:
        summary = self.run_poll(all_feeds=all_feeds)
        assert all(o.status in ("updated", "unchanged") for o in summary.outcomes), summary
        return summary

    def all_stories(self) -> dict[str, Story]:
        return {s.url: s for s in self.archive.recent_stories(limit=1000)}

    def story(self, path: str) -> Story:
        return self.all_stories()[self.server.url(path)]

    def article_row(self, path: str) -> sqlite3.Row:
        return self.story_row(self.server.url(path))

    def requested(self, path: str) -> int:
        return len(self.server.requests_to(path))


@pytest.fixture
def make(tmp_path: Path, feed_server: FeedServer) -> Iterator[Any]:
    count = itertools.count()

    def build(
        mode: Any = "auto", also: tuple[Any, ...] = (), workers: int = 1, **extra: Any
    ) -> Monitor:
        return Monitor(tmp_path / f"m{next(count)}", feed_server, mode, also, workers, **extra)

    with harnesses(build) as factory:
        yield factory


def serve_seed_feed(
    server: FeedServer, paths: tuple[str, ...] = ("/feed.xml",)
) -> tuple[str, tuple[str, ...]]:
    """A feed whose first item is a one-paragraph summary of seed 0, whose page is served."""
    headline, paragraphs = seed(0)
    server.route("/a/1", article_page(headline, paragraphs), content_type="text/html")
    server.route("/a/2", article_page("Harvest", (LONG_TEXT,)), content_type="text/html")
    feed = rss(
        item("1", headline, paragraphs[0], server.url("/a/1")),
        item("2", "Early harvest in the valley", LONG_TEXT, server.url("/a/2")),
    )
    for path in paths:
        server.route(path, feed)
    return headline, paragraphs


BUSY = Response(status=503, body=b"busy", content_type="text/html")


def serve_summary(
    server: FeedServer, page: Response | Callable[[Request], Response]
) -> tuple[str, tuple[str, ...]]:
    """Seed 0 as an item of its first paragraph only, linking /a/1, which answers ``page``."""
    headline, paragraphs = seed(0)
    server.route("/a/1", handler=page if callable(page) else lambda request: page)
    server.route("/feed.xml", rss(item("1", headline, paragraphs[0], server.url("/a/1"))))
    return headline, paragraphs


def test_auto_replaces_a_short_summary_with_the_article(make: Any) -> None:
    monitor = make("auto")
    headline, paragraphs = serve_seed_feed(monitor.server)
    summary = monitor.poll()
    assert summary.new_stories == 2 and summary.articles == 1

    story = monitor.story("/a/1")
    assert story.content_source == "article" and story.article_error is None
    assert story.headline == headline
    # The page's paragraphs, and none of its cookie, app, share, caption, related or ad text.
    assert story.paragraphs == paragraphs
    assert "most-favored nation" in story.body  # deep in the article, not in the summary
    assert "most-favored nation" not in paragraphs[0]
    # The feed's item had its full text already: its page was never requested.
    long_one = monitor.story("/a/2")
    assert long_one.content_source == "feed" and long_one.article_error is None
    assert monitor.requested("/a/1") == 1 and monitor.requested("/a/2") == 0
    assert monitor.article_row("/a/1")["article_tries"] == 1


def test_only_new_items_are_fetched_and_the_article_text_stays(make: Any) -> None:
    monitor = make("auto")
    headline, paragraphs = serve_seed_feed(monitor.server)
    monitor.poll()
    other_headline, other = seed(1)
    monitor.server.route("/a/3", article_page(other_headline, other), content_type="text/html")
    # The feed changes: the summary of item 1 is edited, and an item is added.
    monitor.server.route(
        "/feed.xml",
        rss(
            item("1", headline, paragraphs[0] + " (Updated.)", monitor.server.url("/a/1")),
            item("3", other_headline, other[0], monitor.server.url("/a/3")),
        ),
    )
    summary = monitor.poll()
    assert summary.new_stories == 1 and summary.changed_stories == 0 and summary.articles == 1
    assert monitor.requested("/a/1") == 1 and monitor.requested("/a/3") == 1
    assert monitor.story("/a/1").paragraphs == paragraphs  # not the edited summary
    assert monitor.story("/a/3").paragraphs == other


def test_feeds_that_link_the_same_page_share_one_fetch(make: Any) -> None:
    monitor = make("auto", also=("/other.xml",))
    serve_seed_feed(monitor.server, ("/feed.xml", "/other.xml"))
    summary = monitor.poll()
    assert summary.new_stories == 2 and summary.articles == 1
    assert monitor.requested("/a/1") == 1
    assert monitor.story("/a/1").sources == ("/feed.xml", "/other.xml")


def test_never_fetches_nothing_and_always_fetches_long_items_too(make: Any) -> None:
    never = make(False)
    serve_seed_feed(never.server)
    never.poll()
    assert never.requested("/a/1") == 0 and never.story("/a/1").content_source == "feed"

    always = make(True)  # an archive of its own: every item is new again
    always.poll()
    assert always.requested("/a/1") == 1 and always.requested("/a/2") == 1
    # The long item's page holds the same text as the feed: the feed's text is kept.
    row = always.article_row("/a/2")
    assert row["content_source"] == "feed"
    assert row["article_error"] == "the page has no more text than the feed"
    assert row["article_retry"] is None


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (Response(status=404, body=b"gone", content_type="text/html"), "HTTP 404 Not Found"),
        (Response(status=410, body=b"gone", content_type="text/html"), "HTTP 410"),
        (Response(body=b"%PDF-1.4 ...", content_type="application/pdf"), "not a web page"),
        (Response(body=b"<html><body></body></html>", content_type="text/html"), "no article"),
        (Response(body=b"\x00" * 100_000, content_type="text/html"), "no article"),
        (Response(body=iter(lambda: b"<p>spam</p>" * 1000, None), content_type="text/html"), "cap"),
    ],
    ids=["404", "410", "pdf", "empty", "nul-bytes", "endless"],
)
def test_a_page_that_fails_keeps_the_feed_text_for_good(
    make: Any, response: Response, reason: str
) -> None:
    monitor = make("auto")
    paragraphs = serve_summary(monitor.server, response)[1]
    summary = monitor.poll()
    assert summary.new_stories == 1 and summary.articles == 0
    story = monitor.story("/a/1")
    assert story.paragraphs == paragraphs[:1] and story.content_source == "feed"
    assert story.article_error is not None and reason in story.article_error
    assert monitor.article_row("/a/1")["article_retry"] is None  # it would fail again


def test_a_blocked_address_is_never_requested_and_the_story_kept(make: Any) -> None:
    monitor = make("auto")
    headline = seed(0)[0]
    port = monitor.server.port
    links = [f"http://127.0.0.2:{port}/a/1", f"http://[::1]:{port}/a/2", "http://10.0.0.1/a/3"]
    monitor.server.route("/redirect", status=302, headers={"Location": links[0]})
    links.append(monitor.server.url("/redirect"))  # allowed, and redirects to a blocked one
    monitor.server.route(
        "/feed.xml",
        rss(
            *(item(str(i), f"{headline} {i}", prose(i, 1)[0], link) for i, link in enumerate(links))
        ),
    )
    assert monitor.poll().new_stories == 4
    stories = monitor.all_stories()
    assert len(stories) == 4
    for story in stories.values():
        assert story.content_source == "feed" and len(story.paragraphs) == 1
        assert story.article_error is not None and "refusing" in story.article_error
    assert [r.path for r in monitor.server.requests if r.path.startswith("/a/")] == []
    counts = monitor.archive.article_counts(START - timedelta(days=1))
    assert (counts["article"], counts["feed"], counts["waiting"]) == (0, 4, 0)
    assert sum(n for key, n in counts.items() if key.startswith("error: refusing")) == 4


def test_a_transient_failure_is_tried_again_and_then_matched(make: Any) -> None:
    monitor = make("auto")
    headline, paragraphs = seed(0)
    page = article_page(headline, paragraphs)
    answers = [BUSY] * 2

    def handler(request: Request) -> Response:
        return answers.pop(0) if answers else Response(body=page, content_type="text/html")

    serve_summary(monitor.server, handler)
    matched: list[str] = []
    monitor.poller._matcher = lambda headline, body, sources: matched.append(body) or ()
    monitor.poll()
    row = monitor.article_row("/a/1")
    assert row["content_source"] == "feed" and "HTTP 503" in row["article_error"]
    assert row["article_retry"] == pytest.approx(START.timestamp() + ARTICLE_RETRY_DELAYS[0])

    # Not due yet: nothing is fetched.
    monitor.clock.now = START + timedelta(seconds=ARTICLE_RETRY_DELAYS[0] - 10)
    assert monitor.poll(all_feeds=False).articles_retried == 0
    assert monitor.requested("/a/1") == 1

    monitor.clock.now = START + timedelta(seconds=ARTICLE_RETRY_DELAYS[0] + 1)
    assert monitor.poll(all_feeds=False).articles_retried == 1  # fails again: 503
    row = monitor.article_row("/a/1")
    assert row["article_tries"] == 2 and row["content_source"] == "feed"

    monitor.clock.now += timedelta(seconds=ARTICLE_RETRY_DELAYS[1] + 1)
    summary = monitor.poll(all_feeds=False)
    assert summary.articles_retried == 1 and summary.retry_changed == 1
    story = monitor.story("/a/1")
    assert story.content_source == "article" and story.paragraphs == paragraphs
    assert story.article_error is None and monitor.article_row("/a/1")["article_retry"] is None
    # The story was matched with the feed's text when new and with the article's now.
    assert matched == [paragraphs[0], "\n\n".join(paragraphs)]
    assert monitor.requested("/a/1") == 3


def test_retries_give_up_after_the_last_delay(make: Any) -> None:
    monitor = make("auto")
    paragraphs = serve_summary(monitor.server, replace(BUSY, status=500))[1]
    monitor.poll()
    for delay in ARTICLE_RETRY_DELAYS:
        monitor.clock.now += timedelta(seconds=delay + 1)
        assert monitor.poll(all_feeds=False).articles_retried == 1
    monitor.clock.now += timedelta(days=30)
    assert monitor.poll(all_feeds=False).articles_retried == 0
    row = monitor.article_row("/a/1")
    assert row["article_tries"] == 1 + len(ARTICLE_RETRY_DELAYS) and row["article_retry"] is None
    assert monitor.story("/a/1").paragraphs == paragraphs[:1]


def test_a_burst_of_new_items_is_fetched_partly_now_and_the_rest_soon(make: Any) -> None:
    monitor = make("auto")
    count = ARTICLES_PER_HOST + 5
    items = []
    for i in range(count):
        text = prose(i, 6)
        monitor.server.route(f"/a/{i}", article_page(f"Story {i}", text), content_type="text/html")
        items.append(item(str(i), f"Story {i}", text[0], monitor.server.url(f"/a/{i}")))
    monitor.server.route("/feed.xml", rss(*items))
    summary = monitor.poll()
    assert summary.new_stories == count and summary.articles == ARTICLES_PER_HOST
    waiting = [s for s in monitor.all_stories().values() if s.content_source == "feed"]
    assert len(waiting) == 5 and all("not fetched yet" in (s.article_error or "") for s in waiting)

    monitor.clock.now += timedelta(seconds=ARTICLE_RETRY_DELAYS[0] + 1)
    assert monitor.poll(all_feeds=False).articles_retried == 5
    assert all(s.content_source == "article" for s in monitor.all_stories().values())
    assert sum(len(monitor.server.requests_to(f"/a/{i}")) for i in range(count)) == count


def test_wants_article_decides_by_mode_length_and_teaser_endings() -> None:
    def entry(*paragraphs: str, link: str = "https://news.example/a") -> Entry:
        return builders.entry(url=link, headline="H", body=paragraphs)

    long = " ".join(["word"] * 200)
    assert wants_article("auto", entry("A short summary."), 150)
    assert wants_article("auto", entry(), 150)
    assert not wants_article("auto", entry(long), 150)
    assert wants_article("auto", entry(long), 300)
    for ending in ("\u2026", "...", "[\u2026]", " Read more", " Continue reading \u00bb"):
        assert wants_article("auto", entry(long + ending), 150), ending
    assert wants_article("always", entry(long), 150)
    assert not wants_article("never", entry("Short."), 150)
    assert not wants_article("always", entry("Short.", link=""), 150)


def test_read_page_uses_the_charset_of_the_response() -> None:
    text = "Переговоры о правах человека возобновятся в сентябре, сообщил министр. " * 5  # noqa: RUF001
    page = f"<html><body><article><h1>Переговоры</h1><p>{text}</p></article></body></html>"
    article = read_page(
        page.encode("cp1251"), "https://news.example/a", "text/html; charset=cp1251"
    )
    assert article.paragraphs == (text.strip(),)


def test_with_many_feeds_pages_are_extracted_in_the_parse_pool(make: Any) -> None:
    count = PROCESS_POOL_MIN_FEEDS
    monitor = make("auto", also=tuple(f"/f/{i}.xml" for i in range(1, count)), workers=2)
    paths = ("/feed.xml", *(f"/f/{i}.xml" for i in range(1, count)))
    for i, path in enumerate(paths):
        text = prose(i, 5)
        monitor.server.route(f"/a/{i}", article_page(f"Story {i}", text), content_type="text/html")
        monitor.server.route(
            path, rss(item(str(i), f"Story {i}", text[0], monitor.server.url(f"/a/{i}")))
        )
    summary = monitor.poll()
    assert monitor.poller._pool is not None  # the process pool did the parsing and extracting
    assert summary.new_stories == count and summary.articles == count
    assert all(len(s.paragraphs) == 5 for s in monitor.all_stories().values())


def test_an_article_read_for_another_feed_upgrades_the_story_it_joins(make: Any) -> None:
    """The feed without full articles stores the story first; the other's page still counts."""
    monitor = make(False, also=(("/b.xml", True),))
    paragraphs = serve_seed_feed(monitor.server, ("/feed.xml", "/b.xml"))[1]
    monitor.poll()
    story = monitor.story("/a/1")
    assert story.sources == ("/feed.xml", "/b.xml") and monitor.requested("/a/1") == 1
    assert story.content_source == "article" and story.paragraphs == paragraphs


def test_a_copy_under_another_url_is_one_story_with_or_without_its_article(make: Any) -> None:
    """The same wire summary at two sites: the article of the second still joins the first."""
    monitor = make(False, also=(("/b.xml", "auto"), ("/c.xml", "auto")))
    headline, paragraphs = seed(0)
    summary = " ".join(paragraphs[:2])
    monitor.server.route("/b/1", article_page(headline, paragraphs), content_type="text/html")
    monitor.server.route("/feed.xml", rss(item("1", headline, summary, monitor.server.url("/a/1"))))
    monitor.server.route("/b.xml", rss())
    monitor.server.route("/c.xml", rss())
    monitor.poll()
    monitor.server.route("/b.xml", rss(item("x", headline, summary, monitor.server.url("/b/1"))))
    monitor.poll()
    (story,) = monitor.all_stories().values()
    assert story.sources == ("/feed.xml", "/b.xml")
    assert story.content_source == "article" and story.paragraphs == paragraphs
    # And a third site's summary-only copy is recognised by the feed text the story came with.
    monitor.server.route("/c.xml", rss(item("y", headline, summary, "http://c.example/1")))
    monitor.poll()
    assert len(monitor.all_stories()) == 1


def test_a_story_with_its_article_takes_a_corrected_headline(make: Any) -> None:
    monitor = make("auto")
    headline, paragraphs = serve_seed_feed(monitor.server)
    monitor.poll()
    corrected = f"Corrected: {headline}"
    monitor.server.route(
        "/feed.xml", rss(item("1", corrected, paragraphs[0], monitor.server.url("/a/1")))
    )
    assert monitor.poll().changed_stories == 1
    story = monitor.story("/a/1")
    assert story.headline == corrected and story.paragraphs == paragraphs


def test_a_failed_retry_never_undoes_the_feed_s_newer_text(make: Any) -> None:
    monitor = make("auto")
    headline, paragraphs = serve_summary(monitor.server, BUSY)
    link = monitor.server.url("/a/1")
    monitor.poll()
    # In one poll: the feed edits the item, and the due retry of its page fails again.
    edited = paragraphs[0] + " The talks were later postponed."
    monitor.server.route("/feed.xml", rss(item("1", f"{headline} (updated)", edited, link)))
    monitor.clock.now += timedelta(seconds=ARTICLE_RETRY_DELAYS[0] + 1)
    summary = monitor.poll()
    assert summary.articles_retried == 1 and summary.changed_stories == 1
    story = monitor.story("/a/1")
    assert story.headline == f"{headline} (updated)" and story.paragraphs == (edited,)
    assert monitor.article_row("/a/1")["article_tries"] == 2


def test_a_retry_claimed_twice_keeps_the_article_it_got(make: Any) -> None:
    monitor = make("auto")
    headline, paragraphs = serve_summary(monitor.server, BUSY)
    monitor.poll()
    archive = monitor.archive
    due = START + timedelta(seconds=ARTICLE_RETRY_DELAYS[0] + 1)
    (first,) = archive.claim_article_retries(due, limit=9, lease_seconds=60)
    (second,) = archive.claim_article_retries(
        due + timedelta(seconds=61), limit=9, lease_seconds=60
    )
    read = with_article(first.entry, Article(headline=headline, paragraphs=paragraphs))
    late = without_article(second.entry, ArticleFailure(reason="timed out", retry=True))
    archive.store_entries(first.feed_urls[0], [read], due + timedelta(seconds=100))
    archive.store_entries(second.feed_urls[0], [late], due + timedelta(seconds=120))
    story = monitor.story("/a/1")
    assert (story.content_source, story.article_error) == ("article", None)
    assert story.paragraphs == paragraphs
    assert monitor.article_row("/a/1")["article_retry"] is None


def test_retries_stop_when_no_configured_feed_wants_articles(make: Any) -> None:
    monitor = make("auto")
    serve_summary(monitor.server, BUSY)
    monitor.poll()
    monitor.poller.close()
    off = replace(
        monitor.config, feeds=tuple(replace(f, full_article="never") for f in monitor.config.feeds)
    )
    monitor.poller = Poller(off, monitor.archive, clock=monitor.clock, owner="test")
    monitor.clock.now += timedelta(seconds=ARTICLE_RETRY_DELAYS[0] + 1)
    assert monitor.poll(all_feeds=False).articles_retried == 1
    row = monitor.article_row("/a/1")
    assert "full_article is off" in row["article_error"] and row["article_retry"] is None
    assert monitor.requested("/a/1") == 1
    # A feed removed from the configuration: its stories' retries end as well.
    monitor.poller.close()
    with sqlite3.connect(monitor.db_path) as db:
        db.execute("UPDATE stories SET article_retry = ?", (START.timestamp(),))
    monitor.poller = Poller(replace(off, feeds=()), monitor.archive, clock=monitor.clock, owner="t")
    assert asyncio.run(monitor.poller.poll()).articles_retried == 0
    assert monitor.article_row("/a/1")["article_retry"] is None


def test_a_cancelled_poll_records_no_failures_and_keeps_its_retries(make: Any) -> None:
    monitor = make("auto")
    count = 4
    for i in range(count):
        monitor.server.route(f"/a/{i}", handler=lambda request: BUSY)
    monitor.server.route(
        "/feed.xml",
        rss(
            *(
                item(str(i), f"Story {i}", prose(i, 1)[0], monitor.server.url(f"/a/{i}"))
                for i in range(count)
            )
        ),
    )
    monitor.poll()

    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response(body=article_page("Story", prose(99, 5)), content_type="text/html")

    for i in range(count):
        monitor.server.route(f"/a/{i}", handler=slow)
    monitor.clock.now += timedelta(seconds=ARTICLE_RETRY_DELAYS[0] + 1)

    async def cancelled_poll() -> None:
        task = asyncio.create_task(monitor.poller.poll())
        await asyncio.sleep(0.3)
        task.cancel()  # the service stopping after its grace time
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(1.5)  # anything left running would record its failure now

    asyncio.run(cancelled_poll())
    for i in range(count):
        row = monitor.article_row(f"/a/{i}")
        assert row["article_tries"] == 1 and row["article_error"] == "HTTP 503"
        assert (
            row["article_retry"] > monitor.clock.now.timestamp()
        )  # claimed: tried after the lease


def test_retry_after_puts_the_next_attempt_off(make: Any) -> None:
    monitor = make("auto")
    serve_summary(monitor.server, replace(BUSY, status=429, headers={"Retry-After": "7200"}))
    monitor.poll()
    assert monitor.article_row("/a/1")["article_retry"] == pytest.approx(START.timestamp() + 7200)


def test_a_page_about_something_else_is_not_taken() -> None:
    assert not same_story(
        "China ready to resume human rights talks", "Before you continue to Google"
    )
    assert same_story("China ready to resume human rights talks", "Rights talks to resume | Wire")
    assert same_story("Brief", "Anything at all")  # too few words to tell


def test_read_page_survives_charset_labels_that_are_no_encodings() -> None:
    page = (
        b"<html><body><article><p>"
        + b"Plain words in a page. " * 20
        + b"</p></article></body></html>"
    )
    for label in ("undefined", "rot13", "hex", "no-such-charset"):
        assert read_page(page, "https://news.example/a", f"text/html; charset={label}").paragraphs


def test_an_archive_that_takes_no_writes_fails_the_poll_with_its_own_error(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitor = make("auto")
    serve_seed_feed(monitor.server)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ArchiveError("database or disk is full")

    monkeypatch.setattr(monitor.archive, "store_entries", refuse)
    monkeypatch.setattr(monitor.archive, "record_poll", refuse)
    with pytest.raises(ArchiveError, match="disk is full"):  # not an ExceptionGroup
        asyncio.run(monitor.poller.poll(all_feeds=True))


def test_a_rewritten_summary_still_finds_copies_of_a_story_with_its_article(make: Any) -> None:
    monitor = make(False, also=(("/b.xml", False),))
    monitor.poller.close()  # the first feed reads articles, the second does not
    feeds = tuple(
        replace(f, full_article="always" if f.name == "/feed.xml" else "never")
        for f in monitor.config.feeds
    )
    monitor.poller = Poller(
        replace(monitor.config, feeds=feeds), monitor.archive, clock=monitor.clock, owner="test"
    )
    headline, paragraphs = seed(0)
    link = monitor.server.url("/a/1")
    monitor.server.route("/a/1", article_page(headline, paragraphs), content_type="text/html")
    monitor.server.route("/feed.xml", rss(item("1", headline, paragraphs[0], link)))
    monitor.server.route("/b.xml", rss())
    monitor.poll()
    rewritten = " ".join(paragraphs[1:3])  # the publisher rewrites its summary
    monitor.server.route("/feed.xml", rss(item("1", headline, rewritten, link)))
    monitor.poll()
    monitor.server.route("/b.xml", rss(item("x", headline, rewritten, "http://b.example/1")))
    monitor.poll()
    (story,) = monitor.all_stories().values()
    assert story.sources == ("/feed.xml", "/b.xml") and story.paragraphs == paragraphs
