"""Deciding which alerts a story gets: match it, then route each match to notifiers.

The planner is what the archive calls, inside the transaction that stores a
story, to learn its matches and alerts. It reads the rules through a callable, so
a service can swap rule sets (on reload) without rebuilding the planner.

A match whose topic names a notifier the configuration lacks is never dropped: it
is planned as *held* (recorded with the reason) and its alerts are made by
``route`` once the rules and configuration can route them. The entry points
refuse such rules, so this only happens when a poll already running finishes on
the configuration a reload has just replaced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from monitor.rules import Document, RuleSet
from monitor.types import Feed, Match, PlannedMatch, Topic

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
            plan = self._plan(topic, match)
            if plan.held is not None:
                log.warning("alert of topic %r held back: %s", topic.name, plan.held)
            plans.append(plan)
        return plans

    def route(self, match: Match) -> PlannedMatch | None:
        """The alerts of a held match as the rules and notifiers are now; None when its
        topic is not in the rules (it stays held, should the topic come back)."""
        topic = self._rules().topic(match.topic)
        return None if topic is None else self._plan(topic, match)

    def _plan(self, topic: Topic, match: Match) -> PlannedMatch:
        wanted = topic.notify if topic.notify is not None else self._notifiers
        targets = tuple(n for n in wanted if n in self._notifiers)
        missing = [n for n in wanted if n not in self._notifiers]
        held = None
        if missing:
            held = "no notifier named " + ", ".join(repr(n) for n in missing)
        elif not wanted:
            held = "no notifier is configured"
        return PlannedMatch(
            match=match,
            notifiers=targets,
            delivery=topic.delivery,
            max_per_hour=topic.max_per_hour,
            held=held,
        )
