"""What one poll's outcome means for its feed: the state to store and when to poll next.

Pure: the poller fetches and parses, reads the clock once per feed (``now``, the poll's
start), and hands the result here; nothing in this module does I/O, logs or reads a
clock. When the next poll falls is ``monitor.poll.schedule``'s to say (the commands explain
a feed's schedule with it too); this module says what a poll keeps and what it counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from monitor.archive import PollRecord
from monitor.config import ScheduleSettings
from monitor.headers import cache_max_age
from monitor.poll.schedule import (
    Plan,
    after_failure,
    after_success,
    publishing_gap,
    server_hint,
)
from monitor.types import Entry, Feed, FeedOutcome, FeedState


class Answer(Protocol):
    """What the server answered, as far as the feed's state goes (``FetchResult`` is one)."""

    @property
    def not_modified(self) -> bool: ...  # 304

    @property
    def headers(self) -> Mapping[str, str]: ...  # lower-case names

    @property
    def permanent_url(self) -> str | None: ...  # every redirect hop was permanent


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """The poll's record to store, its outcome to report, and the plan behind ``next_poll``."""

    record: PollRecord
    outcome: FeedOutcome
    plan: Plan


def succeeded(
    feed: Feed,
    state: FeedState,
    answer: Answer,
    now: datetime,
    settings: ScheduleSettings,
    *,
    content_hash: str | None = None,
    entries: tuple[Entry, ...] | None = None,
    ttl: float | None = None,
) -> Decision:
    """A poll that started at ``now`` and worked. ``entries`` (and the RSS ``ttl``) when the
    body was parsed; None when it was not (a 304, or the same bytes as last time).
    ``content_hash``: of a body parsed, whose stories are to be stored."""
    parsed = entries is not None
    gap = state.publish_gap
    if entries is not None:
        gap = publishing_gap(e.published for e in entries if e.published) or gap
    # A body not parsed keeps its ttl; a 304 updates only the headers it carries
    # (RFC 9111, 4.3.4), so without Cache-Control the last max-age stands.
    kept_ttl = ttl if parsed else state.ttl
    cache_control = answer.headers.get("cache-control")
    max_age = cache_max_age(cache_control)
    if cache_control is None and answer.not_modified:
        max_age = state.max_age
    plan = after_success(
        now,
        key=feed.url,
        interval=feed.interval,
        settings=settings,
        publish_gap=gap,
        hint=server_hint(max_age, kept_ttl),
    )
    # A 304 may omit the validators; keep sending the ones we have.
    etag = answer.headers.get("etag")
    if etag is None and answer.not_modified:
        etag = state.etag
    modified = answer.headers.get("last-modified")
    if modified is None and answer.not_modified:
        modified = state.last_modified
    record = PollRecord(
        url=feed.url,
        polled=now,
        next_poll=plan.due,
        ok=True,
        publish_gap=gap,
        max_age=max_age,
        ttl=kept_ttl,
        etag=etag,
        last_modified=modified,
        content_hash=content_hash,
        moved_to=answer.permanent_url,
    )
    status: Literal["updated", "unchanged"] = "updated" if content_hash else "unchanged"
    return Decision(record=record, outcome=FeedOutcome(url=feed.url, status=status), plan=plan)


def failed(
    feed: Feed,
    state: FeedState,
    reason: str,
    now: datetime,
    settings: ScheduleSettings,
    *,
    gone: bool = False,
    retry_after: float | None = None,
    worker_died: bool = False,
) -> Decision:
    """A poll that started at ``now`` and failed for ``reason``. ``gone``: the feed is
    retired; ``retry_after``: seconds the server asked us to wait; ``worker_died``: its
    parse worker died."""
    # The OOM killer picks the largest process, which may not be this feed's fault: a
    # death is tried again at once, and backs off only when the feed was failing already.
    at_once = worker_died and state.error_count == 0
    plan = after_failure(
        now,
        key=feed.url,
        interval=feed.interval,
        settings=settings,
        errors=state.error_count + 1,
        retry_after=retry_after,
        publish_gap=state.publish_gap,
        hint=server_hint(state.max_age, state.ttl),
        at_once=at_once,
    )
    record = PollRecord(
        url=feed.url,
        polled=now,
        next_poll=plan.due,
        ok=False,
        error=reason,
        gone=gone,
        retry_until=plan.retry_until,
    )
    outcome = FeedOutcome(url=feed.url, status="gone" if gone else "failed", error=reason)
    return Decision(record=record, outcome=outcome, plan=plan)
