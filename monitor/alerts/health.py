"""Feed health in words: as the commands show it, and as the health notifier is told of it.

Pure: the service finds the changes (``Archive.health_changes``, reload errors) and
queues the messages; the commands print the word. Messages leave the machine, so the
URLs in them are redacted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import datetime

from monitor.redact import redact_url
from monitor.types import FeedState
from monitor.units import plural

ERRORS_SHOWN = 20  # reload errors listed in one message; `monitor status` lists them all


def feed_health(state: FeedState) -> str:
    """ "gone" (retired), "failing xN" (N failures in a row), "ok", or "new" (no poll of it
    has worked yet)."""
    if state.gone:
        return "gone"
    if state.error_count:
        return f"failing x{state.error_count}"
    return "ok" if state.last_success else "new"


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthMessage:
    """A message for the health notifier."""

    id: str  # the same news at the same time is one message, however often it is queued
    title: str
    text: str

    @property
    def payload(self) -> dict[str, str]:
        return {"title": self.title, "text": self.text}


def _message(kind: str, subject: str, now: datetime, title: str, text: str) -> HealthMessage:
    key = hashlib.sha256(f"{kind}\0{subject}\0{now.isoformat()}".encode())
    return HealthMessage(id=key.hexdigest()[:32], title=title, text=text)


def feed_message(
    url: str, name: str, change: str, now: datetime, failing_after: float
) -> HealthMessage:
    """The message that the feed at ``url`` is ``change`` ("failing": for more than
    ``failing_after`` seconds; else "recovered"), as found at ``now``."""
    shown = redact_url(url)
    if change == "failing":
        title = f"feed failing: {name}"
        hours = failing_after / 3600
        text = f"The feed {name} <{shown}> has failed for more than {hours:g} hours."
    else:
        title = f"feed recovered: {name}"
        text = f"The feed {name} <{shown}> works again."
    return _message("health", f"{url}\0{change}", now, title, text)


def reload_message(errors: Sequence[str], told: Set[str], now: datetime) -> HealthMessage | None:
    """The message about a reload that found ``errors`` (none: it worked), when the health
    notifier has news in it: errors it was not ``told`` of yet, or that every error it was
    told of is fixed. None when there is nothing new to tell."""
    new = [e for e in errors if e not in told]
    if new:
        shown = new[:ERRORS_SHOWN]
        more = len(new) - len(shown)
        title = f"reload failed: {plural(len(errors), 'error')}"
        text = (
            "The edited configuration or rule files were not taken; the running ones go "
            "on. `monitor status` lists every error.\n\n"
            + "\n".join(shown)
            + (f"\n... and {plural(more, 'more error')}" if more else "")
        )
    elif not errors and told:
        title = "reload works again"
        text = "The configuration and rule files load again, and are running."
    else:
        return None
    return _message("reload", f"{title}\0{text}", now, title, text)
