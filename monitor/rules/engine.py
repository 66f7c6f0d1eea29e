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
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

from monitor.rules.ast import And, Near, Node, Not, Or, Phrase, Scoped
from monitor.rules.files import (
    ParsedTopic,
    RuleError,
    RuleFile,
    compile_rule_files,
    gc_paused,
    read_rule_files,
)
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


# How many stories (of an archive, or of a sample) contain a folded term: the lower,
# the better the term is as an anchor. A prefix is asked for as "negotiat*": the
# number of stories with some word that starts so (an over-estimate is fine).
DocumentFrequency = Callable[[str], float]
AnchorCost = Callable[[Anchor], float]


def _length_cost(anchor: Anchor) -> float:
    """Without frequencies: long words are usually rarer, common words poor anchors."""
    prefix, text = anchor
    if prefix:
        return 4.0 / max(len(text), 1) + 1.0
    return 50.0 if text in _COMMON else 1.0 / max(len(text), 1)


class _CountedFrequency:
    """A ``DocumentFrequency`` over a mapping of term -> count; prefixes by range sums."""

    def __init__(self, counts: Mapping[str, float]) -> None:
        self._counts = counts
        self._words = sorted(counts)
        # _below[k]: the counts of _words[:k] added up, so a prefix's range is one subtraction.
        self._below = [0.0, *accumulate(float(counts[w]) for w in self._words)]

    def __call__(self, term: str) -> float:
        if not term.endswith("*"):
            return float(self._counts.get(term, 0))
        prefix = term[:-1]
        lo = bisect_left(self._words, prefix)
        hi = bisect_left(self._words, prefix + "\U0010ffff")
        return self._below[hi] - self._below[lo]


def _frequency_cost(frequency: DocumentFrequency | Mapping[str, float]) -> AnchorCost:
    lookup = _CountedFrequency(frequency) if isinstance(frequency, Mapping) else frequency
    memo: dict[Anchor, float] = {}  # topics share many terms; the lookup may be a query

    def cost(anchor: Anchor) -> float:
        found = memo.get(anchor)
        if found is None:
            prefix, text = anchor
            # Counts decide; the length rule (< 0.05 here) only breaks ties, such as
            # between words that a sample never saw.
            found = lookup(text + "*" if prefix else text) + _length_cost(anchor) / 1000
            memo[anchor] = found
        return found

    return cost


