from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.text.normalize import (
    clean_text,
    format_story,
    html_to_text,
    item_paragraphs,
    item_text,
    read_story,
    split_paragraphs,
    word_count,
)
from monitor.text.tokens import tokenize

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def test_story_format_reads_back_exactly_whatever_the_shape() -> None:
    # Short figure lines, no full stops, a headline that looks like a dateline: story
    # format is read as written, the first paragraph being the headline.
    headline = "Record March 31"
    body = ["Qtly div 41-1/2 cts vs 41-1/2 cts prior", "Pay April 25", "Read more"]
    assert read_story(format_story(headline, body)) == (headline, body)
    question = "Will the two governments really resume their dialogue on human rights?"
    assert read_story(format_story(question, ["One line."])) == (question, ["One line."])


def test_hard_wrapped_paragraphs_are_joined() -> None:
    assert split_paragraphs("one\ntwo\n\n\n  three  \r\n four\n") == ["one two", "three four"]


def test_item_html_keeps_every_word_as_paragraphs() -> None:
    html = """
    <div class="article">
      <nav>Home | World</nav>
      <h2>Talks resume</h2>
      <p>Officials <b>met</b> on&nbsp;Tuesday.<br>They agreed.<br><br>Second paragraph.</p>
      <figure class="slide"><img src="x.jpg"><figcaption>A caption</figcaption></figure>
      <script>alert(1)</script><style>p {}</style><template><p>never shown</p></template>
      <ul><li>First point</li><li>Second point</li></ul>
      <p hidden>Hidden text</p><span style="display:none">shown by readers</span>
      <aside>Related stories</aside>
      <blockquote>A quote</blockquote><pre>line one
line two

after a blank</pre>
      <dl><dt>Term</dt><dd>Its definition</dd></dl>
      <table><caption>Results</caption><tr><th>Qtly div</th><td>41-1/2 cts</td></tr></table>
      <p>Ends here &amp; now</p><!-- a comment -->
    </div>"""
    assert item_paragraphs(html) == [
        "Home | World",
        "Talks resume",
        "Officials met on Tuesday. They agreed.",
        "Second paragraph.",
        "A caption",
        "First point",
        "Second point",
        "Hidden text",
        "shown by readers",
        "Related stories",
        "A quote",
        "line one line two",
        "after a blank",
        "Term",
        "Its definition",
        "Results",
        "Qtly div | 41-1/2 cts",
        "Ends here & now",
    ]


def test_slideshow_figures_keep_their_text() -> None:
    # The shape of a Macworld item that used to be archived with an empty body.
    html = (
        '<article class="slideshow"><figure class="slide"><img src="a.jpg">'
        "<figcaption>The new iMac comes in seven colours</figcaption></figure>"
        '<figure class="slide"><figcaption>Its stand tilts but does not swivel'
        "</figcaption></figure></article>"
    )
    assert item_paragraphs(html) == [
        "The new iMac comes in seven colours",
        "Its stand tilts but does not swivel",
    ]


def test_short_figures_and_a_last_line_without_full_stop_are_content() -> None:
    html = (
        "<p>Qtly div 41-1/2 cts vs 41-1/2 cts prior</p><p>Pay April 25</p>"
        "<p>Record March 31</p><p>The company said it expects growth to continue</p>"
        "<p>Read more</p>"
    )
    assert item_paragraphs(html) == [
        "Qtly div 41-1/2 cts vs 41-1/2 cts prior",
        "Pay April 25",
        "Record March 31",
        "The company said it expects growth to continue",
        "Read more",
    ]


