"""Deciding which alerts a story gets: match it, then route each match to notifiers.

The planner is what the archive calls, inside the transaction that stores a
story, to learn its matches and alerts. It reads the rules through a callable, so
a service can swap rule sets (on reload) without rebuilding the planner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from monitor.rules import Document, RuleSet
from monitor.types import Feed, PlannedMatch

log = logging.getLogger(__name__)


class AlertPlanner:
    def __init__(
        self, rules: Callable[[], RuleSet], feeds: Sequence[Feed], notifiers: Sequence[str]
    ) -> None:
        self._rules = rules
        self._feeds = {f.url: f for f in feeds}
        self._notifiers = tuple(notifiers)

    def __call__(self, headline: str, body: str, sources: Sequence[str]) -> list[PlannedMatch]:
        carried = [self._feeds[u] for u in sources if u in self._feeds]
        names = {f.name for f in carried} | set(sources)
        tags = {t for f in carried for t in f.tags}
        rules = self._rules()
        plans = []
        for match in rules.match(Document.of(headline, body, feeds=names, tags=tags)):
            topic = rules.topic(match.topic)
            if topic is None:  # pragma: no cover - the rule set names its own topics
                continue
            wanted = topic.notify if topic.notify is not None else self._notifiers
            targets = tuple(n for n in wanted if n in self._notifiers)
            if len(targets) < len(wanted):
                log.warning(
                    "topic %r names unknown notifiers: %s", topic.name, set(wanted) - set(targets)
                )
            plans.append(
                PlannedMatch(
                    match=match,
                    notifiers=targets,
                    delivery=topic.delivery,
                    max_per_hour=topic.max_per_hour,
                )
            )
        return plans
