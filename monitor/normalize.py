"""Turning item HTML and raw page text into the story format (DESIGN.md section 3).

Pure functions: no I/O, no clock. A story is a headline and body paragraphs,
each paragraph one line of plain text.

Chrome (app banners, "Watch CBS News", timestamps) is recognised by shape, not by
a list of phrases: a story's body runs from its first to its last *prose*
paragraph (a sentence of several words ending in terminal punctuation), its
headline is the nearest *title-like* line before the body, and short non-prose
lines outside that span are page furniture.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, Tag
from lxml import etree

# Elements whose content is never story text.
_DROP = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "object", "embed", "svg",
        "canvas", "nav", "footer", "aside", "form", "button", "select", "input",
        "textarea", "figure", "figcaption", "img", "picture", "video", "audio", "source",
        "map", "dialog", "menu", "head", "title", "meta", "link",
    }
)  # fmt: skip
# Elements that start and end a paragraph.
_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "h1", "h2", "h3", "h4", "h5",
        "h6", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "table", "tr", "td",
        "th", "thead", "tbody", "caption", "hr", "address", "center", "body", "html",
    }
)  # fmt: skip
# class/id words that mark page furniture inside item HTML.
_CHROME_WORDS = frozenset(
    {
        "share", "sharing", "social", "related", "newsletter", "subscribe", "cookie",
        "cookies", "consent", "promo", "advert", "advertisement", "ad", "ads", "banner",
        "popup", "modal", "breadcrumb", "breadcrumbs", "caption", "comments", "sidebar",
        "toolbar", "outbrain", "taboola", "paywall", "signup", "app",
    }
)  # fmt: skip
_WORD_SPLIT = re.compile(r"[-_\s]+")
_INVISIBLE = re.compile(
    r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200d\u2060\ufeff\ufffd]"
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")  # a paragraph break, however spaced

_WORD = re.compile(r"\w+")
_DATELINE = re.compile(
    r"(?i)\b(updated|published|posted|last modified)\b|"
    r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b|"
    r"^\W*\d{1,2}:\d{2}\s*(am|pm)?\b"
)
# A sentence end glued to trailing furniture: "an export power.Watch CBS News".
_GLUED_TAIL = re.compile(r"(?<=[a-z0-9][.!?])([A-Z][^.!?]{0,60})$")

MAX_TITLE_WORDS = 30
MIN_PROSE_WORDS = 3  # "He declined to comment." is prose; "Read more." is not


def clean_text(text: str) -> str:
    """One line of plain text: NFC, no control or zero-width characters, single spaces."""
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    # Line breaks and runs of white space become one blank. With the control characters
    # gone, str.split's white space (str.isspace) is exactly the set of line breaks and
    # spaces meant: \t-\r, U+0085, U+2028/9 and the Unicode spaces.
    return " ".join(text.split())


def _clean_blocks(text: str, separator: str) -> list[str]:
    """``[clean_text(b) for b in text.split(separator)]`` without the empty ones.

    When the whole text is NFC and has no invisible characters, so has each block (it is
    cut at line breaks, which never combine with their neighbours): only the white space
    is left to do, block by block.
    """
    blocks = text.split(separator)
    if unicodedata.is_normalized("NFC", text) and _INVISIBLE.search(text) is None:
        return [p for p in (" ".join(block.split()) for block in blocks) if p]
    return [p for p in map(clean_text, blocks) if p]


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def _ends_like_a_sentence(paragraph: str) -> bool:
    """Ends in . ! ? \u2026 or \u3002, then only closing quotes or brackets (and, as a
    regex ``$`` allows, one final line break); checked from the end, without a scan."""
    if paragraph.endswith("\n"):
        paragraph = paragraph[:-1]
    core = paragraph.rstrip("\"'\u2019\u201d)]")
    return bool(core) and core[-1] in ".!?\u2026\u3002"


def is_prose(paragraph: str) -> bool:
    """A sentence or more: ends like a sentence and has a few words, or is long."""
    words = word_count(paragraph)
    return words >= 40 or (words >= MIN_PROSE_WORDS and _ends_like_a_sentence(paragraph))


def is_dateline(paragraph: str) -> bool:
    return word_count(paragraph) <= 12 and bool(_DATELINE.search(paragraph))


def is_title_like(paragraph: str) -> bool:
    words = word_count(paragraph)
    return (
        0 < words <= MAX_TITLE_WORDS
        and len(paragraph) <= 300
        and (paragraph[0].isalnum() or paragraph[0] in "\"'\u2018\u201c")
        and not is_dateline(paragraph)
    )


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of a plain text: blank lines separate them; hard wraps are joined."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p for p in map(clean_text, _BLANK_LINE.split(text)) if p]


def _cut_glued_tail(paragraph: str) -> str:
    # A match starts at most 61 characters (and a final line break) before the end, and
    # the look-behind still sees what comes before the starting position.
    m = _GLUED_TAIL.search(paragraph, max(0, len(paragraph) - 64))
    if m and 2 <= word_count(m.group(1)) <= 6:
        return paragraph[: m.start()]
    return paragraph


def body_span(paragraphs: list[str]) -> tuple[int, int] | None:
    """Indexes of the first and last prose paragraph, or None when there is no prose."""
    first = next((i for i, p in enumerate(paragraphs) if is_prose(_cut_glued_tail(p))), None)
    if first is None:
        return None
    last = next(
        i
        for i in range(len(paragraphs) - 1, first - 1, -1)
        if i == first or is_prose(_cut_glued_tail(paragraphs[i]))
    )
    return first, last


def trim_chrome(paragraphs: list[str]) -> list[str]:
    """Body paragraphs without the furniture before the first and after the last prose."""
    span = body_span(paragraphs)
    if span is None:
        return paragraphs
    first, last = span
    body = paragraphs[first : last + 1]
    body[-1] = _cut_glued_tail(body[-1])
    return body


def read_story(text: str) -> tuple[str, list[str]]:
    """Headline and body paragraphs of a story-format text, or of page text with chrome."""
    paragraphs = split_paragraphs(text)
    if not paragraphs:
        return "", []
    span = body_span(paragraphs)
    if span is None or span[0] == 0:
        # Story format proper: the first paragraph is the headline, whatever its shape.
        return paragraphs[0], trim_chrome(paragraphs[1:])
    first, _ = span
    headline_at = next((i for i in range(first - 1, -1, -1) if is_title_like(paragraphs[i])), None)
    if headline_at is None:
        return paragraphs[0], trim_chrome(paragraphs[1:])
    return paragraphs[headline_at], trim_chrome(paragraphs[headline_at + 1 :])


def format_story(headline: str, paragraphs: Iterable[str]) -> str:
    """The story format: headline, then body paragraphs, one blank line between."""
    return "\n\n".join([headline, *paragraphs]) + "\n"


def _is_chrome(attrs: Mapping[str, Any] | etree._Attrib) -> bool:
    """Hidden elements and those whose class, id or role names page furniture."""
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    if attrs.get("role") in ("navigation", "banner", "complementary", "dialog", "alert"):
        return True
    names = [attrs.get("class"), attrs.get("id")]
    text = " ".join(" ".join(n) if isinstance(n, list) else n for n in names if n)
    return bool(text) and not _CHROME_WORDS.isdisjoint(_WORD_SPLIT.split(text.lower()))


def _lxml_pieces(root: etree._Element) -> list[str]:
    """Text pieces in document order, "\n\n" at paragraph edges and "\n" for <br>.

    Walked with lxml's iterwalk (no recursion, so deeply nested markup cannot exhaust the
    recursion limit); furniture, comments and the like are skipped whole, only their tail
    counts.
    """
    out: list[str] = []
    append = out.append
    walker = etree.iterwalk(root, events=("start", "end"))
    skipped = False  # the last start event skipped its element: its end event comes next
    for event, node in walker:
        if event == "start":
            tag = node.tag
            if (
                not isinstance(tag, str)
                or tag in _DROP
                or (node.attrib and _is_chrome(node.attrib))
            ):
                walker.skip_subtree()
                skipped = True
            elif tag == "br":
                append("\n")
                walker.skip_subtree()
                skipped = True
            else:
                if tag in _BLOCK:
                    append("\n\n")
                if node.text:
                    append(node.text)
            continue
        if skipped:
            skipped = False
        elif node.tag in _BLOCK:
            append("\n\n")
        if node.tail and node is not root:
            append(node.tail)
    return out


def _soup_pieces(soup: BeautifulSoup) -> list[str]:
    """The same as _lxml_pieces over a BeautifulSoup tree (for input lxml refuses)."""
    out: list[str] = []
    stack: list[PageElement | str] = [soup]
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            if node.name in _DROP or _is_chrome(node.attrs):
                continue
            if node.name == "br":
                out.append("\n")
                continue
            if node.name in _BLOCK:
                out.append("\n\n")
                stack.append(_EDGE)
            stack.extend(reversed(node.contents))
        elif node is _EDGE:
            out.append("\n\n")
        elif type(node) is NavigableString:  # not comments, CDATA or doctypes
            out.append(str(node))
    return out


_EDGE = "\n\n"
# Plain lxml elements (no lxml.html class lookup) and no comments: this is the hot path.
_PARSER = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True)


def html_to_paragraphs(html: str) -> list[str]:
    """Paragraphs of text in an HTML fragment or page, without markup or furniture.

    lxml builds the tree: it is some forty times faster than BeautifulSoup on item
    HTML, which matters on a cold poll of thousands of items. BeautifulSoup takes
    over for the rare input lxml refuses.
    """
    if "<" not in html:
        return split_paragraphs(_unescape_plain(html))
    try:
        root = etree.fromstring(html, _PARSER)
        if root is None:
            return []
        pieces = _lxml_pieces(root)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        pieces = _soup_pieces(BeautifulSoup(html, "html.parser"))
    text = "".join(pieces)
    # One <br> is a line break inside a paragraph; two or more end the paragraph.
    return _clean_blocks(BLANK_LINES.sub("\n\n", text), "\n\n")


def _unescape_plain(text: str) -> str:
    if "&" not in text:
        return text
    import html as html_lib

    return html_lib.unescape(text)


def html_to_text(html: str) -> str:
    """A single line of plain text from an HTML snippet (for titles)."""
    return clean_text(" ".join(html_to_paragraphs(html)))


def story_paragraphs(html: str, headline: str) -> list[str]:
    """Body paragraphs of a feed item: its HTML, furniture trimmed, a repeated headline dropped."""
    paragraphs = html_to_paragraphs(html)
    if paragraphs and paragraphs[0].casefold() == headline.casefold():
        paragraphs = paragraphs[1:]
    return trim_chrome(paragraphs)
