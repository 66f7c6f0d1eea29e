"""Turning feed item HTML into the story format (DESIGN.md section 3), and reading it back.

Pure functions: no I/O, no clock. A story is a headline and body paragraphs, each
paragraph one line of plain text.

A feed item keeps every word of its title and content: lists, tables, captions, quotes,
code and definition lists become paragraphs like any other block. Only what is never text
goes (scripts, styles, templates) and the named furniture of ``monitor.text.furniture``. Hidden
elements stay: feed readers strip the styles that hide them and show their text, so it is
part of what the feed says (a podcast's Flattr buttons name the episode and its guests).
Page text (a scraped page, with its chrome recognised by shape) is ``monitor.text.pagetext``'s
business, never a feed item's.
"""

from __future__ import annotations

import html as html_lib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from lxml import etree

from monitor.text import furniture
from monitor.text.charscan import beyond_ascii, char_set, has_any
from monitor.text.simplehtml import simple_pieces

if TYPE_CHECKING:
    from bs4 import BeautifulSoup
    from bs4.element import PageElement

# Elements whose content is never text that a reader sees.
NOT_TEXT = frozenset({"script", "style", "template"})
# Elements that start and end a paragraph.
_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "h1",
        "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre",
        "table", "tr", "caption", "thead", "tbody", "tfoot", "hr", "address", "center",
        "figure", "figcaption", "details", "summary", "fieldset", "legend", "form", "body",
        "html", "head", "title", "iframe", "object", "video", "audio", "noscript", "dialog",
        "menu", "option", "textarea",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
CELL_SEPARATOR = " | "  # between the cells of a table row, which is one paragraph
# Marks the start of a cell in the walk; cells are joined once their text is known, so that
# empty cells and cells of whole paragraphs add no separator. (Control characters of the
# input are blanked before the walk, so this one is always ours.)
_CELL = "\x1f"
_HIDDEN_STYLE = re.compile(r"(?i)display\s*:\s*none|visibility\s*:\s*hidden")
# Control characters separate what is around them, as a tokenizer sees it, and so do broken
# ones (a lone surrogate from a JSON escape cut in half, U+FFFD where a decoder gave up: often
# a dash); the invisible ones that a browser shows as nothing (zero-width spaces and joiners,
# the byte order mark, the soft hyphen inside "inter&shy;national") join it.
_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ud800-\udfff\ufffd]")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]")
# libxml2 stops reading at the end of the document: what follows </html> would be lost.
_DOCUMENT_END = re.compile(r"(?i)</(?:html|body)\s*>")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")  # a paragraph break, however spaced
_WORD = re.compile(r"\w+")
# A word character beyond ASCII: text without one has only ASCII words.
_WORD_BEYOND_ASCII = re.compile(r"[^\W\x00-\x7f]")
# For bytes.translate: ASCII word characters stay, every other byte becomes a blank.
_ASCII_NOT_WORD = bytes(c if chr(c).isalnum() or c == 95 else 32 for c in range(128)) + b" " * 128
_CONTROL_CHARS = char_set(_CONTROL.pattern)
_SPACE_BUT_BLANK = char_set(r"[^\S ]")  # str.split's white space (str.isspace) but " "
_CONTROL_OR_INVISIBLE = char_set(f"{_CONTROL.pattern}|{_INVISIBLE.pattern}")

# Why an element is left out (its text then reported as removed under that name): "script",
# "style", "template" or a furniture rule; "" for comments and the like.
Skip = Callable[[str, Mapping[str, Any], Callable[[], str]], str | None]


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemText:
    """A feed item's paragraphs, and what was taken out of it: (rule, text)."""

    paragraphs: tuple[str, ...]
    removed: tuple[tuple[str, str], ...] = ()


def clean_text(text: str) -> str:
    """One line of plain text: NFC, no control or invisible characters, single spaces."""
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", _CONTROL.sub(" ", text))
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
    if unicodedata.is_normalized("NFC", text) and not has_any(_CONTROL_OR_INVISIBLE, text):
        if not has_any(_SPACE_BUT_BLANK, text.replace(separator, " ")):
            # Only blanks inside the blocks: a block without two in a row needs only a strip.
            return [
                p
                for p in (b.strip(" ") if "  " not in b else " ".join(b.split()) for b in blocks)
                if p
            ]
        return [p for p in (" ".join(block.split()) for block in blocks) if p]
    return [p for p in map(clean_text, blocks) if p]


