"""One cleaning for every channel: what a message may carry, whatever a feed put in it.

Every notifier (email, webhook JSON, Slack, Discord, console, Apprise) renders
``clean_message(message)``, so a story looks the same, and is as safe, on each:

- story fields are one line: control characters, line and paragraph separators and
  other white space become one space; format characters (bidi overrides such as
  U+202E, zero-width spaces, BOMs) and lone surrogates go. Zero-width (non-)joiners
  stay: Persian, Indic scripts and emoji need them;
- the text of test and health messages keeps its lines (every kind of line break
  becomes ``\\n``), each line cleaned the same way;
- a story link is cleaned like the other fields, loses ``user:password@``, and is
  dropped when longer than its cap;
- every field has a size cap (``LIMITS``) and a message carries at most
  ``MESSAGE_CHARS`` characters of stories: a cut field ends with ``TRUNCATED``, and
  stories left out of a digest are counted in ``Message.omitted``.

Highlight spans (``snippet_terms``, headline ``terms``) are moved with the text.
Cleaning a clean message changes nothing, so channels may clean again safely.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import replace
from types import MappingProxyType

from monitor.notify.message import AlertItem, Message
from monitor.types import TermHit
from monitor.urls import without_userinfo

TRUNCATED = "\u2026 [truncated]"
# Characters per field; lists are cut to a number of entries.
LIMITS = MappingProxyType(
    {
        "headline": 500,
        "snippet": 1000,
        "why": 500,
        "topic": 200,
        "source": 200,
        "sources": 20,
        "term": 200,
        "terms": 50,
        "url": 2048,
        "title": 500,
        "text": 10_000,
    }
)
MESSAGE_CHARS = 200_000  # of story fields in one message; more stories are left out
_RAW_FACTOR = 4  # only this many times a field's cap is read: the rest would be cut anyway
# Joiners shape Persian, Indic scripts and emoji; every other format character goes.
_JOINERS = frozenset("\u200c\u200d")
_BREAKS = re.compile(r"\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def char_class(ch: str, *, keep_joiners: bool = True) -> str:
    """A space for characters that separate words, "" for ones to drop, else ``ch``."""
    category = unicodedata.category(ch)
    if category in ("Cc", "Zl", "Zp") or ch.isspace():
        return " "
    if category == "Cs" or (category == "Cf" and not (keep_joiners and ch in _JOINERS)):
        return ""
    return ch


def scrub(text: str, *, keep_joiners: bool = True) -> str:
    """Separators and controls as spaces, format characters dropped; nothing collapsed."""
    if text.isprintable():
        return text
    return "".join(char_class(ch, keep_joiners=keep_joiners) for ch in text)


def _clean(text: str, limit: int) -> tuple[str, list[int] | None]:
    """``text`` on one line within ``limit`` characters, and where each of its offsets
    (0 to len) went in the result (None: nowhere else, the text is unchanged)."""
    if text.isprintable() and "  " not in text and text == text.strip() and len(text) <= limit:
        return text, None
    raw_cut = len(text) > limit * _RAW_FACTOR
    if raw_cut:
        text = text[: limit * _RAW_FACTOR]
    out: list[str] = []
    where: list[int] = []
    for ch in text:
        where.append(len(out))
        kept = char_class(ch)
        if kept == " " and (not out or out[-1] == " "):
            continue
        out.extend(kept)
    where.append(len(out))
    while out and out[-1] == " ":
        out.pop()
    if len(out) > limit or raw_cut:
        keep = max(0, min(len(out), limit - len(TRUNCATED)))
        space = "".join(out[:keep]).rfind(" ")
        if space >= keep // 2:
            keep = space
        out = list("".join(out[:keep]).rstrip() + TRUNCATED)
        cut = len(out) - len(TRUNCATED)
        where = [min(w, cut) for w in where]
    length = len(out)
    return "".join(out), [min(w, length) for w in where]


def clean_line(text: str, limit: int) -> str:
    """A field as one clean line of at most ``limit`` characters (cut: ``TRUNCATED``)."""
    return _clean(text, limit)[0]


def clean_lines(text: str, limit: int) -> str:
    """Text whose lines matter (a test or health message): each line cleaned, at most
    one blank line in a row, at most ``limit`` characters."""
    raw_cut = len(text) > limit * _RAW_FACTOR
    lines = _BREAKS.split(text[: limit * _RAW_FACTOR])
    cleaned = "\n".join(clean_line(line, limit * _RAW_FACTOR) for line in lines)
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned).strip("\n")
    if len(cleaned) <= limit and not raw_cut:
        return cleaned
    keep = max(0, limit - len(TRUNCATED))
    return cleaned[:keep].rstrip() + TRUNCATED


def _moved(
    spans: Iterable[tuple[int, int]], where: Sequence[int] | None, length: int
) -> tuple[tuple[int, int], ...]:
    """Spans into the original text as spans into the cleaned one; spans cut off go."""
    moved = []
    for start, end in spans:
        if where is not None:
            if not 0 <= start < end < len(where):
                continue
            start, end = where[start], where[end]
        if 0 <= start < end <= length:
            moved.append((start, end))
    return tuple(moved)


def clean_url(url: str) -> str:
    """A story link as sent: one clean line without credentials; "" when too long (a cut
    link leads elsewhere). Whether it may become a link is each rendering's decision."""
    cleaned = clean_line(url, LIMITS["url"])
    return "" if cleaned.endswith(TRUNCATED) else without_userinfo(cleaned)


