"""Full articles in a poll: which new items get their page fetched, and what they become.

A feed's ``full_article`` says when: "always", "never", or "auto": when the item's own
text is short (fewer than ``short_words`` words) or ends as a teaser does ("…", "Read
more"). The page's article then replaces the item's text for matching and archiving,
unless it has no more words than the item (a paywall or a teaser page) or its headline has
nothing in common with the item's (a consent wall, a home page). Whatever goes wrong falls
back to the item's own text, with the reason on the entry and, when a later attempt may
succeed (a timeout, a 5xx), a retry asked for: a story is never dropped for its page.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from urllib.parse import urlsplit

from monitor.articles.extract import Article, read_page
from monitor.articles.pages import ArticleFetcher
from monitor.errors import FetchError, RetryLater, WorkerDied, WorkerError
from monitor.text.fingerprint import fingerprint
from monitor.text.normalize import word_count
from monitor.text.tokens import tokenize
from monitor.types import ArticleFailure, Entry, FullArticle
from monitor.workers import failure_reason

log = logging.getLogger(__name__)

# Pages fetched in one poll, per host and in all: the rest wait for the retries (5 minutes),
# so a burst of new items (a feed's first poll) cannot hold a poll beyond its lease.
ARTICLES_PER_HOST = 25
ARTICLES_PER_POLL = 100
_TEASER_END = re.compile(
    r"(?:\.\.\.|\u2026|\[(?:\.\.\.|\u2026)\]|\((?:more|\.\.\.|\u2026)\)|\bmore\s*[\u00bb>]+"
    r"|\b(?:read (?:the )?(?:full|more|rest)|continue reading)\b(?:\W+\w+){0,4})\W*$",
    re.IGNORECASE,
)
# Why an entry keeps its feed's text without its page being fetched.
DEFERRED = ArticleFailure(
    reason="not fetched yet: too many new pages in one poll", retry=True, counted=False
)
TURNED_OFF = ArticleFailure(reason="not tried again: full_article is off for its feeds")
_HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")
# Runs an extraction (the job, the page's URL to name it by) off the event loop.
Run = Callable[[Callable[[], Article], str], Awaitable[Article]]


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
    text = fingerprint(headline, article.paragraphs)
    return replace(
        entry,
        headline=headline,
        paragraphs=article.paragraphs,
        published=entry.published or article.published,
        author=entry.author or article.author,
        sketch=text.sketch,
        text_hash=text.text_hash,
        words=text.words,
        content_source="article",
        feed_sketch=entry.sketch,  # a copy of the item elsewhere is still recognised by it
        article_failure=None,
    )


def without_article(entry: Entry, failure: ArticleFailure) -> Entry:
    """The entry with its own text, saying why the page's is not used."""
    return replace(entry, content_source="feed", article_failure=failure)


def _content_words(text: str) -> set[str]:
    return {t for t in tokenize(text) if len(t) > 3}


def same_story(feed_headline: str, page_headline: str) -> bool:
    """False when both headlines have words and share none: the page is something else."""
    ours, theirs = _content_words(feed_headline), _content_words(page_headline)
    return len(ours) < 2 or len(theirs) < 2 or bool(ours & theirs)


def page_failure(exc: FetchError) -> ArticleFailure:
    reason = f"HTTP {exc.status}" if exc.status == 410 else exc.reason
    wait = exc.retry_after if isinstance(exc, RetryLater) and exc.retry_after else 0.0
    return ArticleFailure(reason=reason, retry=exc.transient, retry_after=wait)


class ArticleReader:
    """Fetches entries' pages for one poll and turns them into the entries to store.

    ``run`` runs the extraction (CPU work) off the event loop, in the poll's parse pool.
    Entries of several feeds that link the same page in one poll share one fetch;
    beyond ARTICLES_PER_HOST pages of one host or ARTICLES_PER_POLL in all, entries are
    deferred to the retries.
    """

    def __init__(self, fetcher: ArticleFetcher, run: Run) -> None:
        self._fetcher = fetcher
        self._run = run
        self._pending: dict[str, asyncio.Task[Article | ArticleFailure]] = {}
        self._per_host: dict[str, int] = {}
        self._total = 0

    async def read(self, entry: Entry) -> Entry:
        """The entry with its article's text, or with its own and the reason; never raises."""
        link = entry.link
        try:
            page = self._pending.get(link)
            if page is None:
                if not self._take_slot(link):
                    return without_article(entry, DEFERRED)
                # Kept for the whole poll: a feed whose items come after the page was read
                # (before its story was stored) reads it here, not again from the server.
                page = self._pending[link] = asyncio.ensure_future(self._page(link))
            result = await page
        except Exception as exc:  # a bug stays with this story, which keeps its feed text
            log.exception("internal error reading the article of %s", link)
            result = ArticleFailure(reason=f"internal error: {exc!r}")
        if isinstance(result, Article):
            if word_count(result.body) <= feed_words(entry):
                result = ArticleFailure(reason="the page has no more text than the feed")
            elif not same_story(entry.headline, result.headline):
                result = ArticleFailure(
                    reason=f"the page is about something else: {result.headline[:80]!r}"
                )
            else:
                return with_article(entry, result)
        log.info(
            "article %s: keeping the feed's text: %s%s",
            link,
            result.reason,
            " (will try again)" if result.retry else "",
        )
        return without_article(entry, result)

    def _take_slot(self, link: str) -> bool:
        host = (urlsplit(link).hostname or "").lower()
        taken = self._per_host.get(host, 0)
        if taken >= ARTICLES_PER_HOST or self._total >= ARTICLES_PER_POLL:
            return False
        self._per_host[host] = taken + 1
        self._total += 1
        return True

    async def _page(self, link: str) -> Article | ArticleFailure:
        try:
            result = await self._fetcher.fetch(link)
        except FetchError as exc:  # blocked addresses and oversized bodies included
            return page_failure(exc)
        content_type = result.headers.get("content-type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in _HTML_TYPES:
            return ArticleFailure(reason=f"not a web page ({media})")
        assert result.body is not None
        try:
            article = await self._run(
                partial(read_page, result.body, result.url, content_type), link
            )
        except WorkerError as exc:  # past the deadline, or its worker died
            # A dead worker may not be this page's doing (the OOM killer): worth another try.
            return ArticleFailure(
                reason=failure_reason(exc, "extraction"), retry=isinstance(exc, WorkerDied)
            )
        if not article.paragraphs:
            return ArticleFailure(reason="no article found on the page")
        return article
