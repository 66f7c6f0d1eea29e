"""A fast path for plain RSS 2.0 feeds: what feedparser would read, for the fields we use.

feedparser spends about a millisecond per item in its generic SAX handlers, most of a cold
poll. Most feeds are plain RSS 2.0, though, and for those this module builds the same
values feedparser builds for the fields ``monitor.parse.feed`` reads (the feed's title and
``ttl``; each item's title and its type, link, guid, content, summary, author and
publication date), by feedparser's rules and with its own helpers:

* the bytes are the ones feedparser would parse: its ``convert_to_utf8`` and
  ``replace_doctype`` prepare them, and expat reads them configured as feedparser's SAX
  reader configures it, so the same documents are well-formed, with the same text;
* each element's text goes through the steps of feedparser's ``pop`` (strip, resolve
  against the empty base URI with ``_urljoin``, the HTML sniffing of RSS titles, the
  Latin-1/UTF-8 repair, the Windows-1252 mapping) and lands where its handlers put it
  (a guid that is a permalink stands in for a missing link, a description wins the
  summary over content:encoded, links lose the ``&amp;`` artefacts).

Anything outside that short list returns None, and feedparser reads the feed as before:
another format or version, an element or attribute not listed below (``xml:base`` and
``xml:lang`` included), markup, comments or processing instructions inside the document,
an element given twice where it counts, an encoding feedparser complains about, any XML
error. ``bench/parse_check.py`` compares both readings on the benchmark's farm and on
generated variants of such feeds. The path is only taken with the feedparser release it
was checked against (``VERIFIED_FEEDPARSER``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Any
from xml.parsers import expat

import feedparser
from feedparser.datetimes import _parse_date
from feedparser.encodings import convert_to_utf8
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.sanitizer import replace_doctype
from feedparser.urls import _urljoin

from monitor.text.charscan import char_set, has_any

VERIFIED_FEEDPARSER = "6.0."
ENABLED = feedparser.__version__.startswith(VERIFIED_FEEDPARSER)

_CONTENT = "http://purl.org/rss/1.0/modules/content/"
_DC = "http://purl.org/dc/elements/1.1/"
_ATOM = "http://www.w3.org/2005/Atom"
_NAMESPACES = frozenset({_CONTENT, _DC, _ATOM})

# Elements read for their text, with the attributes they may carry. Expat names an element
# in a namespace "URI local-name prefix" (or "URI local-name" without a prefix): the
# keys here are those names without the prefix.
_CHANNEL_TEXT: dict[str, frozenset[str]] = dict.fromkeys(
    [
        "title", "link", "description", "language", "lastBuildDate", "pubDate", "ttl",
        "generator", "copyright", "managingEditor", "webMaster", "docs",
    ],
    frozenset(),
)  # fmt: skip
_CHANNEL_TEXT["category"] = frozenset({"domain"})
_ITEM_TEXT: dict[str, frozenset[str]] = {
    name: frozenset() for name in ("title", "link", "pubDate", "description", "author", "comments")
}
_ITEM_TEXT.update(
    {
        "guid": frozenset({"isPermaLink"}),
        "category": frozenset({"domain"}),
        f"{_CONTENT} encoded": frozenset(),
        f"{_DC} creator": frozenset(),
    }
)
# Empty elements, with the attributes they may carry; feedparser keeps nothing of theirs
# that we read.
_CHANNEL_EMPTY = {f"{_ATOM} link": frozenset({"href", "rel", "type"})}
_ITEM_EMPTY = {"enclosure": frozenset({"url", "length", "type"})}
_REPEATABLE = frozenset({"category"})
_AUTHORS = frozenset({"author", f"{_DC} creator"})

_LINK_ENTITY = re.compile("&([A-Za-z0-9_]+);")
_C1 = char_set("[\x80-\x9f]")
if not all(0x80 <= c <= 0x9F for c in _cp1252):
    ENABLED = False  # a feedparser whose mapping _repair's shortcut would miss
_looks_like_html = _FeedParserMixin.looks_like_html


class _Unusual(Exception):
    """The document is not one this module reads: leave it to feedparser."""


def read(data: bytes, headers: Mapping[str, str]) -> dict[str, Any] | None:
    """feedparser's reading of ``data`` (version, feed, entries), or None to let it read."""
    if not ENABLED or not data:
        return None
    result: dict[str, Any] = {}
    try:
        data = convert_to_utf8(dict(headers), data, result)
    except Exception:  # feedparser will say what it thinks of it
        return None
    if not result.get("encoding") or result.get("bozo"):
        return None
    version, data, entities = replace_doctype(data)
    if version or entities:
        return None
    reader = _Reader()
    parser = expat.ParserCreate(None, " ")
    parser.namespace_prefixes = True
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_UNLESS_STANDALONE)
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.characters
    parser.StartNamespaceDeclHandler = reader.namespace
    parser.ProcessingInstructionHandler = reader.unusual
    parser.CommentHandler = reader.unusual
    parser.StartDoctypeDeclHandler = reader.unusual
    parser.SkippedEntityHandler = reader.unusual
    parser.ExternalEntityRefHandler = reader.external_entity
    try:
        parser.Parse(data, True)
    except (_Unusual, expat.ExpatError):
        return None
    if not reader.done:
        return None
    return reader.result()


def _pop(text: str, *, resolve: bool = False) -> str:
    """What feedparser's ``pop`` makes of an element's text (steps in its order)."""
    text = text.strip()
    if resolve and text:
        text = _urljoin("", text)
    return _repair(text)


