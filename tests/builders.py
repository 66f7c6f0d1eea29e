"""Test data built in one place: feed entries as the parser hands them over, an archive that
knows its feeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from monitor import dedupe
from monitor.archive.sqlite import SQLiteArchive
from monitor.config import ScheduleSettings
from monitor.tokens import tokenize
from monitor.types import Entry, Feed


def entry(
    n: int | None = None,
    *,
    url: str | None = None,
    guid: str | None = None,
    headline: str | None = None,
    body: str | Sequence[str] | None = None,
    published: datetime | None = None,
    text_hash: str | None = None,
    fingerprint: bool = False,
) -> Entry:
    """An entry; ``body`` is one paragraph or several, and ``link`` is ``url``.

    Story ``n`` has numbered defaults: url https://news.example/{n}, guid g{n}, headline
    "Story {n} about talks", a paragraph about the talks, text_hash h{n}. Without ``n``,
    what is not given is empty (and there is no guid). ``fingerprint``: the sketch,
    text_hash and word count of the headline and body, as normalizing computes them (for
    the near-duplicate look-up).
    """
    numbered = n is not None
    if url is None:
        url = f"https://news.example/{n}" if numbered else ""
    if guid is None and numbered:
        guid = f"g{n}"
    if headline is None:
        headline = f"Story {n} about talks" if numbered else ""
    if body is None:
        body = f"Body of story {n}: the talks on human rights resume." if numbered else ()
    paragraphs = (body,) if isinstance(body, str) else tuple(body)
    if text_hash is None:
        text_hash = f"h{n}" if numbered else ""
    made = Entry(
        guid=guid,
        url=url,
        link=url,
        headline=headline,
        paragraphs=paragraphs,
        published=published,
        text_hash=text_hash,
    )
    if not fingerprint:
        return made
    tokens = tokenize(" ".join([headline, *paragraphs]))
    return replace(
        made, sketch=dedupe.sketch(tokens), text_hash=dedupe.text_hash(tokens), words=len(tokens)
    )


def archive_with(path: Path, feeds: Sequence[Feed], now: datetime) -> SQLiteArchive:
    """A SQLite archive at ``path`` that knows ``feeds`` (default schedule) since ``now``."""
    archive = SQLiteArchive(path)
    archive.sync_feeds(feeds, now, schedule=ScheduleSettings())
    return archive
