"""One poll: claim feeds, fetch them, parse and normalize, deduplicate into the archive.

Fetching is asynchronous in this process; parsing (the floor of a cold poll) runs
in a pool of processes when there are many feeds (``monitor.workers``), started while
the first feeds are fetched; the archive is written from this process only, by one
writer thread that puts many feeds' writes in one transaction. A failure belongs to its
feed: it is recorded on that feed, backed off, and never stops the others; a parse that
kills its worker or runs past ``schedule.parse_timeout`` fails its own feed only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from monitor.archive import Archive, ArticleRetry, Matcher, PollRecord, StoreResult
from monitor.articles.fulltext import (
    ARTICLES_PER_HOST,
    ARTICLES_PER_POLL,
    TURNED_OFF,
    ArticleReader,
    wants_article,
    without_article,
)
from monitor.articles.pages import ArticleFetcher
from monitor.clock import Clock, utc_now
from monitor.config import Config
from monitor.errors import (
    FeedGone,
    FeedParseError,
    FetchError,
    LeaseLost,
    NoWorker,
    RetryLater,
    StorageFault,
    WorkerDied,
    WorkerError,
)
from monitor.fetch.fetcher import Fetcher, FetchResult
from monitor.fetch.limits import HostLimits
from monitor.owner import default_owner
from monitor.parse.feed import ParsedFeed, parse_feed, warm_up
from monitor.parse.sniff import choose_feed, linked_feeds
from monitor.poll.backlog import backlog_flags
from monitor.poll.decide import Decision, failed, succeeded
from monitor.poll.schedule import replanner
from monitor.poll.writer import ArchiveWriter
from monitor.types import Entry, Feed, FeedOutcome, FeedState, PollSummary
from monitor.workers import WorkerPool, failure_reason

log = logging.getLogger(__name__)

# Below this many feeds in a poll, parsing in a thread beats starting processes.
PROCESS_POOL_MIN_FEEDS = 16
# Parse workers run at a lower priority than this process. Parsing is the one stage that
# runs in parallel; this process's event loop and archive writer are the ones every feed
# goes through, and behind parsing for the CPU they fell behind, so a poll ended with the
# writer alone on a backlog (about 10% of a cold poll of 10,000 items on 2 cores).
PARSE_NICENESS = 10
# Feeds a worker claims at least at a time when it shares the archive with others.
SHARED_ROUND_MIN = 32
# Stories whose article is due another attempt, taken up in one poll at most.
ARTICLE_RETRIES_PER_POLL = 50
# Stories matched by one job at most, when a poll matches what an earlier one left.
MATCH_BATCH = 500
Progress = Callable[[FeedOutcome], None]
T = TypeVar("T")


def _origin(url: str) -> tuple[str, str | None, int | None] | None:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None


class Poller:
    """Polls feeds into an archive. Reusable across polls; call ``close`` at the end."""

    def __init__(
        self,
        config: Config,
        archive: Archive,
        *,
        clock: Clock = utc_now,
        owner: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        matcher: Matcher | None = None,
        alerts: bool = True,
    ) -> None:
        self.config = config
        self.archive = archive
        self.clock = clock
        self.owner = owner or default_owner()
        self._transport = transport
        self._matcher = matcher
        self._alerts = alerts  # False: every item is archived and matched as backlog
        self._pool: WorkerPool | None = None
        self._pool_broken = False  # said once: no worker could be started, threads parse
        self._synced = False
        self._host_spacing: dict[str, float] = {}  # per-host politeness across polls
        # per-host politeness across workers, when they share the archive
        self._shared_hosts = archive.shared_hosts(self.owner)
        self._feeds = {f.url: f for f in config.feeds}
        # Feeds whose poll could not be stored (the disk was full): their leases are given
        # back at the next claim, so they are polled again at once, from their old state.
        self._unstored: set[str] = set()
        # Every archive call goes through this one thread (the archive is not for
        # concurrent use), polls that overlap included.
        self._writer = ArchiveWriter(archive)

    def resync(self) -> None:
        """Apply the configuration to the archive again before the next claim: polls that
        ran under an older one (in flight when it was replaced) planned by its schedule."""
        self._synced = False

    async def clock_stepped(self, step: float) -> None:
        """Move the archive's stored times onto the wall clock as it was stepped by ``step``
        seconds (see ``Archive.clock_stepped``), in turn with this poller's writes."""
        job = partial(self.archive.clock_stepped, step, owner=self.owner)
        await self._writer.submit(job, urgent=True)

    def close(self) -> None:
        if self._shared_hosts is not None:
            self._shared_hosts.close()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._writer.close()

    @property
    def lease_seconds(self) -> float:
        # A feed's fetch and parse, then the poll's article pages: those of one host a few
        # at a time, and all of them within the overall limit.
        f = self.config.fetch
        pages = ARTICLES_PER_HOST / f.per_host + ARTICLES_PER_POLL / f.concurrency
        parse = self.config.schedule.parse_timeout
        return f.timeout * (2 + pages) + ARTICLES_PER_HOST * f.host_spacing + parse + 60

    async def poll(
        self,
        *,
        all_feeds: bool = False,
        progress: Progress | None = None,
        lookahead: float = 0.0,
        urls: Sequence[str] | None = None,
    ) -> PollSummary:
        """Poll the feeds that are due (or every active feed) once; with ``urls``, only
        those of them (``monitor poll --feed``).

        ``lookahead`` claims feeds due that many seconds from now too: a service that
        ticks every T seconds passes T/2, so a feed is polled at the tick nearest its
        due time instead of at the one after it.

        When the archive's storage fails (``StorageFault``: the disk is full), the poll
        goes on for the other feeds and raises the fault at the end; what could not be
        stored is fetched again by a later poll.
        """
        # A worker that shares the archive claims a round's worth at a time and claims
        # again when it is done, so the due feeds spread over the workers as they are free.
        limit = max(1, len(self._feeds))
        rounds = self.archive.shared and not all_feeds and urls is None
        if rounds:
            limit = min(limit, max(SHARED_ROUND_MIN, 2 * self.config.fetch.concurrency))
        summary = PollSummary()
        while True:
            done = await self._poll_round(all_feeds, lookahead, urls, limit, progress)
            summary = PollSummary(
                outcomes=summary.outcomes + done.outcomes,
                articles_retried=summary.articles_retried + done.articles_retried,
                retry_changed=summary.retry_changed + done.retry_changed,
                retry_alerts=summary.retry_alerts + done.retry_alerts,
                left_over_alerts=summary.left_over_alerts + done.left_over_alerts,
            )
            if not rounds or len(done.outcomes) < limit:
                return summary

    async def _poll_round(
        self,
        all_feeds: bool,
        lookahead: float,
        urls: Sequence[str] | None,
        limit: int,
        progress: Progress | None,
    ) -> PollSummary:
        """Claim at most ``limit`` feeds and poll them (see ``poll``)."""
        unstored = tuple(self._unstored)
        claim = partial(self._claim, all_feeds, lookahead, urls, unstored, limit)
        states, retries = await self._writer.submit(claim, urgent=True)
        self._unstored.difference_update(unstored)
        if not states and not retries:  # nothing due: no HTTP client, no parse pool
            return PollSummary(left_over_alerts=await self._match_left_over())
        in_flight = {s.url for s in states}
        renewing = asyncio.create_task(self._renew_leases(in_flight))
        try:
            return await self._poll_claimed(states, retries, in_flight, progress)
        finally:
            renewing.cancel()

    async def _renew_leases(self, in_flight: set[str]) -> None:
        """Keep the leases of the feeds still being polled: a poll that takes longer than
        planned (many pages, a slow host) is not taken over by another worker meanwhile."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if not in_flight:
                continue
            renew = partial(
                self.archive.renew_feeds,
                sorted(in_flight),
                owner=self.owner,
                now=self.clock(),
                lease_seconds=self.lease_seconds,
            )
            try:
                await self._writer.submit(renew, urgent=True)
            except Exception as exc:  # the poll goes on; its record says if the lease held
                log.warning("cannot renew the leases of %d feeds: %s", len(in_flight), exc)

    async def _poll_claimed(
        self,
        states: Sequence[FeedState],
        retries: Sequence[ArticleRetry],
        in_flight: set[str],
        progress: Progress | None,
    ) -> PollSummary:
        faults: list[StorageFault] = []
        pool = self._pool_for(len(states))
        outcomes: list[FeedOutcome] = []
        self._writer.expect(len(states))  # each feed's poll ends with one write
        async with contextlib.AsyncExitStack() as stack:
            # One set of limits for the feeds and their pages, spaced as in earlier polls.
            limits = HostLimits(
                self.config.fetch, spacing=self._host_spacing, shared=self._shared_hosts
            )
            fetcher = await stack.enter_async_context(
                Fetcher(self.config.fetch, transport=self._transport, limits=limits)
            )
            reader = None
            if retries or any(self._full_article(s.url) != "never" for s in states):
                articles = ArticleFetcher(
                    self.config.fetch,
                    allow=self.config.articles.allow,
                    limits=limits,
                )
                await stack.enter_async_context(articles)
                reader = ArticleReader(articles, partial(self._offload, pool))
            # A task group: when the poll is cancelled (the service stopping), every fetch
            # stops before the fetchers close, and nothing is recorded as failed meanwhile.
            try:
                async with asyncio.TaskGroup() as group:
                    left_over = group.create_task(self._match_left_over())
                    retried = group.create_task(self._retry_articles(reader, retries, faults))
                    tasks = [
                        group.create_task(self._poll_one(fetcher, pool, reader, s, faults))
                        for s in states
                    ]
                    for next_done in asyncio.as_completed(tasks):
                        outcome = await next_done
                        in_flight.discard(outcome.url)
                        outcomes.append(outcome)
                        if progress is not None:
                            progress(outcome)
            except* Exception as failed:  # only an archive that takes no writes gets here
                raise failed.exceptions[0] from None
            retry_results = retried.result()
        if faults:  # one error for the poll, however many feeds met it
            raise faults[0]
        return PollSummary(
            outcomes=tuple(outcomes),
            articles_retried=len(retry_results),
            retry_changed=sum(len(r.changed) for r in retry_results),
            retry_alerts=sum(r.alerts for r in retry_results),
            left_over_alerts=left_over.result(),
        )

    async def _match(self, seqs: Sequence[int] | None, now: datetime) -> tuple[int, int]:
        """Match stories marked to be matched (``seqs``, or the first few of any), then
        record their matches and alerts (made at ``now``) with other writes; (stories
        matched, alerts made).

        The matching runs in the writer thread before its next transaction begins, so a
        slow rule holds up this poller's writes but locks nobody out of the archive. A
        failure leaves the marks, for the next poll."""
        matcher = self._matcher
        if matcher is None:
            return 0, 0

        def prepare() -> Callable[[], tuple[int, int]]:
            found = self.archive.prepare_matches(matcher, seqs=seqs, limit=MATCH_BATCH)
            return lambda: (len(found), self.archive.record_matches(found, now))

        try:
            return await self._writer.submit_prepared(prepare)
        except Exception:
            log.exception("internal error matching stories; they are matched at the next poll")
            return 0, 0

    async def _match_left_over(self) -> int:
        """Match what a crash (or a failed match) left marked; the alerts made. Every poll
        asks: nothing left costs one read."""
        alerts = 0
        while True:
            found, made = await self._match(None, self.clock())
            alerts += made
            if found < MATCH_BATCH:
                return alerts

    def _full_article(self, url: str) -> str:
        feed = self._feeds.get(url)
        return feed.full_article if feed is not None else "never"

    def _claim(
        self,
        all_feeds: bool,
        lookahead: float,
        urls: Sequence[str] | None,
        unstored: Sequence[str],
        limit: int,
    ) -> tuple[list[FeedState], list[ArticleRetry]]:
        now = self.clock()
        if unstored:
            self.archive.release_feeds(unstored, owner=self.owner)
        if not self._synced:  # the configured feeds and their schedule, once per configuration
            self.archive.sync_feeds(self.config.feeds, now, replan=replanner(self.config.schedule))
            self._synced = True
        states = self.archive.claim_due(
            now + timedelta(seconds=lookahead),
            owner=self.owner,
            lease_seconds=self.lease_seconds,
            limit=limit,
            all_feeds=all_feeds,
            urls=urls,
        )
        retries = self.archive.claim_article_retries(
            now, limit=ARTICLE_RETRIES_PER_POLL, lease_seconds=self.lease_seconds
        )
        return states, retries

    async def _retry_articles(
        self,
        reader: ArticleReader | None,
        retries: Sequence[ArticleRetry],
        faults: list[StorageFault],
    ) -> list[StoreResult]:
        """Try the due article pages again; a story whose page now reads gets its text."""
        if reader is None or not retries:
            return []

        async def retry(item: ArticleRetry) -> StoreResult | None:
            if all(self._full_article(url) == "never" for url in item.feed_urls):
                entry = without_article(item.entry, TURNED_OFF)
            else:
                entry = await reader.read(item.entry)
            now = self.clock()
            store = partial(self._store_retry, item, entry, now)
            try:
                stored = await self._writer.submit(store)
            except StorageFault as exc:  # tried again when its claim runs out
                faults.append(exc)
                return None
            except Exception:
                log.exception("internal error storing the article of %s", item.entry.link)
                return None
            if not stored.unmatched:
                return stored
            _, alerts = await self._match(stored.unmatched, now)
            return replace(stored, alerts=stored.alerts + alerts)

        results = await asyncio.gather(*(retry(item) for item in retries))
        return [r for r in results if r is not None]

    def _store_retry(self, item: ArticleRetry, entry: Entry, now: datetime) -> StoreResult:
        return self.archive.store_entries(
            item.feed_urls[0],
            [entry],
            now,
            mark=self._matcher is not None,
            stories=[item.story],
            backlog=() if self._alerts else (True,),
        )

    def _pool_for(self, feeds: int) -> WorkerPool | None:
        workers = self.config.schedule.workers or os.cpu_count() or 1
        if workers <= 1 or feeds < PROCESS_POOL_MIN_FEEDS:
            return None
        if self._pool is None:
            # forkserver: safe with threads (the service runs a scheduler) and cheap per worker.
            # The workers start (and warm up) in the pool's threads while the first feeds are
            # fetched.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["monitor.parse.feed"])
            self._pool = WorkerPool(
                workers,
                deadline=self.config.schedule.parse_timeout,
                context=context,
                warm_up=warm_up,
                name="parse",
                niceness=PARSE_NICENESS,
            )
        return self._pool

    async def _offload(self, pool: WorkerPool | None, job: Callable[[], T], label: str) -> T:
        """Run CPU work (parsing, extracting) in the parse pool, or a thread without one.

        ``label`` (the feed's or page's URL) names the job in the pool's logs.
        """
        if pool is not None:
            try:
                return await asyncio.wrap_future(pool.submit(job, label=label))
            except NoWorker:
                # Parsing goes on without the isolation of processes rather than not at all.
                if not self._pool_broken:
                    log.error("no parse worker process could be started: parsing in threads")
                    self._pool_broken = True
        # A thread cannot be killed: a runaway parse here keeps its thread, and the poll
        # waiting for it, until it ends. Only small polls (or workers = 1) parse here.
        return await asyncio.get_running_loop().run_in_executor(None, job)

    async def _poll_one(
        self,
        fetcher: Fetcher,
        pool: WorkerPool | None,
        reader: ArticleReader | None,
        state: FeedState,
        faults: list[StorageFault],
    ) -> FeedOutcome:
        feed = self._feeds.get(state.url) or Feed(url=state.url, name=state.name)
        # The poll's one time, read once: its start, from which the next poll counts (so the
        # time a fetch takes does not stretch the period), the time its stories are first
        # seen and its alerts made, and the "now" its first poll's backlog is judged by.
        now = self.clock()
        submitted = False
        try:
            entries: Sequence[Entry] | None = None
            try:
                decision, entries = await self._poll_feed(fetcher, pool, feed, state, now)
                if entries and reader is not None and feed.full_article != "never":
                    entries = await self._with_articles(reader, feed, entries)
            except Exception as exc:  # contain any bug to this feed
                log.exception("internal error polling %s", feed.url)
                decision = self._failed(feed, state, now, f"internal error: {exc!r}")
            record, outcome = decision.record, decision.outcome
            if entries is None:
                job: Callable[[], StoreResult | None] = partial(
                    self.archive.record_poll, record, owner=self.owner
                )
            else:
                backlog = self._backlog(feed, state, entries, now)
                job = partial(self._store, feed.url, entries, now, record, backlog)
            written = self._writer.submit(job, expected=True)
            submitted = True
            try:
                stored = await written
            except LeaseLost as exc:  # another worker owns the feed now: its poll counts
                log.warning("%s: %s", feed.url, exc)
                return FeedOutcome(url=feed.url, status="failed", error=str(exc))
            except StorageFault as exc:
                # Nothing of this poll is kept, not even its validators: the next poll
                # fetches the same items again and stores them then.
                self._unstored.add(feed.url)
                faults.append(exc)
                return FeedOutcome(url=feed.url, status="failed", error=str(exc))
            except Exception as exc:
                if entries is None:
                    raise  # the archive cannot even take a poll record
                log.exception("internal error storing %s", feed.url)
                decision = self._failed(feed, state, now, f"internal error: {exc!r}")
                await self._writer.submit(
                    partial(self.archive.record_poll, decision.record, owner=self.owner)
                )
                return decision.outcome
            if stored is None:
                return outcome
            outcome = replace(
                outcome,
                new=len(stored.new),
                changed=len(stored.changed),
                alerts=stored.alerts,
                articles=sum(s.content_source == "article" for s in stored.new),
            )
            if stored.unmatched:
                _, alerts = await self._match(stored.unmatched, now)
                outcome = replace(outcome, alerts=outcome.alerts + alerts)
            return outcome
        finally:
            if not submitted:
                self._writer.expect(-1)  # cut short: its write is not coming

    async def _with_articles(
        self, reader: ArticleReader, feed: Feed, entries: Sequence[Entry]
    ) -> Sequence[Entry]:
        """The entries, the new ones that want it with their article's text (see fulltext)."""
        short = self.config.articles.short_words
        wanted = [i for i, e in enumerate(entries) if wants_article(feed.full_article, e, short)]
        if not wanted:
            return entries
        # Only items whose page was never asked for: new ones, mostly.
        lookup = partial(self.archive.untried_entries, feed.url, [entries[i] for i in wanted])
        try:
            unknown = await self._writer.submit(lookup, urgent=True)
        except StorageFault:  # storing them will say so
            return entries
        except Exception:  # the items are stored with their own text all the same
            log.exception("internal error looking up the new items of %s", feed.url)
            return entries
        todo = [i for i, new in zip(wanted, unknown, strict=True) if new]
        read = await asyncio.gather(*(reader.read(entries[i]) for i in todo))
        out = list(entries)
        for i, entry in zip(todo, read, strict=True):
            out[i] = entry
        return out

    def _backlog(
        self, feed: Feed, state: FeedState, entries: Sequence[Entry], now: datetime
    ) -> tuple[bool, ...]:
        window = feed.backlog_alerts
        return backlog_flags(
            entries,
            first_poll=state.last_success is None,  # no poll of it has succeeded yet
            window=self.config.schedule.backlog_alerts if window is None else window,
            now=now,
            alerts=self._alerts,
        )

    def _store(
        self,
        feed_url: str,
        entries: Sequence[Entry],
        now: datetime,
        record: PollRecord,
        backlog: Sequence[bool] = (),
    ) -> StoreResult:
        """A feed's stories, then its poll record (which says they are stored), in one
        transaction: a record refused (the lease ran out) takes the stories back with it."""
        with self.archive.batch():
            stored = self.archive.store_entries(
                feed_url, entries, now, mark=self._matcher is not None, backlog=backlog
            )
            self.archive.record_poll(record, owner=self.owner)
        return stored

    async def _fetch(self, fetcher: Fetcher, feed: Feed, state: FeedState) -> FetchResult:
        """The feed's body; when its URL gives an HTML page that links feeds, the linked
        feed's (the first, or the one ``discover`` names), as if the page had moved
        permanently to it: polled there from then on."""
        result = await fetcher.fetch(
            state.fetch_url, etag=state.etag, last_modified=state.last_modified, feed=feed
        )
        if result.body is None:
            return result
        linked = linked_feeds(result.body, url=result.url)
        chosen = choose_feed(linked, feed.discover)
        if chosen is None:
            if linked and feed.discover:
                listed = ", ".join(f.title or f.url for f in linked)
                raise FetchError(
                    result.url,
                    f"not a feed: an HTML page, and none of the feeds it links is "
                    f"{feed.discover!r} (discover): {listed}",
                )
            return result  # parsing says what it is
        if urlsplit(chosen.url).scheme.lower() not in ("http", "https"):
            raise FetchError(result.url, f"the page links a feed that is not http(s): {chosen.url}")
        origin = _origin(chosen.url)
        if origin is None or origin != _origin(result.url):  # credentials stay with theirs
            feed = replace(feed, username=None, password_env=None, env_headers=())
        log.info("%s: an HTML page; polling the feed it links: %s", feed.url, chosen.url)
        said = f"the page links the feed {chosen.url}: "
        try:
            found = await fetcher.fetch(chosen.url, feed=feed)
        except RetryLater as exc:
            raise RetryLater(
                chosen.url, said + exc.reason, status=exc.status or 503, retry_after=exc.retry_after
            ) from None
        except FetchError as exc:  # a FeedGone too: the page itself is still there
            raise FetchError(
                chosen.url, said + exc.reason, status=exc.status, transient=exc.transient
            ) from None
        return replace(found, permanent_url=found.permanent_url or found.url)

    async def _poll_feed(
        self,
        fetcher: Fetcher,
        pool: WorkerPool | None,
        feed: Feed,
        state: FeedState,
        now: datetime,
    ) -> tuple[Decision, Sequence[Entry] | None]:
        """What the feed's poll means for it, and the entries to store (None: nothing)."""
        try:
            result = await self._fetch(fetcher, feed, state)
        except FeedGone as exc:
            log.warning("feed retired: %s", exc)
            return self._failed(feed, state, now, exc.reason, gone=True), None
        except RetryLater as exc:
            return self._failed(feed, state, now, exc.reason, retry_after=exc.retry_after), None
        except FetchError as exc:
            return self._failed(feed, state, now, exc.reason), None

        if result.not_modified:
            return self._succeeded(feed, state, result, now), None
        assert result.body is not None
        body_hash = hashlib.sha256(result.body).hexdigest()[:32]
        if body_hash == state.content_hash:
            return self._succeeded(feed, state, result, now), None

        job = partial(parse_feed, result.body, url=result.url, headers=result.headers, now=now)
        try:
            parsed = await self._offload(pool, job, feed.url)
        except FeedParseError as exc:
            return self._failed(feed, state, now, exc.reason), None
        except WorkerError as exc:
            reason = failure_reason(exc, "parsing")
            died = isinstance(exc, WorkerDied)
            return self._failed(feed, state, now, reason, worker_died=died), None
        if parsed.warning:
            log.info("%s: read despite: %s", feed.url, parsed.warning)
        decision = self._succeeded(feed, state, result, now, content_hash=body_hash, parsed=parsed)
        return decision, parsed.entries

    def _succeeded(
        self,
        feed: Feed,
        state: FeedState,
        result: FetchResult,
        now: datetime,
        *,
        content_hash: str | None = None,
        parsed: ParsedFeed | None = None,
    ) -> Decision:
        """A poll that worked, logged; what it means is ``poll_decide.succeeded``'s to say."""
        if result.permanent_url:
            log.warning("%s moved permanently to %s", feed.url, result.permanent_url)
        return succeeded(
            feed,
            state,
            result,
            now,
            self.config.schedule,
            content_hash=content_hash,
            entries=None if parsed is None else parsed.entries,
            ttl=None if parsed is None else parsed.ttl,
        )

    def _failed(
        self,
        feed: Feed,
        state: FeedState,
        now: datetime,
        reason: str,
        *,
        gone: bool = False,
        retry_after: float | None = None,
        worker_died: bool = False,
    ) -> Decision:
        """A failed poll, logged; what it means is ``poll_decide.failed``'s to say."""
        log.warning("feed failed: %s: %s", feed.url, reason)
        return failed(
            feed,
            state,
            reason,
            now,
            self.config.schedule,
            gone=gone,
            retry_after=retry_after,
            worker_died=worker_died,
        )
