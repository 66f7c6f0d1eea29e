"""Reading JSON Feed 1.0 and 1.1 (https://www.jsonfeed.org/version/1.1/) documents.

Each item becomes the same raw item mapping feedparser makes of an RSS or Atom item (the
keys ``monitor.parse.feed`` reads: ``title_detail``, ``link``, ``id``, ``content``,
``summary_detail``, ``published_parsed``, ``updated_parsed``, ``author``), so one path
turns raw items of every format into Entries, with the same text rules.

Pure: the bytes and the URL they came from are the input. Lenient the way real readers are:
a field of the wrong type is ignored (the rest of its item still counts), an item that is not
an object is skipped, an ``id`` given as a number is its literal text, and a document with
no ``version`` is still read when it has an ``items`` list. Anything that is not JSON, or
JSON that is not a feed, raises ``NotAJsonFeed`` saying what it is instead.
"""

from __future__ import annotations

import codecs
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypedDict
from urllib.parse import urljoin, urlsplit

# https://jsonfeed.org/version/1.1, and the variants publishers write (http, www).
_VERSION = re.compile(r"\s*https?://(?:www\.)?jsonfeed\.org/version/", re.IGNORECASE)

# JSON's own white space; what may come before the first "{".
_JSON_SPACE = re.compile(rb"[ \t\r\n]*")
# How a document starts -> its encoding and the length of its byte order mark. UTF-32 marks
# before UTF-16 ones, which they begin with; without a mark, the zero bytes around the first
# (ASCII) character tell the width, as RFC 4627 section 3 describes.
_ENCODINGS = (
    (codecs.BOM_UTF8, "utf-8", 3),
    (codecs.BOM_UTF32_LE, "utf-32-le", 4),
    (codecs.BOM_UTF32_BE, "utf-32-be", 4),
    (codecs.BOM_UTF16_LE, "utf-16-le", 2),
    (codecs.BOM_UTF16_BE, "utf-16-be", 2),
)
_WIDE_PATTERNS = (  # (zero-byte pattern of the first 4 bytes, encoding)
    ((True, True, True, False), "utf-32-be"),
    ((False, True, True, True), "utf-32-le"),
    ((True, False, True, False), "utf-16-be"),
    ((False, True, False, True), "utf-16-le"),
)
# RFC 3339, plus what feeds get wrong in practice: a space or lower-case "t" for the "T",
# a "+0100" offset, no seconds, or a bare date.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*([Zz]|[+-]\d{2}:?\d{2})?)?"
)
# A title or summary that names an entity or closes a tag is HTML, whatever the spec says:
# publishers escape "&" as "&amp;" in them as they do in RSS.
_LOOKS_LIKE_HTML = re.compile(r"</[A-Za-z][\w-]*\s*>|&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z]\w*);")
_AUTHORS_SEPARATOR = ", "


