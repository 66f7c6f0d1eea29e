"""Replacing @alias references by the aliases' trees, within limits.

Each alias is resolved once and its tree is shared by every use: the result is a
graph (a DAG), so an alias used four times by an alias used four times ... costs
one tree, not 4^n. What matching costs follows the tree *written out*, though, so
its size and depth are counted along (saturating, without writing anything out)
and held to limits, reported like any other rule error at the alias or topic that
passes them. Nothing here recurses on the shape of the input: trees are walked
with explicit stacks, and the alias graph with an iterative depth-first search.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from monitor.rules.ast import AliasRef, And, Near, Node, Not, Or, Phrase, Scoped, walk
from monitor.rules.parser import NEAR_OPERANDS

# What one topic (its query and exclude together) may come to once its aliases are
# written out: words (each word of a phrase counts) and operators. Matching a story
# costs at most about this many look-ups per topic, each linear in the story at worst.
MAX_TOPIC_TERMS = 10_000
# ... and all topics together, which bounds a story that every topic is a candidate for.
MAX_RULE_SET_TERMS = 2_000_000
# Levels of a topic's tree, aliases written out: what compiles, matches and explains it
# recurses on this (a query's own brackets stop at parser.MAX_DEPTH).
MAX_EXPANDED_DEPTH = 200
# Counts stop growing here: an alias bomb's size is astronomically large, not a bignum.
_SATURATED = 10**15


class Reporter(Protocol):
    """Where errors about one rule file go, located at a value in it."""

    def error_at(
        self, table: str, index: int | None, key: str, message: str, char: int | None = None
    ) -> None: ...

    def value_text(self, table: str, index: int | None, key: str) -> str: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Resolved:
    """A tree with its aliases replaced (shared with their other uses), and what it
    would be written out: ``terms`` words and operators, ``depth`` levels."""

    node: Node
    terms: int
    depth: int
    near_ok: bool  # words or phrases joined by OR: what NEAR can relate


def _plus(*counts: int) -> int:
    return min(sum(counts), _SATURATED)


def describe(count: int) -> str:
    return f"more than {_SATURATED:,}" if count >= _SATURATED else f"{count:,}"


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, And | Or):
        return node.children
    if isinstance(node, Near):
        return node.operands
    if isinstance(node, Scoped):
        return (node.child,)
    if isinstance(node, Not):
        return (node.negative,) if node.positive is None else (node.positive, node.negative)
    return ()


def _refs(node: Node) -> Iterator[str]:
    """The aliases a tree names, each once, in the order written."""
    seen: set[str] = set()
    for n in walk(node):
        if isinstance(n, AliasRef) and n.name not in seen:
            seen.add(n.name)
            yield n.name


class Resolver:
    """Resolves every alias once; then topics' queries, against them."""

    def __init__(self, aliases: Mapping[str, tuple[Node, Reporter]]) -> None:
        self.aliases = aliases
        self.done: dict[str, Resolved | None] = {}  # None: the alias has an error

    def check_all(self) -> None:
        """Resolve every alias, reporting unknown ones, cycles and limits passed."""
        for name in self.aliases:
            if name not in self.done:
                self._from(name)

    def _from(self, root: str) -> None:
        # Depth-first over the alias graph with a stack of its own: an alias is built
        # once everything it names is; a name met again on the way is a cycle.
        path: list[str] = []
        on_path: set[str] = set()
        pending: list[Iterator[str]] = []

        def enter(name: str) -> None:
            path.append(name)
            on_path.add(name)
            pending.append(_refs(self.aliases[name][0]))

        enter(root)
        while path:
            name = path[-1]
            for ref in pending[-1]:
                if ref in self.done or ref not in self.aliases:
                    continue  # built already, or reported as unknown when this one is built
                if ref in on_path:
                    cycle = " -> ".join(f"@{s}" for s in (*path[path.index(ref) :], ref))
                    where = self.aliases[name][1]
                    _error_at_ref(where, "aliases", None, name, ref, f"alias cycle: {cycle}")
                    continue
                enter(ref)
                break
            else:
                on_path.discard(path.pop())
                pending.pop()
                self.done[name] = self._alias(name)

    def _alias(self, name: str) -> Resolved | None:
        node, where = self.aliases[name]
        found = self._tree(node, where, "aliases", None, name)
        if found is None:
            return None
        if found.terms > MAX_TOPIC_TERMS:
            where.error_at(
                "aliases",
                None,
                name,
                f"@{name} is too large: {describe(found.terms)} words and operators once "
                f"its aliases are written out (a topic may have at most {MAX_TOPIC_TERMS:,})",
            )
            return None
        if found.depth > MAX_EXPANDED_DEPTH:
            where.error_at(
                "aliases",
                None,
                name,
                f"@{name} is nested {found.depth:,} levels deep once its aliases are "
                f"written out (at most {MAX_EXPANDED_DEPTH})",
            )
            return None
        return found

    def resolve(
        self, node: Node, where: Reporter, table: str, index: int | None, key: str
    ) -> Resolved | None:
        """A topic's query or exclude with its aliases resolved; None after an error.

        Call ``check_all`` first. Limits are the caller's: they apply to the topic as a
        whole (its query and exclude together).
        """
        return self._tree(node, where, table, index, key)

    def _tree(
        self, root: Node, where: Reporter, table: str, index: int | None, key: str
    ) -> Resolved | None:
        """Rebuild a parsed tree bottom-up with an explicit stack; report every problem."""
        done: dict[int, Resolved] = {}  # id of a parsed node -> what it became
        failed = False
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, children_done = stack.pop()
            if isinstance(node, AliasRef):
                resolved = self._ref(node.name, where, table, index, key)
                if resolved is None:
                    failed = True
                else:
                    done[id(node)] = resolved
                continue
            if isinstance(node, Phrase):
                done[id(node)] = Resolved(node=node, terms=len(node.tokens), depth=1, near_ok=True)
                continue
            kids = _children(node)
            if not children_done:
                stack.append((node, True))
                stack.extend((kid, False) for kid in reversed(kids))
                continue
            parts = [done.get(id(kid)) for kid in kids]
            ready = [p for p in parts if p is not None]
            if len(ready) != len(parts):
                continue  # reported below this node
            if isinstance(node, Near) and not self._near_ok(node, ready, where, table, index, key):
                failed = True
                continue
            done[id(node)] = _combine(node, ready)
        return None if failed else done.get(id(root))

    def _ref(
        self, name: str, where: Reporter, table: str, index: int | None, key: str
    ) -> Resolved | None:
        if name not in self.aliases:
            _error_at_ref(where, table, index, key, name, f"unknown alias @{name}")
            return None
        # An alias with an error (reported at it), or one on a cycle (reported where the
        # cycle closes), leaves this value unresolved without a second report.
        return self.done.get(name)

    def _near_ok(
        self,
        node: Near,
        operands: list[Resolved],
        where: Reporter,
        table: str,
        index: int | None,
        key: str,
    ) -> bool:
        """NEAR relates words and phrases (or ORs of them): also through an alias, at any
        depth of ORs. The parser checked what is written; here, what aliases bring."""
        ok = True
        for written, resolved in zip(node.operands, operands, strict=True):
            if resolved.near_ok:
                continue
            ok = False
            culprit = next(
                (
                    n.name
                    for n in walk(written)
                    if isinstance(n, AliasRef)
                    and (found := self.done.get(n.name)) is not None
                    and not found.near_ok
                ),
                None,
            )
            if culprit is None:  # only a tree the parser did not check gets here
                where.error_at(table, index, key, NEAR_OPERANDS)
                continue
            _error_at_ref(
                where,
                table,
                index,
                key,
                culprit,
                f"@{culprit} cannot be used with NEAR: it is not made of words or phrases "
                "joined by OR",
            )
        return ok


