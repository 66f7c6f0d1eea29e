"""What a full-text index is asked for a query: a wider query that every story the rules'
matcher would accept also satisfies, made only of words, prefixes, AND and OR.

Both backends index a story's words without their positions or fields (SQLite FTS5 with
``detail=none``, PostgreSQL a ``tsvector`` of distinct words), which is smaller and quicker
to write; the matcher then checks each candidate, so widening costs nothing but the
candidates it lets through. Phrases and NEAR become their words, field scopes and exact
case are widened, negations are dropped (a story that mentions a negated word may still
match, e.g. ``a AND NOT title:b``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from monitor.rules.ast import AliasRef, And, Near, Node, Not, Or, Phrase, Scoped

LONGEST_WORD = 2000  # bytes: PostgreSQL refuses a lexeme of 2 KB or more (tsquery: less)


def clip(word: str) -> str:
    """``word`` cut to LONGEST_WORD bytes of UTF-8, at a character's edge."""
    data = word.encode()
    return word if len(data) <= LONGEST_WORD else data[:LONGEST_WORD].decode(errors="ignore")


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # folded, as the tokenizer makes it
    prefix: bool


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Wide, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Wide, ...]


Wide = Word | AllOf | AnyOf


def widen(node: Node) -> Wide | None:
    """The wider query of ``node``; None when it would not narrow anything down."""
    if isinstance(node, Phrase):
        # A word cut to fit the index is asked as a prefix: the index may hold it whole.
        return _all(tuple(_word(t.text, t.prefix) for t in node.tokens if t.text))
    if isinstance(node, Scoped):
        return widen(node.child)
    if isinstance(node, Not):
        return None if node.positive is None else widen(node.positive)
    if isinstance(node, Near | And):
        children = node.operands if isinstance(node, Near) else node.children
        return _all(tuple(w for w in map(widen, children) if w is not None))
    if isinstance(node, Or):
        either = [widen(c) for c in node.children]
        if any(w is None for w in either):
            return None
        return AnyOf(tuple(w for w in either if w is not None))
    assert isinstance(node, AliasRef)  # only rule files define them; resolved there
    return None


def _word(text: str, prefix: bool) -> Word:
    cut = clip(text)
    return Word(cut, prefix or cut != text)


def _all(parts: tuple[Wide, ...]) -> Wide | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else AllOf(parts)


def render(wide: Wide, word: Callable[[Word], str], both: str, either: str) -> str:
    """``wide`` in an index's query syntax: ``word`` writes one word, ``both`` and
    ``either`` join the parts of AllOf and AnyOf."""
    if isinstance(wide, Word):
        return word(wide)
    joiner = both if isinstance(wide, AllOf) else either
    return joiner.join(f"({render(p, word, both, either)})" for p in wide.parts)


def fts5_query(wide: Wide) -> str:
    """For SQLite FTS5 (tokens are letters and digits: a quoted string needs no escaping)."""
    return render(wide, lambda w: f'"{w.text}"' + (" *" if w.prefix else ""), " AND ", " OR ")


def tsquery(wide: Wide) -> str:
    """For PostgreSQL's ``tsquery`` (lexemes as given, no dictionary)."""
    return render(wide, lambda w: f"'{w.text}'" + (":*" if w.prefix else ""), " & ", " | ")
