"""What notifiers send: a message about one story (an alert) or several (a digest).

An alert about a story that matched several topics at once names them all (``topic``
is ``a, b``, ``topics`` lists them), and its item says why for each.

Messages are built from the archive at delivery time and carry a stable ``id``
(the outbox id), which receivers see as the email Message-ID or ``webhook-id``
and can use to drop duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from monitor.types import TermHit

MessageKind = Literal["alert", "digest", "test", "health"]


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertItem:
    """One story in a message, with why it matched its topic."""

    story_id: str
    topic: str  # the topic, or its topics as ``topics_label`` names them
    headline: str
    url: str
    sources: tuple[str, ...]  # feed names, first one first ("also reported by" the rest)
    published: datetime
    snippet: str  # plain text passage of the body around the first match
    snippet_terms: tuple[tuple[int, int], ...]  # spans in ``snippet`` to highlight
    terms: tuple[TermHit, ...]  # every matched term with its field and span
    why: str  # one line: which terms matched, e.g. 'matched "human rights", talks'
    topics: tuple[str, ...] = ()  # every topic the story matched, when known


def topics_label(topics: Iterable[str]) -> str:
    """How a message about several topics names them: ``a, b`` (each once, in order)."""
    return ", ".join(dict.fromkeys(topics))


@dataclass(frozen=True, kw_only=True, slots=True)
class Message:
    id: str  # stable idempotency key
    kind: MessageKind
    topic: str  # the topic (several: ``topics_label``), or "" for test and health messages
    topics: tuple[str, ...] = ()  # every topic an alert or digest names
    items: tuple[AlertItem, ...] = ()
    created: datetime
    title: str = ""  # subject line for test/health messages; alerts derive theirs
    text: str = ""  # body for test/health messages
    omitted: int = 0  # stories of a digest left out to keep it within its size cap

    @property
    def subject(self) -> str:
        if self.kind == "alert" and self.items:
            return f"[{self.topic}] {self.items[0].headline}"
        if self.kind == "digest":
            count = len(self.items) + self.omitted
            return f"[{self.topic}] {count} new stor{'y' if count == 1 else 'ies'}"
        return self.title


class Notifier(Protocol):
    """Delivers messages to one receiver. ``send`` raises NotifyError (or a subclass)."""

    name: str

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...
