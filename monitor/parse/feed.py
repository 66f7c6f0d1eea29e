"""Parsing fetched feed bytes (RSS, Atom, JSON Feed) and normalizing each item into an Entry.

Pure: the bytes, headers, base URL and ``now`` come in as arguments. feedparser
only ever sees an in-memory stream, so it can neither open a file nor fetch a URL
that a feed body names; internal DTD entity declarations are removed first, so
an entity-expansion feed cannot blow up its loose fallback parser. A body that starts
like a JSON object is read by ``monitor.parse.jsonfeed`` instead, into the same raw item
mappings feedparser makes, so every format reaches Entries through ``_entry``.
"""

from __future__ import annotations

import calendar
import io
import re
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from monitor.errors import FeedParseError
from monitor.parse import fastrss, jsonfeed, sniff
from monitor.text.fingerprint import fingerprint
from monitor.text.normalize import (
    clean_text,
    html_to_text,
    item_paragraphs,
    split_paragraphs,
    word_count,
)
from monitor.text.tokens import tokenize
from monitor.types import Entry
from monitor.urls import canonical_url, without_userinfo

_QUOTED = rb"(?:\"[^\"]*\"|'[^']*')"
# <!DOCTYPE name [ ...internal subset... ]> -> <!DOCTYPE name>; quote- and comment-aware.
# Linear time: tried once, at the first DOCTYPE; the loop is possessive and its branches start
# differently, and an unclosed comment or quote ends it instead of being read as plain text.
_DOCTYPE_START = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_DOCTYPE_SUBSET = re.compile(
    rb"(<!DOCTYPE\s+[^\s\[>]+(?:\s+(?:PUBLIC|SYSTEM)(?:\s+" + _QUOTED + rb"){1,2})?)\s*"
    rb"\[(?:" + _QUOTED + rb"|(?><!--.*?-->)|[^\]\"'<]|<(?!!--))*+\]\s*>",
    re.DOTALL | re.IGNORECASE,
)
# No "<" outside quotes, so each attempt ends at the next tag: linear time.
_ENTITY_DECL = re.compile(rb"<!ENTITY(?:" + _QUOTED + rb"|[^<>\"'])*+>", re.IGNORECASE)
# A character reference to half of a surrogate pair (an emoji cut in two by some encoder):
# feedparser raises on it, failing the whole feed. Decimal 55296-57343, hex D800-DFFF.
_SURROGATE_REF = re.compile(
    rb"&#(?:[xX]0*[dD][89a-fA-F][0-9a-fA-F]{2}"
    rb"|0*(?:5529[6-9]|55[3-9]\d\d|56\d{3}|57[0-2]\d\d|573[0-3]\d|5734[0-3]));"
)
_XML_ENCODING = re.compile(rb"\A(<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\2")
_FIRST_ELEMENT = re.compile(rb"<\w")
_SPACE_RUN = re.compile(rb"\s+")
# Byte order marks, and the start of an XML declaration in a wide encoding without one.
_WIDE = (  # (how the document starts, its encoding, the length of its byte order mark)
    (b"\xff\xfe\x00\x00", "utf-32-le", 4),
    (b"\x00\x00\xfe\xff", "utf-32-be", 4),
    (b"\xff\xfe", "utf-16-le", 2),
    (b"\xfe\xff", "utf-16-be", 2),
    (b"<\x00\x00\x00", "utf-32-le", 0),
    (b"\x00\x00\x00<", "utf-32-be", 0),
    (b"<\x00?\x00", "utf-16-le", 0),
    (b"\x00<\x00?", "utf-16-be", 0),
)
# Dates before this or more than a day ahead of "now" are not believed.
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_FUTURE_SLACK = timedelta(days=1)
HEADLINE_FALLBACK_CHARS = 120


@dataclass(frozen=True, kw_only=True, slots=True)
class ParsedFeed:
    title: str
    entries: tuple[Entry, ...]
    ttl: float | None = None  # seconds, from RSS <ttl>
    warning: str | None = None  # feedparser's complaint about a feed it still read


