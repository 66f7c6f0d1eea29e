"""Matching stories against many topics: presearch, then verify.

Following the presearcher idea of Lucene Monitor (Luwak), each topic is indexed
under terms one of which any matching story must contain (for ``a AND b`` the
rarer side, for ``a OR b`` both). A story's distinct tokens select the candidate
topics through that index; only candidates are evaluated. Topics with no such
terms (pure negations) are always candidates.

``RuleEngine`` holds the current ``RuleSet`` and swaps it atomically on reload:
a broken or half-written rule file is reported and the previous rules stay.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from monitor.rules.ast import And, Near, Node, Not, Or, Phrase, Scoped
from monitor.rules.files import ParsedTopic, RuleError, compile_rule_files, read_rule_files
from monitor.rules.matcher import (
    ALL,
    Document,
    Predicate,
    compile_node,
    explain,
    snippet,
    term_hits,
)
from monitor.types import Match, Topic

Anchor = tuple[bool, str]  # (is prefix, folded text)
# Very common words make poor anchors: they select nearly every story.
_COMMON = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "he",
        "her",
        "his",
        "i",
        "in",
        "is",
        "it",
        "its",
        "new",
        "of",
        "on",
        "or",
        "our",
        "said",
        "says",
        "that",
        "the",
        "their",
        "they",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "you",
    ]
)


def _cost(anchor: Anchor) -> float:
    prefix, text = anchor
    if prefix:
        return 4.0 / max(len(text), 1) + 1.0
    return 50.0 if text in _COMMON else 1.0 / max(len(text), 1)


def anchors(node: Node) -> frozenset[Anchor] | None:
    """Terms one of which every matching story contains; None when there are none."""
    if isinstance(node, Phrase):
        best = min(((t.prefix, t.text) for t in node.tokens), key=_cost)
        return frozenset([best])
    if isinstance(node, Near):
        options = [anchors(o) for o in node.operands]
        return min((o for o in options if o is not None), key=_set_cost, default=None)
    if isinstance(node, And):
        options = [anchors(c) for c in node.children]
        return min((o for o in options if o is not None), key=_set_cost, default=None)
    if isinstance(node, Or):
        union: set[Anchor] = set()
        for child in node.children:
            found = anchors(child)
            if found is None:
                return None
            union |= found
        return frozenset(union)
    if isinstance(node, Not):
        return anchors(node.positive) if node.positive is not None else None
    if isinstance(node, Scoped):
        return anchors(node.child)
    raise TypeError(f"unresolved node {node!r}")


def _set_cost(found: frozenset[Anchor]) -> float:
    return sum(_cost(a) for a in found)


@dataclass(frozen=True, kw_only=True, slots=True)
class CompiledTopic:
    topic: Topic
    query: Node
    exclude: Node | None
    mask: tuple[int, ...]
    predicate: Predicate
    anchors: frozenset[Anchor] | None

    @classmethod
    def of(cls, parsed: ParsedTopic) -> CompiledTopic:
        scope = parsed.topic.scope
        mask = ALL if scope == "all" else ((0,) if scope == "title" else (1,))
        query = compile_node(parsed.query, mask)
        predicate = query
        if parsed.exclude is not None:
            exclude = compile_node(parsed.exclude, ALL)
            predicate = lambda d: query(d) and not exclude(d)  # noqa: E731
        return cls(
            topic=parsed.topic,
            query=parsed.query,
            exclude=parsed.exclude,
            mask=mask,
            predicate=predicate,
            anchors=anchors(parsed.query),
        )

    def accepts_source(self, doc: Document) -> bool:
        t = self.topic
        if t.feeds and doc.feeds.isdisjoint(t.feeds):
            return False
        return not t.tags or not doc.tags.isdisjoint(t.tags)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Compiled topics with their presearch index. Immutable: reloads build a new one."""

    topics: tuple[CompiledTopic, ...] = ()
    fingerprint: str = ""
    _terms: dict[str, list[int]] = field(default_factory=dict)
    _prefixes: dict[str, list[int]] = field(default_factory=dict)
    _prefix_lengths: tuple[int, ...] = ()
    _always: tuple[int, ...] = ()

    @classmethod
    def build(cls, parsed: Iterable[ParsedTopic], fingerprint: str = "") -> RuleSet:
        topics = tuple(CompiledTopic.of(p) for p in parsed)
        terms: dict[str, list[int]] = {}
        prefixes: dict[str, list[int]] = {}
        always: list[int] = []
        for i, topic in enumerate(topics):
            if topic.anchors is None:
                always.append(i)
                continue
            for is_prefix, text in topic.anchors:
                (prefixes if is_prefix else terms).setdefault(text, []).append(i)
        lengths = tuple(sorted({len(p) for p in prefixes}))
        return cls(topics, fingerprint, terms, prefixes, lengths, tuple(always))

    def candidates(self, doc: Document) -> list[int]:
        found: set[int] = set(self._always)
        terms = self._terms
        prefixes = self._prefixes
        for token in doc.distinct_tokens:
            hit = terms.get(token)
            if hit:
                found.update(hit)
            for n in self._prefix_lengths:
                if n > len(token):
                    break
                hit = prefixes.get(token[:n])
                if hit:
                    found.update(hit)
        return sorted(found)

    def match(self, doc: Document, *, explain_matches: bool = True) -> list[Match]:
        """Every topic the document matches, in rule order, each explaining itself."""
        out = []
        for i in self.candidates(doc):
            compiled = self.topics[i]
            if compiled.accepts_source(doc) and compiled.predicate(doc):
                if explain_matches:
                    out.append(self._explain(compiled, doc))
                else:
                    out.append(Match(topic=compiled.topic.name, terms=()))
        return out

    def match_all(self, doc: Document) -> list[str]:
        """Baseline without the presearcher: evaluate every topic (for benchmarks and tests)."""
        return [t.topic.name for t in self.topics if t.accepts_source(doc) and t.predicate(doc)]

    @staticmethod
    def _explain(compiled: CompiledTopic, doc: Document) -> Match:
        hits = term_hits(doc, explain(compiled.query, doc, compiled.mask))
        text, spans = snippet(doc, hits)
        return Match(topic=compiled.topic.name, terms=hits, snippet=text, snippet_terms=spans)

    def topic(self, name: str) -> Topic | None:
        return next((t.topic for t in self.topics if t.topic.name == name), None)


