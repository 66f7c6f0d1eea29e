"""monitor.text.simplehtml reads simple item HTML exactly as the walk over lxml's tree does."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from monitor.text import normalize
from monitor.text.simplehtml import simple_pieces

TAGS = [
    *("p", "div", "blockquote", "li", "ul", "ol", "h2", "section"),
    *("a", "b", "strong", "i", "em", "span", "code", "br"),
    *("img", "figure", "figcaption"),
    *("table", "td", "pre", "font", "script"),  # never read here: the full path
]
TEXTS = [
    "word", "two words", " ", "  ", "\n", "\t", "&amp;", "&lt;b&gt;", "&nbsp;", "&#8220;x&#8221;",
    "&#x2019;", "&#128;", "&#0;", "&mdash", "& ", "&copy;", "caf\u00e9", "\u201cq\u201d",
    "a\u00a0b", "x\r\ny", "<!-- c -->", "a < b", "1 > 0", "\ufffe",
]  # fmt: skip
ATTRIBUTES = [
    *("", "", "", ' href="https://x.example/?a=1&amp;b=2"', " title=t", " hidden"),
    *(
        " class='share'",
        ' class="lead"',
        " class=x CLASS=y",
        ' class="a&amp;b"',
        ' CLASS="feedflare"',
    ),
    *(' class="sharedaddy x"', ' class="wp-caption"', " class"),
]


@st.composite
def fragments(draw: st.DrawFn, depth: int = 0) -> str:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        if depth < 4 and draw(st.booleans()):
            tag = draw(st.sampled_from(TAGS))
            attributes = draw(st.sampled_from(ATTRIBUTES))
            if tag == "br":
                out.append(draw(st.sampled_from(["<br>", "<br/>", "<br />", "</br>"])))
                continue
            inner = draw(fragments(depth + 1))
            close = draw(st.sampled_from([f"</{tag}>", f"</{tag}>", f"</{tag}>", ""]))
            out.append(f"<{tag}{attributes}>{inner}{close}")
        else:
            out.append(draw(st.sampled_from(TEXTS[:3] if draw(st.booleans()) else TEXTS)))
    return "".join(out)


INLINE = ["a", "b", "strong", "i", "em", "span", "code"]
SIMPLE_TEXTS = [*TEXTS[:18], "\u201cq\u201d", "a\u00a0b", "1 > 0"]


@st.composite
def phrasing(draw: st.DrawFn, depth: int = 0) -> str:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.integers(0, 3))
        if choice == 0 and depth < 3:
            tag = draw(st.sampled_from(INLINE))
            out.append(
                f"<{tag}{draw(st.sampled_from(ATTRIBUTES))}>{draw(phrasing(depth + 1))}</{tag}>"
            )
        elif choice == 1:
            out.append(draw(st.sampled_from(["<br>", "<br/>", "<img src=x>", "<img src='y' />"])))
        else:
            out.append(draw(st.sampled_from(SIMPLE_TEXTS)))
    return "".join(out)


@st.composite
def simple_blocks(draw: st.DrawFn, depth: int = 0) -> str:
    """Markup that simple_pieces mostly reads: blocks nested as it allows."""
    out = []
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.integers(0, 4))
        attributes = draw(st.sampled_from(ATTRIBUTES))
        if choice == 0 and depth < 3:
            tag = draw(st.sampled_from(["div", "blockquote", "figure", "figcaption", "section"]))
            out.append(f"<{tag}{attributes}>{draw(simple_blocks(depth + 1))}</{tag}>")
        elif choice == 1 and depth < 3:
            tag = draw(st.sampled_from(["ul", "ol"]))
            items = draw(st.lists(simple_blocks(depth + 1), max_size=3))
            space = draw(st.sampled_from(["", " ", "\n"]))
            out.append(f"<{tag}>{space}" + space.join(f"<li>{i}</li>" for i in items) + f"</{tag}>")
        elif choice == 2:
            tag = draw(st.sampled_from(["p", "p", "h2", "h3"]))
            out.append(f"<{tag}{attributes}>{draw(phrasing())}</{tag}>")
        else:
            out.append(draw(phrasing()))
        out.append(draw(st.sampled_from(["", "", "\n", " "])))
    return "".join(out)


def _paragraphs(pieces: list[str]) -> list[str]:
    return normalize._clean_blocks(normalize.BLANK_LINES.sub("\n\n", "".join(pieces)), "\n\n")


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(fragments(), simple_blocks()))
@example("<p>One <a href='/x'>link</a> &amp; more.</p>\n<ul><li>a</li> <li>b</li></ul>")
@example("lead<br> <br>next<blockquote><p>q</p></blockquote>tail")
def test_simple_markup_reads_as_lxml_reads_it(html: str) -> None:
    root = etree.fromstring(html, normalize._PARSER)
    for item, skip in ((True, normalize._item_skip), (False, normalize._title_skip)):
        simple = simple_pieces(html, item=item)
        if simple is not None:
            full = [] if root is None else normalize._lxml_pieces(root, skip, [])
            assert _paragraphs(simple) == _paragraphs(full)


def test_what_is_not_simple_takes_the_full_path() -> None:
    for html in [
        "<p>a<ul><li>x</li></ul>b</p>c",  # lxml closes the <p> early
        "a</p>b",
        "<p class='share'>x</p>",
        "<div class='feedflare'>x</div>",
        "<p>x<!-- c --></p>",
        "<p>&copy;</p>",
        "<p>x<hr> z</p>",
    ]:
        assert simple_pieces(html, item=True) is None, html
    assert simple_pieces("<p>a &amp; <b>b</b></p><p class=lead>c<br>d</p>", item=True) == [
        "\n\n", "a & ", "b", "\n\n", "\n\n", "c", "\n", "d", "\n\n",
    ]  # fmt: skip
