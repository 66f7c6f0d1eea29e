"""A body that is not a feed: the error says what it is instead."""

from __future__ import annotations

import codecs
import gzip
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import FeedParseError
from monitor.parse.feed import parse_feed
from monitor.parse.sniff import SNIFF_BYTES, describe

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PAGE = "https://www.example.com/news/"


def reason(data: bytes, content_type: str = "text/html", url: str = PAGE) -> str:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(data, url=url, headers={"Content-Type": content_type}, now=NOW)
    assert caught.value.url == url
    return caught.value.reason


def page(head: str, body: str = "<p>Hello.</p>") -> bytes:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>".encode()


def test_an_html_page_names_its_title() -> None:
    data = page("<meta charset='utf-8'><title>\n  Example   Domain\n</title>")
    assert reason(data) == "not a feed: an HTML page (title: 'Example Domain')"


def test_an_html_page_without_a_title() -> None:
    assert reason(b"<html><body><h1>Not a feed</h1></body></html>") == "not a feed: an HTML page"


def test_an_html_page_names_the_feed_it_links() -> None:
    data = page(
        "<title>Example News</title>"
        '<link rel="stylesheet" href="/style.css">'
        '<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">'
        '<link rel="alternate" type="application/json" href="/wp-json/wp/v2/pages/2">'
        '<link rel="alternate" type="application/rss+xml" title="RSS" href="../feed.xml">'
    )
    assert reason(data) == (
        "not a feed: an HTML page (title: 'Example News'); "
        "it links a feed: https://www.example.com/feed.xml"
    )


def test_an_html_page_names_every_feed_it_links_resolved_against_its_base() -> None:
    data = page(
        '<base href="https://cdn.example.net/site/">'
        '<LINK REL="Alternate Feed" TYPE="Application/Atom+XML; charset=utf-8" HREF=" atom ">'
        "<link rel=alternate type=application/feed+json href=//json.example.org/feed.json>"
        "<link rel=alternate type=application/rss+xml href=/rss>"
        "<link rel=alternate type=application/rss+xml href=/rss>"
        "<link rel=alternate type=application/rss+xml href=/rss2>"
    )
    assert reason(data) == (
        "not a feed: an HTML page; it links feeds: https://cdn.example.net/site/atom, "
        "https://json.example.org/feed.json, https://cdn.example.net/rss and 1 more"
    )


def test_a_long_title_is_cut() -> None:
    text = reason(page(f"<title>{'word ' * 100}</title>"))
    title = text.split("'")[1]
    assert len(title) <= 100 and title.endswith("\u2026")


@pytest.mark.parametrize(
    "data",
    [
        b"<html><head><title>Caf\xe9</title></head></html>",  # Latin-1, no charset at all
        "<html><head><title>Caf\u00e9</title></head></html>".encode("utf-16"),
        codecs.BOM_UTF8 + "<!DOCTYPE html><title>Caf\u00e9</title>".encode(),
        b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        b"<head><title>Caf&#233;</title></head><body/></html>",
        b"<!-- served by nginx -->\n<HTML><HEAD><TITLE>Caf&eacute;</TITLE></HEAD></HTML>",
    ],
)
def test_html_in_any_encoding_or_flavour(data: bytes) -> None:
    assert reason(data).startswith("not a feed: an HTML page (title: 'Caf")


def test_an_error_page_served_as_a_feed() -> None:
    data = page("<title>404 Not Found</title>", "<h1>Not Found</h1>")
    assert (
        reason(data, "application/rss+xml") == "not a feed: an HTML page (title: '404 Not Found')"
    )


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"", "an empty body"),
        (b" \r\n\t \n", "an empty body (white space only)"),
        (codecs.BOM_UTF16_LE, "an empty body"),
        (b"Service temporarily unavailable\n", "plain text"),
        (b"/etc/passwd", "plain text"),
        (b"[citation needed] and so on", "plain text"),
        (b"[1, 2, 3]", "a JSON document that is not a JSON Feed (an array, not an object)"),
        (b' [{"title": "x"}]', "a JSON document that is not a JSON Feed (an array, not an object)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "binary data (looks like a PDF)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data (looks like a PNG image)"),
        (b"GIF89a\x01\x00", "binary data (looks like a GIF image)"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "binary data (looks like a JPEG image)"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "binary data (looks like a WebP image)"),
        (gzip.compress(b"<rss/>"), "binary data (looks like gzip-compressed data)"),
        (b"PK\x03\x04\x14\x00", "binary data (looks like a ZIP archive)"),
        (bytes(range(256)) * 8, "binary data"),
        (b"text\x00with\x00nul\x00bytes", "binary data"),
    ],
)
def test_other_kinds_of_body(data: bytes, what: str) -> None:
    assert reason(data, "application/octet-stream") == f"not a feed: {what}"


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', "<svg>"),
        (
            b'<?xml version="1.0"?>\n<!-- a sitemap -->\n<?xml-stylesheet href="s.xsl"?>\n'
            b'<!DOCTYPE urlset>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            b"<url><loc>https://www.example.com/</loc></url></urlset>",
            "<urlset>",
        ),
        (b"<opml version='2.0'><head/><body/></opml>", "<opml>"),
        (b'<?xml version="1.0"?><soap:Envelope xmlns:soap="x"/>', "<soap:Envelope>"),
    ],
)
def test_well_formed_xml_that_is_not_a_feed_names_its_root(data: bytes, what: str) -> None:
    assert reason(data, "application/xml") == f"not a feed: an XML document whose root is {what}"


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"<foo><bar></foo>", "mismatched tag (line 1, column 13)"),
        (
            b'<?xml version="1.0"?>\n<!-- c -->\n<doc>\n  <a>x &amp y</a>\n</doc>',
            "not well-formed (invalid token) (line 4, column 12)",
        ),
        (b"<doc>\n<a>text", "no element found (line 2, column 8)"),
        (b"<", "unclosed token (line 1, column 1)"),
    ],
)
def test_xml_broken_beyond_recovery_says_what_and_where(data: bytes, what: str) -> None:
    assert reason(data, "application/xml") == f"not a feed: ill-formed XML: {what}"


def test_sniffing_stays_cheap_on_pathological_prologs() -> None:
    started = time.monotonic()
    for data in (b"<!--x>" * 20_000, b"<!--" * 20_000, b"<?" * 20_000, b"<!DOCTYPE [" * 20_000):
        describe(data, url=PAGE, xml_error="not well-formed")
    assert time.monotonic() - started < 2


def test_only_the_head_of_a_page_is_read() -> None:
    data = page("<style>" + "x" * SNIFF_BYTES + "</style><title>Too late</title>")
    assert reason(data) == "not a feed: an HTML page"


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300)
    | st.text(alphabet="<>!?-[]/=\"' abcHTMLhtml{}\n\x00", max_size=200).map(str.encode),
    st.none() | st.text(max_size=20),
)
def test_describe_never_raises(data: bytes, xml_error: str | None) -> None:
    assert describe(data, url=PAGE, xml_error=xml_error)
