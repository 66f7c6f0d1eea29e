"""monitor.text.charscan finds exactly what the regex search it stands for finds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.text.charscan import beyond_ascii, char_set, has_any

CONTROL = char_set(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ud800-\udfff\ufffd]")
WORD_BEYOND_ASCII = char_set(r"[^\W\x00-\x7f]")
texts = st.text(
    alphabet=st.one_of(
        st.characters(max_codepoint=0x7F),
        st.sampled_from("\u00a0\u00ad\u0301\u200b\u2019\u201c\ufeff\ufffd\ud800\udfff\U0001f600"),
        st.characters(),
    ),
    max_size=80,
)


@given(texts)
def test_has_any_is_a_regex_search(text: str) -> None:
    for chars in (CONTROL, WORD_BEYOND_ASCII):
        assert has_any(chars, text) == (chars.regex.search(text) is not None)


@given(texts)
def test_beyond_ascii_keeps_the_other_characters_in_order(text: str) -> None:
    assert beyond_ascii(text) == "".join(c for c in text if not c.isascii())