def _repair(text: str) -> str:
    if text.isascii():
        return text  # the usual case, which both steps leave as it is
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        # Text that was UTF-8 read as Latin-1 ("Ã©" -> "é").
        text = text.encode("iso-8859-1").decode("utf-8")
    # The mapping only has C1 controls (U+0080..U+009F) to map: the usual text has none.
    return text.translate(_cp1252) if has_any(_C1, text) else text


class _Reader:
    """Expat handlers that collect the text of the listed elements of an RSS 2.0 feed."""

    def __init__(self) -> None:
        self.depth = 0
        self.channels = 0
        self.done = False
        self.channel: dict[str, str] = {}
        self.items: list[dict[str, str]] = []
        self.guid_is_link: list[bool] = []
        self.text: list[str] | None = None  # pieces of the element being read
        self.empty = False  # inside an element that must stay empty
        self.key = ""

    def unusual(self, *args: object) -> None:
        raise _Unusual

    def external_entity(self, *args: object) -> int:
        raise _Unusual

    def namespace(self, prefix: str | None, uri: str) -> None:
        if not prefix or uri not in _NAMESPACES:
            raise _Unusual

    def start(self, name: str, attrs: dict[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if self.text is not None or self.empty:
            raise _Unusual  # markup inside a text element or an empty one
        parts = name.split(" ")
        key = parts[0] if len(parts) == 1 else f"{parts[0]} {parts[1]}"
        if depth == 1:
            if key != "rss" or attrs != {"version": "2.0"}:
                raise _Unusual
        elif depth == 2:
            self.channels += 1
            if key != "channel" or attrs or self.channels > 1:
                raise _Unusual
        elif depth == 3:
            if key == "item":
                if attrs:
                    raise _Unusual
                self.items.append({})
                self.guid_is_link.append(False)
                self.key = key
            else:
                self._open(key, attrs, self.channel, _CHANNEL_TEXT, _CHANNEL_EMPTY)
        elif depth == 4 and self.key == "item":
            item = self.items[-1]
            self._open(key, attrs, item, _ITEM_TEXT, _ITEM_EMPTY)
            if key in _AUTHORS and not _AUTHORS.isdisjoint(item):
                raise _Unusual  # both <author> and <dc:creator>
            if key == "guid":
                # feedparser's test: the value exactly "true" (or no attribute at all).
                self.guid_is_link[-1] = attrs.get("isPermaLink", "true") == "true"
        else:
            raise _Unusual

    def _open(
        self,
        key: str,
        attrs: dict[str, str],
        into: dict[str, str],
        text: Mapping[str, frozenset[str]],
        empty: Mapping[str, frozenset[str]],
    ) -> None:
        allowed = text.get(key)
        if allowed is not None:
            if key in into and key not in _REPEATABLE:
                raise _Unusual  # given twice: feedparser's rules for that are not ours
            self.text = []
        else:
            allowed = empty.get(key)
            if allowed is None:
                raise _Unusual
            self.empty = True
        if not allowed.issuperset(attrs):
            raise _Unusual
        self.key = key

    def characters(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)
        elif not data.isspace():
            raise _Unusual  # text between elements, or inside an empty one

    def end(self, name: str) -> None:
        depth = self.depth
        self.depth -= 1
        if self.empty:
            self.empty = False
        elif self.text is not None:
            into = self.items[-1] if depth == 4 else self.channel
            if self.key not in _REPEATABLE:
                into[self.key] = "".join(self.text)
            self.text = None
        if depth == 4:
            self.key = "item"
        elif depth == 3:
            self.key = ""
        elif depth == 1:
            self.done = True

    def result(self) -> dict[str, Any]:
        feed: dict[str, Any] = {}
        if "title" in self.channel:
            feed["title"] = _pop(self.channel["title"])
        if "ttl" in self.channel:
            feed["ttl"] = _pop(self.channel["ttl"])
        entries = [
            _entry(item, is_link)
            for item, is_link in zip(self.items, self.guid_is_link, strict=True)
        ]
        return {"version": "rss20", "feed": feed, "entries": entries}


def _entry(item: Mapping[str, str], guid_is_link: bool) -> dict[str, Any]:
    """The entry feedparser makes of an item's elements (whatever their order)."""
    entry: dict[str, Any] = {}
    if "title" in item:
        raw = item["title"].strip()
        # An RSS title is text/plain unless it looks like HTML (tested before the repair).
        kind = "text/html" if _looks_like_html(raw) else "text/plain"
        value = _repair(raw)
        entry["title"] = value
        entry["title_detail"] = {"type": kind, "value": value}
    if "guid" in item:
        entry["id"] = _pop(item["guid"], resolve=guid_is_link)
        if guid_is_link:
            entry["link"] = entry["id"]  # until a <link> says otherwise
    if "link" in item:
        link = _pop(item["link"], resolve=True).replace("&amp;", "&")
        entry["link"] = _LINK_ENTITY.sub(r"&\g<1>", link)
    if "pubDate" in item:
        published = _pop(item["pubDate"])
        entry["published"] = published
        entry["published_parsed"] = _parse_date(published)
    author = item.get(f"{_DC} creator", item.get("author"))
    if author is not None:
        entry["author"] = _pop(author)
    if f"{_CONTENT} encoded" in item:
        content = _pop(item[f"{_CONTENT} encoded"])
        entry["content"] = [{"type": "text/html", "value": content}]
        entry["summary"] = content  # unless there is a description
    if "description" in item:
        summary = _pop(item["description"])
        entry["summary"] = summary
        entry["summary_detail"] = {"type": "text/html", "value": summary}
    return entry
