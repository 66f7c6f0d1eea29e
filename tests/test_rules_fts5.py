"""The matcher agrees with SQLite FTS5 on every query both can express."""

from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.rules.ast import to_fts5
from monitor.rules.matcher import Document, compile_node
from monitor.rules.parser import parse_query

VOCABULARY = [
    "china",
    "talks",
    "human",
    "rights",
    "trade",
    "resume",
    "mfn",
    "the",
    "élysée",
    "2002",
]
SEPARATORS = [" ", " ", " ", "-", ". ", ", ", "\n\n", " (", ") ", "'"]


@st.composite
def texts(draw: st.DrawFn, max_words: int = 14) -> str:
    count = draw(st.integers(0, max_words))
    parts = []
    for _ in range(count):
        word = draw(st.sampled_from(VOCABULARY))
        word = draw(st.sampled_from([word, word.upper(), word.capitalize()]))
        parts.append(word + draw(st.sampled_from(SEPARATORS)))
    return "".join(parts)


@st.composite
def phrases(draw: st.DrawFn) -> str:
    words = st.sampled_from(VOCABULARY)
    kind = draw(st.sampled_from(["word", "word", "prefix", "phrase", "hyphen"]))
    if kind == "word":
        return draw(words)
    if kind == "prefix":
        return draw(words)[: draw(st.integers(1, 3))] + "*"
    if kind == "hyphen":
        return "-".join(draw(st.lists(words, min_size=2, max_size=3)))
    inner = draw(st.lists(words, min_size=1, max_size=3))
    if draw(st.booleans()):
        inner[-1] = inner[-1][:2] + "*"
    return '"' + " ".join(inner) + '"'


def queries(depth: int = 3) -> st.SearchStrategy[str]:
    leaf = phrases()
    if depth == 0:
        return leaf
    sub = st.deferred(lambda: queries(depth - 1))
    near = st.tuples(st.lists(leaf, min_size=2, max_size=3), st.integers(0, 6)).map(
        lambda t: f" NEAR/{t[1]} ".join(t[0])
    )
    return st.one_of(
        leaf,
        near,
        st.tuples(sub, sub).map(lambda t: f"({t[0]}) ({t[1]})"),
        st.tuples(sub, sub).map(lambda t: f"({t[0]}) OR ({t[1]})"),
        st.tuples(sub, sub).map(lambda t: f"({t[0]}) NOT ({t[1]})"),
        st.tuples(st.sampled_from(["title", "body"]), sub).map(lambda t: f"{t[0]}:({t[1]})"),
    )


def fts5_matches(docs: list[tuple[str, str]], expression: str) -> set[int]:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE d USING fts5(title, body, tokenize='unicode61 remove_diacritics 2')"
    )
    db.executemany(
        "INSERT INTO d (rowid, title, body) VALUES (?, ?, ?)",
        [(i, t, b) for i, (t, b) in enumerate(docs)],
    )
    return {r[0] for r in db.execute("SELECT rowid FROM d WHERE d MATCH ?", (expression,))}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(texts(6), texts()), min_size=1, max_size=6), queries())
def test_same_matches_as_fts5(docs: list[tuple[str, str]], query: str) -> None:
    tree = parse_query(query)
    predicate = compile_node(tree)
    ours = {i for i, (title, body) in enumerate(docs) if predicate(Document.of(title, body))}
    assert ours == fts5_matches(docs, to_fts5(tree)), to_fts5(tree)


def test_near_distance_is_fts5s() -> None:
    docs = [("", "a x x b"), ("", "a x x x b"), ("", "b x x a"), ("", '"c d" x a'), ("", "a c d")]
    for query, expected in [
        ("a NEAR/2 b", {0, 2}),
        ("a NEAR/3 b", {0, 1, 2}),
        ('"c d" NEAR/1 a', {3, 4}),
        ('"c d" NEAR/0 a', {4}),
    ]:
        tree = parse_query(query)
        assert fts5_matches(docs, to_fts5(tree)) == expected
        predicate = compile_node(tree)
        assert {i for i, (t, b) in enumerate(docs) if predicate(Document.of(t, b))} == expected