def fingerprint(files: Sequence[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for path, text in files:
        digest.update(path.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def load_rules(folder: Path) -> tuple[RuleSet, list[RuleError]]:
    """Read and compile every rule file in ``folder``; the errors of all files are returned."""
    files, errors = read_rule_files(folder)
    parsed, compile_errors = compile_rule_files(files)
    errors.extend(compile_errors)
    return RuleSet.build(parsed, fingerprint([(f.path, f.text) for f in files])), errors


class RuleEngine:
    """The active rules of a running service; ``reload`` swaps them atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._rules = RuleSet()
        self.errors: list[RuleError] = []

    @property
    def rules(self) -> RuleSet:
        return self._rules

    def reload(self) -> bool:
        """Load the rule files again; True when the active rules changed.

        With any error, nothing changes and ``errors`` says why: a topic is never
        silently dropped because another one (or a half-saved file) is broken.
        Unchanged files change nothing.
        """
        with self._lock:
            files, errors = read_rule_files(self.folder)
            stamp = fingerprint([(f.path, f.text) for f in files])
            if not errors and stamp == self._rules.fingerprint:
                self.errors = []
                return False
            parsed, compile_errors = compile_rule_files(files)
            errors.extend(compile_errors)
            self.errors = errors
            if errors:
                return False
            self._rules = RuleSet.build(parsed, stamp)
            return True
