"""Polling bad input end to end: a real loopback server, real fetcher, parser and SQLite archive.

Every test polls one misbehaving feed next to a well-behaved one ("good") and checks
both: the bad feed's outcome and the reason recorded on it, and that the good feed's
stories were archived as usual.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

import monitor.poll.poller
from monitor.parse.feed import parse_feed
from monitor.types import FeedOutcome, FeedState
from tests import builders
from tests.clock import START
from tests.feedserver import FeedServer, Request, Response
from tests.harness import PollHarness, harnesses
from tests.servers import free_port

CAP = 64 * 1024

GOOD_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
<title>Good News</title><link>http://good.example/</link><description>Fine</description>
<item><title>Good story one</title><link>http://good.example/one</link>
<guid>good-1</guid><pubDate>Sat, 01 Mar 2025 09:00:00 GMT</pubDate>
<description>The harbour reopened this morning after the storm passed over the coast.</description>
</item>
<item><title>Good story two</title><link>http://good.example/two</link>
<guid>good-2</guid><pubDate>Sat, 01 Mar 2025 10:00:00 GMT</pubDate>
<description>Farmers in the valley expect an early harvest of apples this year.</description>
</item>
</channel></rss>
"""
GOOD_HEADLINES = {"Good story one", "Good story two"}