def test_wordpress_footer_is_named_furniture() -> None:
    # Yoast SEO's footer, as Microsoft's developer blogs carry it.
    title = "Updates on deprecating legacy Exchange Online tokens for Outlook add-ins"
    html = (
        "<p>Exchange Online legacy tokens are being turned off.</p>"
        f'<p>The post <a href="https://devblogs.microsoft.com/microsoft365dev/updates/">{title}'
        '</a> appeared first on <a href="https://devblogs.microsoft.com/microsoft365dev">'
        "Microsoft 365 Developer Blog</a>.</p>"
    )
    text = item_text(html, title)
    assert text.paragraphs == ("Exchange Online legacy tokens are being turned off.",)
    assert [rule for rule, _ in text.removed] == ["wordpress-footer"]
    # The same at the end of an excerpt, as SecurityWeek's feed has it.
    excerpt = (
        "The flaws were chained to hijack sessions. The post Zammad Zero-Days Exploited in "
        "AI-Powered DIVD Hack appeared first on SecurityWeek ."
    )
    assert item_paragraphs(excerpt, "Zammad Zero-Days Exploited in AI-Powered DIVD Hack") == [
        "The flaws were chained to hijack sessions."
    ]
    # Never a story's own sentence: the footer names the item's title and a short site name.
    for own in (
        "<p>Officials met.</p><p>The post office in Lhasa, where the petition appeared first "
        "on a notice board, was closed by police.</p>",
        "<p>Officials met. The post of envoy appeared first on a list of the ministry.</p>",
    ):
        assert item_text(own, "Petition posted in Lhasa").removed == ()
    assert item_text(html).removed == ()  # no title known: nothing to tell it by


def test_tables_deep_nesting_and_broken_characters_keep_their_words() -> None:
    table = (
        "<table><tr><td>Qtly div</td><script>x()</script><td>41-1/2 cts</td><td></td>"
        "<td>prior</td></tr><tr><td><p>One</p></td><td><p>Two</p></td></tr></table>"
    )
    assert item_paragraphs(table) == ["Qtly div | 41-1/2 cts | prior", "One", "Two"]
    assert item_paragraphs("<div>" * 300 + "deep" + "</div>" * 300 + "after") == [
        "deep",
        "after",
    ]
    assert html_to_text("<span>" * 300 + "Headline" + "</span>" * 300) == "Headline"
    assert item_paragraphs("<p>before</p></html><p>after the end</p>") == [
        "before",
        "after the end",
    ]
    # A lone surrogate (a JSON escape cut in half) and U+FFFD (a decoder's give-up, often a
    # dash) separate words; they never cut the text short.
    assert item_paragraphs("<p>a\ud83d b c</p>") == ["a b c"]
    assert item_paragraphs("talks\ufffdthe first since 1999\ufffdresume") == [
        "talks the first since 1999 resume"
    ]


def test_feedburner_flare_is_named_furniture() -> None:
    raw = (FEEDS / "feedjira" / "PaulDixExplainsNothing.xml").read_text(encoding="utf-8")
    assert 'class="feedflare"' in raw.replace("&lt;", "<").replace("&quot;", '"')
    html = (
        '<p>For now, I\'ll move on.</p><div class="feedflare">'
        '<a href="http://feeds.feedburner.com/~f/PaulDixExplainsNothing?a=9Q8qfQ.P">Digg This'
        '</a> <a href="http://feeds.feedburner.com/~f/PaulDixExplainsNothing?a=rLK96Z.p">'
        '<img src="http://feeds.feedburner.com/~f/PaulDixExplainsNothing?i=rLK96Z.p"></a></div>'
        '<img height="1" src="http://feeds.feedburner.com/~r/PaulDixExplainsNothing/~4/5199" '
        'width="1" />'
    )
    text = item_text(html)
    assert text.paragraphs == ("For now, I'll move on.",)
    assert text.removed == (("feedburner-flare", "Digg This"),)


def test_share_links_are_named_furniture() -> None:
    # Jetpack's block, as wptavern.com's pages carry it.
    html = (
        "<p>Stack Overflow Jobs data shows ReactJS skills in high demand.</p>"
        '<div class="sharedaddy sd-sharing-enabled"><div class="sd-block sd-social">'
        '<h3 class="sd-title">Share this:</h3><ul><li class="share-email">'
        '<a class="share-email sd-button" href="?share=email"><span class="sharing-screen-reader'
        '-text">Click to email this to a friend (Opens in new window)</span></a></li>'
        '<li class="share-facebook"><a href="?share=facebook"><span class="share-count">61'
        "</span><span>Click to share on Facebook (Opens in new window)</span></a></li>"
        "</ul></div></div>"
    )
    text = item_text(html)
    assert text.paragraphs == ("Stack Overflow Jobs data shows ReactJS skills in high demand.",)
    assert [rule for rule, _ in text.removed] == ["share-links"]
    # A plain "share" class on a long block, or a class that only contains the word, is content.
    long_block = '<div class="share">' + "word " * 40 + "</div>"
    assert item_paragraphs(long_block) == [("word " * 40).strip()]
    price = '<p class="share-price">Shares rose 5% to 41 cents.</p>'
    assert item_paragraphs(price) == ["Shares rose 5% to 41 cents."]


