import hashlib
import heapq
import zlib
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from monitor.text.fingerprint import (
    SHINGLE,
    SKETCH_SIZE,
    fingerprint,
    is_near_duplicate,
    similarity,
    sketch,
    text_hash,
)
from monitor.text.pagetext import read_page_text
from monitor.text.tokens import tokenize

SEED = next((Path(__file__).parent / "fixtures" / "seeds").glob("003_*.txt"))

TEXT = (
    "Washington and Beijing plan to resume discussions about human rights, one of the biggest "
    "sticking points in relations between the two powerful nations. The plan was announced "
    "Wednesday by China's foreign minister and confirmed by U.S. officials."
)


def test_tokenizer_matches_unicode61() -> None:
    assert tokenize("Most-Favored-Nation status, U.S. and Élysée") == [
        "most", "favored", "nation", "status", "u", "s", "and", "elysee",
    ]  # fmt: skip


def test_wire_copy_with_small_edits_is_a_near_duplicate() -> None:
    headline, body = read_page_text(SEED.read_text(encoding="utf-8"))
    original = " ".join([headline, *body])
    edited = original.replace("Wednesday", "on Wednesday").replace("powerful", "big") + " (AP)"
    assert is_near_duplicate(sketch(tokenize(original)), sketch(tokenize(edited)))
    assert not is_near_duplicate(sketch(tokenize(original)), sketch(tokenize(TEXT)))


def test_different_stories_are_not() -> None:
    other = (
        "The city council voted on Wednesday to build a tram line linking the harbour to the "
        "northern suburbs, with construction expected to start next spring and last three years "
        "according to officials."
    )
    assert similarity(sketch(tokenize(TEXT)), sketch(tokenize(other))) < 0.2


def test_short_texts_get_no_sketch() -> None:
    assert sketch(tokenize("Talks resume")) == ()


def _reference_sketch(tokens: list[str]) -> tuple[int, ...]:
    """The sketch as first written: every shingle hashed, the k smallest of the set."""
    if len(tokens) < 22:
        return ()
    shingles = {" ".join(tokens[i : i + SHINGLE]).encode() for i in range(len(tokens) - 2)}
    return tuple(heapq.nsmallest(SKETCH_SIZE, set(map(zlib.crc32, shingles))))


@given(st.lists(st.sampled_from(["a", "b", "c", "wire", "copy", "élysée", "x1"]), max_size=120))
def test_sketch_is_the_k_smallest_distinct_shingle_hashes(tokens: list[str]) -> None:
    # Few distinct words: many repeated shingles, so the repeated-hash fallback is exercised.
    assert sketch(tokens) == _reference_sketch(tokens)


@given(st.lists(st.integers(0, 3000).map(str), min_size=20, max_size=800))
def test_sketch_of_long_texts_is_the_k_smallest_distinct_shingle_hashes(tokens: list[str]) -> None:
    assert sketch(tokens) == _reference_sketch(tokens)


@given(st.lists(st.text(min_size=1, max_size=8), max_size=40), st.text(max_size=30))
def test_fingerprint_is_of_the_tokens_of_headline_and_paragraphs(
    paragraphs: list[str], headline: str
) -> None:
    tokens = tokenize(" ".join([headline, *paragraphs]))
    try:
        expected = (sketch(tokens), text_hash(tokens), len(tokens))
    except UnicodeEncodeError:  # a lone surrogate: the parse path removes those first
        return
    found = fingerprint(headline, paragraphs)
    assert (found.sketch, found.text_hash, found.words) == expected
    assert found.text_hash == hashlib.sha256(" ".join(tokens).encode()).hexdigest()[:32]
