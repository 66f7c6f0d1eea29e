"""One poll: claim feeds, fetch them, parse and normalize, deduplicate into the archive.

Fetching is asynchronous in this process; parsing (the floor of a cold poll) runs
in a pool of processes when there are many feeds; the archive is written from
this process only. A failure belongs to its feed: it is recorded on that feed,
backed off, and never stops the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import os
import socket
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Literal, TypeVar

import httpx

from monitor.archive import Archive, Matcher, PollRecord
from monitor.config import Config
from monitor.errors import FeedGone, FeedParseError, FetchError, RetryLater
from monitor.fetch import Fetcher, FetchResult
from monitor.parse import ParsedFeed, parse_feed
from monitor.schedule import next_poll
from monitor.types import Feed, FeedOutcome, FeedState, PollSummary

log = logging.getLogger(__name__)

# Below this many feeds in a poll, parsing in a thread beats starting processes.
PROCESS_POOL_MIN_FEEDS = 16
Clock = Callable[[], datetime]
Progress = Callable[[FeedOutcome], None]
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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
    ) -> None:
        self.config = config
        self.archive = archive
        self.clock = clock
        self.owner = owner or default_owner()
        self._transport = transport
        self._matcher = matcher
        self._pool: ProcessPoolExecutor | None = None
        self._feeds = {f.url: f for f in config.feeds}
        # Archive writes run in this one thread: serialized, and off the event loop, so a
        # slow commit never stalls fetches (whose deadlines keep running meanwhile).
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="archive-writer")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self._writer.shutdown()

    async def _write(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, call)

    @property
    def lease_seconds(self) -> float:
        return self.config.fetch.timeout * 2 + 60

    async def poll(
        self, *, all_feeds: bool = False, progress: Progress | None = None
    ) -> PollSummary:
        """Poll the feeds that are due (or every active feed) once."""
        self.archive.sync_feeds(self.config.feeds, self.clock())
        states = self.archive.claim_due(
            self.clock(),
            owner=self.owner,
            lease_seconds=self.lease_seconds,
            limit=max(1, len(self._feeds)),
            all_feeds=all_feeds,
        )
        executor = self._executor(len(states))
        outcomes: list[FeedOutcome] = []
        async with Fetcher(self.config.fetch, transport=self._transport) as fetcher:
            tasks = [self._poll_one(fetcher, executor, s) for s in states]
            for next_done in asyncio.as_completed(tasks):
                outcome = await next_done
                outcomes.append(outcome)
                if progress is not None:
                    progress(outcome)
        return PollSummary(outcomes=tuple(outcomes))

    def _executor(self, feeds: int) -> Executor | None:
        workers = self.config.schedule.workers or os.cpu_count() or 1
        if workers <= 1 or feeds < PROCESS_POOL_MIN_FEEDS:
            return None
        if self._pool is None:
            # forkserver: safe with threads (the service runs a scheduler) and cheap per worker.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["monitor.parse"])
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        return self._pool

    async def _poll_one(
        self, fetcher: Fetcher, executor: Executor | None, state: FeedState
    ) -> FeedOutcome:
        feed = self._feeds.get(state.url) or Feed(url=state.url, name=state.name)
        try:
            record, outcome = await self._poll_feed(fetcher, executor, feed, state)
        except Exception as exc:  # contain any bug to this feed
            log.exception("internal error polling %s", feed.url)
            record, outcome = self._failed(feed, state, f"internal error: {exc!r}")
        await self._write(partial(self.archive.record_poll, record, owner=self.owner))
        return outcome

    async def _poll_feed(
        self, fetcher: Fetcher, executor: Executor | None, feed: Feed, state: FeedState
    ) -> tuple[PollRecord, FeedOutcome]:
        try:
            result = await fetcher.fetch(
                state.fetch_url, etag=state.etag, last_modified=state.last_modified
            )
        except FeedGone as exc:
            log.warning("feed retired: %s", exc)
            return self._failed(feed, state, exc.reason, gone=True)
        except RetryLater as exc:
            return self._failed(feed, state, exc.reason, retry_after=exc.retry_after)
        except FetchError as exc:
            return self._failed(feed, state, exc.reason)

        if result.not_modified:
            return self._succeeded(feed, state, result, content_hash=None)
        assert result.body is not None
        body_hash = hashlib.sha256(result.body).hexdigest()[:32]
        if body_hash == state.content_hash:
            return self._succeeded(feed, state, result, content_hash=None)

        now = self.clock()
        job = partial(parse_feed, result.body, url=result.url, headers=result.headers, now=now)
        try:
            loop = asyncio.get_running_loop()
            parsed: ParsedFeed = await loop.run_in_executor(executor, job)
        except FeedParseError as exc:
            return self._failed(feed, state, exc.reason)
        if parsed.warning:
            log.info("%s: read despite: %s", feed.url, parsed.warning)
        stored = await self._write(
            partial(
                self.archive.store_entries, feed.url, parsed.entries, now, matcher=self._matcher
            )
        )
        return self._succeeded(
            feed,
            state,
            result,
            content_hash=body_hash,
            new=len(stored.new),
            changed=len(stored.changed),
            alerts=stored.alerts,
        )

    def _succeeded(
        self,
        feed: Feed,
        state: FeedState,
        result: FetchResult,
        *,
        content_hash: str | None,
        new: int = 0,
        changed: int = 0,
        alerts: int = 0,
    ) -> tuple[PollRecord, FeedOutcome]:
        now = self.clock()
        if result.permanent_url:
            log.warning("%s moved permanently to %s", feed.url, result.permanent_url)
        # A 304 may omit the validators; keep sending the ones we have.
        etag = result.etag if result.etag is not None or not result.not_modified else state.etag
        modified = result.last_modified
        if modified is None and result.not_modified:
            modified = state.last_modified
        record = PollRecord(
            url=feed.url,
            polled=now,
            next_poll=next_poll(
                now, key=feed.url, interval=feed.interval, settings=self.config.schedule
            ),
            ok=True,
            etag=etag,
            last_modified=modified,
            content_hash=content_hash,
            moved_to=result.permanent_url,
        )
        status: Literal["updated", "unchanged"] = "updated" if content_hash else "unchanged"
        return record, FeedOutcome(
            url=feed.url, status=status, new=new, changed=changed, alerts=alerts
        )

    def _failed(
        self,
        feed: Feed,
        state: FeedState,
        reason: str,
        *,
        gone: bool = False,
        retry_after: float | None = None,
    ) -> tuple[PollRecord, FeedOutcome]:
        now = self.clock()
        log.warning("feed failed: %s: %s", feed.url, reason)
        record = PollRecord(
            url=feed.url,
            polled=now,
            next_poll=next_poll(
                now,
                key=feed.url,
                interval=feed.interval,
                settings=self.config.schedule,
                error_count=state.error_count + 1,
                retry_after=retry_after,
            ),
            ok=False,
            error=reason,
            gone=gone,
        )
        return record, FeedOutcome(url=feed.url, status="gone" if gone else "failed", error=reason)
