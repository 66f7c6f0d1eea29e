"""Test data built in one place: feed entries as the parser hands them over, an archive that
knows its feeds, rules files, RSS documents, and a live feed whose items a test adds as it
goes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Literal, cast

from monitor.archive import open_archive
from monitor.archive.sql import SQLArchive
from monitor.archive.sqlite import SQLiteArchive
from monitor.config import ScheduleSettings
from monitor.poll.schedule import replanner
from monitor.rules import load_rules
from monitor.text.fingerprint import fingerprint as fingerprint_of
from monitor.types import Entry, Feed
from tests.feedserver import Response

STORY = (
    "Envoys said on Monday that the two governments would resume their dialogue on human "
    "rights next month, after a pause of two years."
)


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
    mark = fingerprint_of(headline, paragraphs)
    return replace(made, sketch=mark.sketch, text_hash=mark.text_hash, words=mark.words)


def archive_with(where: Path | str, feeds: Sequence[Feed], now: datetime) -> SQLArchive:
    """An archive that knows ``feeds`` (default schedule) since ``now``: SQLite at the path
    ``where``, or at the archive URL ``where`` (PostgreSQL too)."""
    archive = cast(
        SQLArchive, SQLiteArchive(where) if isinstance(where, Path) else open_archive(where)
    )
    archive.sync_feeds(feeds, now, replan=replanner(ScheduleSettings()))
    return archive


def rules_file(folder: Path, text: str, name: str = "a.toml") -> Path:
    """The rules file ``name`` in ``folder`` (made if need be), holding ``text``."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def rule_errors(folder: Path) -> list[str]:
    """What loading the rules in ``folder`` reports, each error as it is shown."""
    return [str(e) for e in load_rules(folder)[1]]


def rss(
    *items: str,
    title: str = "Wire",
    site: str = "http://wire.example/",
    prolog: str = '<?xml version="1.0" encoding="utf-8"?>',
) -> str:
    """An RSS 2.0 document of ``items`` (markup, one a line) in a channel named ``title``."""
    return (
        f'{prolog}\n<rss version="2.0"><channel><title>{title}</title>'
        f"<link>{site}</link><description>d</description>\n"
        + "\n".join(items)
        + "\n</channel></rss>\n"
    )


def item(title: str, body: str, link: str, *, guid: str | None = None) -> str:
    """An RSS <item> of 1 March 2025, 08:00 GMT; ``title`` and ``body`` go in as they are
    (escape them for text, leave them for markup)."""
    return (
        "<item>"
        + (f"<guid>{guid}</guid>" if guid is not None else "")
        + f"<title>{title}</title><link>{link}</link>"
        "<pubDate>Sat, 01 Mar 2025 08:00:00 GMT</pubDate>"
        f"<description>{body}</description></item>"
    )


class LiveFeed:
    """An RSS feed whose items the test adds while it is polled: route to ``response``.

    Item ``n`` links https://news.example/{n}, its guid is ``guid`` and n. It is dated when
    it is added (news even to a feed's first poll), or ``published`` (None: undated). Its
    text is what add() is given, else ``body``, where "{headline}" stands for its headline.
    """

    def __init__(
        self,
        *,
        title: str = "Live",
        guid: str = "item-",
        body: str = STORY,
        prolog: str = '<?xml version="1.0"?>',
    ) -> None:
        self.title = title
        self.guid = guid
        self.body = body
        self.prolog = prolog
        self.items: list[tuple[str, str, datetime | None]] = []
        self.lock = threading.Lock()

    def add(
        self,
        headline: str,
        body: str | None = None,
        *,
        published: datetime | Literal["now"] | None = "now",
    ) -> None:
        text = self.body.replace("{headline}", headline) if body is None else body
        when = datetime.now(UTC) if isinstance(published, str) else published
        with self.lock:
            self.items.append((headline, text, when))

    def response(self, _: object) -> Response:
        with self.lock:
            items = "".join(
                f"<item><title>{escape(h)}</title><link>https://news.example/{n}</link>"
                f"<guid>{self.guid}{n}</guid>"
                + (f"<pubDate>{format_datetime(d)}</pubDate>" if d else "")
                + f"<description>{escape(b)}</description></item>"
                for n, (h, b, d) in enumerate(self.items)
            )
        return Response(
            body=f'{self.prolog}<rss version="2.0"><channel><title>{self.title}</title>{items}'
            "</channel></rss>"
        )
