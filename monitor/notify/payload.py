"""Wire payloads for webhooks: JSON v1, Slack and Discord incoming-webhook shapes.

Each shape is its own typed structure built from a ``Message``, never a dump of
domain objects, so the wire format changes only on purpose. ``encode`` turns a
payload into the exact bytes that are signed and sent.

Story text is untrusted: every shape is built from ``clean_message`` (the cleaning
and size caps all channels share, ``monitor.notify.clean``). Slack and Discord
payloads also escape it for their markup, make links only to http(s) URLs and stay
within each service's size limits; the JSON payload carries the text as data; it
keeps a story URL only when it is http(s), like the other shapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict
from urllib.parse import quote, urlsplit

from monitor.notify.clean import clean_message, scrub
from monitor.notify.message import AlertItem, Message
from monitor.notify.render import render_text

PAYLOAD_VERSION = 1
Format = Literal["json", "slack", "discord"]

# -- JSON v1 ------------------------------------------------------------------------------


class TermV1(TypedDict):
    term: str
    field: Literal["title", "body"]
    # [start, end) in code points (Python str indices, not UTF-16 units or bytes): of the
    # item's ``headline`` as sent for "title"; of the story's body as archived for "body"
    # (the body is not sent; ``monitor show ID`` prints it)
    span: list[int]


class ItemV1(TypedDict):
    story_id: str
    headline: str
    url: str  # "" unless an http(s) URL
    sources: list[str]
    also_reported_by: list[str]
    published: str  # ISO 8601, UTC
    snippet: str
    snippet_spans: list[list[int]]  # [start, end) code points of ``snippet`` to highlight
    why: str
    terms: list[TermV1]


class PayloadV1(TypedDict):
    version: Literal[1]
    type: Literal["alert", "digest", "test", "health"]
    id: str
    topic: str  # the topic; a story matching several: their names joined with ", "
    topics: list[str]  # every topic the message names ([] for test and health messages)
    created: str  # ISO 8601, UTC
    items: list[ItemV1]
    omitted: int  # stories of a digest left out to keep the message within its size cap
    title: str  # the subject line
    text: str  # the whole message as plain text


def json_payload(message: Message, shaped: Shaped = None) -> PayloadV1:
    message = clean_message(message)
    subject, body = shaped or (None, None)
    return {
        "version": 1,
        "type": message.kind,
        "id": message.id,
        "topic": _valid(message.topic),
        "topics": [
            _valid(t) for t in message.topics or ((message.topic,) if message.topic else ())
        ],
        "created": iso_utc(message.created),
        "items": [_item_v1(item) for item in message.items],
        "omitted": message.omitted,
        "title": _valid(subject or message.subject),
        # Alerts and digests as plain text (the email's text part); test and health messages'
        # own text; or what the notifier's body_template made.
        "text": _valid(body or (render_text(message) if message.items else message.text)),
    }


def _item_v1(item: AlertItem) -> ItemV1:
    return {
        "story_id": item.story_id,
        "headline": _valid(item.headline),
        "url": safe_url(item.url) or "",
        "sources": [_valid(s) for s in item.sources],
        "also_reported_by": [_valid(s) for s in item.sources[1:]],
        "published": iso_utc(item.published),
        "snippet": _valid(item.snippet),
        "snippet_spans": [[start, end] for start, end in item.snippet_terms],
        "why": _valid(item.why),
        "terms": [
            {"term": _valid(t.term), "field": t.field, "span": [t.span[0], t.span[1]]}
            for t in item.terms
        ],
    }


# -- Slack ----------------------------------------------------------------------------------

SLACK_TEXT = 3000  # a section's text
SLACK_HEADER = 150  # a header block's plain text
SLACK_FALLBACK = 4000  # the top-level ``text`` shown in notifications
SLACK_BLOCKS = 50


class SlackText(TypedDict):
    type: Literal["mrkdwn", "plain_text"]
    text: str
    verbatim: NotRequired[bool]


class SlackBlock(TypedDict):
    type: Literal["header", "section", "context"]
    text: NotRequired[SlackText]
    elements: NotRequired[list[SlackText]]


class SlackPayload(TypedDict):
    text: str
    blocks: list[SlackBlock]


def slack_escape(text: str, i: int = 0) -> str:
    """Slack's three control characters as entities (``text`` from index ``i``, one char)."""
    ch = text[i] if text else ""
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;"}.get(ch, ch)


def _plain_text(text: str) -> SlackText:
    return {"type": "plain_text", "text": text}