def strip_dtd(data: bytes) -> bytes:
    """The document with its internal DTD subset and any entity declaration removed.

    Also tidies the prolog (what comes before the first element), which feedparser scans
    with regexes that take quadratic time in its number of lines: 100 KB of blank lines or
    of unclosed ``<!DOCTYPE``s would otherwise take minutes to parse.
    """
    for mark, encoding, bom in _WIDE:
        if data.startswith(mark):
            # Re-encode wide encodings as UTF-8 so the byte patterns below can see them.
            text = data[bom:].decode(encoding, errors="replace").encode("utf-8")
            data = _XML_ENCODING.sub(rb"\1\2utf-8\2", text, count=1)
            break
    upper = data.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        start = _DOCTYPE_START.search(data)
        found = _DOCTYPE_SUBSET.match(data, start.start()) if start else None
        if found:
            data = data[: found.start()] + found.group(1) + b">" + data[found.end() :]
        data = _ENTITY_DECL.sub(b"", data)
    element = _FIRST_ELEMENT.search(data)
    if element is None or element.start() == 0:
        return data
    # Stray declarations (never closed) dropped, then one blank per run of white space.
    head = data[: element.start()].replace(b"<!ENTITY", b"")
    first = head.find(b"<!DOCTYPE")
    if first >= 0:
        cut = first + len(b"<!DOCTYPE")
        head = head[:cut] + head[cut:].replace(b"<!DOCTYPE", b"")
    head = _SPACE_RUN.sub(lambda m: b"\n" if b"\n" in m.group() else b" ", head)
    return head + data[element.start() :]


def _believable(value: Any, now: datetime) -> datetime | None:
    if value is None:
        return None
    try:
        stamp = datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None
    return stamp if _EARLIEST <= stamp <= now + _FUTURE_SLACK else None


def _text_of(detail: Mapping[str, Any] | None, fallback: str) -> tuple[str, str]:
    if not detail:
        return fallback, "text/html"
    return str(detail.get("value") or ""), str(detail.get("type") or "text/html")


def _paragraphs(value: str, kind: str, title: str) -> list[str]:
    if "html" in kind or "xml" in kind:
        return item_paragraphs(value, title)
    return split_paragraphs(value)


def _body(entry: Mapping[str, Any], title: str) -> list[str]:
    """Every word of the item's content, or of its summary when that says more.

    An item with several contents (content:encoded beside an itunes:summary, say) has the
    longest, then the paragraphs of the others that bring words it lacks. The summary is
    mostly a piece of the content, or a teaser of it, and then adds nothing; but some items
    carry their text in the summary, beside an image or a "Read more" in content:encoded:
    then the summary is the body, and the content adds what it brings.
    """
    contents = [_text_of(c, "") for c in entry.get("content") or []]
    contents = sorted((c for c in contents if c[0].strip()), key=lambda c: -len(c[0]))
    summary = _text_of(entry.get("summary_detail"), str(entry.get("summary") or ""))
    if not summary[0].strip() or any(summary[0].strip() in value for value, _ in contents):
        texts = contents
    elif not contents:
        texts = [summary]
    else:
        body = _paragraphs(*contents[0], title)
        lead = _paragraphs(*summary, title)
        if _words(lead) > _words(body):
            return _merged(lead, contents, title)
        return _merged(body, contents[1:], title)
    if not texts:
        return []
    return _merged(_paragraphs(*texts[0], title), texts[1:], title)


def _words(paragraphs: list[str]) -> int:
    return word_count(" ".join(paragraphs))  # a blank joins no words: one count, not one each


def _merged(body: list[str], others: list[tuple[str, str]], title: str) -> list[str]:
    """``body``, then the paragraphs of ``others`` that bring words it lacks."""
    if not others:
        return body
    seen = set(tokenize(" ".join(body)))
    for value, kind in others:
        for paragraph in _paragraphs(value, kind, title):
            words = set(tokenize(paragraph))
            if not words <= seen:
                body.append(paragraph)
                seen |= words
    return body


def _title(entry: Mapping[str, Any]) -> str:
    value, kind = _text_of(entry.get("title_detail"), str(entry.get("title") or ""))
    return html_to_text(value) if "html" in kind else clean_text(value)


def _headline(title: str, body: list[str]) -> str:
    if title or not body:
        return title
    # No title: the start of the text, cut at a word boundary.
    first = body[0]
    if len(first) <= HEADLINE_FALLBACK_CHARS:
        return first
    return first[:HEADLINE_FALLBACK_CHARS].rsplit(" ", 1)[0] + "\u2026"


