"""Rendering a Message as plain text and as HTML, shared by every notifier.

Everything that came from a feed is untrusted. Both renderings start from
``clean_message`` (``monitor.notify.clean``, the cleaning every channel shares), so a
story field stays on its line and within its size cap. The HTML rendering escapes
every piece of text, links only to the story URL and only when it is http(s), and
uses no images, scripts, remote resources or style sheets: inline ``style``
attributes with constant values only.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from monitor.notify.clean import TRUNCATED, char_class, clean_message, scrub
from monitor.notify.message import AlertItem, Message
from monitor.units import plural

ELLIPSIS = "\u2026"
_SPACE = re.compile(r"\s+")
_MAX_SOURCES = 10

_BODY = "margin:0;padding:16px;background:#ffffff;color:#1a1a1a;font-family:Arial,sans-serif"
_BOX = "max-width:640px"
_TOPIC = "margin:0 0 8px;font-size:12px;color:#666666"
_HEAD = "margin:0 0 6px;font-size:18px;line-height:1.3"
_HEAD_SMALL = "margin:0 0 4px;font-size:16px;line-height:1.3"
_META = "margin:0 0 8px;font-size:13px;color:#555555"
_SNIPPET = "margin:0 0 8px;font-size:14px;line-height:1.5"
_MARK = "background:#fff3a3;color:#1a1a1a"
_WHY = "margin:0 0 8px;font-size:12px;color:#666666"
_LINK = "color:#0b57d0"
_ITEM = "margin:0 0 20px"
_FOOT = "margin:16px 0 0;font-size:11px;color:#888888"


def inline(text: str) -> str:
    """A story field as one line: scrubbed and with runs of whitespace collapsed."""
    return _SPACE.sub(" ", scrub(text)).strip()


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with an ellipsis."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= (limit - 1) // 2:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def clean_header(text: str, limit: int) -> str:
    """A single-line header value: no CR, LF, NEL, line/paragraph separators, control or
    format characters; whitespace collapsed; at most ``limit`` characters."""
    return truncate(_SPACE.sub(" ", scrub(text, keep_joiners=False)).strip(), limit)


def format_time(when: datetime) -> str:
    """A published time in UTC, e.g. ``2024-05-01 14:03 UTC`` (naive times are taken as UTC)."""
    try:
        utc = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (OverflowError, ValueError):
        return when.isoformat(timespec="minutes")
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d} {utc.hour:02d}:{utc.minute:02d} UTC"


def safe_link(url: str) -> str | None:
    """The URL to use as an href, or None when it is not a plain http(s) URL.

    Browsers drop tabs and newlines inside URLs and strip leading controls, so
    ``java\\tscript:`` would still run; any URL holding such characters is refused.
    """
    candidate = url.strip()
    if not candidate or any(
        ch.isspace() or char_class(ch, keep_joiners=False) != ch for ch in candidate
    ):
        return None
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return candidate


def sources_line(sources: Iterable[str]) -> str:
    """``Example Wire, also reported by X, Y`` (at most ten names)."""
    names = [name for name in (inline(s) for s in sources) if name]
    if not names:
        return ""
    line = names[0]
    others = names[1:_MAX_SOURCES]
    if others:
        line += ", also reported by " + ", ".join(others)
    if len(names) > _MAX_SOURCES:
        line += f" and {len(names) - _MAX_SOURCES} more"
    return line


def _spans(snippet: str, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Valid spans, sorted and with overlaps merged."""
    valid = sorted((s, e) for s, e in spans if 0 <= s < e <= len(snippet))
    merged: list[tuple[int, int]] = []
    for start, end in valid:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet_pieces(item: AlertItem) -> list[tuple[str, bool]]:
    """The snippet as (text, highlighted) pieces, each scrubbed and whitespace-collapsed."""
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for start, end in _spans(item.snippet, item.snippet_terms):
        pieces.append((item.snippet[pos:start], False))
        pieces.append((item.snippet[start:end], True))
        pos = end
    pieces.append((item.snippet[pos:], False))
    cleaned = [(_SPACE.sub(" ", scrub(text)), marked) for text, marked in pieces]
    cleaned = [(text, marked) for text, marked in cleaned if text.strip() or not marked]
    if cleaned:
        cleaned[0] = (cleaned[0][0].lstrip(), cleaned[0][1])
        cleaned[-1] = (cleaned[-1][0].rstrip(), cleaned[-1][1])
    return [(text, marked) for text, marked in cleaned if text]


# --- plain text ------------------------------------------------------------------------


def _star(text: str) -> str:
    """``*term*``, keeping any space around the term outside the stars."""
    core = text.strip()
    head = text[: len(text) - len(text.lstrip())]
    tail = text[len(text.rstrip()) :]
    return f"{head}*{core}*{tail}"


def _text_snippet(item: AlertItem) -> str:
    return "".join(_star(text) if marked else text for text, marked in snippet_pieces(item))


def _text_item(item: AlertItem, *, compact: bool) -> list[str]:
    lines = [inline(item.headline) or "(no headline)"]
    source = sources_line(item.sources)
    url = inline(item.url)
    if compact:
        meta = " | ".join(x for x in (source, format_time(item.published)) if x)
        lines.append(meta)
        if url:
            lines.append(url)
    else:
        lines.append("")
        if source:
            lines.append(f"Source: {source}")
        lines.append(f"Published: {format_time(item.published)}")
        if url:
            lines.append(f"Link: {url}")
        lines.append("")
    snippet = _text_snippet(item)
    if snippet:
        lines.append(snippet)
        if not compact:
            lines.append("")
    why = inline(item.why)
    if why:
        lines.append(f"Why: {why}")
    return lines


