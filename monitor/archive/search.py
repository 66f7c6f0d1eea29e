"""Searching the archive in the rule language: a topic's query pasted into ``monitor search``
finds what the topic would match, with the terms it matched.

The query is parsed by the rules' parser and every result is checked by the rules' matcher,
so the two cannot disagree. The archive's full-text index finds the candidates where it can
(SQLite's FTS5, PostgreSQL's text search); a query it cannot narrow down (exact case, a pure
negation) is checked against every story. Results come newest first on every backend, so
SQLite and PostgreSQL give the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

from monitor.archive import StoryStore
from monitor.rules.ast import AliasRef, walk
from monitor.rules.matcher import Document, compile_node, explain, snippet, term_hits
from monitor.rules.parser import QueryError, parse_query
from monitor.types import Story, TermHit


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """A story found, the terms that matched and a passage of its body around them."""

    story: Story
    terms: tuple[TermHit, ...]
    snippet: str
    spans: tuple[tuple[int, int], ...]  # of the matched terms in ``snippet``, code points


def search(archive: StoryStore, query: str, *, limit: int) -> list[Hit]:
    """The stories ``query`` matches, at most ``limit``. QueryError when it does not parse
    (``offset`` says where) or names an alias, which only rule files define."""
    node = parse_query(query)
    if any(isinstance(n, AliasRef) for n in walk(node)):
        raise QueryError("aliases (@name) are defined in rule files: write the terms out", 0)
    matches = compile_node(node)

    def hit(story: Story) -> Hit | None:
        doc = Document.of(story.headline, story.body)
        if not matches(doc):
            return None
        terms = term_hits(doc, explain(node, doc))
        text, spans = snippet(doc, terms)
        return Hit(story=story, terms=terms, snippet=text, spans=spans)

    found = (hit(s) for s in archive.candidates(node))
    return list(islice((h for h in found if h is not None), limit))
