# ruff: noqa: RUF001 - confusable characters are the point of these tests
"""monitor.text.tokens tokenizes exactly like SQLite FTS5 ``unicode61 remove_diacritics 2``.

FTS5 itself is the oracle: its tokens are read back, in order, through an ``fts5vocab`` table of
type ``instance``, and the token offsets are checked with its ``highlight()`` function.

The property tests run ``TOKENS_EXAMPLES`` examples each (default 100, to keep the suite fast;
run with e.g. ``TOKENS_EXAMPLES=2000`` to be thorough). Every code point of the BMP and of
plane 1 is checked by default, the other planes with a stride unless ``TOKENS_ALL_PLANES=1``.
"""

from __future__ import annotations

import os
import sqlite3
import timeit
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.text.tokens import Token, ascii_tokens, fold, token_spans, tokenize

EXAMPLES = int(os.environ.get("TOKENS_EXAMPLES", "100"))
ALL_PLANES = os.environ.get("TOKENS_ALL_PLANES") == "1"
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
OPEN, CLOSE = "\x01<", ">\x02"  # highlight markers


class Fts5:
    """An in-memory FTS5 table with the archive's tokenizer, holding one document at a time."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE VIRTUAL TABLE doc USING fts5(body, tokenize='unicode61 remove_diacritics 2')"
        )
        self.db.execute("CREATE VIRTUAL TABLE vocab USING fts5vocab(doc, instance)")

    def _store(self, text: str) -> None:
        self.db.execute("DELETE FROM doc")
        self.db.execute("INSERT INTO doc (rowid, body) VALUES (1, ?)", (text,))

    def tokens(self, text: str) -> list[str]:
        self._store(text)
        rows = self.db.execute("SELECT offset, term FROM vocab ORDER BY offset").fetchall()
        assert [offset for offset, _ in rows] == list(range(len(rows)))
        return [term for _, term in rows]

    def highlighted(self, text: str, tokens: list[str]) -> str:
        """``text`` with every token FTS5 finds in it wrapped in OPEN ... CLOSE."""
        if not tokens:
            return text
        self._store(text)
        query = " OR ".join('"' + t.replace('"', '""') + '"' for t in sorted(set(tokens)))
        row = self.db.execute(
            "SELECT highlight(doc, 0, ?, ?) FROM doc WHERE doc MATCH ?", (OPEN, CLOSE, query)
        ).fetchone()
        assert row is not None, query
        return str(row[0])


@pytest.fixture(scope="module")
def fts5() -> Iterator[Fts5]:
    oracle = Fts5()
    yield oracle
    oracle.db.close()


def highlight_spans(text: str, spans: list[Token]) -> str:
    parts, pos = [], 0
    for span in spans:
        parts += [text[pos : span.start], OPEN, text[span.start : span.end], CLOSE]
        pos = span.end
    parts.append(text[pos:])
    return "".join(parts)


def check(fts5: Fts5, text: str) -> None:
    expected = fts5.tokens(text)
    assert tokenize(text) == expected
    spans = token_spans(text)
    assert [s.text for s in spans] == expected
    for span in spans:
        assert text[span.start : span.end] == span.original
        assert fold(span.original) == span.text
    # highlight() stops at a NUL character; NUL and space are both separators
    plain = text.replace("\x00", " ")
    assert highlight_spans(plain, spans) == fts5.highlighted(plain, expected)


# Strategies --------------------------------------------------------------------------------

any_char = st.characters(exclude_categories=["Cs"])
interesting = st.sampled_from(
    [
        *"ÀÁÂÃÄÅàáâãäåÇçÉÈÊËéèêëÍÌÎÏíìîïÑñÓÒÔÕÖØóòôõöøÚÙÛÜúùûüÝýÿŒœÆæÐðÞþ",
        *"ßẞİıIiĲĳŉſǅǈǋǲΣσςΐΰẞ",  # German, Turkish and other special cases
        *"ﬀﬁﬂﬃﬄﬅﬆ",  # ligatures
        *"ＡＢＺａｂｚ０１９！－．",  # fullwidth forms
        *"٠١٢٣४५६७๑๒০১",  # digits of other scripts
        *"²³¹½¼⅓ⅠⅡⅫⅰ①⑩",  # other numbers
        *"\ue000\uf8ff\U000f0000\U0010fffd",  # private use
        *"\u0300\u0301\u0302\u0303\u0308\u030a\u030c\u0327\u0328\u0331\u0332\u0345\u036f",
        *"\u0483\u05b0\u064b\u0900\u093c\u0e31\u1ab0\u1dc0\u20d0\u20dd\ufe20",  # marks
        *"😀🎉👍🏽\u200d\u2764\ufe0f🇺🇸\U0001f9d1",  # emoji, ZWJ, variation selector, flags
        *"中文字日本語한국어ひらがなカタカナ\u3000。、",  # CJK, ideographic space/punctuation
        *"\U00020000\U0002a6d6\U00030000",  # CJK beyond the BMP
        *"\U00010400\U00010428\U0001d400\U0001d7ce\U0001e900\U0001e922",  # letters beyond BMP
        *"\u00a0\u2009\u200b\u2028\ufeff\u00ad\u0000\x7f\ufffd\ufffe\uffff",  # odd spaces etc.
        *"’‘“”—–…«»•·",  # typographic punctuation
        *"\u0378\u0870\u1e9e\u2c2f\ua7c0\U0001fa70\U000e0001",  # new or unassigned code points
    ]
)
words = st.text(
    alphabet=st.one_of(interesting, st.sampled_from("aeiouxyzAEXZ019")), min_size=1, max_size=6
)
separators = st.text(alphabet=st.sampled_from(" -.,'\"()\n\t/_:;"), max_size=2)
targeted = st.lists(st.tuples(words, separators), max_size=12).map(
    lambda parts: "".join(w + s for w, s in parts)
)


# Property tests ----------------------------------------------------------------------------


@PROPERTY
@given(st.text(alphabet=any_char, max_size=60))
@example("")
@example("most-favored-nation")
@example("x\u0301 \u0301x \u0301")
def test_random_text_tokenizes_like_fts5(fts5: Fts5, text: str) -> None:
    check(fts5, text)


@PROPERTY
@given(st.text(alphabet=st.one_of(interesting, any_char), max_size=40))
def test_interesting_characters_tokenize_like_fts5(fts5: Fts5, text: str) -> None:
    check(fts5, text)


@PROPERTY
@given(targeted)
def test_words_with_special_characters_tokenize_like_fts5(fts5: Fts5, text: str) -> None:
    check(fts5, text)


@PROPERTY
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=80))
def test_ascii_tokenizes_like_fts5(fts5: Fts5, text: str) -> None:
    check(fts5, text)


typographic = st.sampled_from("’‘“”—–…«»•·\u00a0\u2009\u3000。、\ufffd\ufeff\u00ad\u200b\u2028")
mostly_ascii = st.text(
    alphabet=st.one_of(st.characters(max_codepoint=0x7F), typographic, interesting), max_size=80
)


@PROPERTY
@given(mostly_ascii)
@example("“Quoted” — and\u00a0spaced…")
def test_ascii_words_between_typographic_punctuation_tokenize_like_fts5(
    fts5: Fts5, text: str
) -> None:
    """The bytes fast path (every non-ASCII character a separator) and its fallback."""
    check(fts5, text)
    words = ascii_tokens(text)
    if words is not None:
        assert [w.decode() for w in words] == tokenize(text)


# Exhaustive checks over code points --------------------------------------------------------


def code_point_text(code_points: range) -> str:
    """Each code point after a space (may it start a token?) and inside a word (continue one?)."""
    return "".join(f" {chr(cp)}x{chr(cp)}y" for cp in code_points if not 0xD800 <= cp <= 0xDFFF)


@pytest.mark.parametrize(
    "first",
    [*range(0, 0x20000, 0x4000), *range(0x20000, 0x110000, 0x10000 if ALL_PLANES else 0x88000)],
    ids=hex,
)
def test_every_code_point_tokenizes_like_fts5(fts5: Fts5, first: int) -> None:
    size = 0x4000 if first < 0x20000 else 0x10000
    step = 1 if first < 0x20000 or ALL_PLANES else 61
    text = code_point_text(range(first, first + size, step))
    assert tokenize(text) == fts5.tokens(text)


# Examples ----------------------------------------------------------------------------------


def test_design_examples() -> None:
    assert tokenize("most-favored-nation") == ["most", "favored", "nation"]
    assert tokenize("U.S.") == ["u", "s"]
    assert tokenize("Most-Favored-Nation status, U.S. and Élysée") == [
        "most", "favored", "nation", "status", "u", "s", "and", "elysee",
    ]  # fmt: skip


def test_sqlite_folding_is_not_pythons() -> None:
    assert tokenize("Straße STRASSE") == ["straße", "strasse"]  # no ß -> ss
    assert tokenize("İstanbul ıi") == ["istanbul", "ıi"]  # dotless i stays
    assert tokenize("ﬁx Ａｂｃ ١٢٣ ²") == ["ﬁx", "ａｂｃ", "١٢٣", "²"]  # no NFKC
    assert tokenize("re\u0301sume\u0301 \u0301x") == ["resume", "x"]  # marks continue, not start
    assert tokenize("a\u0345b") == ["a", "b"]  # not every combining mark continues a token
    assert tokenize("𐐀𐐨 😀x") == ["𐐨𐐨", "x"]  # beyond the BMP: Deseret folds, emoji separate


def test_token_spans_keep_the_original_text_and_offsets() -> None:
    text = "“Élysée” — U.S. 😀 Straße"
    assert token_spans(text) == [
        Token(text="elysee", original="Élysée", start=1, end=7),
        Token(text="u", original="U", start=11, end=12),
        Token(text="s", original="S", start=13, end=14),
        Token(text="straße", original="Straße", start=18, end=24),
    ]
    assert token_spans("") == [] and token_spans(" -- ") == []
    assert token_spans("ab") == [Token(text="ab", original="ab", start=0, end=2)]


def test_fold_folds_token_characters_only() -> None:
    assert fold("Élysée — ĲSSEL") == "elysee — ĳssel"
    assert fold("ABC-def") == "abc-def"


def test_tokenizing_a_story_is_fast() -> None:
    story = " ".join(["The", "Chinese", "government’s", "decision", "—", "U.S."] * 170)
    seconds = min(timeit.repeat(lambda: tokenize(story), number=20, repeat=5)) / 20
    assert seconds < 0.005  # about 0.2 ms here; generous for slow CI machines