def anchors(node: Node, cost: AnchorCost = _length_cost) -> frozenset[Anchor] | None:
    """Terms one of which every matching story contains; None when there are none.

    Of the possible choices (which side of an AND, which word of a phrase), the one
    with the least total ``cost``: the fewest stories that would select the topic.
    """
    if isinstance(node, Phrase):
        best = min(((t.prefix, t.text) for t in node.tokens), key=cost)
        return frozenset([best])
    if isinstance(node, Near | And):
        children = node.operands if isinstance(node, Near) else node.children
        options = [found for c in children if (found := anchors(c, cost)) is not None]
        return min(options, key=lambda o: sum(map(cost, o)), default=None)
    if isinstance(node, Or):
        union: set[Anchor] = set()
        for child in node.children:
            found = anchors(child, cost)
            if found is None:
                return None
            union |= found
        return frozenset(union)
    if isinstance(node, Not):
        return anchors(node.positive, cost) if node.positive is not None else None
    if isinstance(node, Scoped):
        return anchors(node.child, cost)
    raise TypeError(f"unresolved node {node!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class CompiledTopic:
    topic: Topic
    query: Node
    exclude: Node | None
    mask: tuple[int, ...]
    predicate: Predicate
    anchors: frozenset[Anchor] | None
    file: RuleFile | None = None  # where the topic is written, for locating later errors
    index: int = 0

    @classmethod
    def of(cls, parsed: ParsedTopic, cost: AnchorCost = _length_cost) -> CompiledTopic:
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
            anchors=anchors(parsed.query, cost),
            file=parsed.file,
            index=parsed.index,
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
    # word anchor -> topics; its keys again as a frozenset, to intersect with a story's
    _terms: dict[str, list[int]] = field(default_factory=dict)
    _term_keys: frozenset[str] = frozenset()
    # Prefix anchors grouped by their first _head characters (the shortest prefix's
    # length): head -> [(prefix, topics)]; a story's tokens select groups by their head.
    _prefix_groups: dict[str, list[tuple[str, list[int]]]] = field(default_factory=dict)
    _group_keys: frozenset[str] = frozenset()
    _head: int = 0
    _always: tuple[int, ...] = ()

    @classmethod
    def build(
        cls,
        parsed: Iterable[ParsedTopic],
        fingerprint: str = "",
        *,
        frequency: DocumentFrequency | Mapping[str, float] | None = None,
    ) -> RuleSet:
        """Compile the topics and index each under its anchors.

        ``frequency`` (term -> number of stories containing it, e.g. from the archive's
        full-text index or a sample of stories) picks each topic's rarest anchors;
        without it the longest words are taken as the rarest.
        """
        cost = _length_cost if frequency is None else _frequency_cost(frequency)
        with gc_paused():  # see there: many closures and index lists, all of them kept
            return cls._build(parsed, fingerprint, cost)

    @classmethod
    def _build(cls, parsed: Iterable[ParsedTopic], fingerprint: str, cost: AnchorCost) -> RuleSet:
        topics = tuple(CompiledTopic.of(p, cost) for p in parsed)
        terms: dict[str, list[int]] = {}
        prefixes: dict[str, list[int]] = {}
        always: list[int] = []
        for i, topic in enumerate(topics):
            if topic.anchors is None:
                always.append(i)
                continue
            for is_prefix, text in topic.anchors:
                (prefixes if is_prefix else terms).setdefault(text, []).append(i)
        head = min(map(len, prefixes), default=0)
        groups: dict[str, list[tuple[str, list[int]]]] = {}
        for prefix, ids in prefixes.items():
            groups.setdefault(prefix[:head], []).append((prefix, ids))
        return cls(
            topics,
            fingerprint,
            terms,
            frozenset(terms),
            groups,
            frozenset(groups),
            head,
            tuple(always),
        )

    def candidates(self, doc: Document) -> list[int]:
        found: set[int] = set(self._always)
        tokens = doc.distinct_tokens
        terms = self._terms
        # One C-level intersection of two sets instead of a lookup per token.
        for token in self._term_keys.intersection(tokens):
            found.update(terms[token])
        if self._prefix_groups:
            head = self._head
            heads = {t[:head] for t in tokens if len(t) >= head}
            vocabulary: list[str] | None = None  # sorted tokens, made when needed
            for key in self._group_keys.intersection(heads):
                for prefix, ids in self._prefix_groups[key]:
                    if len(prefix) > head:
                        # Does some token start with the longer prefix? The first
                        # token not below it in sorted order is the one to check.
                        if vocabulary is None:
                            vocabulary = sorted(tokens)
                        k = bisect_left(vocabulary, prefix)
                        if k == len(vocabulary) or not vocabulary[k].startswith(prefix):
                            continue
                    found.update(ids)
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

    def reload(self, check: Callable[[RuleSet], list[RuleError]] | None = None) -> bool:
        """Load the rule files again; True when the active rules changed.

        With any error, nothing changes and ``errors`` says why: a topic is never
        silently dropped because another one (or a half-saved file) is broken.
        ``check`` is asked about rules that compile (e.g. whether the configuration has
        the notifiers they name); its errors refuse them too. Unchanged files change
        nothing, unless ``check`` finds fault with them.
        """
        with self._lock:
            files, errors = read_rule_files(self.folder)
            stamp = fingerprint([(f.path, f.text) for f in files])
            if not errors and stamp == self._rules.fingerprint:
                self.errors = check(self._rules) if check is not None else []
                return False
            # A duplicate name is reported where it was added, not at the topic in use.
            running = [t.topic for t in self._rules.topics]
            parsed, compile_errors = compile_rule_files(files, running)
            errors.extend(compile_errors)
            rules = RuleSet.build(parsed, stamp) if not errors else None
            if rules is not None and check is not None:
                errors.extend(check(rules))
            self.errors = errors
            if errors or rules is None:
                return False
            self._rules = rules
            return True
