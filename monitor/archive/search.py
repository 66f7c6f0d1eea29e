"""Searching the archive in the rule language: a topic's query pasted into ``monitor search``
finds what the topic would match, with the terms it matched.

The query is parsed by the rules' parser and every result is checked by the rules' matcher,
so the two cannot disagree. Where the query can be said in FTS5 (most can), the full-text
index finds the candidates, best first; a query FTS5 cannot express (exact case, a pure
negation, OR inside NEAR) is checked against every story, newest first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from monitor.archive import StoryStore
from monitor.rules.ast import AliasRef, NotExpressible, to_fts5, walk
from monitor.rules.matcher import Document, compile_node, explain, snippet, term_hits
from monitor.rules.parser import QueryError, parse_query
from monitor.types import Story, TermHit

# Candidates the index gives for each result asked, when the matcher may turn some down.
_OVERFETCH = 4


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

    try:
        expression = to_fts5(node, title="headline")  # as Story and the index name it
    except NotExpressible:  # every story, keeping the newest ``limit`` that match
        newest: deque[Hit] = deque(maxlen=limit)
        newest.extend(h for h in map(hit, archive.iter_stories()) if h is not None)
        return list(reversed(newest))
    found = (hit(s) for s in archive.search(expression, limit=limit * _OVERFETCH))
    return [h for h in found if h is not None][:limit]