def _mrkdwn(text: str) -> SlackText:
    # verbatim: Slack does not auto-link or parse mentions in story text.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def slack_payload(message: Message, shaped: Shaped = None) -> SlackPayload:
    message = clean_message(message)
    templated, text = shaped or (None, None)
    subject = one_line(templated or "") or one_line(message.subject) or message.kind
    blocks: list[SlackBlock] = [
        {"type": "header", "text": _plain_text(fit(subject, SLACK_HEADER, slack_escape))}
    ]
    body = multi_line(text or message.text)
    if body:
        blocks.append({"type": "section", "text": _mrkdwn(fit(body, SLACK_TEXT, slack_escape))})
    room = SLACK_BLOCKS - len(blocks) - 1  # one block kept for "and N more"
    shown = () if text else message.items[:room]  # a templated body stands for the items
    blocks.extend({"type": "section", "text": _mrkdwn(_slack_item(it))} for it in shown)
    if not text and len(message.items) + message.omitted > len(shown):
        more = f"... and {len(message.items) + message.omitted - len(shown)} more"
        blocks.append({"type": "context", "elements": [_mrkdwn(more)]})
    return {"text": fit(subject, SLACK_FALLBACK, slack_escape), "blocks": blocks}


def _slack_item(item: AlertItem) -> str:
    headline = fit(one_line(item.headline) or "(no headline)", 300, slack_escape)
    url = safe_url(item.url)
    if url is not None and len(url) <= 1500:
        headline = f"<{url.replace('&', '&amp;')}|{headline}>"
    lines = [f"*{headline}*"]
    meta = fit(_meta_line(item), 400, slack_escape)
    if meta:
        lines.append(meta)
    snippet = fit(flat(item.snippet), 1600, slack_escape, item.snippet_terms, "*")
    if snippet:
        lines.append("> " + snippet)
    why = fit(one_line(item.why), 400, slack_escape)
    if why:
        lines.append(f"_{why}_")
    return fit_lines(lines, SLACK_TEXT)


# -- Discord --------------------------------------------------------------------------------

DISCORD_CONTENT = 2000
DISCORD_TITLE = 256
DISCORD_DESCRIPTION = 4096
DISCORD_FIELD_NAME = 256
DISCORD_FIELD_VALUE = 1024
DISCORD_EMBEDS = 10
DISCORD_EMBED_TOTAL = 6000  # characters across all embeds of one message


class DiscordField(TypedDict):
    name: str
    value: str
    inline: bool


class DiscordEmbed(TypedDict):
    title: str
    description: str
    fields: list[DiscordField]
    url: NotRequired[str]
    timestamp: NotRequired[str]


class DiscordMentions(TypedDict):
    parse: list[str]


class DiscordPayload(TypedDict):
    content: NotRequired[str]
    embeds: NotRequired[list[DiscordEmbed]]
    allowed_mentions: DiscordMentions


_MD_ALWAYS = set("\\*_~`|[]()<:")
_MD_LINE_START = set("#>-+")


def discord_escape(text: str, i: int = 0) -> str:
    """Backslash-escape Discord markdown at ``text[i]`` (links, emphasis, quotes, headings)."""
    if not text:
        return ""
    ch = text[i]
    if ch in _MD_ALWAYS:
        return "\\" + ch
    if ch in _MD_LINE_START:
        j = i - 1
        while j >= 0 and text[j] == " ":
            j -= 1
        if j < 0 or text[j] == "\n":
            return "\\" + ch
    return ch


def discord_payload(message: Message, shaped: Shaped = None) -> DiscordPayload:
    message = clean_message(message)
    templated, text = shaped or (None, None)
    subject = one_line(templated or "") or one_line(message.subject) or message.kind
    embeds: list[DiscordEmbed] = []
    used = 0
    for item in () if text else message.items[:DISCORD_EMBEDS]:  # a templated body stands alone
        embed = _discord_embed(item, message.topic)
        size = _embed_size(embed)
        if used + size > DISCORD_EMBED_TOTAL:
            break
        embeds.append(embed)
        used += size
    lines: list[str] = []
    if message.kind != "alert" or not embeds:
        lines.append(f"**{fit(subject, 300, discord_escape)}**")
        body = multi_line(text or message.text)
        if body:
            lines.append(fit(body, DISCORD_CONTENT - 400, discord_escape))
    if not text and len(message.items) + message.omitted > len(embeds):
        lines.append(f"... and {len(message.items) + message.omitted - len(embeds)} more")
    # No mention is parsed, so story text can never ping @everyone, a role or a user.
    payload: DiscordPayload = {"allowed_mentions": {"parse": []}}
    if lines:
        payload["content"] = fit_lines(lines, DISCORD_CONTENT)
    if embeds:
        payload["embeds"] = embeds
    return payload


def _discord_embed(item: AlertItem, topic: str) -> DiscordEmbed:
    parts = [fit(flat(item.snippet), 2500, discord_escape, item.snippet_terms, "**")]
    why = one_line(item.why)
    if why:
        parts.append("*" + fit(why, 600, discord_escape) + "*")
    fields: list[DiscordField] = []
    if topic:
        fields.append(_field("Topic", topic))
    if item.sources:
        fields.append(_field("Source", item.sources[0]))
    if item.sources[1:]:
        fields.append(_field("Also reported by", ", ".join(item.sources[1:])))
    embed: DiscordEmbed = {
        "title": fit(one_line(item.headline) or "(no headline)", DISCORD_TITLE, discord_escape),
        "description": fit_lines([p for p in parts if p], DISCORD_DESCRIPTION),
        "fields": fields,
        "timestamp": iso_utc(item.published),
    }
    url = safe_url(item.url)
    if url is not None and len(url) <= 2000:
        embed["url"] = url
    return embed