def word_count(text: str) -> int:
    """The number of runs of word characters (``\\w+``) in ``text``."""
    if text.isascii() or _WORD_BEYOND_ASCII.search(beyond_ascii(text)) is None:
        # Only ASCII words: bytes methods count them in C ("?" replaces the rest, not a word).
        return len(text.encode("ascii", "replace").translate(_ASCII_NOT_WORD).split())
    return len(_WORD.findall(text))


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of a plain text: blank lines separate them; hard wraps are joined."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p for p in map(clean_text, _BLANK_LINE.split(text)) if p]


def is_hidden(attrs: Mapping[str, Any]) -> bool:
    """Hidden from every reader: the ``hidden`` attribute or an inline display:none."""
    if "hidden" in attrs:
        return True
    style = attrs.get("style")
    return bool(style) and _HIDDEN_STYLE.search(str(style)) is not None


def _item_skip(tag: str, attrs: Mapping[str, Any], text: Callable[[], str]) -> str | None:
    if tag in NOT_TEXT:
        return tag
    if not attrs:
        return None
    return furniture.element_rule(attrs, lambda: word_count(text()))


def _title_skip(tag: str, attrs: Mapping[str, Any], text: Callable[[], str]) -> str | None:
    return "" if tag in NOT_TEXT else None


def _lxml_pieces(root: etree._Element, skip: Skip, removed: list[tuple[str, str]]) -> list[str]:
    """Text pieces in document order, "\n\n" at paragraph edges and "\n" for <br>.

    Walked with lxml's iterwalk (no recursion, so deeply nested markup cannot exhaust the
    recursion limit); skipped elements, comments and the like are left out whole, only
    their tail counts.
    """
    out: list[str] = []
    append = out.append
    walker = etree.iterwalk(root, events=("start", "end"))
    skipped = False  # the last start event skipped its element: its end event comes next
    for event, node in walker:
        if event == "start":
            tag = node.tag
            if not isinstance(tag, str):
                why: str | None = ""
            else:
                why = skip(tag, node.attrib, partial(_text_of, node))
            if why is not None:
                if why:
                    removed.append((why, clean_text(" ".join(node.itertext()))))
                walker.skip_subtree()
                skipped = True
            elif tag == "br":
                append("\n")
                walker.skip_subtree()
                skipped = True
            else:
                if tag in _BLOCK:
                    append("\n\n")
                elif tag in _CELLS:
                    append(_CELL)
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


def _text_of(node: etree._Element) -> str:
    return "".join(t for t in node.itertext() if isinstance(t, str))


def _soup_pieces(soup: BeautifulSoup, skip: Skip, removed: list[tuple[str, str]]) -> list[str]:
    """The same as _lxml_pieces over a BeautifulSoup tree (for input lxml refuses)."""
    from bs4.element import NavigableString, Tag

    out: list[str] = []
    stack: list[PageElement | str] = [soup]
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            why = skip(node.name, node.attrs, node.get_text)
            if why is not None:
                if why:
                    removed.append((why, clean_text(node.get_text(" "))))
                continue
            if node.name == "br":
                out.append("\n")
                continue
            if node.name in _BLOCK:
                out.append("\n\n")
                stack.append(_EDGE)
            elif node.name in _CELLS:
                out.append(_CELL)
            stack.extend(reversed(node.contents))
        elif node is _EDGE:
            out.append("\n\n")
        elif type(node) is NavigableString:  # not comments, CDATA or doctypes
            out.append(str(node))
    return out


_EDGE = "\n\n"
# Plain lxml elements (no lxml.html class lookup) and no comments: this is the hot path.
# huge_tree: without it libxml2 silently stops at 256 levels of nesting.
# monitor.text.simplehtml reads markup as libxml2 2.14's HTML parser does (older ones differ).
_SIMPLE_HTML = etree.LIBXML_VERSION >= (2, 14)
_PARSER = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, huge_tree=True)


