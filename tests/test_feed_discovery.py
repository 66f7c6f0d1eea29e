"""Feed discovery: a feed URL that gives an HTML page linking feeds is resolved to the
feed it links, by the poller (recorded like a permanent move) and by `monitor feeds add`."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.parse.sniff import LinkedFeed, choose_feed, linked_feeds
from tests.cli_project import run
from tests.feedserver import FeedServer
from tests.harness import PollHarness


def rss(title: str, headline: str) -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://news.example/</link><description>d</description>"
        f"<item><title>{headline}</title><link>http://news.example/{len(headline)}</link>"
        f"<description>Some words about {headline}.</description></item></channel></rss>"
    ).encode()


def page(*links: str, title: str = "Example News") -> bytes:
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title>{''.join(links)}</head>"
        "<body><p>Welcome</p></body></html>"
    ).encode()


MAIN = '<link rel="alternate" type="application/rss+xml" title="Main news" href="/main.xml">'
COMMENTS = '<link rel="alternate" type="application/atom+xml" title="Comments" href="comments.xml">'


# -- which feeds a page links -------------------------------------------------------------------


def test_linked_feeds_of_a_page() -> None:
    body = page(
        MAIN,
        COMMENTS,
        '<link rel="stylesheet" href="/s.css">',
        '<link rel="alternate" type="text/html" href="/en">',
        '<link rel="alternate" type="application/feed+json; charset=utf-8" href="/f.json">',
        MAIN,  # the same link twice is one feed
    )
    found = linked_feeds(body, url="https://news.example/section/")
    assert found == (
        LinkedFeed(
            url="https://news.example/main.xml", title="Main news", type="application/rss+xml"
        ),
        LinkedFeed(
            url="https://news.example/section/comments.xml",
            title="Comments",
            type="application/atom+xml",
        ),
        LinkedFeed(url="https://news.example/f.json", title="", type="application/feed+json"),
    )


@pytest.mark.parametrize(
    "body",
    [
        rss("Feed", "A story"),
        b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
        b"plain text",
        b"",
        page(),
    ],
)
def test_a_feed_or_a_page_without_links_links_nothing(body: bytes) -> None:
    assert linked_feeds(body, url="https://news.example/") == ()


def test_choose_feed() -> None:
    linked = linked_feeds(page(MAIN, COMMENTS), url="https://news.example/")
    assert choose_feed(linked) == linked[0]
    assert choose_feed(linked, "comments") == linked[1]
    assert choose_feed(linked, "https://news.example/comments.xml") == linked[1]
    assert choose_feed(linked, "/comments.xml") == linked[1]
    assert choose_feed(linked, "Sports") is None
    assert choose_feed((), None) is None


# -- the poller ---------------------------------------------------------------------------------


def poll_harness(tmp_path: Path, server: FeedServer, **feed: str) -> PollHarness:
    return PollHarness(tmp_path, server, feeds=[{"name": "site", **feed}], fetch={})


def test_a_page_is_resolved_to_the_feed_it_links_and_polled_there(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    home = feed_server.route("/", page(MAIN, COMMENTS), content_type="text/html")
    feed_server.route("/main.xml", rss("Main", "Talks resume"))
    feed_server.route("/comments.xml", rss("Comments", "A comment"))
    harness = poll_harness(tmp_path, feed_server, url=home)
    try:
        outcome = harness.outcomes(harness.run_poll())["site"]
        assert outcome.status == "updated" and outcome.url == home, outcome
        state = harness.state("site")
        assert state.url == home and state.fetch_url == feed_server.url("/main.xml")
        assert [s.headline for s in harness.stories("site")] == ["Talks resume"]
        harness.run_poll()
        assert harness.state("site").error_count == 0
    finally:
        harness.close()
    assert len(feed_server.requests_to("/")) == 1  # from then on, the feed itself
    assert len(feed_server.requests_to("/main.xml")) == 2
    assert feed_server.requests_to("/comments.xml") == []


def test_discover_names_the_linked_feed(tmp_path: Path, feed_server: FeedServer) -> None:
    home = feed_server.route("/", page(MAIN, COMMENTS), content_type="text/html")
    feed_server.route("/comments.xml", rss("Comments", "A comment"))
    harness = poll_harness(tmp_path, feed_server, url=home, discover="Comments")
    try:
        assert harness.outcomes(harness.run_poll())["site"].status == "updated"
        assert harness.state("site").fetch_url == feed_server.url("/comments.xml")
    finally:
        harness.close()
    assert feed_server.requests_to("/main.xml") == []


def test_discover_that_matches_nothing_fails_naming_what_the_page_links(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    home = feed_server.route("/", page(MAIN, COMMENTS), content_type="text/html")
    harness = poll_harness(tmp_path, feed_server, url=home, discover="Sports")
    try:
        outcome = harness.outcomes(harness.run_poll())["site"]
    finally:
        harness.close()
    assert outcome.status == "failed"
    assert "none of the feeds it links is 'Sports' (discover): Main news, Comments" in (
        outcome.error or ""
    )


def test_a_page_without_feed_links_is_still_not_a_feed(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    home = feed_server.route("/", page(), content_type="text/html")
    harness = poll_harness(tmp_path, feed_server, url=home)
    try:
        outcome = harness.outcomes(harness.run_poll())["site"]
    finally:
        harness.close()
    assert outcome.status == "failed" and "not a feed: an HTML page" in (outcome.error or "")


# -- monitor feeds add --------------------------------------------------------------------------


def test_feeds_add_a_feed(project: Path, feed_server: FeedServer) -> None:
    url = feed_server.route("/main.xml", rss("Main News", "Talks resume"))
    out = run(project, "feeds", "add", url)
    assert f"Main News <{url}>" in out and f"added to {project} as 'Main News'" in out
    added = load_config(project).feeds[-1]
    assert (added.url, added.name) == (url, "Main News")
    again = run(project, "feeds", "add", url)
    assert "configured already" in again


def test_feeds_add_a_page_lists_its_feeds_and_adds_the_first(
    project: Path, feed_server: FeedServer
) -> None:
    home = feed_server.route("/", page(MAIN, COMMENTS), content_type="text/html")
    feed_server.route("/main.xml", rss("Main News", "Talks resume"))
    feed_server.route("/comments.xml", rss("Comments", "A comment"))
    out = run(project, "feeds", "add", home)
    main, comments = feed_server.url("/main.xml"), feed_server.url("/comments.xml")
    assert f"{home} is a page linking 2 feeds:" in out
    assert f"  1. Main news <{main}>" in out and f"  2. Comments <{comments}>" in out
    assert "adding 1 (--pick N for another)" in out
    assert load_config(project).feeds[-1].url == main
    run(project, "feeds", "add", home, "--pick", "2", "--name", "Talk")
    added = load_config(project).feeds[-1]
    assert (added.url, added.name) == (comments, "Talk")


def test_feeds_add_refuses_what_it_cannot_add(project: Path, feed_server: FeedServer) -> None:
    before = project.read_text()
    home = feed_server.route("/", page(MAIN), content_type="text/html")
    assert "--pick 3: the page links 1 feed" in run(
        project, "feeds", "add", home, "--pick", "3", code=1
    )
    blank = feed_server.route("/blank", page(), content_type="text/html")
    assert "not a feed: an HTML page" in run(project, "feeds", "add", blank, code=1)
    assert "not an http(s) URL" in run(project, "feeds", "add", "file:///etc/passwd", code=1)
    assert project.read_text() == before
