"""Full articles in a poll: which new items get their page fetched, and what they become.

A feed's ``full_article`` says when: "always", "never", or "auto": when the item's own
text is short (fewer than ``short_words`` words) or ends as a teaser does ("…", "Read
more"). The page's article then replaces the item's text for matching and archiving,
unless it has no more words than the item (a paywall or a teaser page). Whatever goes
wrong falls back to the item's own text, with the reason on the entry and, when a later
attempt may succeed (a timeout, a 5xx), a retry asked for: a story is never dropped for
its page.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial

from monitor.articles import ArticleFetcher, BlockedAddress
from monitor.dedupe import sketch, text_hash
from monitor.errors import BodyTooLarge, FetchError, RetryLater
from monitor.extract import Article, read_page
from monitor.normalize import word_count
from monitor.tokens import tokenize
from monitor.types import Entry, FullArticle

log = logging.getLogger(__name__)

# Pages fetched for one feed in one poll; the rest of a burst is fetched by the retries,
# so a feed's first poll (every item new) stays within its lease.
ARTICLES_PER_POLL = 25
_TEASER_END = re.compile(
    r"(?:\.\.\.|\u2026|\[(?:\.\.\.|\u2026)\]|\((?:more|\.\.\.|\u2026)\)"
    r"|\bread (?:the )?(?:full|more|rest)\b.*|\bcontinue reading\b.*|\bmore\s*[\u00bb>]+)\W*$",
    re.IGNORECASE,
)
_HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")
Run = Callable[[Callable[[], Article]], Awaitable[Article]]


def feed_words(entry: Entry) -> int:
    return sum(word_count(p) for p in entry.paragraphs)


def wants_article(mode: FullArticle, entry: Entry, short_words: int) -> bool:
    """Whether the entry's page should be fetched under the feed's ``full_article``."""
    if mode == "never" or not entry.link:
        return False
    if mode == "always" or not entry.paragraphs:
        return True
    return feed_words(entry) < short_words or bool(_TEASER_END.search(entry.paragraphs[-1]))


def with_article(entry: Entry, article: Article) -> Entry:
    """The entry with the article's text; the feed's headline, time and author come first."""
    headline = entry.headline or article.headline
    tokens = tokenize(" ".join([headline, *article.paragraphs]))
    return replace(
        entry,
        headline=headline,
        paragraphs=article.paragraphs,
        published=entry.published or article.published,
        author=entry.author or article.author,
        sketch=sketch(tokens),
        text_hash=text_hash(tokens),
        content_source="article",
        article_error=None,
        article_retry=False,
    )


def without_article(entry: Entry, reason: str, *, retry: bool) -> Entry:
    """The entry with its own text, saying why the page's is not used."""
    return replace(entry, content_source="feed", article_error=reason, article_retry=retry)


def deferred(entry: Entry) -> Entry:
    return without_article(
        entry, f"not fetched yet: more than {ARTICLES_PER_POLL} new items in one poll", retry=True
    )


@dataclass(frozen=True, slots=True)
class PageFailure:
    reason: str
    retry: bool  # a later attempt may succeed


class ArticleReader:
    """Fetches an entry's page and turns it into the entry to store.

    ``run`` runs the extraction (CPU work) off the event loop, in the poll's parse pool.
    Entries of several feeds that link the same page at the same time share one fetch.
    """

    def __init__(self, fetcher: ArticleFetcher, run: Run) -> None:
        self._fetcher = fetcher
        self._run = run
        self._pending: dict[str, asyncio.Task[Article | PageFailure]] = {}

    async def read(self, entry: Entry) -> Entry:
        """The entry with its article's text, or with its own and the reason; never raises."""
        try:
            page = self._pending.get(entry.link)
            if page is None:
                page = self._pending[entry.link] = asyncio.ensure_future(self._page(entry.link))
                page.add_done_callback(lambda _: self._pending.pop(entry.link, None))
            result = await page
        except Exception as exc:  # a bug stays with this story, which keeps its feed text
            log.exception("internal error reading the article of %s", entry.link)
            result = PageFailure(f"internal error: {exc!r}", retry=False)
        if isinstance(result, Article) and word_count(result.body) <= feed_words(entry):
            result = PageFailure("the page has no more text than the feed", retry=False)
        if isinstance(result, PageFailure):
            log.info(
                "article %s: keeping the feed's text: %s%s",
                entry.link,
                result.reason,
                " (will try again)" if result.retry else "",
            )
            return without_article(entry, result.reason, retry=result.retry)
        return with_article(entry, result)

    async def _page(self, link: str) -> Article | PageFailure:
        try:
            result = await self._fetcher.fetch(link)
        except (BlockedAddress, BodyTooLarge) as exc:
            return PageFailure(exc.reason, retry=False)
        except RetryLater as exc:
            return PageFailure(exc.reason, retry=True)
        except FetchError as exc:
            # A timeout, a reset, a 5xx may pass; a 404 or 410 will not.
            transient = exc.status is None or exc.status >= 500 or exc.status in (408, 425)
            reason = f"HTTP {exc.status}" if exc.status == 410 else exc.reason
            return PageFailure(reason, retry=transient)
        content_type = result.headers.get("content-type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in _HTML_TYPES:
            return PageFailure(f"not a web page ({media})", retry=False)
        assert result.body is not None
        article = await self._run(partial(read_page, result.body, result.url, content_type))
        if not article.paragraphs:
            return PageFailure("no article found on the page", retry=False)
        return article
