from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.normalize import (
    clean_text,
    format_story,
    html_to_paragraphs,
    read_story,
    split_paragraphs,
    story_paragraphs,
)

SEEDS = Path(__file__).parent / "fixtures" / "seeds"


def seed(prefix: str) -> str:
    return next(SEEDS.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8")


def test_seed_1994_headline_and_body_without_chrome() -> None:
    headline, body = read_story(seed("000"))
    assert headline == "China Ready to Resume Talks on Human Rights"
    assert body[0].startswith("BEIJING -- In a surprise announcement")
    assert body[-1].endswith("given its strength as an export power.")
    text = "\n".join(body)
    for chrome in ("Get the latest updates", "Last Updated", "Watch CBS News"):
        assert chrome not in text
    assert len(body) == 11


def test_seed_2002_headline_and_body_without_chrome() -> None:
    headline, body = read_story(seed("003"))
    assert headline == "U.S., China To Resume Rights Talks"
    assert body[0].startswith("Washington and Beijing plan to resume discussions")
    assert body[-1].endswith("would visit China next week.")
    text = "\n".join(body)
    for chrome in ("View CBS News In", "CBS News App Open", "Chrome Safari Continue"):
        assert chrome not in text


def test_the_chrome_rule_is_general() -> None:
    page = (
        "Sign up for our newsletter today\n\n"
        "Posted 3:45 pm\n\n"
        "Storm Closes Harbour for Second Day\n\n"
        "High winds kept the harbour closed on Friday, the port authority said in a statement.\n\n"
        "Ferries will resume when the wind drops below gale force, officials said."
        "Download Our App\n\n"
        "Privacy Terms Contact\n\n"
        "Follow us"
    )
    headline, body = read_story(page)
    assert headline == "Storm Closes Harbour for Second Day"
    assert body == [
        "High winds kept the harbour closed on Friday, the port authority said in a statement.",
        "Ferries will resume when the wind drops below gale force, officials said.",
    ]


def test_story_format_with_question_headline() -> None:
    text = format_story(
        "Will the two governments really resume their dialogue on human rights this year?",
        ["Officials on both sides said a date would be set within weeks of the meeting."],
    )
    headline, body = read_story(text)
    assert headline.startswith("Will the two governments")
    assert len(body) == 1


def test_hard_wrapped_paragraphs_are_joined() -> None:
    assert split_paragraphs("one\ntwo\n\n\n  three  \r\n four\n") == ["one two", "three four"]


def test_html_paragraphs_without_markup_or_furniture() -> None:
    html = """
    <div class="article">
      <nav>Home | World</nav>
      <div class="share-bar"><a href="#">Share</a></div>
      <h2>Talks resume</h2>
      <p>Officials <b>met</b> on&nbsp;Tuesday.<br>They agreed.<br><br>Second paragraph.</p>
      <figure><img src="x.jpg"><figcaption>A caption</figcaption></figure>
      <script>alert(1)</script><style>p {}</style>
      <ul><li>First point</li><li>Second point</li></ul>
      <p hidden>Hidden text</p>
      <aside>Related stories</aside>
      <p>Ends here &amp; now.</p><!-- a comment -->
    </div>"""
    assert html_to_paragraphs(html) == [
        "Talks resume",
        "Officials met on Tuesday. They agreed.",
        "Second paragraph.",
        "First point",
        "Second point",
        "Ends here & now.",
    ]


def test_repeated_headline_and_trailing_furniture_are_dropped() -> None:
    html = (
        "<p>Storm closes harbour</p>"
        "<p>High winds kept the harbour closed on Friday, officials said.</p>"
        "<p>Read more</p>"
    )
    assert story_paragraphs(html, "Storm closes harbour") == [
        "High winds kept the harbour closed on Friday, officials said."
    ]


def test_plain_text_and_entities() -> None:
    assert html_to_paragraphs("Tom &amp; Jerry") == ["Tom & Jerry"]
    assert html_to_paragraphs("") == []


@pytest.mark.parametrize(
    "raw",
    ["a\x00b", "a\u200bb", "a\ufeffb", "a\u2028b", "a\u0085b", "a\r\nb", "a\tb"],
)
def test_clean_text_removes_control_characters(raw: str) -> None:
    cleaned = clean_text(raw)
    assert cleaned in ("ab", "a b")


def test_deeply_nested_markup_does_not_crash() -> None:
    html_to_paragraphs("<div>" * 50_000 + "deep" + "</div>" * 50_000)


words = st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=40)


@given(st.text(max_size=400))
def test_normalized_paragraphs_are_single_clean_lines(html: str) -> None:
    for paragraph in html_to_paragraphs(html):
        assert paragraph == paragraph.strip()
        assert paragraph
        assert "\n" not in paragraph and "\r" not in paragraph
        assert "  " not in paragraph
        assert clean_text(paragraph) == paragraph


prose = st.lists(
    st.sampled_from(["officials", "said", "the", "talks", "would", "resume", "Beijing", "trade"]),
    min_size=6,
    max_size=20,
).map(lambda ws: " ".join(ws).capitalize() + ".")


@given(
    st.lists(
        st.sampled_from(["China", "Talks", "Resume", "Rights", "U.S."]), min_size=1, max_size=8
    ),
    st.lists(prose, min_size=1, max_size=6),
)
def test_story_format_round_trips(headline_words: list[str], body: list[str]) -> None:
    headline = " ".join(headline_words)
    assert read_story(format_story(headline, body)) == (headline, body)


def test_short_closing_sentence_is_kept() -> None:
    html = (
        "<p>The ministry said the talks would resume next month in the capital.</p>"
        "<p>He declined to comment.</p><p>Read more</p>"
    )
    assert story_paragraphs(html, "Talks")[-1] == "He declined to comment."