def clean_item(item: AlertItem) -> AlertItem:
    headline, where = _clean(item.headline, LIMITS["headline"])
    snippet, snippet_where = _clean(item.snippet, LIMITS["snippet"])
    terms = []
    for hit in item.terms[: LIMITS["terms"]]:
        span = hit.span
        if hit.field == "title":  # body spans point into the archived body, not sent
            moved = _moved([span], where, len(headline))
            if not moved:
                continue
            span = moved[0]
        terms.append(TermHit(term=clean_line(hit.term, LIMITS["term"]), field=hit.field, span=span))
    return replace(
        item,
        topic=clean_line(item.topic, LIMITS["topic"]),
        topics=_clean_topics(item.topics),
        headline=headline,
        url=clean_url(item.url),
        sources=tuple(clean_line(s, LIMITS["source"]) for s in item.sources[: LIMITS["sources"]]),
        snippet=snippet,
        snippet_terms=_moved(item.snippet_terms, snippet_where, len(snippet)),
        terms=tuple(terms),
        why=clean_line(item.why, LIMITS["why"]),
    )


def _clean_topics(topics: Iterable[str]) -> tuple[str, ...]:
    """Each topic name cleaned, once: two names may read the same once cleaned ("0", "0 ")."""
    return tuple(dict.fromkeys(clean_line(t, LIMITS["topic"]) for t in topics))


def _size(item: AlertItem) -> int:
    texts = (item.headline, item.snippet, item.why, item.url, *item.sources)
    return sum(map(len, texts)) + sum(len(t.term) for t in item.terms)


def clean_message(message: Message) -> Message:
    """``message`` as every channel sends it: cleaned, capped, cut where marked."""
    items: list[AlertItem] = []
    used = 0
    for item in message.items:
        cleaned = clean_item(item)
        used += _size(cleaned)
        if items and used > MESSAGE_CHARS:  # the first story always goes, within its caps
            break
        items.append(cleaned)
    return replace(
        message,
        topic=clean_line(message.topic, LIMITS["topic"]),
        topics=_clean_topics(message.topics),
        items=tuple(items),
        omitted=message.omitted + len(message.items) - len(items),
        title=clean_line(message.title, LIMITS["title"]),
        text=clean_lines(message.text, LIMITS["text"]),
    )
