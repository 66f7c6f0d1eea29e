"""Saying what a fetched body is when it is not a feed: an HTML page, an image, plain text...

Only asked on the failure path, so that "not a feed" names the usual causes: a home page
pasted instead of its feed (then the feeds the page links are named), an error page, a
file of another kind. Pure, and cheap: only the first ``SNIFF_BYTES`` are looked at, except
that XML the feed parser found ill-formed is read again by expat to say where.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin
from xml.parsers import expat

from lxml import etree

SNIFF_BYTES = 32 * 1024  # a page's <head>, inline styles and scripts included, mostly fits
MAX_TITLE_CHARS = 100
MAX_LINKED_FEEDS = 3
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/feed+json"})

# (how the file starts, what it is); checked in order.
_MAGIC = (
    (b"%PDF-", "a PDF"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"\x7fELF", "an executable"),
    (b"OggS", "an Ogg audio or video file"),
    (b"ID3", "an MP3"),
)
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
# What may come before the first element: declarations, comments, processing instructions.
_PROLOG = re.compile(r"\s*(?:<!--.*?-->|<\?.*?\?>|<![^>\[]*(?:\[.*?\])?\s*>)", re.DOTALL)
_ELEMENT = re.compile(r"\s*<([A-Za-z_][\w:.-]*)")
_MAX_PROLOG_PARTS = 100  # each part may be scanned to the end of the head: keep it linear
_HTML_DOCTYPE = re.compile(r"<!doctype\s+html\b", re.IGNORECASE)
# Elements a page or a fragment of one starts with; an XML document with one of these as its
# root is HTML too, as far as a reader of the message is concerned.
_HTML_ROOTS = frozenset(
    {"html", "head", "body", "title", "meta", "link", "script", "style", "div", "p", "table"}
)
_JSON_ARRAY = re.compile(r"\[\s*(?:[\[{\"\]\d-]|true|false|null)")
_PARSER = etree.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkedFeed:
    """A feed an HTML page names in ``<link rel="alternate" type="application/rss+xml">``."""

    url: str  # resolved against the page's URL (and its <base>)
    title: str  # the link's title attribute, "" when it has none
    type: str


def linked_feeds(data: bytes, *, url: str) -> tuple[LinkedFeed, ...]:
    """The feeds the HTML page ``data`` (fetched from ``url``) links, in page order; () when
    ``data`` is not an HTML page. Cheap for anything else: a feed is told apart by its start."""
    text = _decode(data[:2048]).lstrip()  # a page says so at its start
    if not text.startswith("<"):
        return ()
    root = _root(text)
    if not (_HTML_DOCTYPE.search(text) or (root or "").lower() in _HTML_ROOTS):
        return ()
    return _page(data[:SNIFF_BYTES], url)[1]


def choose_feed(linked: Sequence[LinkedFeed], wanted: str | None = None) -> LinkedFeed | None:
    """The linked feed to poll: the first, or the one whose title or URL is ``wanted``
    (titles compared without case, URLs as written or resolved); None when none is."""
    if wanted is None:
        return linked[0] if linked else None
    folded = " ".join(wanted.split()).casefold()
    for feed in linked:
        if feed.title.casefold() == folded or wanted.strip() == feed.url:
            return feed
    for feed in linked:  # a relative URL, as the page writes it
        if feed.url.endswith(wanted.strip()) and "/" in wanted:
            return feed
    return None


def _page(head: bytes, url: str) -> tuple[str | None, tuple[LinkedFeed, ...]]:
    """The title of an HTML page (None when it does not parse) and the feeds it links."""
    try:
        root = etree.fromstring(head, _PARSER)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:
        return None, ()
    title = ""
    base = url
    feeds: dict[str, LinkedFeed] = {}
    for node in root.iter("title", "base", "link"):
        if node.tag == "title" and not title:
            title = " ".join("".join(str(t) for t in node.itertext()).split())
        elif node.tag == "base" and node.get("href"):
            base = urljoin(url, (node.get("href") or "").strip())
        elif node.tag == "link":
            rel = (node.get("rel") or "").lower().split()
            kind = (node.get("type") or "").split(";")[0].strip().lower()
            href = (node.get("href") or "").strip()
            if "alternate" in rel and kind in FEED_TYPES and href:
                try:
                    feed = urljoin(base, href)
                except ValueError:
                    continue
                name = " ".join((node.get("title") or "").split())
                feeds.setdefault(feed, LinkedFeed(url=feed, title=name, type=kind))
    return title, tuple(feeds.values())


def describe(data: bytes, *, url: str, xml_error: str | None = None) -> str:
    """What ``data`` is, e.g. "an HTML page (title: 'Example Domain')", "binary data".

    ``url`` resolves the feed links of an HTML page; ``xml_error`` is the feed parser's
    complaint when it found the document ill-formed.
    """
    if not data.strip():
        return "an empty body" if not data else "an empty body (white space only)"
    head = data[:SNIFF_BYTES]
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return f"binary data (looks like {kind})"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "binary data (looks like a WebP image)"
    text = _decode(head)
    start = text[:1024]
    if "\x00" in start or len(_CONTROL.findall(start)) > len(start) // 100:
        return "binary data"
    text = text.lstrip()
    if not text:
        return "an empty body (white space only)"
    if _JSON_ARRAY.match(text):
        return "a JSON document that is not a JSON Feed (an array, not an object)"
    if not text.startswith("<"):
        return "plain text"
    root = _root(text)
    if _HTML_DOCTYPE.search(text, 0, 2048) or (root or "").lower() in _HTML_ROOTS:
        return _html(head, url)
    if xml_error is not None:
        return f"ill-formed XML: {_where_ill_formed(data) or xml_error}"
    if root is None:
        return "an XML document without a root element"
    return f"an XML document whose root is <{root}>"


def _decode(head: bytes) -> str:
    for mark, encoding in _BOMS:
        if head.startswith(mark):
            return head[len(mark) :].decode(encoding, errors="replace")
    return head.decode("utf-8", errors="replace")


def _root(text: str) -> str | None:
    position = 0
    for _ in range(_MAX_PROLOG_PARTS):
        m = _PROLOG.match(text, position)
        if m is None:
            break
        position = m.end()
    element = _ELEMENT.match(text, position)
    return element.group(1) if element else None


def _html(head: bytes, url: str) -> str:
    title, linked = _page(head, url)
    if title is None:
        return "an HTML page"
    feeds = [feed.url for feed in linked]
    description = "an HTML page"
    if title:
        if len(title) > MAX_TITLE_CHARS:
            title = title[: MAX_TITLE_CHARS - 1].rstrip() + "\u2026"
        description += f" (title: {title!r})"
    if len(feeds) == 1:
        description += f"; it links a feed: {feeds[0]}"
    elif feeds:
        description += f"; it links feeds: {', '.join(feeds[:MAX_LINKED_FEEDS])}"
        if len(feeds) > MAX_LINKED_FEEDS:
            description += f" and {len(feeds) - MAX_LINKED_FEEDS} more"
    return description


def _where_ill_formed(data: bytes) -> str | None:
    """Expat's first error in the document with its line and column, or None if it has none.

    The feed parser's own position is off: it adds an XML declaration and rewrites the
    DOCTYPE before parsing.
    """
    parser = expat.ParserCreate()
    try:
        parser.Parse(data, True)
    except ValueError:  # "multi-byte encodings are not supported"
        return None
    except expat.ExpatError as exc:
        if exc.code == expat.errors.codes[expat.errors.XML_ERROR_UNKNOWN_ENCODING]:
            return None  # a multi-byte legacy encoding expat cannot read: no position
        message = expat.ErrorString(exc.code) or "error"
        return f"{message} (line {exc.lineno}, column {exc.offset + 1})"
    return None