def _entry(raw: Mapping[str, Any], base_url: str, now: datetime) -> Entry | None:
    link = str(raw.get("link") or "").strip()
    if link:
        link = urljoin(base_url, link)
        if urlsplit(link).scheme.lower() not in ("http", "https"):
            link = ""  # javascript:, data: and the like are never a story's address
    guid = str(raw.get("id") or "").strip() or None
    title = _title(raw)
    body = _body(raw, title)
    headline = _headline(title, body) or link
    if not headline:
        return None  # nothing to show, match or link to
    text = fingerprint(headline, body)
    # dict.get: FeedParserDict.get maps a missing published to updated with a warning.
    stated = raw if isinstance(raw, dict) else dict(raw)
    published = _believable(dict.get(stated, "published_parsed"), now) or _believable(
        dict.get(stated, "updated_parsed"), now
    )
    author = clean_text(str(raw.get("author") or "")) or None
    return Entry(
        guid=guid,
        url=canonical_url(link) if link else "",
        link=link,
        headline=headline,
        paragraphs=tuple(body),
        published=published,
        author=author,
        sketch=text.sketch,
        text_hash=text.text_hash,
        words=text.words,
    )


def parse_feed(
    data: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    now: datetime,
    fast: bool = True,
) -> ParsedFeed:
    """Parse a fetched feed body; raise FeedParseError when it is not a feed at all.

    Plain RSS 2.0 feeds are read by ``monitor.parse.fastrss`` (the same result as feedparser's,
    several times faster) unless ``fast`` is false; JSON Feeds by ``monitor.parse.jsonfeed``,
    recognised by their content whatever their Content-Type; everything else by feedparser.
    When nothing is a feed, the error says what the body is instead (``monitor.parse.sniff``).
    """
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    url = without_userinfo(url)  # links and messages must not carry the feed's credentials
    if jsonfeed.starts_like_json(data):
        return _parse_json_feed(
            data, url=url, content_type=response_headers.get("content-type"), now=now
        )
    # No content-location: feedparser would "resolve" GUIDs that look relative against it,
    # and a GUID must not change when the feed moves. Links are resolved below instead.
    response_headers.pop("content-location", None)
    data = strip_dtd(data)
    if b"&#" in data:
        data = _SURROGATE_REF.sub(b"&#xFFFD;", data)
    read = fastrss.read(data, response_headers) if fast else None
    xml_error = None
    if read is not None:
        version, feed, raw_entries, warning = read["version"], read["feed"], read["entries"], None
    else:
        try:
            result = feedparser.parse(
                io.BytesIO(data),
                response_headers=response_headers,
                sanitize_html=False,  # text is rebuilt from parsed HTML, never served as HTML
                resolve_relative_uris=False,
            )
        except Exception as exc:  # feedparser has no error root of its own
            raise FeedParseError(url, f"parser failed: {exc!r}") from exc
        warning = None
        if result.get("bozo"):
            problem = result.get("bozo_exception")
            warning = str(problem or "ill-formed feed")
            if isinstance(problem, xml.sax.SAXParseException):
                xml_error = problem.getMessage()
        version, feed, raw_entries = result.get("version"), result.feed, result.entries
    if not version and not raw_entries:
        what = sniff.describe(data, url=url, xml_error=xml_error)
        raise FeedParseError(url, f"not a feed: {what}")
    entries = [_entry(e, url, now) for e in raw_entries]
    ttl = feed.get("ttl")
    return ParsedFeed(
        title=html_to_text(str(feed.get("title") or "")),
        entries=tuple(e for e in entries if e is not None),
        ttl=float(ttl) * 60 if isinstance(ttl, str) and ttl.strip().isdigit() else None,
        warning=warning,
    )


def _parse_json_feed(
    data: bytes, *, url: str, content_type: str | None, now: datetime
) -> ParsedFeed:
    try:
        feed = jsonfeed.read(data, url=url, content_type=content_type)
    except jsonfeed.NotAJsonFeed as exc:
        raise FeedParseError(url, f"not a feed: {exc.reason}") from exc
    entries = [_entry(item, url, now) for item in feed.items]
    return ParsedFeed(
        title=html_to_text(feed.title),
        entries=tuple(e for e in entries if e is not None),
        warning=feed.warning,
    )


_WARM_UP_FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>warm-up</title>'
    b"<item><title>Warm-up</title><link>https://warm-up.invalid/1</link>"
    b"<description>&lt;p&gt;Nothing to see here, just a parser warming up.&lt;/p&gt;"
    b"</description></item></channel></rss>"
)


def warm_up() -> None:
    """Parse a tiny feed, so that a new parse process is ready (and warm) for real ones."""
    parse_feed(_WARM_UP_FEED, url="https://warm-up.invalid/", now=datetime(2000, 1, 2, tzinfo=UTC))
