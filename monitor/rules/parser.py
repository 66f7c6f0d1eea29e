"""Parsing the topic query language (DESIGN.md section 5) into a tree.

    query   := or
    or      := and ("OR" and)*
    and     := not (["AND"] not)*            two terms side by side mean AND
    not     := unary ("NOT" unary)*          "a NOT b": a and not b
    unary   := "NOT" unary | near            a leading NOT is a pure negation
    near    := primary ("NEAR" ["/" N] primary)*
    primary := word | word* | "phrase" | =word | ="phrase" | @alias
             | title: primary | body: primary | "(" query ")"

Operators are upper case, as in FTS5; a lower-case "and" is a word. Errors carry
the offset in the query text where the parser stopped and what it expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitor.errors import reduce_error
from monitor.rules.ast import (
    DEFAULT_NEAR,
    AliasRef,
    And,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Scoped,
    Token,
)
from monitor.text.tokens import token_spans

MAX_DEPTH = 100  # nesting, so a hostile rule cannot exhaust the stack
MAX_NEAR = 10_000
NEAR_OPERANDS = 'NEAR takes words, "phrases", prefixes or ORs of them on each side'

_LEX = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<phrase>=?"[^"]*"?)
  | (?P<alias>@[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<field>(?:title|body):)
  | (?P<near>NEAR(?:/\d*)?(?=[\s()"@=]|$))
  | (?P<op>(?:AND|OR|NOT)(?=[\s()"@=]|$))
  | (?P<word>=?[^\s()"]+)
    """,
    re.VERBOSE,
)