def _error_at_ref(
    where: Reporter, table: str, index: int | None, key: str, ref: str, message: str
) -> None:
    """An error at the first ``@ref`` written in the value."""
    m = re.search(rf"@{re.escape(ref)}(?![A-Za-z0-9_-])", where.value_text(table, index, key))
    where.error_at(table, index, key, message, m.start() if m else 0)


def _combine(node: Node, parts: list[Resolved]) -> Resolved:
    """``node`` rebuilt over its resolved children, with its written-out counts."""
    kids = tuple(p.node for p in parts)
    near_ok = False
    rebuilt: Node
    if isinstance(node, Or):
        rebuilt, near_ok = Or(children=kids), all(p.near_ok for p in parts)
    elif isinstance(node, And):
        rebuilt = And(children=kids)
    elif isinstance(node, Near):
        rebuilt = Near(operands=kids, distance=node.distance)
    elif isinstance(node, Scoped):
        rebuilt = Scoped(field=node.field, child=kids[0])
    else:
        assert isinstance(node, Not), f"a leaf has no children: {node!r}"
        positive = kids[0] if node.positive is not None else None
        rebuilt = Not(positive=positive, negative=kids[-1])
    return Resolved(
        node=rebuilt,
        terms=_plus(1, *(p.terms for p in parts)),
        depth=1 + max(p.depth for p in parts),
        near_ok=near_ok,
    )
