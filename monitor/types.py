"""Domain values: frozen, keyword-only dataclasses shared by every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

FullArticle = Literal["auto", "always", "never"]
ContentSource = Literal["feed", "article"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Feed:
    """A feed as the user configured it. ``url`` is its identity."""

    url: str
    name: str
    tags: tuple[str, ...] = ()
    interval: float | None = None  # seconds; None means the schedule default
    full_article: FullArticle = "never"
    # On the first poll, items published within this many seconds are alerted (inf: all,
    # 0: none); None means the schedule default. Older and undated items are only archived.
    backlog_alerts: float | None = None
    # Its forward proxy, instead of [fetch]'s: a URL, or the environment variable holding one.
    proxy: str | None = None
    proxy_env: str | None = None
    # Sent with each request for it: (name, value) pairs, and pairs whose value is read
    # from an environment variable (sent to the feed's own origin only, as credentials).
    headers: tuple[tuple[str, str], ...] = ()
    env_headers: tuple[tuple[str, str], ...] = ()  # (name, variable)
    user_agent: str | None = None  # None: [fetch] user_agent
    username: str | None = None  # Basic authentication, with the password from password_env
    password_env: str | None = None
    # The URL to fetch is this variable's value (it carries a token); ``url`` is then
    # "env:NAME", the feed's stable identity.
    url_env: str | None = None
    # When the URL answers with an HTML page, the linked feed to poll (title or URL;
    # None: the first it links).
    discover: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedState:
    """What the archive remembers about a feed between polls."""

    url: str
    name: str
    fetch_url: str  # differs from url after a permanent redirect
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None  # of the last body parsed, to skip unchanged ones
    publish_gap: float | None = None  # median seconds between its newest items
    max_age: float | None = None  # Cache-Control max-age of the last answer, in seconds
    ttl: float | None = None  # RSS <ttl> of the last body parsed, in seconds
    retry_until: datetime | None = None  # the server's Retry-After on the last failure
    next_poll: datetime | None = None
    last_polled: datetime | None = None
    last_success: datetime | None = None
    error_count: int = 0
    last_error: str | None = None
    failing_since: datetime | None = None
    gone: bool = False
    active: bool = True  # still in the configuration
    story_count: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Entry:
    """One feed item after parsing and normalizing; not yet deduplicated."""

    guid: str | None
    url: str  # canonical URL, "" when the item has no link
    link: str  # the link as the feed gave it
    headline: str
    paragraphs: tuple[str, ...]
    published: datetime | None  # as stated by the feed, timezone-aware
    author: str | None = None
    sketch: tuple[int, ...] = ()  # bottom-k shingle hashes, for near-duplicates
    text_hash: str = ""
    words: int = 0  # tokens in the headline and paragraphs
    content_source: ContentSource = "feed"  # "article": the text is the fetched page's
    feed_sketch: tuple[int, ...] = ()  # with an article's text: the sketch of the feed's own
    article_failure: ArticleFailure | None = None  # why the feed's text is kept, if tried

    @property
    def article_tried(self) -> bool:
        return self.content_source == "article" or self.article_failure is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class ArticleFailure:
    """Why an entry keeps the feed's text after its page was asked for."""

    reason: str
    retry: bool = False  # a later attempt may succeed (a timeout, a 5xx), unlike a 404
    retry_after: float = 0.0  # seconds the server asked us to wait (Retry-After)
    counted: bool = True  # False: deferred, not fetched at all, so not one of its tries


@dataclass(frozen=True, kw_only=True, slots=True)
class Story:
    """A deduplicated story as archived."""

    id: str  # 16 lowercase hex digits
    seq: int  # archive order
    url: str
    headline: str
    paragraphs: tuple[str, ...]
    published: datetime
    first_seen: datetime
    updated: datetime
    sources: tuple[str, ...] = ()  # feed names, first one first ("also reported by")
    content_source: ContentSource = "feed"
    article_error: str | None = None  # why the article page's text is not the one used

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedOutcome:
    """What one poll did to one feed."""

    url: str
    status: Literal["updated", "unchanged", "failed", "gone"]
    new: int = 0
    changed: int = 0
    alerts: int = 0
    articles: int = 0  # new items whose article page gave their text
    error: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PollSummary:
    outcomes: tuple[FeedOutcome, ...] = field(default_factory=tuple)
    articles_retried: int = 0  # stories whose article page was tried again
    retry_changed: int = 0  # ... and now have its text
    retry_alerts: int = 0
    left_over_alerts: int = 0  # of stories an earlier poll stored and did not match

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def new_stories(self) -> int:
        return sum(o.new for o in self.outcomes)

    @property
    def changed_stories(self) -> int:
        return sum(o.changed for o in self.outcomes) + self.retry_changed

    @property
    def articles(self) -> int:
        return sum(o.articles for o in self.outcomes)

    @property
    def alerts(self) -> int:
        return sum(o.alerts for o in self.outcomes) + self.retry_alerts + self.left_over_alerts


Delivery = Literal["immediate", "digest"]
Scope = Literal["all", "title", "body"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Topic:
    """A watched topic, as written in a rule file."""

    name: str
    query: str
    exclude: str | None = None
    scope: Scope = "all"
    feeds: tuple[str, ...] = ()  # only stories from these feeds (names or URLs)
    tags: tuple[str, ...] = ()  # only stories from feeds with one of these tags
    notify: tuple[str, ...] | None = None  # notifier names; None means all
    delivery: Delivery = "immediate"
    digest: str | None = None  # schedule of a digest topic, e.g. "daily 08:00"
    max_per_hour: int | None = None
    source: str = ""  # rule file
    line: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class TermHit:
    """One matched query term: which term, in which field, at which characters."""

    term: str
    field: Literal["title", "body"]
    span: tuple[int, int]  # character offsets in the headline or in the body text


@dataclass(frozen=True, kw_only=True, slots=True)
class Match:
    """Why a story matched a topic, for highlighting and for the alert's "why" line."""

    topic: str
    terms: tuple[TermHit, ...]
    snippet: str = ""
    snippet_terms: tuple[tuple[int, int], ...] = ()  # spans of matched terms in the snippet


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedMatch:
    """A story's match to a topic and where its alert goes, decided before archiving."""

    match: Match
    notifiers: tuple[str, ...]
    delivery: Delivery = "immediate"
    max_per_hour: int | None = None
    # Why some of its alerts cannot be routed yet (a notifier the configuration lacks):
    # the match is kept as held and its alerts made once the configuration can route them.
    held: str | None = None


OutboxStatus = Literal["pending", "sent", "dead"]


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxEntry:
    """One message waiting for (or done with) delivery to one notifier."""

    id: str
    notifier: str
    kind: Literal["alert", "digest", "test", "health"]
    topic: str
    status: OutboxStatus
    created: datetime
    next_attempt: datetime
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    headline: str = ""  # of the (first) story, for listings
