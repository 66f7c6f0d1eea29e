"""Evaluating a resolved query tree against a tokenized story.

A story is tokenized once into a ``Document``: per field (title, body) its tokens,
their original spelling and character spans, and a position index. A query is
compiled once into nested closures; evaluating them does a few dictionary and
list lookups per term, so the time grows with the story's length and the
query's size, never exponentially (no regular expressions are built from rules).

Semantics follow SQLite FTS5: AND/OR/NOT combine per story (a term in the title
and another in the body satisfy AND), while a phrase and a NEAR group must be
found within one field. NEAR/n: with instances chosen for every operand and M
the start of the last one, each instance i satisfies M - start_i - length_i <= n.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from monitor.rules.ast import And, Near, Node, Not, Or, Phrase, Scoped, Token, to_query
from monitor.text.tokens import Token as Spanned
from monitor.text.tokens import token_spans, tokenize
from monitor.types import TermHit

FIELDS: tuple[str, str] = ("title", "body")
ALL = (0, 1)
Predicate = Callable[["Document"], bool]
# (field index, first token, token count, term text)
Instance = tuple[int, int, int, str]


class FieldText:
    """One field of a story, tokenized: folded tokens and where each occurs.

    The original spellings and character spans (for exact-case terms and for
    explaining matches) and the sorted vocabulary (for prefixes) are worked out
    only when a query needs them: most stories match few topics, and building
    them for every story would double the cost of tokenizing.
    """

    __slots__ = ("_prefixes", "_spans", "_vocabulary", "positions", "text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tuple(tokenize(text))
        positions: dict[str, list[int]] = {}
        for i, token in enumerate(self.tokens):
            if token in positions:
                positions[token].append(i)
            else:
                positions[token] = [i]
        self.positions = positions
        self._spans: list[Spanned] | None = None
        self._vocabulary: list[str] | None = None
        # prefix -> positions of the tokens it starts: many topics share a prefix (through
        # an alias, say), and one story is asked about it once.
        self._prefixes: dict[str, list[int]] = {}

    def _token_spans(self) -> list[Spanned]:
        if self._spans is None:
            self._spans = token_spans(self.text)
        return self._spans

    def original(self, position: int) -> str:
        return self._token_spans()[position].original

    def span(self, position: int) -> tuple[int, int]:
        token = self._token_spans()[position]
        return token.start, token.end

    def prefix_starts(self, prefix: str) -> list[int]:
        """Positions of the tokens that start with ``prefix``, sorted."""
        found = self._prefixes.get(prefix)
        if found is None:
            words = self.prefixed(prefix)
            found = sorted(p for w in words for p in self.positions[w]) if words else []
            self._prefixes[prefix] = found
        return found

    def prefixed(self, prefix: str) -> list[str]:
        if self._vocabulary is None:
            self._vocabulary = sorted(self.positions)
        vocabulary = self._vocabulary
        lo = bisect_left(vocabulary, prefix)
        hi = bisect_left(vocabulary, prefix + "\U0010ffff")
        return vocabulary[lo:hi]


@dataclass(frozen=True, slots=True)
class Document:
    """A story tokenized once for every topic: title and body."""

    fields: tuple[FieldText, FieldText]
    feeds: frozenset[str] = frozenset()  # names and URLs of the feeds that carried it
    tags: frozenset[str] = frozenset()
    # The distinct tokens of both fields, made once: every topic's first tests (is
    # this word anywhere in the story?) and the presearch look here.
    distinct_tokens: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.distinct_tokens:
            title, body = self.fields
            tokens = frozenset(body.positions).union(title.positions)
            object.__setattr__(self, "distinct_tokens", tokens)

    @classmethod
    def of(
        cls, title: str, body: str, *, feeds: Iterable[str] = (), tags: Iterable[str] = ()
    ) -> Document:
        return cls(
            fields=(FieldText(title), FieldText(body)),
            feeds=frozenset(feeds),
            tags=frozenset(tags),
        )


def _token_ok(field: FieldText, position: int, token: Token) -> bool:
    if position >= len(field.tokens):
        return False
    text = field.tokens[position]
    if token.prefix:
        if not text.startswith(token.text):
            return False
    elif text != token.text:
        return False
    return token.exact is None or field.original(position) == token.exact


def _starts(field: FieldText, token: Token) -> list[int]:
    """Positions where ``token`` occurs in ``field`` (sorted)."""
    found = (
        field.positions.get(token.text, []) if not token.prefix else field.prefix_starts(token.text)
    )
    if token.exact is not None:
        found = [p for p in found if field.original(p) == token.exact]
    return found


def phrase_starts(field: FieldText, phrase: Phrase) -> list[int]:
    first, *rest = phrase.tokens
    starts = _starts(field, first)
    if not rest or not starts:
        return starts
    return [
        p for p in starts if all(_token_ok(field, p + k, t) for k, t in enumerate(rest, start=1))
    ]


def _near_ends(groups: list[list[tuple[int, int]]], distance: int) -> list[int]:
    """Window ends M that satisfy NEAR, given each operand's (start, length) instances.

    One sweep over the instances in order: for each operand, the furthest end
    reached by an instance starting at or before M must be within ``distance``.
    """
    ordered = [sorted(set(g)) for g in groups]  # alternatives may overlap: each instance once
    candidates = sorted({start for g in groups for start, _ in g})
    pointers = [0] * len(ordered)
    reach = [-(1 << 62)] * len(ordered)  # no instance at or before M yet
    good = []
    for m in candidates:
        ok = True
        for k, group in enumerate(ordered):
            p = pointers[k]
            while p < len(group) and group[p][0] <= m:
                reach[k] = max(reach[k], group[p][0] + group[p][1])
                p += 1
            pointers[k] = p
            if reach[k] < m - distance:
                ok = False
        if ok:
            good.append(m)
    return good


def _alternatives(node: Node) -> tuple[Phrase, ...]:
    """The phrases of a NEAR operand (a phrase, or ORs of them), each once."""
    found: dict[Phrase, None] = {}
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Phrase):
            found.setdefault(current)
            continue
        assert isinstance(current, Or), "aliases are resolved and NEAR operands checked before"
        stack.extend(reversed(current.children))
    return tuple(found)


def _operand_instances(field: FieldText, phrases: Sequence[Phrase]) -> list[tuple[int, int]]:
    return [
        (start, len(phrase.tokens)) for phrase in phrases for start in phrase_starts(field, phrase)
    ]


def _plain_word(node: Node) -> str | None:
    """The folded word, when ``node`` is one token matched as such (no prefix, no case)."""
    if isinstance(node, Phrase) and len(node.tokens) == 1:
        token = node.tokens[0]
        if not token.prefix and token.exact is None:
            return token.text
    return None


def _required_words(phrase: Phrase) -> tuple[str, ...]:
    """Folded words every instance of ``phrase`` contains (its non-prefix tokens).

    Longest first: long words tend to be rarer, so a missing one is found sooner.
    """
    return tuple(sorted({t.text for t in phrase.tokens if not t.prefix}, key=len, reverse=True))


def _rank(node: Node) -> int:
    """Rough cost of evaluating ``node``, so that an AND runs its cheap tests first."""
    if _plain_word(node) is not None:
        return 0  # one set lookup
    if isinstance(node, Phrase):
        return 1  # lookups, then positions only when every word is there
    if isinstance(node, Or) and all(_plain_word(c) is not None for c in node.children):
        return 2  # one isdisjoint
    return 3


def _never(d: Document) -> bool:
    return False


def compile_node(node: Node, mask: tuple[int, ...] = ALL) -> Predicate:
    """A predicate over documents, equivalent to the (resolved) tree.

    Evaluation is pure, so the order of an AND's or an OR's children does not change
    the result, only how soon it is known: cheap tests run first, and positions are
    looked at only once set lookups could not settle the question.
    """
    if isinstance(node, Phrase):
        return _compile_phrase(node, mask)
    if isinstance(node, Near):
        return _compile_near(node, mask)
    if isinstance(node, And):
        parts = [compile_node(c, mask) for c in sorted(node.children, key=_rank)]
        return _all_of(parts)
    if isinstance(node, Or):
        return _compile_or(node, mask)
    if isinstance(node, Not):
        negative = compile_node(node.negative, mask)
        if node.positive is None:
            return lambda d: not negative(d)
        positive = compile_node(node.positive, mask)
        return lambda d: positive(d) and not negative(d)
    if isinstance(node, Scoped):
        index = FIELDS.index(node.field)
        return compile_node(node.child, tuple(i for i in mask if i == index))
    raise TypeError(f"unresolved node {node!r}")


def _compile_phrase(node: Phrase, mask: tuple[int, ...]) -> Predicate:
    if not mask:
        return _never
    word = _plain_word(node)
    if word is not None:
        if mask == ALL:
            return lambda d: word in d.distinct_tokens
        only = mask[0]
        return lambda d: word in d.fields[only].positions
    phrase = node
    # Most phrases fail because one of their words is not in the story at all: a set
    # lookup per word says so before any position is looked at.
    required = _required_words(node)
    if mask == ALL:

        def phrase_anywhere(d: Document) -> bool:
            tokens = d.distinct_tokens
            for word in required:
                if word not in tokens:
                    return False
            title, body = d.fields
            return bool(phrase_starts(title, phrase)) or bool(phrase_starts(body, phrase))

        return phrase_anywhere
    only = mask[0]

    def phrase_in_field(d: Document) -> bool:
        field = d.fields[only]
        positions = field.positions
        for word in required:
            if word not in positions:
                return False
        return bool(phrase_starts(field, phrase))

    return phrase_in_field


def _compile_near(node: Near, mask: tuple[int, ...]) -> Predicate:
    if not mask:
        return _never
    distance = node.distance
    # Every operand needs all the words of one of its alternatives somewhere in the story.
    alternatives = [_alternatives(o) for o in node.operands]
    needs = [[_required_words(p) for p in phrases] for phrases in alternatives]

    def near(d: Document) -> bool:
        tokens = d.distinct_tokens
        for options in needs:
            if not any(all(w in tokens for w in words) for words in options):
                return False
        for i in mask:
            groups = [_operand_instances(d.fields[i], phrases) for phrases in alternatives]
            if all(groups) and _near_ends(groups, distance):
                return True
        return False

    return near


def _compile_or(node: Or, mask: tuple[int, ...]) -> Predicate:
    # The plain words of an OR are tested together: one C-level isdisjoint.
    words = frozenset(w for c in node.children if (w := _plain_word(c)) is not None)
    parts = [compile_node(c, mask) for c in node.children if _plain_word(c) is None]
    if words and mask == ALL:
        parts.insert(0, lambda d: not words.isdisjoint(d.distinct_tokens))
    elif words and mask:
        only = mask[0]

        def any_word(d: Document) -> bool:
            positions = d.fields[only].positions
            for word in words:  # noqa: SIM110 - a plain loop: no generator per call
                if word in positions:
                    return True
            return False

        parts.insert(0, any_word)
    return _any_of(parts)


def _all_of(parts: list[Predicate]) -> Predicate:
    # Closures for the common short cases, and a plain loop otherwise: both are cheaper
    # than all() over a generator, which is made anew on every call.
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda d: a(d) and b(d)

    def every(d: Document) -> bool:
        for p in parts:  # noqa: SIM110 - as above
            if not p(d):
                return False
        return True

    return every


def _any_of(parts: list[Predicate]) -> Predicate:
    if not parts:
        return _never
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda d: a(d) or b(d)

    def some(d: Document) -> bool:
        for p in parts:  # noqa: SIM110 - as in _all_of
            if p(d):
                return True
        return False

    return some


def explain(node: Node, doc: Document, mask: tuple[int, ...] = ALL) -> list[Instance]:
    """The instances of the positive terms of a matching tree (not those under NOT)."""
    if isinstance(node, Phrase):
        term = to_query(node).strip('"=')
        return [
            (i, start, len(node.tokens), term)
            for i in mask
            for start in phrase_starts(doc.fields[i], node)
        ]
    if isinstance(node, Near):
        found: list[Instance] = []
        alternatives = [_alternatives(o) for o in node.operands]
        for i in mask:
            groups = [_operand_instances(doc.fields[i], phrases) for phrases in alternatives]
            if not all(groups):
                continue
            ends = _near_ends(groups, node.distance)
            if not ends:
                continue
            for phrases in alternatives:
                for phrase in phrases:
                    term = to_query(phrase).strip('"=')
                    n = len(phrase.tokens)
                    for start in phrase_starts(doc.fields[i], phrase):
                        # Part of a window when some end M has start <= M <= start + n + d:
                        # the first end not before the start tells (the ends are sorted).
                        k = bisect_left(ends, start)
                        if k < len(ends) and ends[k] - start - n <= node.distance:
                            found.append((i, start, n, term))
        return found
    if isinstance(node, And | Or):
        return [hit for c in node.children for hit in explain(c, doc, mask)]
    if isinstance(node, Not):
        return [] if node.positive is None else explain(node.positive, doc, mask)
    if isinstance(node, Scoped):
        index = FIELDS.index(node.field)
        return explain(node.child, doc, tuple(i for i in mask if i == index))
    raise TypeError(f"unresolved node {node!r}")


def term_hits(doc: Document, instances: list[Instance]) -> tuple[TermHit, ...]:
    """Character spans of matched instances, in field then text order, without repeats."""
    # Alternatives often find the same tokens (negotiat* and negotiation): each once.
    first: dict[tuple[int, int, int], str] = {}
    for i, start, count, term in instances:
        first.setdefault((i, start, count), term)
    hits: dict[tuple[int, int, int], TermHit] = {}
    for (i, start, count), term in first.items():
        field = doc.fields[i]
        span = (field.span(start)[0], field.span(start + count - 1)[1])
        if (i, *span) not in hits:
            hits[(i, *span)] = TermHit(term=term, field=_field_name(i), span=span)
    return tuple(hits[k] for k in sorted(hits))


def _field_name(index: int) -> Literal["title", "body"]:
    return "title" if index == 0 else "body"


SNIPPET_CHARS = 240


def snippet(doc: Document, hits: Sequence[TermHit]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A short passage of the body around the first body hit, and the hits' spans in it."""
    body = doc.fields[1].text
    first = next((h for h in hits if h.field == "body"), None)
    if first is None:
        start, end = 0, min(len(body), SNIPPET_CHARS)
    else:
        start = max(0, first.span[0] - SNIPPET_CHARS // 3)
        end = min(len(body), start + SNIPPET_CHARS)
    if start > 0:  # begin and end on word boundaries
        space = body.find(" ", start)
        if 0 <= space < (first.span[0] if first else end):
            start = space + 1
    if end < len(body):
        space = body.rfind(" ", first.span[1] if first else start, end)
        end = space if space > 0 else end
    lead = "\u2026 " if start > 0 else ""
    # Two characters for two, so the spans below stay valid.
    text = lead + body[start:end].replace("\n\n", "  ") + (" \u2026" if end < len(body) else "")
    shift = len(lead) - start
    spans = tuple(
        (h.span[0] + shift, h.span[1] + shift)
        for h in hits
        if h.field == "body" and start <= h.span[0] and h.span[1] <= end
    )
    return text, spans