class NotAJsonFeed(ValueError):
    """The document is not a JSON Feed; ``reason`` says what it is instead."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Detail(TypedDict):
    type: str
    value: str


class RawItem(TypedDict, total=False):
    """The part of a feedparser entry that ``monitor.parse.feed`` reads."""

    title: str
    title_detail: Detail
    link: str
    id: str
    content: list[Detail]
    summary: str
    summary_detail: Detail
    published_parsed: time.struct_time
    updated_parsed: time.struct_time
    author: str


@dataclass(frozen=True, kw_only=True, slots=True)
class JsonFeed:
    title: str
    items: tuple[RawItem, ...]
    warning: str | None = None  # what was skipped or assumed to read it


class _Number(str):
    """A JSON number, kept as written: ids must keep every digit, and nothing is evaluated
    (no 4300-digit integer limit, no float overflow)."""


def _no_constant(name: str) -> None:
    return None  # NaN and Infinity are not JSON; Python's reader accepts them


_DECODER = json.JSONDecoder(parse_int=_Number, parse_float=_Number, parse_constant=_no_constant)


def starts_like_json(data: bytes) -> bool:
    """Whether the first character after any byte order mark and white space is "{"."""
    encoding, bom = _encoding(data)
    if encoding == "utf-8":
        space = _JSON_SPACE.match(data, bom)
        start = space.end() if space else bom
        return data[start : start + 1] == b"{"
    return data[bom : bom + 4096].decode(encoding, errors="ignore").lstrip(" \t\r\n")[:1] == "{"


def _encoding(data: bytes) -> tuple[str, int]:
    for mark, encoding, length in _ENCODINGS:
        if data.startswith(mark):
            return encoding, length
    zeros = tuple(b == 0 for b in data[:4])
    for pattern, encoding in _WIDE_PATTERNS:
        if zeros == pattern:
            return encoding, 0
    return "utf-8", 0


def _decode(data: bytes, content_type: str | None) -> str:
    encoding, bom = _encoding(data)
    if encoding != "utf-8":
        return data[bom:].decode(encoding, errors="replace")
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Not UTF-8, as JSON must be: the charset the server names, else the commonest mistake.
    # Decoding with errors replaced would drop letters from words ("caf" for "café").
    charset = _charset(content_type)
    for candidate in (charset, "windows-1252"):
        if candidate:
            try:
                return data.decode(candidate)
            except (LookupError, UnicodeDecodeError):
                continue
    return data.decode("latin-1")


def _charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def read(data: bytes, *, url: str, content_type: str | None = None) -> JsonFeed:
    """The JSON Feed in ``data``, its item links resolved; NotAJsonFeed when it is not one."""
    text = _decode(data, content_type)
    try:
        document = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise NotAJsonFeed(
            f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise NotAJsonFeed("malformed JSON: nested too deeply") from exc
    if not isinstance(document, dict):
        raise NotAJsonFeed(f"a JSON document that is not a JSON Feed ({_kind(document)})")
    version = document.get("version")
    items = document.get("items")
    warnings: list[str] = []
    if isinstance(version, str) and not isinstance(version, _Number):
        if not _VERSION.match(version):
            raise NotAJsonFeed(f"a JSON document that is not a JSON Feed (version {version!r})")
    elif isinstance(items, list):
        warnings.append("no JSON Feed version; read for its items")
    else:
        raise NotAJsonFeed("a JSON document that is not a JSON Feed (no version or items)")
    if not isinstance(items, list):
        warnings.append("items is not a list")
        items = []
    base = _base_url(document, url)
    feed_authors = _authors(document)
    raw_items: list[RawItem] = []
    for item in items:
        if isinstance(item, dict):
            raw_items.append(_item(item, base, feed_authors))
    if len(raw_items) < len(items):
        warnings.append(f"{len(items) - len(raw_items)} items skipped (not JSON objects)")
    return JsonFeed(
        title=_string(document.get("title")) or "",
        items=tuple(raw_items),
        warning="; ".join(warnings) or None,
    )


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an array, not an object"
    if isinstance(value, _Number):
        return "a number, not an object"
    if isinstance(value, str):
        return "a string, not an object"
    if isinstance(value, bool):
        return "a boolean, not an object"
    return "null, not an object"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(value: object) -> str | None:
    """The value if it is a JSON string (numbers are not text, whatever Python says).

    A lone surrogate (an escape like "\\ud83d" cut from its pair) becomes U+FFFD: no UTF-8
    encoder, SQLite's included, takes it.
    """
    if not isinstance(value, str) or isinstance(value, _Number):
        return None
    return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value


def _web_url(value: object, base: str) -> str | None:
    text = _string(value)
    if not text or not text.strip():
        return None
    try:
        resolved = urljoin(base, text.strip())
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:  # e.g. an invalid IPv6 host
        return None
    return resolved if scheme in ("http", "https") else None


def _base_url(document: Mapping[str, Any], url: str) -> str:
    # A relative item URL is a link on the site: the home page first, then the feed's own.
    for key in ("home_page_url", "feed_url"):
        base = _web_url(document.get(key), url)
        if base:
            return base
    return url


def _authors(owner: Mapping[str, Any]) -> str | None:
    """The names of the 1.1 ``authors`` list, else of the 1.0 ``author`` object, joined."""
    people = owner.get("authors")
    if not isinstance(people, list):
        people = [owner.get("author")]
    names: list[str] = []
    for person in people:
        name = _string(person.get("name")) if isinstance(person, dict) else None
        if name and name.strip() and name.strip() not in names:
            names.append(name.strip())
    return _AUTHORS_SEPARATOR.join(names) or None


def _detail(value: str, *, plain: bool) -> Detail:
    kind = "text/html" if not plain or _LOOKS_LIKE_HTML.search(value) else "text/plain"
    return {"type": kind, "value": value}


def _item(item: Mapping[str, Any], base: str, feed_authors: str | None) -> RawItem:
    raw: RawItem = {}
    title = _string(item.get("title"))
    if title is not None:
        raw["title"] = title
        raw["title_detail"] = _detail(title, plain=True)
    link = _web_url(item.get("url"), base) or _web_url(item.get("external_url"), base)
    if link:
        raw["link"] = link
    guid = item.get("id")
    if isinstance(guid, str):  # a _Number is the number as written: the spec says coerce
        raw["id"] = _SURROGATE.sub("\ufffd", guid)
    content: list[Detail] = []
    html = _string(item.get("content_html"))
    if html is not None:
        content.append(_detail(html, plain=False))
    text = _string(item.get("content_text"))
    if text is not None:
        content.append({"type": "text/plain", "value": text})
    if content:
        raw["content"] = content
    summary = _string(item.get("summary"))
    if summary is not None:
        raw["summary"] = summary
        raw["summary_detail"] = _detail(summary, plain=True)
    published = _date(item.get("date_published"))
    if published is not None:
        raw["published_parsed"] = published
    modified = _date(item.get("date_modified"))
    if modified is not None:
        raw["updated_parsed"] = modified
    # The spec: an item that names no authors has the feed's.
    author = _authors(item) if "authors" in item or "author" in item else feed_authors
    if author:
        raw["author"] = author
    return raw


def _date(value: object) -> time.struct_time | None:
    """An RFC 3339 date (or, as some feeds write them, an RFC 2822 one) in UTC."""
    text = _string(value)
    if not text or len(text) > 100:
        return None
    text = text.strip()
    stamp = _rfc3339(text) or _rfc2822(text)
    if stamp is None:
        return None
    try:
        return stamp.astimezone(UTC).timetuple()
    except (OverflowError, ValueError):  # year 1 or 9999 moved past the range by its offset
        return None


def _rfc3339(text: str) -> datetime | None:
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    try:
        zone = UTC
        if offset and offset not in "Zz":
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            zone = timezone(-delta if offset[0] == "-" else delta)
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            min(int(second or 0), 59),  # a leap second
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=zone,
        )
    except ValueError:  # month 13, an offset of a day or more, and the like
        return None


def _rfc2822(text: str) -> datetime | None:
    try:
        stamp = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)  # "-0000": UTC, source unknown