def rss(items: str, *, prolog: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return builders.rss(items, title="Bad", site="http://bad.example/", prolog=prolog)


def item(title: str, body: str, link: str = "http://bad.example/story") -> str:
    return builders.item(title, body, link)


class Monitor(PollHarness):
    """A config, a real SQLite archive and a Poller, over feeds served by the loopback server.

    A feed named "good" serving GOOD_FEED is always added; every poll checks that it
    was polled (when due) without error and that its stories are in the archive.
    """

    def __init__(
        self,
        tmp_path: Path,
        server: FeedServer,
        feeds: list[dict[str, Any]],
        fetch: dict[str, Any] | None = None,
    ) -> None:
        server.route("/good.xml", GOOD_FEED)
        super().__init__(
            tmp_path,
            server,
            feeds=[*feeds, {"url": server.url("/good.xml"), "name": "good"}],
            fetch={
                "timeout": "5s",
                "connect_timeout": "2s",
                "read_timeout": "2s",
                "max_bytes": "64KiB",
                **(fetch or {}),
            },
        )

    def poll(self, *, all_feeds: bool = True) -> dict[str, FeedOutcome]:
        outcomes = self.outcomes(self.run_poll(all_feeds=all_feeds))
        self.check_good(outcomes)
        return outcomes

    def check_good(self, outcomes: dict[str, FeedOutcome]) -> None:
        if "good" in outcomes:
            good = outcomes["good"]
            assert good.status in ("updated", "unchanged"), good
            assert good.error is None
        assert self.state("good").error_count == 0
        assert {s.headline for s in self.stories("good")} == GOOD_HEADLINES

    def failed(self, outcome: FeedOutcome) -> str:
        """The reason of a failed outcome, checked to be recorded on the feed as it is."""
        assert outcome.status == "failed", outcome
        assert outcome.error is not None
        assert not outcome.error.startswith("internal error"), outcome.error
        (state,) = [s for s in self.archive.feed_states() if s.url == outcome.url]
        assert state.last_error == outcome.error
        assert state.error_count >= 1 and not state.gone
        return outcome.error

    def state(self, name: str, *, include_inactive: bool = True) -> FeedState:
        return super().state(name, include_inactive=include_inactive)

    def archived_bytes(self) -> bytes:
        """Everything on disk in the archive folder (database, WAL, shared memory)."""
        return b"".join(p.read_bytes() for p in sorted(self.archive_dir.iterdir()) if p.is_file())


MonitorFactory = Callable[..., Monitor]


@pytest.fixture
def make_monitor(tmp_path: Path, feed_server: FeedServer) -> Iterator[MonitorFactory]:
    def build(feeds: list[dict[str, Any]], fetch: dict[str, Any] | None = None) -> Monitor:
        return Monitor(tmp_path, feed_server, feeds, fetch)

    with harnesses(build) as make:
        yield make


def serve(server: FeedServer, path: str, body: bytes | str = b"", **kwargs: Any) -> dict[str, Any]:
    """Route ``path`` and return a [[feeds]] entry for it, named after the path."""
    return {"url": server.route(path, body, **kwargs), "name": path.strip("/")}


# -- feed formats -------------------------------------------------------------------------------

RSS_091 = """<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "{base}/rss-0.91.dtd">
<rss version="0.91"><channel>
<title>Wire 0.91</title><link>http://wire.example/</link>
<description>An old wire</description><language>en-us</language>
<item><title>Talks resume in Beijing</title><link>http://wire.example/1994/talks.html</link>
<description>Negotiators met again on Monday to discuss trade status.</description></item>
</channel></rss>
"""
RSS_092 = """<?xml version="1.0"?>
<rss version="0.92"><channel>
<title>Wire 0.92</title><link>http://wire.example/</link><description>d</description>
<item><title>Dialogue on rights</title><link>http://wire.example/1995/dialogue</link>
<description>&lt;p&gt;The first paragraph of the dialogue story.&lt;/p&gt;
&lt;p&gt;A second paragraph follows here, briefly.&lt;/p&gt;</description></item>
<item><link>http://wire.example/1995/untitled</link>
<description>An item without a title still has a body that says something.</description></item>
</channel></rss>
"""
RSS_10 = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
  xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://rdf.example/"><title>RDF wire</title>
<link>http://rdf.example/</link><description>d</description>
<items><rdf:Seq><rdf:li rdf:resource="http://rdf.example/a"/></rdf:Seq></items></channel>
<item rdf:about="http://rdf.example/a"><title>Trade status renewed</title>
<link>http://rdf.example/a</link>
<description>The president renewed the trade status for another year.</description>
<dc:date>2002-05-30T14:00:00+02:00</dc:date></item>
</rdf:RDF>
"""
RSS_20 = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>News 2.0</title><link>https://news.example/</link><description>d</description>
<item><title>Rights dialogue &amp; trade</title>
<link>https://news.example/2002/rights?utm_source=rss&amp;id=7</link>
<guid isPermaLink="false">tag:news.example,2002:7</guid>
<pubDate>Thu, 19 Dec 2002 08:30:00 -0500</pubDate>
<description>Short summary.</description>
<content:encoded><![CDATA[<p>First paragraph of the <b>full</b> text.</p>
<p>Second paragraph, with a <a href="/x">link</a> to more reading.</p>]]></content:encoded></item>
</channel></rss>
"""
ATOM_10 = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom wire</title><id>urn:uuid:feed</id>
<updated>2003-12-14T10:00:00Z</updated><link href="http://atom.example/"/>
<entry><title type="html">Envoys &lt;em&gt;meet&lt;/em&gt; in Geneva</title>
<link rel="alternate" href="http://atom.example/2003/envoys"/><id>urn:uuid:1</id>
<updated>2003-12-14T10:00:00Z</updated><published>2003-12-13T18:30:02Z</published>
<summary>Summary only.</summary>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
<p>Envoys met in Geneva on Saturday.</p><p>They agreed to meet again in March.</p>
</div></content></entry>
</feed>
"""

# (headline, body paragraphs, url, published; None means "when first seen")
Expected = tuple[str, tuple[str, ...], str, datetime | None]
FORMATS: dict[str, tuple[str, str, list[Expected]]] = {
    "rss-0.91": (
        RSS_091,
        "application/rss+xml",
        [
            (
                "Talks resume in Beijing",
                ("Negotiators met again on Monday to discuss trade status.",),
                "http://wire.example/1994/talks.html",
                None,
            )
        ],
    ),
    "rss-0.92": (
        RSS_092,
        "text/xml",
        [
            (
                "Dialogue on rights",
                (
                    "The first paragraph of the dialogue story.",
                    "A second paragraph follows here, briefly.",
                ),
                "http://wire.example/1995/dialogue",
                None,
            ),
            (
                "An item without a title still has a body that says something.",
                ("An item without a title still has a body that says something.",),
                "http://wire.example/1995/untitled",
                None,
            ),
        ],
    ),
    "rss-1.0": (
        RSS_10,
        "application/rdf+xml",
        [
            (
                "Trade status renewed",
                ("The president renewed the trade status for another year.",),
                "http://rdf.example/a",
                datetime(2002, 5, 30, 12, 0, tzinfo=UTC),
            )
        ],
    ),
    "rss-2.0": (
        RSS_20,
        "application/rss+xml",
        [
            (
                "Rights dialogue & trade",
                (
                    "First paragraph of the full text.",
                    "Second paragraph, with a link to more reading.",
                ),
                "https://news.example/2002/rights?id=7",
                datetime(2002, 12, 19, 13, 30, tzinfo=UTC),
            )
        ],
    ),
    "atom-1.0": (
        ATOM_10,
        "application/atom+xml",
        [
            (
                "Envoys meet in Geneva",
                ("Envoys met in Geneva on Saturday.", "They agreed to meet again in March."),
                "http://atom.example/2003/envoys",
                datetime(2003, 12, 13, 18, 30, 2, tzinfo=UTC),
            )
        ],
    ),
}


@pytest.mark.parametrize("kind", FORMATS)
def test_feed_formats_parse_into_stories(
    make_monitor: MonitorFactory, feed_server: FeedServer, kind: str
) -> None:
    text, content_type, expected = FORMATS[kind]
    body = text.format(base=feed_server.base_url).encode("utf-8")
    m = make_monitor([serve(feed_server, "/feed", body, content_type=content_type)])
    outcome = m.poll()["feed"]
    assert outcome.status == "updated" and outcome.new == len(expected), outcome
    got = sorted((s.headline, s.paragraphs, s.url, s.published) for s in m.stories("feed"))
    want = sorted((h, b, u, p or START) for h, b, u, p in expected)
    assert got == want
    assert feed_server.requests_to("/rss-0.91.dtd") == []  # the DTD is never fetched


JSON_FEED_11 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "JSON wire",
    "home_page_url": "https://json.example/",
    "authors": [{"name": "Wire desk"}],
    "items": [
        {
            "id": 1001,
            "url": "/2002/12/dialogue",
            "title": "Rights dialogue resumes",
            "content_html": "<p>Officials met in Beijing on Monday.</p>"
            "<p>Trade status was <em>not</em> on the agenda.</p>",
            "date_published": "2002-12-16T09:00:00+08:00",
        },
        {
            "id": "json-2",
            "external_url": "https://elsewhere.example/mfn",
            "title": "MFN renewed",
            "content_text": "The president renewed most-favored-nation status.",
            "date_modified": "2002-05-30T12:00:00Z",
        },
    ],
}


@pytest.mark.parametrize(
    ("prefix", "content_type"),
    [(b"", "application/feed+json"), (b"\xef\xbb\xbf\n", "text/plain"), (b"", None)],
    ids=["feed+json", "bom-text-plain", "no-content-type"],
)
def test_json_feed_is_polled_into_stories(
    make_monitor: MonitorFactory, feed_server: FeedServer, prefix: bytes, content_type: str | None
) -> None:
    body = prefix + json.dumps(JSON_FEED_11).encode()
    m = make_monitor([serve(feed_server, "/feed.json", body, content_type=content_type)])
    outcome = m.poll()["feed.json"]
    assert outcome.status == "updated" and outcome.new == 2, outcome
    got = sorted((s.headline, s.paragraphs, s.url, s.published) for s in m.stories("feed.json"))
    assert got == [
        (
            "MFN renewed",
            ("The president renewed most-favored-nation status.",),
            "https://elsewhere.example/mfn",
            datetime(2002, 5, 30, 12, 0, tzinfo=UTC),
        ),
        (
            "Rights dialogue resumes",
            ("Officials met in Beijing on Monday.", "Trade status was not on the agenda."),
            "https://json.example/2002/12/dialogue",
            datetime(2002, 12, 16, 1, 0, tzinfo=UTC),
        ),
    ]
    # The same items again, one of them edited: the same stories, by their ids.
    edited = json.loads(json.dumps(JSON_FEED_11))
    edited["items"][1]["title"] = "MFN status renewed"
    feed_server.route("/feed.json", json.dumps(edited), content_type=content_type)
    m.clock.advance(3600)
    outcome = m.poll()["feed.json"]
    assert outcome.status == "updated" and outcome.new == 0, outcome
    assert len(m.stories("feed.json")) == 2


# -- legacy and mislabelled encodings -------------------------------------------------------------

LATIN = ("Caf\u00e9 d\u00e9j\u00e0 vu \u00bd", "Na\u00efve b\u00f6dy text, s'il vous pla\u00eet.")
SMART = ("\u201cQuoted\u201d caf\u00e9 \u2013 \u20ac5", "It\u2019s na\u00efve \u2014 really.")
JAPANESE = ("\u6771\u4eac\u306e\u30cb\u30e5\u30fc\u30b9", "\u672c\u6587\u3067\u3059\u3002")
CHINESE = ("\u4e2d\u56fd\u65b0\u95fb\u62a5\u9053", "\u8fd9\u662f\u6b63\u6587\u3002")
RUSSIAN = ("\u041d\u043e\u0432\u043e\u0441\u0442\u0438", "\u0422\u0435\u043a\u0441\u0442.")


def _prolog(encoding: str | None) -> str:
    if encoding is None:
        return '<?xml version="1.0"?>'
    return f'<?xml version="1.0" encoding="{encoding}"?>'


# id: (text, declared in prolog, bytes encoded with, Content-Type)
ENCODINGS: dict[str, tuple[tuple[str, str], str | None, str, str]] = {
    "windows-1252 in prolog": (SMART, "windows-1252", "cp1252", "application/rss+xml"),
    "iso-8859-1 in HTTP only": (
        LATIN,
        None,
        "latin-1",
        "application/rss+xml; charset=ISO-8859-1",
    ),
    "iso-8859-1 in both": (LATIN, "ISO-8859-1", "latin-1", "text/xml; charset=iso-8859-1"),
    "shift_jis in prolog": (JAPANESE, "Shift_JIS", "shift_jis", "application/rss+xml"),
    "gb2312 in both": (CHINESE, "GB2312", "gb2312", "application/rss+xml; charset=gb2312"),
    "koi8-r in prolog": (RUSSIAN, "KOI8-R", "koi8-r", "application/xml"),
    "utf-16 with BOM": (JAPANESE, "utf-16", "utf-16", "application/rss+xml"),
    "declared utf-8, bytes windows-1252": (SMART, "utf-8", "cp1252", "application/rss+xml"),
    "HTTP iso-8859-1, prolog utf-8, bytes utf-8": (
        SMART,
        "utf-8",
        "utf-8",
        "application/rss+xml; charset=iso-8859-1",
    ),
    "HTTP utf-8, prolog windows-1252, bytes windows-1252": (
        SMART,
        "windows-1252",
        "cp1252",
        "application/rss+xml; charset=utf-8",
    ),
    "HTTP koi8-r, prolog windows-1252, bytes koi8-r": (
        RUSSIAN,
        "windows-1252",
        "koi8-r",
        "application/rss+xml; charset=koi8-r",
    ),
}


@pytest.mark.parametrize("case", ENCODINGS)
def test_legacy_and_mislabelled_encodings(
    make_monitor: MonitorFactory, feed_server: FeedServer, case: str
) -> None:
    (headline, body), declared, codec, content_type = ENCODINGS[case]
    data = rss(item(headline, body), prolog=_prolog(declared)).encode(codec)
    assert not data.isascii()
    m = make_monitor([serve(feed_server, "/feed", data, content_type=content_type)])
    outcome = m.poll()["feed"]
    assert outcome.status == "updated", outcome
    (story,) = m.stories("feed")
    assert (story.headline, story.paragraphs) == (headline, (body,))


def test_bytes_invalid_in_every_declared_encoding_do_not_crash(
    make_monitor: MonitorFactory, feed_server: FeedServer
) -> None:
    # Declared UTF-8, mostly UTF-8, with stray bytes that are invalid UTF-8 and Shift_JIS.
    data = rss(item("Caf\u00e9 headline", "A body of text.")).encode("utf-8")
    data = data.replace(b"headline", b"head\xff\xfe\x80line")
    m = make_monitor([serve(feed_server, "/feed", data, content_type="text/xml; charset=sjis")])
    outcome = m.poll()["feed"]
    assert outcome.status == "updated", outcome
    (story,) = m.stories("feed")
    assert story.headline.startswith("Caf") and "head" in story.headline
    assert story.paragraphs == ("A body of text.",)


# -- ill-formed XML -------------------------------------------------------------------------------


def test_ill_formed_xml_yields_what_can_be_read(
    make_monitor: MonitorFactory, feed_server: FeedServer
) -> None:
    data = (
        '<?xml version="1.0"?>\n<rss version="2.0"><channel><title>AT&T news</title>\n'
        "<item><title>Tom & Jerry <b>return</title>"
        "<link>http://bad.example/ill?a=1&b=2</link>"
        "<description>Body &amp; more, with an unclosed paragraph. <p>Then more text.</description>"
        "</item>\n<item><title>Second item</title><link>http://bad.example/2</link>"
        "<description>The second body is fine.</description></item>\n"
        # no </channel></rss>
    )
    m = make_monitor([serve(feed_server, "/feed", data)])
    outcome = m.poll()["feed"]
    assert outcome.status == "updated" and outcome.new == 2, outcome
    stories = {s.headline: s for s in m.stories("feed")}
    assert set(stories) == {"Tom & Jerry return", "Second item"}
    assert stories["Tom & Jerry return"].url == "http://bad.example/ill?a=1&b=2"
    assert stories["Second item"].paragraphs == ("The second body is fine.",)


def test_truncated_feed_keeps_the_complete_items(
    make_monitor: MonitorFactory, feed_server: FeedServer
) -> None:
    whole = item("Whole item", "This item arrived complete.", "http://bad.example/whole")
    data = rss(whole + "<item><title>Cut off in the mid")
    data = data[: data.index("mid") + 3]
    m = make_monitor([serve(feed_server, "/feed", data)])
    outcome = m.poll()["feed"]
    assert outcome.status == "updated", outcome
    assert "Whole item" in {s.headline for s in m.stories("feed")}


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (
            b"<html><head><title>Home</title>"
            b'<link rel="alternate" type="application/rss+xml" href="/news.rss"></head>'
            b"<body><h1>Not a feed</h1><p>A web page.</p></body></html>",
            "text/html",
            # polled at the feed it links (tests/test_feed_discovery.py), not served here
            "the page links the feed {base}/news.rss: HTTP 404 Not Found",
        ),
        (b"", "application/rss+xml", "not a feed: an empty body"),
        (bytes(range(256)) * 8, "application/octet-stream", "not a feed: binary data"),
        (
            b'{"data": [{"title": "json"}]}',
            "application/json",
            "not a feed: a JSON document that is not a JSON Feed (no version or items)",
        ),
    ],
    ids=["html", "empty", "binary", "json"],
)
def test_not_a_feed_is_a_clear_failure(
    make_monitor: MonitorFactory,
    feed_server: FeedServer,
    body: bytes,
    content_type: str,
    expected: str,
) -> None:
    m = make_monitor([serve(feed_server, "/feed", body, content_type=content_type)])
    reason = m.failed(m.poll()["feed"])
    assert reason == expected.format(base=feed_server.base_url), reason
    assert m.state("feed").last_error == reason
    assert m.state("feed").error_count == 1
    assert m.stories("feed") == []


# -- entity expansion -----------------------------------------------------------------------------


def _timed_poll(m: Monitor) -> tuple[dict[str, FeedOutcome], float, int]:
    tracemalloc.start()
    started = time.monotonic()
    try:
        outcomes = m.poll()
        return outcomes, time.monotonic() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_billion_laughs_is_bounded(make_monitor: MonitorFactory, feed_server: FeedServer) -> None:
    decls = '<!ENTITY lol0 "lol">\n' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n' for i in range(1, 10)
    )
    data = rss(
        item("Laughs &lol9;", "A body &lol9; of text."),
        prolog=f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n{decls}]>',
    )
    m = make_monitor([serve(feed_server, "/feed", data)])
    outcomes, elapsed, peak = _timed_poll(m)
    assert elapsed < 3
    assert peak < 32 * 1024 * 1024
    assert outcomes["feed"].status == "updated", outcomes["feed"]
    (story,) = m.stories("feed")
    assert story.headline.startswith("Laughs")
    assert len(story.headline) < 100 and "lollol" not in story.headline
    assert len(story.body) < 100 and "lollol" not in story.body
    assert len(m.archived_bytes()) < 2 * 1024 * 1024


def test_large_internal_entity_is_not_expanded(
    make_monitor: MonitorFactory, feed_server: FeedServer
) -> None:
    # 56 KB on the wire that an expanding parser would turn into a 100 MB title.
    data = rss(
        item("Big " + "&a;" * 2000, "A modest body of text."),
        prolog='<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "' + "A" * 50_000 + '">]>',
    )
    assert 50_000 < len(data) < 60_000
    m = make_monitor([serve(feed_server, "/feed", data)])
    outcomes, elapsed, peak = _timed_poll(m)
    assert elapsed < 3
    assert peak < 32 * 1024 * 1024
    assert outcomes["feed"].status == "updated", outcomes["feed"]
    (story,) = m.stories("feed")
    assert story.headline.startswith("Big") and len(story.headline) < len(data)
    assert "A" * 100 not in story.headline and "A" * 100 not in story.body
    assert story.paragraphs == ("A modest body of text.",)
    assert len(m.archived_bytes()) < 2 * 1024 * 1024


# (before the root element, after the document), each taking from 8 to 30 s to parse before
# the prolog was tidied and the DTD patterns made linear
MARKUP_ATTACKS = {
    # feedparser scans the prolog with regexes that are quadratic in its lines
    "blank lines before the root": (b"\n" * 60_000, b""),
    "unclosed DOCTYPEs before the root": (b"\n<!DOCTYPE " * 6_000, b""),
    # and so were the monitor's own DTD-stripping patterns
    "unclosed comments in a DTD subset": (b"<!DOCTYPE rss [" + b"<!--" * 15_000, b""),
    "unclosed ENTITYs after the root": (b"", b"<!ENTITY " * 5_000),
}


@pytest.mark.parametrize("attack", MARKUP_ATTACKS)
def test_pathological_markup_is_parsed_in_bounded_time(
    make_monitor: MonitorFactory, feed_server: FeedServer, attack: str
) -> None:
    before, after = MARKUP_ATTACKS[attack]
    document = rss(item("Still readable", "The items around the junk are read."))
    declaration, rest = document.split("\n", 1)
    data = declaration.encode() + before + b"\n" + rest.encode() + after
    m = make_monitor([serve(feed_server, "/feed", data)], fetch={"max_bytes": "1MB"})
    outcomes, elapsed, _ = _timed_poll(m)
    assert elapsed < 3
    assert outcomes["feed"].status == "updated", outcomes["feed"]
    assert [s.headline for s in m.stories("feed")] == ["Still readable"]


# -- a feed must never make the monitor read local files or fetch URLs it names -------------------


@pytest.fixture
def secret(tmp_path: Path) -> tuple[Path, str]:
    marker = f"TOPSECRET-{uuid.uuid4().hex}"
    path = tmp_path / "secret.txt"
    path.write_text(f"{marker}\n<rss><item><title>{marker}</title></item></rss>\n")
    return path, marker


def _assert_secret_not_archived(m: Monitor, marker: str, outcomes: dict[str, FeedOutcome]) -> None:
    assert marker.encode() not in m.archived_bytes()
    for story in m.archive.iter_stories():
        assert marker not in story.headline and marker not in story.body
    for outcome in outcomes.values():
        assert marker not in (outcome.error or "")


@pytest.mark.parametrize("kind", ["path", "file-uri", "etc-passwd", "url"])
def test_body_naming_a_file_or_url_is_not_followed(
    make_monitor: MonitorFactory, feed_server: FeedServer, secret: tuple[Path, str], kind: str
) -> None:
    path, marker = secret
    canary = feed_server.route("/canary.xml", rss(item(marker, marker)))
    body = {
        "path": str(path),
        "file-uri": path.as_uri(),
        "etc-passwd": "/etc/passwd",
        "url": canary,
    }[kind]
    m = make_monitor([serve(feed_server, "/feed", body, content_type="text/plain")])
    outcomes = m.poll()
    reason = m.failed(outcomes["feed"])
    assert reason.startswith("not a feed"), reason
    _assert_secret_not_archived(m, marker, outcomes)
    assert b"root:" not in m.archived_bytes()
    assert feed_server.requests_to("/canary.xml") == []


def test_references_inside_a_feed_are_not_followed(
    make_monitor: MonitorFactory, feed_server: FeedServer, secret: tuple[Path, str]
) -> None:
    path, marker = secret
    canary = feed_server.base_url + "/canary"
    prolog = (
        '<?xml version="1.0"?>\n'
        f'<?xml-stylesheet type="text/xsl" href="{canary}/style.xsl"?>\n'
        f'<!DOCTYPE rss SYSTEM "{canary}/external.dtd" [\n'
        f'<!ENTITY xxe SYSTEM "{path.as_uri()}">\n'
        f'<!ENTITY remote SYSTEM "{canary}/entity.xml">\n'
        f'<!ENTITY % param SYSTEM "{canary}/param.dtd"> %param;\n]>'
    )
    items = "\n".join(
        [
            item("Entity &xxe; here", "Remote &remote; entity."),
            item(str(path), str(path), path.as_uri()),
            item(canary + "/in-title", canary + "/in-body", canary + "/link"),
            "<item><title>Markup with sources</title><link>http://bad.example/m</link>"
            "<description><![CDATA["
            f'<p>See the picture.<img src="{canary}/img.png"></p>'
            f'<iframe src="{path.as_uri()}"></iframe>'
            f'<object data="{canary}/object"></object><link rel="stylesheet" href="{canary}/css">'
            '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
            f'href="{path.as_uri()}" parse="text"/>'
            "]]></description>"
            f'<enclosure url="{canary}/audio.mp3" length="1" type="audio/mpeg"/>'
            f'<source url="{canary}/source.xml">Elsewhere</source></item>',
        ]
    )
    atom = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"'
        f' xml:base="{path.parent.as_uri()}/"><title>A</title><id>urn:a</id>'
        "<updated>2025-03-01T08:00:00Z</updated>"
        '<entry><title>Out of line content</title><id>urn:a:1</id><link href="other.txt"/>'
        "<updated>2025-03-01T08:00:00Z</updated>"
        f'<content type="text/plain" src="{canary}/content.txt"/>'
        f'<content type="text/plain" src="{path.as_uri()}"/></entry></feed>'
    )
    m = make_monitor(
        [
            serve(feed_server, "/feed", rss(items, prolog=prolog)),
            serve(feed_server, "/atom", atom, content_type="application/atom+xml"),
        ]
    )
    outcomes = m.poll()
    assert outcomes["feed"].status == "updated", outcomes["feed"]
    assert outcomes["atom"].status in ("updated", "unchanged"), outcomes["atom"]
    headlines = {s.headline for s in m.stories("feed")}
    assert str(path) in headlines  # the path is just text
    assert "Markup with sources" in headlines
    _assert_secret_not_archived(m, marker, outcomes)
    assert [r.path for r in feed_server.requests if r.path.startswith("/canary")] == []


# -- bodies that never end, are too big, or bombs ------------------------------------------------


def test_endless_response_is_cut_at_the_cap(
    make_monitor: MonitorFactory, feed_server: FeedServer
) -> None:
    head = rss("").split("</channel>")[0].encode()
    endless = itertools.chain([head], itertools.repeat(item("Again", "And again.").encode()))
    feed_server.route("/feed", handler=lambda _: Response(body=endless))
    m = make_monitor([{"url": feed_server.url("/feed"), "name": "feed"}])
    outcomes, elapsed, peak = _timed_poll(m)
    assert m.failed(outcomes["feed"]) == f"body larger than {CAP} bytes (cap)"
    assert m.state("feed").last_error == f"body larger than {CAP} bytes (cap)"
    assert elapsed < 4  # stopped by the cap, not by the 5 s deadline
    assert peak < 8 * 1024 * 1024


def test_huge_response_is_refused(make_monitor: MonitorFactory, feed_server: FeedServer) -> None:
    big = rss(item("Big", "x" * (CAP * 4)))
    chunks = [big[i : i + 8192].encode() for i in range(0, len(big), 8192)]
    m = make_monitor(
        [
            serve(feed_server, "/declared", big),
            {
                "url": feed_server.route("/chunked", handler=lambda _: Response(body=chunks)),
                "name": "chunked",
            },
        ]
    )
    outcomes = m.poll()
    assert m.failed(outcomes["declared"]) == f"Content-Length {len(big)} exceeds the cap"
    assert m.failed(outcomes["chunked"]) == f"body larger than {CAP} bytes (cap)"
    assert m.stories("declared") == m.stories("chunked") == []


def test_gzip_bomb_stops_at_the_cap(make_monitor: MonitorFactory, feed_server: FeedServer) -> None:
    bomb = gzip.compress(rss(item("Bomb", " " * (16 * 1024 * 1024))).encode(), compresslevel=9)
    assert len(bomb) < CAP
    m = make_monitor([serve(feed_server, "/feed", bomb, headers={"Content-Encoding": "gzip"})])
    outcomes, _, peak = _timed_poll(m)
    assert m.failed(outcomes["feed"]) == f"body larger than {CAP} bytes (cap)"
    assert peak < 8 * 1024 * 1024


def test_stacked_content_encoding_is_refused(
    make_monitor: MonitorFactory, feed_server: FeedServer
) -> None:
    body = gzip.compress(gzip.compress(rss(item("Twice", "Compressed twice.")).encode()))
    m = make_monitor(
        [serve(feed_server, "/feed", body, headers={"Content-Encoding": "gzip, gzip"})]
    )
    assert m.failed(m.poll()["feed"]) == "refusing stacked Content-Encoding gzip, gzip"


def test_gzip_feed_is_read(make_monitor: MonitorFactory, feed_server: FeedServer) -> None:
    body = gzip.compress(rss(item("Zipped story", "It came compressed.")).encode())
    m = make_monitor([serve(feed_server, "/feed", body, headers={"Content-Encoding": "gzip"})])
    assert m.poll()["feed"].status == "updated"
    assert [s.headline for s in m.stories("feed")] == ["Zipped story"]


def test_trickling_server_is_cut_off_by_the_deadline(
    make_monitor: MonitorFactory, feed_server: FeedServer
) -> None:
    data = rss(item("Slow story", "It took its time.")).encode()
    chunks = [data[:-20], *(data[i : i + 1] for i in range(len(data) - 20, len(data)))]
    feed_server.route("/feed", handler=lambda _: Response(body=chunks, delay=0.2))
    m = make_monitor(
        [{"url": feed_server.url("/feed"), "name": "feed"}],
        fetch={"timeout": "1s", "read_timeout": "2s"},
    )
    started = time.monotonic()
    outcomes = m.poll()
    assert time.monotonic() - started < 2.5
    assert m.failed(outcomes["feed"]) == "timed out: no complete response within 1s"


# -- conditional GET ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "etag", ['W/"x"', '"with spaces inside"', 'W/"a, b; c"', "bare token", '"caf\xe9"']
)
def test_not_modified_sends_validators_exactly_and_skips_parsing(
    make_monitor: MonitorFactory,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    etag: str,
) -> None:
    modified = "Sat, 01 Mar 2025 08:00:00 GMT"
    body = rss(item("Cached story", "Served once, then not modified."))

    def handler(request: Request) -> Response:
        if request.header("If-None-Match") == etag:
            return Response(status=304)  # no validators repeated: keep the old ones
        return Response(body=body, headers={"ETag": etag, "Last-Modified": modified})

    feed_server.route("/feed", handler=handler)
    parsed: list[str] = []
    real_parse = parse_feed

    def counting_parse(data: bytes, **kwargs: Any) -> Any:
        parsed.append(kwargs["url"])
        return real_parse(data, **kwargs)

    monkeypatch.setattr(monitor.poll.poller, "parse_feed", counting_parse)
    m = make_monitor([{"url": feed_server.url("/feed"), "name": "feed"}])
    assert m.poll()["feed"].status == "updated"
    assert parsed.count(feed_server.url("/feed")) == 1
    for _ in range(2):
        m.clock.advance(3600)
        outcome = m.poll()["feed"]
        assert outcome == FeedOutcome(url=feed_server.url("/feed"), status="unchanged")
        sent = feed_server.requests_to("/feed")[-1]
        assert sent.header("If-None-Match") == etag
        assert sent.header("If-Modified-Since") == modified
        assert sent.status == 304
    assert parsed.count(feed_server.url("/feed")) == 1
    assert m.state("feed").last_success == m.clock.now
    first = feed_server.requests_to("/feed")[0]
    assert first.header("If-None-Match") is None and first.header("If-Modified-Since") is None


# -- status codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured(
    make_monitor: MonitorFactory, feed_server: FeedServer, status: int, form: str
) -> None:
    wait = 7200  # far beyond the first error backoff (2 x 15 min)
    value = (
        str(wait)
        if form == "seconds"
        else format_datetime(datetime.now(UTC) + timedelta(seconds=wait), usegmt=True)
    )
    m = make_monitor([serve(feed_server, "/feed", status=status, headers={"Retry-After": value})])
    reason = m.failed(m.poll()["feed"])
    assert reason.startswith(f"HTTP {status}, Retry-After"), reason
    state = m.state("feed")
    assert state.next_poll is not None
    assert state.next_poll - START >= timedelta(seconds=wait - 60)
    m.clock.advance(5000)
    assert "feed" not in m.poll(all_feeds=False)
    assert len(feed_server.requests_to("/feed")) == 1
    m.clock.advance(3500)
    assert m.failed(m.poll(all_feeds=False)["feed"])
    assert len(feed_server.requests_to("/feed")) == 2


@pytest.mark.parametrize(("status", "phrase"), [(500, "Internal Server Error"), (404, "Not Found")])
def test_errors_back_off_and_recover(
    make_monitor: MonitorFactory, feed_server: FeedServer, status: int, phrase: str
) -> None:
    current = {"status": status}
    body = rss(item("Back again", "The feed recovered after its errors."))
    feed_server.route(
        "/feed",
        handler=lambda _: Response(
            status=current["status"], body=body if current["status"] == 200 else "no"
        ),
    )
    m = make_monitor([{"url": feed_server.url("/feed"), "name": "feed", "interval": "10m"}])
    delays = []
    for errors in range(1, 5):
        if errors > 1:
            m.clock.now = m.state("feed").next_poll or START
        outcome = m.poll(all_feeds=False)["feed"]
        assert m.failed(outcome) == f"HTTP {status} {phrase}"
        state = m.state("feed")
        assert state.error_count == errors
        assert state.last_error == f"HTTP {status} {phrase}"
        assert state.failing_since == START
        assert state.next_poll is not None and state.last_polled == m.clock.now
        delays.append((state.next_poll - m.clock.now).total_seconds())
    assert delays == [1200, 2400, 4800, 9600]
    assert len(feed_server.requests_to("/feed")) == 4

    current["status"] = 200
    m.clock.now = m.state("feed").next_poll or START
    assert m.poll(all_feeds=False)["feed"].status == "updated"
    state = m.state("feed")
    assert (state.error_count, state.last_error, state.failing_since) == (0, None, None)
    assert state.next_poll == m.clock.now + timedelta(minutes=10)
    assert [s.headline for s in m.stories("feed")] == ["Back again"]


def test_gone_feed_is_retired_with_a_report(
    make_monitor: MonitorFactory, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    m = make_monitor([serve(feed_server, "/feed", "gone", status=410)])
    with caplog.at_level(logging.WARNING, logger="monitor.poll.poller"):
        outcome = m.poll()["feed"]
    assert outcome.status == "gone"
    assert outcome.error == "410 Gone: the server says the feed was removed"
    state = m.state("feed")
    assert state.gone and state.last_error == outcome.error
    assert any("retired" in r.getMessage() and "/feed" in r.getMessage() for r in caplog.records)
    for _ in range(2):
        m.clock.advance(7 * 86400)
        assert "feed" not in m.poll(all_feeds=True)
    assert len(feed_server.requests_to("/feed")) == 1


# -- redirects ------------------------------------------------------------------------------------


def test_redirect_loop_is_a_clear_failure(
    make_monitor: MonitorFactory, feed_server: FeedServer
) -> None:
    feed_server.route("/b", status=302, headers={"Location": "/a"})
    m = make_monitor([serve(feed_server, "/a", status=301, headers={"Location": "/b"})])
    assert m.failed(m.poll()["a"]) == f"redirect loop at {feed_server.url('/a')}"


def test_too_many_redirects_is_a_clear_failure(
    make_monitor: MonitorFactory, feed_server: FeedServer
) -> None:
    for i in range(1, 10):
        feed_server.route(f"/r{i}", status=302, headers={"Location": f"/r{i + 1}"})
    feed_server.route("/r10", rss(item("Far away", "At the end of the chain.")))
    m = make_monitor(
        [serve(feed_server, "/r0", status=302, headers={"Location": "/r1"})],
        fetch={"max_redirects": 3},
    )
    assert m.failed(m.poll()["r0"]) == "more than 3 redirects"
    assert feed_server.requests_to("/r4") == []


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_updates_the_fetch_url(
    make_monitor: MonitorFactory, feed_server: FeedServer, status: int
) -> None:
    new = feed_server.route("/new", rss(item("Moved story", "The feed has a new home.")))
    m = make_monitor([serve(feed_server, "/old", status=status, headers={"Location": "/new"})])
    assert m.poll()["old"].status == "updated"
    state = m.state("old")
    assert state.fetch_url == new
    assert state.url == feed_server.url("/old")  # the feed keeps its identity
    assert [s.headline for s in m.stories("old")] == ["Moved story"]
    m.clock.advance(3600)
    assert m.poll()["old"].status == "unchanged"
    assert len(feed_server.requests_to("/old")) == 1
    assert len(feed_server.requests_to("/new")) == 2


@pytest.mark.parametrize("status", [302, 307])
def test_temporary_redirect_keeps_the_fetch_url(
    make_monitor: MonitorFactory, feed_server: FeedServer, status: int
) -> None:
    feed_server.route("/new", rss(item("Visiting story", "The feed is away for now.")))
    m = make_monitor([serve(feed_server, "/old", status=status, headers={"Location": "/new"})])
    assert m.poll()["old"].status == "updated"
    assert m.state("old").fetch_url == feed_server.url("/old")
    m.clock.advance(3600)
    m.poll()
    assert len(feed_server.requests_to("/old")) == 2


def test_redirect_to_a_local_file_is_refused(
    make_monitor: MonitorFactory, feed_server: FeedServer, secret: tuple[Path, str]
) -> None:
    path, marker = secret
    m = make_monitor(
        [
            serve(feed_server, "/passwd", status=302, headers={"Location": "file:///etc/passwd"}),
            serve(feed_server, "/secret", status=301, headers={"Location": path.as_uri()}),
        ]
    )
    outcomes = m.poll()
    assert m.failed(outcomes["passwd"]) == "refusing redirect to non-HTTP URL 'file:///etc/passwd'"
    assert m.failed(outcomes["secret"]) == f"refusing redirect to non-HTTP URL {path.as_uri()!r}"
    assert m.state("secret").fetch_url == feed_server.url("/secret")
    _assert_secret_not_archived(m, marker, outcomes)
    assert b"root:" not in m.archived_bytes()


# -- the network around the server ----------------------------------------------------------------


def test_connection_refused_is_a_clean_failure(make_monitor: MonitorFactory) -> None:
    m = make_monitor([{"url": f"http://127.0.0.1:{free_port()}/feed.xml", "name": "dead"}])
    reason = m.failed(m.poll()["dead"])
    assert reason.startswith("ConnectError"), reason
    assert m.state("dead").error_count == 1


def test_proxy_environment_is_not_picked_up(
    make_monitor: MonitorFactory, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
        monkeypatch.setenv(name.lower(), proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    m = make_monitor([serve(feed_server, "/feed", rss(item("Direct", "No proxy in between.")))])
    assert m.poll()["feed"].status == "updated"
    assert len(feed_server.requests_to("/feed")) == 1


def test_user_agent_is_descriptive(make_monitor: MonitorFactory, feed_server: FeedServer) -> None:
    m = make_monitor([])
    m.poll()
    (request,) = feed_server.requests_to("/good.xml")
    agent = request.header("User-Agent") or ""
    assert "news-monitor" in agent and "httpx" not in agent