def _text_multiline(text: str) -> list[str]:
    return [_SPACE.sub(" ", scrub(line)).rstrip() for line in text.splitlines()]


def omitted_line(message: Message) -> str:
    """What a digest cut to its size cap says about the stories left out ("" if none)."""
    if not message.omitted:
        return ""
    return f"and {plural(message.omitted, 'more story', 'more stories')} not shown {TRUNCATED}"


def render_text(message: Message) -> str:
    """The plain-text body of a message."""
    message = clean_message(message)
    topic = inline(message.topic)
    if message.kind == "alert" and message.items:
        lines = _text_item(message.items[0], compact=False)
    elif message.kind == "digest":
        count = len(message.items) + message.omitted
        lines = [f"{count} new stor{'y' if count == 1 else 'ies'} for {topic or 'this topic'}", ""]
        for number, item in enumerate(message.items, 1):
            first, *rest = _text_item(item, compact=True)
            lines += [f"{number}. {first}", *(f"   {line}" for line in rest), ""]
        if message.omitted:
            lines += [omitted_line(message), ""]
    else:
        lines = [inline(message.title), "", *_text_multiline(message.text)]
    label = "topics" if len(message.topics) > 1 else "topic"
    footer = f"-- \nnews-monitor{f', {label}: {topic}' if topic else ''}"
    return "\n".join(lines).strip("\n") + "\n\n" + footer + "\n"


# --- HTML ------------------------------------------------------------------------------


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _html_snippet(item: AlertItem) -> str:
    return "".join(
        f'<mark style="{_MARK}"><strong>{_e(text)}</strong></mark>' if marked else _e(text)
        for text, marked in snippet_pieces(item)
    )


def _html_item(item: AlertItem, *, compact: bool) -> str:
    headline = _e(inline(item.headline) or "(no headline)")
    link = safe_link(item.url)
    if link:
        headline = f'<a href="{_e(link)}" style="{_LINK}">{headline}</a>'
    parts = [f'<h2 style="{_HEAD_SMALL if compact else _HEAD}">{headline}</h2>']
    meta = [x for x in (sources_line(item.sources), format_time(item.published)) if x]
    parts.append(f'<p style="{_META}">{" &middot; ".join(_e(x) for x in meta)}</p>')
    snippet = _html_snippet(item)
    if snippet:
        parts.append(f'<p style="{_SNIPPET}">{snippet}</p>')
    why = inline(item.why)
    if why:
        parts.append(f'<p style="{_WHY}">Why: {_e(why)}</p>')
    url = inline(item.url)
    if link and not compact:
        parts.append(f'<p style="{_META}"><a href="{_e(link)}" style="{_LINK}">{_e(link)}</a></p>')
    elif url and not link:
        parts.append(f'<p style="{_META}">Link (not a web address): {_e(url)}</p>')
    return "\n".join(parts)


def render_html(message: Message) -> str:
    """The HTML body of a message: escaped, inline styles only, no remote resources."""
    message = clean_message(message)
    topic = inline(message.topic)
    if message.kind == "alert" and message.items:
        body = _html_item(message.items[0], compact=False)
    elif message.kind == "digest":
        count = len(message.items) + message.omitted
        title = f"{count} new stor{'y' if count == 1 else 'ies'}"
        items = "\n".join(
            f'<li style="{_ITEM}">{_html_item(item, compact=True)}</li>' for item in message.items
        )
        body = f'<h1 style="{_HEAD}">{_e(title)}</h1>\n<ol style="padding-left:20px">{items}</ol>'
        if message.omitted:
            body += f'\n<p style="{_META}">{_e(omitted_line(message))}</p>'
    else:
        text = "<br>\n".join(_e(line) for line in _text_multiline(message.text))
        title = _e(inline(message.title))
        body = f'<h1 style="{_HEAD}">{title}</h1>\n<p style="{_SNIPPET}">{text}</p>'
    label = "Topics" if len(message.topics) > 1 else "Topic"
    header = f'<p style="{_TOPIC}">{label}: {_e(topic)}</p>\n' if topic else ""
    footer = f'<p style="{_FOOT}">Sent by news-monitor.</p>'
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        '<meta charset="utf-8">\n'
        f"<title>{_e(clean_header(message.subject, 200))}</title>\n"
        f'</head>\n<body style="{_BODY}">\n<div style="{_BOX}">\n'
        f"{header}{body}\n{footer}\n</div>\n</body>\n</html>\n"
    )


def text_as_html(text: str, title: str) -> str:
    """A plain-text body (a ``body_template``'s) as HTML: escaped, lines kept, no links."""
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        '<meta charset="utf-8">\n'
        f"<title>{_e(clean_header(title, 200))}</title>\n"
        f'</head>\n<body style="{_BODY}">\n<div style="{_BOX}">\n'
        f'<pre style="white-space:pre-wrap;font-family:inherit;{_SNIPPET}">{_e(text)}</pre>\n'
        "</div>\n</body>\n</html>\n"
    )
