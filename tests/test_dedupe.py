from pathlib import Path

from monitor.text.fingerprint import is_near_duplicate, similarity, sketch
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