def _field(name: str, value: str) -> DiscordField:
    return {
        "name": fit(name, DISCORD_FIELD_NAME),
        "value": fit(one_line(value) or "-", DISCORD_FIELD_VALUE, discord_escape),
        "inline": True,
    }


def _embed_size(embed: DiscordEmbed) -> int:
    fields = sum(units(f["name"]) + units(f["value"]) for f in embed["fields"])
    return units(embed["title"]) + units(embed["description"]) + fields


# -- encoding -------------------------------------------------------------------------------


Shaped = tuple[str | None, str | None] | None  # a notifier's templated (subject, body)


def build(
    message: Message, fmt: Format, shaped: Shaped = None
) -> PayloadV1 | SlackPayload | DiscordPayload:
    """The payload; ``shaped`` holds what the notifier's templates made (None: default)."""
    if fmt == "slack":
        return slack_payload(message, shaped)
    if fmt == "discord":
        return discord_payload(message, shaped)
    return json_payload(message, shaped)


def encode(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are signed and sent."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def render(message: Message, fmt: Format, shaped: Shaped = None) -> bytes:
    return encode(build(message, fmt, shaped))


# -- text helpers ---------------------------------------------------------------------------

_BREAKS = re.compile(r"\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s+")
# The message is cleaned before any of these run; they keep each shape safe on its own.


def _valid(text: str) -> str:
    """``text`` without lone surrogates, so that it encodes as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def one_line(text: str) -> str:
    """Every line break, control character and run of white space as one space, format
    characters dropped (``scrub``)."""
    return _SPACES.sub(" ", scrub(text)).strip()


def flat(text: str) -> str:
    """Control characters and line breaks as spaces, one for one (spans stay valid)."""
    return _CONTROLS.sub(" ", _valid(text).replace("\n", " ").replace("\t", " "))


def multi_line(text: str) -> str:
    """Lines kept (every kind of line break as ``\\n``), other control characters removed."""
    lines = _BREAKS.sub("\n", text).split("\n")
    text = "\n".join(_SPACES.sub(" ", scrub(line)).strip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def iso_utc(when: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the second; a naive time is taken to be UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def safe_url(url: str) -> str | None:
    """``url`` if it is an absolute http(s) URL (percent-encoded where needed), else None."""
    url = url.strip()
    if not url or any(ch.isspace() or ch in "\x00\x7f" for ch in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or not host.isascii():
        return None
    return quote(url, safe="!#$%&'()*+,-./:;=?@[]_~")


def _meta_line(item: AlertItem) -> str:
    parts = []
    if item.sources:
        parts.append(one_line(item.sources[0]))
    if item.sources[1:]:
        parts.append("also reported by " + ", ".join(one_line(s) for s in item.sources[1:]))
    parts.append(iso_utc(item.published).replace("T", " ").replace("Z", " UTC"))
    return " · ".join(p for p in parts if p)


def units(text: str) -> int:
    """Length in UTF-16 code units: what JavaScript-minded limits count, never less."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _spans(text: str, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans clipped to ``text``, trimmed of white space, merged where they touch."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        start, end = max(0, start), min(len(text), end)
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


Escape = Callable[[str, int], str]


def _plain(text: str, i: int) -> str:
    return text[i]


def fit(
    text: str,
    limit: int,
    escape: Escape = _plain,
    spans: Iterable[tuple[int, int]] = (),
    mark: str = "",
) -> str:
    """``text`` escaped, ``spans`` wrapped in ``mark``, cut with "…" to ``limit`` units.

    The cut never splits an escape sequence and always closes an open mark.
    """
    text = text[: limit * 2 + 2]  # escaping never shortens: the rest cannot fit anyway
    bounds = {}
    if mark:
        for start, end in _spans(text, spans):
            bounds[start] = True
            bounds[end] = False
    pieces: list[tuple[str, bool]] = []  # (piece, is a mark)
    for i in range(len(text) + 1):
        if i in bounds:
            pieces.append((mark, True))
        if i < len(text):
            pieces.append((escape(text, i), False))
    if sum(units(p) for p, _ in pieces) <= limit:
        return "".join(p for p, _ in pieces)
    budget = limit - 1 - units(mark)
    out: list[str] = []
    used, open_mark = 0, False
    for piece, is_mark in pieces:
        if used + units(piece) > budget:
            break
        out.append(piece)
        used += units(piece)
        open_mark = open_mark != is_mark
    if open_mark:
        if out and out[-1] == mark:
            out.pop()
        else:
            out.append(mark)
    return "".join(out).rstrip() + "…"


def fit_lines(lines: list[str], limit: int) -> str:
    """Lines joined by newlines, dropping whole trailing lines that do not fit ``limit``."""
    out: list[str] = []
    used = 0
    for line in lines:
        cost = units(line) + (1 if out else 0)
        if used + cost > limit:
            break
        out.append(line)
        used += cost
    return "\n".join(out)