def test_titles_keep_every_word() -> None:
    assert html_to_text("safe<embed src='x'> <b>description</b>") == "safe description"
    assert html_to_text("<span class='share'>Share</span> this") == "Share this"


def test_plain_text_and_entities() -> None:
    assert item_paragraphs("Tom &amp; Jerry") == ["Tom & Jerry"]
    assert item_paragraphs("") == []


@pytest.mark.parametrize(
    "raw",
    ["a\x00b", "a\u200bb", "a\ufeffb", "a\u2028b", "a\u0085b", "a\r\nb", "a\tb"],
)
def test_clean_text_removes_control_characters(raw: str) -> None:
    cleaned = clean_text(raw)
    assert cleaned in ("ab", "a b")


@pytest.mark.filterwarnings("ignore::bs4.XMLParsedAsHTMLWarning")
def test_item_html_that_lxml_refuses_is_read_by_beautifulsoup() -> None:
    # lxml takes no str that declares an encoding; BeautifulSoup (imported only then) reads it.
    html = '<?xml version="1.0" encoding="UTF-8"?><p>Harbour <b>closed</b></p><p>Ships wait</p>'
    assert item_paragraphs(html) == ["Harbour closed", "Ships wait"]


def test_deeply_nested_markup_does_not_crash() -> None:
    item_paragraphs("<div>" * 50_000 + "deep" + "</div>" * 50_000)


words = st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=40)


@given(st.text(max_size=400))
def test_normalized_paragraphs_are_single_clean_lines(html: str) -> None:
    for paragraph in item_paragraphs(html):
        assert paragraph == paragraph.strip()
        assert paragraph
        assert "\n" not in paragraph and "\r" not in paragraph
        assert "  " not in paragraph
        assert clean_text(paragraph) == paragraph


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=6))
def test_every_word_of_item_text_is_kept(texts: list[str]) -> None:
    html = "".join(f"<p>{t.replace('<', ' ').replace('&', ' ')}</p>" for t in texts)
    cleaned = [clean_text(t) for t in texts]
    assert tokenize(" ".join(item_paragraphs(html))) == tokenize(" ".join(cleaned))


@given(st.text(max_size=60), st.lists(st.text(max_size=80), max_size=5))
def test_story_format_round_trips(headline: str, body: list[str]) -> None:
    headline = clean_text(headline) or "Headline"
    paragraphs = [p for p in map(clean_text, body) if p]
    assert read_story(format_story(headline, paragraphs)) == (headline, paragraphs)


@given(
    st.text(
        alphabet=st.one_of(
            st.characters(max_codepoint=0x7F),
            st.sampled_from(
                "\u2019\u201c\u201d\u2014\u2026\u00a0\u0301\u00e9\u0663\u00b2\ud800\u4e2d_"
            ),
            st.characters(),
        ),
        max_size=60,
    )
)
def test_word_count_counts_runs_of_word_characters(text: str) -> None:
    assert word_count(text) == len(re.findall(r"\w+", text))


@given(
    st.lists(
        st.sampled_from(
            [
                *("a", "b", " ", "  ", "\n", "\n\n", "\t", "\u00a0", "\u3000", "\u00e9"),
                *("e\u0301", "\u200b", "\x07", "\u2028", "\x85"),
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_blocks_are_cleaned_as_clean_text_cleans_them(text: str) -> None:
    from monitor.text.normalize import _clean_blocks

    assert _clean_blocks(text, "\n\n") == [p for p in map(clean_text, text.split("\n\n")) if p]
