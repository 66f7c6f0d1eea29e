"""Checking rules against the configuration: every alert must have somewhere to go.

A topic may name notifiers, feeds and tags that only ``config.toml`` defines. Each
such name that the configuration lacks is an error located in the rule file, as a
compile error is; so is a topic with no notifier to send to at all. Every entry
point (``monitor check``, ``rules check``, ``poll``, ``run`` and its reloads) asks
this one function, so what is accepted is the same everywhere. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from difflib import get_close_matches

from monitor.config import Config
from monitor.rules.engine import CompiledTopic, RuleSet
from monitor.rules.files import RuleError
from monitor.rules.locate import item_position, line_col, table_span


def check_rules_against_config(rules: RuleSet, config: Config) -> list[RuleError]:
    """Every name a topic uses that the configuration lacks, as located errors."""
    errors: list[RuleError] = []
    notifiers = sorted(config.notifiers)
    feeds = {name for f in config.feeds for name in (f.name, f.url)}
    feed_names = sorted({f.name for f in config.feeds})
    tags = sorted({t for f in config.feeds for t in f.tags})
    where = str(config.path)
    for compiled in rules.topics:
        topic = compiled.topic
        for i, name in enumerate(topic.notify or ()):
            if name not in config.notifiers:
                known = _known(notifiers, "no notifiers are configured")
                errors.append(
                    _error(
                        compiled,
                        "notify",
                        i,
                        f"notify: no notifier named {name!r} in {where}"
                        f"{_suggest(name, notifiers)} ({known})",
                    )
                )
        for i, name in enumerate(topic.feeds):
            if name not in feeds:
                known = _known(feed_names, "no feeds are configured")
                errors.append(
                    _error(
                        compiled,
                        "feeds",
                        i,
                        f"feeds: no feed has the name or URL {name!r} in {where}"
                        f"{_suggest(name, feed_names)} ({known})",
                    )
                )
        for i, tag in enumerate(topic.tags):
            if tag not in tags:
                known = _known(tags, "no feed has tags")
                errors.append(
                    _error(
                        compiled,
                        "tags",
                        i,
                        f"tags: no feed in {where} has the tag {tag!r}{_suggest(tag, tags)} "
                        f"({known})",
                    )
                )
    if not config.notifiers:
        everywhere = [c for c in rules.topics if c.topic.notify is None]
        if everywhere:
            first = everywhere[0]
            more = f" (and {len(everywhere) - 1} more topics)" if len(everywhere) > 1 else ""
            errors.append(
                _error(
                    first,
                    None,
                    0,
                    f"topic {first.topic.name!r}{more}: alerts go to every notifier, but {where} "
                    "configures none; add a [notifiers.NAME] table (see docs/config.md)",
                )
            )
    return errors


def _error(compiled: CompiledTopic, key: str | None, item: int, message: str) -> RuleError:
    """An error at the ``item``-th name of ``key`` in the topic's table (None: the table)."""
    topic = compiled.topic
    if compiled.file is None:  # built in code, not read from a file
        return RuleError(topic.source or "<rules>", max(topic.line, 1), 1, message)
    text = compiled.file.text
    if key is None:
        span = table_span(text, "topic", compiled.index)
        line, col = line_col(text, span[0]) if span else (topic.line or 1, 1)
    else:
        line, col = item_position(text, "topic", compiled.index, key, item)
    return RuleError(compiled.file.path, line, col, message)


def _suggest(name: str, known: Sequence[str]) -> str:
    close = get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _known(names: Collection[str], none: str) -> str:
    if not names:
        return none
    shown = sorted(names)[:8]
    more = f", and {len(names) - 8} more" if len(names) > 8 else ""
    return "known: " + ", ".join(shown) + more