class QueryError(ValueError):
    """A query that does not compile; ``offset`` is where in the query text."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __reduce__(self) -> tuple[Any, ...]:  # picklable although __init__ takes two arguments
        return reduce_error(self)


@dataclass(frozen=True, slots=True)
class _Lexeme:
    kind: str
    text: str
    start: int


def _lex(query: str) -> list[_Lexeme]:
    out: list[_Lexeme] = []
    pos = 0
    while pos < len(query):
        m = _LEX.match(query, pos)
        if m is None:  # pragma: no cover - the word branch matches any other character
            raise QueryError(f"unexpected character {query[pos]!r}", pos)
        kind = m.lastgroup or "word"
        if kind != "space":
            out.append(_Lexeme(kind, m.group(), pos))
        pos = m.end()
    out.append(_Lexeme("end", "", len(query)))
    return out


def _describe(lexeme: _Lexeme) -> str:
    return "the end of the query" if lexeme.kind == "end" else repr(lexeme.text)


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.lexemes = _lex(query)
        self.i = 0
        self.depth = 0

    @property
    def peek(self) -> _Lexeme:
        return self.lexemes[self.i]

    def take(self) -> _Lexeme:
        lexeme = self.lexemes[self.i]
        self.i += 1
        return lexeme

    def fail(self, expected: str, at: _Lexeme | None = None) -> QueryError:
        at = at or self.peek
        return QueryError(f"expected {expected}, found {_describe(at)}", at.start)

    def parse(self) -> Node:
        if self.peek.kind == "end":
            raise QueryError('empty query: expected a word, a "phrase" or (', 0)
        node = self.or_()
        if self.peek.kind != "end":
            if self.peek.kind == "rparen":
                raise QueryError("unbalanced ')': no '(' to close", self.peek.start)
            raise self.fail("AND, OR, NOT, NEAR or the end of the query")
        return node

    def or_(self) -> Node:
        children = [self.and_()]
        while self.peek.kind == "op" and self.peek.text == "OR":
            self.take()
            children.append(self.and_())
        return children[0] if len(children) == 1 else Or(children=tuple(children))

    def and_(self) -> Node:
        children = [self.not_()]
        while True:
            if self.peek.kind == "op" and self.peek.text == "AND":
                self.take()
            elif not self._starts_operand():
                break
            children.append(self.not_())
        return children[0] if len(children) == 1 else And(children=tuple(children))

    def _starts_operand(self) -> bool:
        return self.peek.kind in ("lparen", "phrase", "alias", "field", "word")

    def not_(self) -> Node:
        node = self.unary()
        while self.peek.kind == "op" and self.peek.text == "NOT":
            self.take()
            node = Not(positive=node, negative=self.unary())
        return node

    def unary(self) -> Node:
        if self.peek.kind == "op" and self.peek.text == "NOT":
            self.take()
            return Not(positive=None, negative=self._nested(self.unary))
        return self.near()

    def near(self) -> Node:
        starts = [self.peek.start]
        operands = [self.primary()]
        distance: int | None = None
        while self.peek.kind == "near":
            op = self.take()
            _, slash, number = op.text.partition("/")
            if slash and not number:
                raise QueryError("expected a number of tokens after NEAR/", op.start + 5)
            this = int(number) if number else DEFAULT_NEAR
            if this > MAX_NEAR:
                raise QueryError(
                    f"NEAR distance {this} is too large (at most {MAX_NEAR})", op.start
                )
            if distance is not None and this != distance:
                raise QueryError(
                    "a chain of NEARs must use one distance; use brackets and AND instead",
                    op.start,
                )
            distance = this
            starts.append(self.peek.start)
            operands.append(self.primary())
        if distance is None:
            return operands[0]
        for operand, start in zip(operands, starts, strict=True):
            if not is_near_operand(operand):
                raise QueryError(NEAR_OPERANDS, start)
        return Near(operands=tuple(operands), distance=distance)

    def primary(self) -> Node:
        lexeme = self.peek
        if lexeme.kind == "lparen":
            self.take()
            node = self._nested(self.or_)
            if self.peek.kind != "rparen":
                raise self.fail(f"')' to close the '(' at offset {lexeme.start}")
            self.take()
            return node
        if lexeme.kind == "field":
            self.take()
            child = self._nested(self.primary)
            if lexeme.text == "title:":
                return Scoped(field="title", child=child)
            return Scoped(field="body", child=child)
        if lexeme.kind == "alias":
            self.take()
            return AliasRef(name=lexeme.text[1:])
        if lexeme.kind in ("phrase", "word"):
            self.take()
            return self._phrase(lexeme)
        if lexeme.kind == "end":
            raise self.fail('a word, a "phrase", @alias or (')
        if lexeme.kind == "rparen":
            raise self.fail('a word, a "phrase", @alias or ( before )')
        word = lexeme.text.split("/")[0]
        raise self.fail(f'a word, a "phrase", @alias or ( (write "{word}" to search for the word)')

    def _nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"nested more than {MAX_DEPTH} deep", self.peek.start)
        try:
            return parse()
        finally:
            self.depth -= 1

    def _phrase(self, lexeme: _Lexeme) -> Phrase:
        text = lexeme.text
        start = lexeme.start
        exact = text.startswith("=")
        if exact:
            text, start = text[1:], start + 1
        if text.startswith('"'):
            if len(text) < 2 or not text.endswith('"'):
                raise QueryError('unterminated "phrase": expected a closing "', lexeme.start)
            text, start = text[1:-1], start + 1
        tokens: list[Token] = []
        for span in token_spans(text):
            prefix = text[span.end : span.end + 1] == "*"
            tokens.append(
                Token(text=span.text, prefix=prefix, exact=span.original if exact else None)
            )
        if not tokens:
            raise QueryError(
                f"{lexeme.text!r} has no letters or digits to search for: expected a word",
                lexeme.start,
            )
        return Phrase(tokens=tuple(tokens))


def is_near_operand(node: Node) -> bool:
    """A word, phrase or alias, or an OR of them: what NEAR can relate."""
    if isinstance(node, Phrase | AliasRef):
        return True
    return isinstance(node, Or) and all(is_near_operand(c) for c in node.children)


def parse_query(query: str) -> Node:
    """The tree of ``query``; QueryError with an offset when it does not parse."""
    return _Parser(query).parse()
