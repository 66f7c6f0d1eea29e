"""The query tree, and printing it back as a query or as an SQLite FTS5 expression.

Trees are frozen dataclasses, so two parses of the same query compare equal
and a tree can be hashed. Printing then parsing gives the same tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Field = Literal["title", "body"]
DEFAULT_NEAR = 10  # tokens, as in FTS5's NEAR()


@dataclass(frozen=True, kw_only=True, slots=True)
class Token:
    """One query token: folded text, optionally a prefix, optionally exact-case."""

    text: str  # folded, as the tokenizer makes it
    prefix: bool = False
    exact: str | None = None  # the original spelling that must match exactly, e.g. "US"


@dataclass(frozen=True, kw_only=True, slots=True)
class Phrase:
    """Consecutive tokens; a single word is a phrase of one token."""

    tokens: tuple[Token, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class AliasRef:
    name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Near:
    """Each operand (a phrase, or alternatives of phrases) occurs within ``distance`` tokens."""

    operands: tuple[Node, ...]
    distance: int = DEFAULT_NEAR


@dataclass(frozen=True, kw_only=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Not:
    """``positive NOT negative``; without ``positive`` it is a pure negation."""

    positive: Node | None
    negative: Node


@dataclass(frozen=True, kw_only=True, slots=True)
class Scoped:
    """``title:(...)`` or ``body:(...)``."""

    field: Field
    child: Node


Node = Phrase | AliasRef | Near | And | Or | Not | Scoped

# Binding strength, loosest first: OR < AND < NOT < NEAR < everything else.
_LEVEL = {Or: 1, And: 2, Not: 3, Near: 4}


def _level(node: Node) -> int:
    if isinstance(node, Not) and node.positive is None:
        return 5  # unary NOT binds like a primary
    return _LEVEL.get(type(node), 6)


def _token_text(token: Token) -> str:
    return (token.exact if token.exact is not None else token.text) + ("*" if token.prefix else "")


def to_query(node: Node) -> str:
    """The query in the rule language; parsing it gives ``node`` back."""
    if isinstance(node, Phrase):
        exact = node.tokens and all(t.exact is not None for t in node.tokens)
        words = " ".join(_token_text(t) for t in node.tokens)
        quoted = f'"{words}"'
        return f"={quoted}" if exact else quoted
    if isinstance(node, AliasRef):
        return f"@{node.name}"
    if isinstance(node, Scoped):
        return f"{node.field}:({to_query(node.child)})"
    if isinstance(node, Near):
        op = f" NEAR/{node.distance} "
        return op.join(_wrap(c, 5) for c in node.operands)
    if isinstance(node, And):
        # Children that are ANDs themselves need brackets, or they would flatten.
        return " AND ".join(_wrap(c, 3) for c in node.children)
    if isinstance(node, Or):
        return " OR ".join(_wrap(c, 2) for c in node.children)
    if node.positive is None:
        return f"NOT {_wrap(node.negative, 5)}"
    return f"{_wrap(node.positive, 3)} NOT {_wrap(node.negative, 4)}"


def _wrap(node: Node, minimum: int) -> str:
    text = to_query(node)
    return text if _level(node) >= minimum else f"({text})"


class NotExpressible(ValueError):
    """The tree uses something FTS5 cannot say (exact case, pure negation, OR inside NEAR)."""


def to_fts5(node: Node, *, title: str = "title") -> str:
    """The same query as an SQLite FTS5 MATCH expression over the columns ``title`` (named
    as the index names it) and ``body``."""
    if isinstance(node, Phrase):
        return _fts5_phrase(node)
    if isinstance(node, AliasRef):
        raise NotExpressible("aliases must be resolved first")
    if isinstance(node, Scoped):
        column = title if node.field == "title" else node.field
        return f"{{{column}}} : ({to_fts5(node.child, title=title)})"
    if isinstance(node, Near):
        if not all(isinstance(o, Phrase) for o in node.operands):
            raise NotExpressible("FTS5 NEAR takes phrases only")
        phrases = " ".join(to_fts5(o, title=title) for o in node.operands)
        return f"NEAR({phrases}, {node.distance})"
    if isinstance(node, And):
        return " AND ".join(f"({to_fts5(c, title=title)})" for c in node.children)
    if isinstance(node, Or):
        return " OR ".join(f"({to_fts5(c, title=title)})" for c in node.children)
    if node.positive is None:
        raise NotExpressible("FTS5 has no pure negation")
    return f"({to_fts5(node.positive, title=title)}) NOT ({to_fts5(node.negative, title=title)})"


def _fts5_phrase(phrase: Phrase) -> str:
    parts = []
    for token in phrase.tokens:
        if token.exact is not None:
            raise NotExpressible("FTS5 has no exact-case match")
        parts.append(f'"{token.text}"' + (" *" if token.prefix else ""))
    return " + ".join(parts)


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children."""
    out: list[Node] = []
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        if isinstance(current, And | Or):
            stack.extend(reversed(current.children))
        elif isinstance(current, Near):
            stack.extend(reversed(current.operands))
        elif isinstance(current, Scoped):
            stack.append(current.child)
        elif isinstance(current, Not):
            stack.append(current.negative)
            if current.positive is not None:
                stack.append(current.positive)
    return out