def html_paragraphs(
    html: str, skip: Skip, removed: list[tuple[str, str]] | None = None
) -> list[str]:
    """Paragraphs of text in an HTML fragment or page, without the elements ``skip`` names.

    lxml builds the tree: it is some forty times faster than BeautifulSoup on item
    HTML, which matters on a cold poll of thousands of items. BeautifulSoup takes
    over for the rare input lxml refuses. What a furniture rule removes is added to
    ``removed`` as (rule, text).
    """
    if "<" not in html:
        return split_paragraphs(html_lib.unescape(html) if "&" in html else html)
    sink: list[tuple[str, str]] = [] if removed is None else removed
    if has_any(_CONTROL_CHARS, html):  # the parsers would drop them, joining their neighbours
        html = _CONTROL.sub(" ", html)
    if "</" in html and _DOCUMENT_END.search(html):
        html = _DOCUMENT_END.sub("", html)
    # Simple markup is read without a tree; it has nothing that these skips would skip.
    simple = (
        simple_pieces(html, item=skip is _item_skip)
        if _SIMPLE_HTML and (skip is _item_skip or skip is _title_skip)
        else None
    )
    if simple is not None:
        pieces = simple
    else:
        try:
            root = etree.fromstring(html, _PARSER)
            if root is None:
                return []
            pieces = _lxml_pieces(root, skip, sink)
        except (etree.ParserError, etree.XMLSyntaxError, ValueError):
            # BeautifulSoup is imported here, for the rare input lxml refuses: importing it is
            # a third of what a parse worker's process imports before it can start.
            from bs4 import BeautifulSoup

            del sink[:]
            pieces = _soup_pieces(BeautifulSoup(html, "html.parser"), skip, sink)
    # One <br> is a line break inside a paragraph; two or more end the paragraph.
    text = BLANK_LINES.sub("\n\n", "".join(pieces))
    if _CELL in text:
        text = "\n\n".join(map(_join_cells, text.split("\n\n")))
    return _clean_blocks(text, "\n\n")


def _join_cells(block: str) -> str:
    """A table row's cells with CELL_SEPARATOR between those that have text."""
    if _CELL not in block:
        return block
    cells = (" ".join(cell.split()) for cell in block.split(_CELL))
    return CELL_SEPARATOR.join(cell for cell in cells if cell)


def item_text(html: str, title: str = "") -> ItemText:
    """A feed item's content as paragraphs: every word but the named furniture.

    ``title``: the item's title, which some furniture repeats (and so is told by).
    """
    removed: list[tuple[str, str]] = []
    paragraphs = html_paragraphs(html, _item_skip, removed)
    trimmed = furniture.last_paragraph_rule(paragraphs[-1], title) if paragraphs else None
    if trimmed is not None:
        rule, rest = trimmed
        removed.append((rule, paragraphs[-1][len(rest) :].strip()))
        if rest:
            paragraphs[-1] = rest
        else:
            paragraphs.pop()
    return ItemText(paragraphs=tuple(paragraphs), removed=tuple(removed))


def item_paragraphs(html: str, title: str = "") -> list[str]:
    return list(item_text(html, title).paragraphs)


def html_to_text(html: str) -> str:
    """A single line of plain text from an HTML snippet (for titles): every word."""
    return clean_text(" ".join(html_paragraphs(html, _title_skip)))


def format_story(headline: str, paragraphs: Iterable[str]) -> str:
    """The story format: headline, then body paragraphs, one blank line between."""
    return "\n\n".join([headline, *paragraphs]) + "\n"


def read_story(text: str) -> tuple[str, list[str]]:
    """Headline and body paragraphs of a story-format text, exactly as written.

    The first paragraph is the headline and every other paragraph is body, whatever their
    shape: what ``format_story`` wrote reads back unchanged. Text with page chrome around
    it is ``monitor.text.pagetext.read_page_text``'s.
    """
    paragraphs = split_paragraphs(text)
    if not paragraphs:
        return "", []
    return paragraphs[0], paragraphs[1:]
