from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    to_query,
)
from monitor.rules.parser import MAX_DEPTH, QueryError, parse_query


def w(text: str, *, prefix: bool = False, exact: str | None = None) -> Phrase:
    return Phrase(tokens=(Token(text=text, prefix=prefix, exact=exact),))


def p(*words: str) -> Phrase:
    return Phrase(tokens=tuple(Token(text=x) for x in words))


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("china", w("china")),
        ("China", w("china")),
        ("most-favored-nation", p("most", "favored", "nation")),
        ("U.S.", p("u", "s")),
        ('"human rights"', p("human", "rights")),
        ("negotiat*", w("negotiat", prefix=True)),
        (
            '"trade negotiat*"',
            Phrase(tokens=(Token(text="trade"), Token(text="negotiat", prefix=True))),
        ),
        ("=US", w("us", exact="US")),
        ('="U.S."', Phrase(tokens=(Token(text="u", exact="U"), Token(text="s", exact="S")))),
        ("a b", And(children=(w("a"), w("b")))),
        ("a AND b c", And(children=(w("a"), w("b"), w("c")))),
        ("a and b", And(children=(w("a"), w("and"), w("b")))),  # lower case is a word
        ("a OR b c", Or(children=(w("a"), And(children=(w("b"), w("c")))))),
        ("a b NOT c", And(children=(w("a"), Not(positive=w("b"), negative=w("c"))))),
        ("a NOT b NOT c", Not(positive=Not(positive=w("a"), negative=w("b")), negative=w("c"))),
        ("NOT sport", Not(positive=None, negative=w("sport"))),
        ("a AND NOT b", And(children=(w("a"), Not(positive=None, negative=w("b"))))),
        ("a NEAR b", Near(operands=(w("a"), w("b")), distance=DEFAULT_NEAR)),
        ("a NEAR/3 b NEAR/3 c", Near(operands=(w("a"), w("b"), w("c")), distance=3)),
        ("(a OR b) NEAR/2 c", Near(operands=(Or(children=(w("a"), w("b"))), w("c")), distance=2)),
        ("@MFN NEAR/5 china", Near(operands=(AliasRef(name="MFN"), w("china")), distance=5)),
        ("title:(a OR b)", Scoped(field="title", child=Or(children=(w("a"), w("b"))))),
        ("body:a b", And(children=(Scoped(field="body", child=w("a")), w("b")))),
        ("(a)", w("a")),
        ("NEARBY", w("nearby")),
        ("ANDROID OR ORACLE", Or(children=(w("android"), w("oracle")))),
    ],
)
def test_parse(query: str, tree: Node) -> None:
    assert parse_query(query) == tree


@pytest.mark.parametrize(
    ("query", "offset", "message"),
    [
        ("", 0, "empty query"),
        ("a AND", 5, "expected a word"),
        ("(a OR b", 7, "expected ')' to close the '(' at offset 0"),
        ("a OR b)", 6, "unbalanced ')'"),
        ('"human rights', 0, 'unterminated "phrase"'),
        ("a NEAR/ b", 7, "expected a number of tokens after NEAR/"),
        ("a NEAR/2 b NEAR/3 c", 11, "one distance"),
        ("(a b) NEAR c", 0, "NEAR takes words"),
        ("a NEAR (b AND c)", 7, "NEAR takes words"),
        ("OR a", 0, "expected a word"),
        ("a OR OR b", 5, "expected a word"),
        ("---", 0, "no letters or digits"),
        ("title:", 6, "expected a word"),
    ],
)
def test_errors_say_where_and_what_was_expected(query: str, offset: int, message: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(query)
    assert info.value.offset == offset
    assert message in info.value.message


def test_nesting_is_bounded() -> None:
    with pytest.raises(QueryError, match="nested"):
        parse_query("(" * (MAX_DEPTH + 5) + "a" + ")" * (MAX_DEPTH + 5))
    parse_query("(" * 50 + "a" + ")" * 50)


# -- parse, print, parse again gives the same tree --------------------------------------------

WORDS = ["china", "talks", "mfn", "US", "human", "rights", "trade", "Élysée", "resume", "2002"]
words = st.sampled_from(WORDS)


@st.composite
def phrases(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["word", "prefix", "phrase", "exact", "hyphen"]))
    if kind == "word":
        return draw(words)
    if kind == "prefix":
        return draw(words)[:3] + "*"
    if kind == "exact":
        return "=" + draw(st.sampled_from(["US", "MFN", '"U.S."']))
    if kind == "hyphen":
        return "-".join(draw(st.lists(words, min_size=2, max_size=3)))
    return '"' + " ".join(draw(st.lists(words, min_size=1, max_size=3))) + '"'


def queries(depth: int = 3) -> st.SearchStrategy[str]:
    leaf = st.one_of(phrases(), st.sampled_from(["@MFN", "@RIGHTS"]))
    if depth == 0:
        return leaf
    sub = st.deferred(lambda: queries(depth - 1))
    return st.one_of(
        leaf,
        st.tuples(sub, sub).map(lambda t: f"{t[0]} {t[1]}"),
        st.tuples(sub, sub).map(lambda t: f"{t[0]} AND {t[1]}"),
        st.tuples(sub, sub).map(lambda t: f"{t[0]} OR {t[1]}"),
        st.tuples(sub, sub).map(lambda t: f"{t[0]} NOT {t[1]}"),
        sub.map(lambda q: f"NOT {q}"),
        sub.map(lambda q: f"({q})"),
        st.tuples(st.sampled_from(["title", "body"]), sub).map(lambda t: f"{t[0]}:({t[1]})"),
        st.tuples(leaf, st.integers(0, 20), leaf).map(lambda t: f"{t[0]} NEAR/{t[1]} {t[2]}"),
    )


@settings(max_examples=500)
@given(queries())
def test_parse_print_parse_is_the_same_tree(query: str) -> None:
    tree = parse_query(query)
    printed = to_query(tree)
    assert parse_query(printed) == tree
    assert to_query(parse_query(printed)) == printed
