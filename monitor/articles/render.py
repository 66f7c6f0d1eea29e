"""An extracted article element as text: paragraphs, line breaks, link text marked.

Figures, captions, media, forms and elements whose class, id or role names page
furniture (share bars, "related", newsletter and cookie boxes) are left out.
"""

from __future__ import annotations

import re

from lxml import etree

Element = etree._Element

_SKIP = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "object", "embed", "svg",
        "canvas", "nav", "footer", "aside", "form", "button", "select", "input", "textarea",
        "figure", "figcaption", "img", "picture", "video", "audio", "source", "map", "dialog",
        "menu", "head", "title", "meta", "link", "math",
    }
)  # fmt: skip
_PARAGRAPH_EDGES = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "h1", "h2", "h3", "h4", "h5",
        "h6", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "table", "tr",
        "thead", "tbody", "caption", "hr", "address", "center", "body", "html", "details",
        "summary", "row",
    }
)  # fmt: skip
_CHROME_WORDS = frozenset(
    {
        "share", "sharing", "social", "related", "newsletter", "subscribe", "cookie",
        "cookies", "consent", "promo", "advert", "advertisement", "ad", "ads", "banner",
        "popup", "modal", "breadcrumb", "breadcrumbs", "caption", "comments", "sidebar",
        "toolbar", "outbrain", "taboola", "paywall", "signup", "app", "byline", "credit",
    }
)  # fmt: skip
_CLASS_WORDS = re.compile(r"[-_\s]+")


MAX_NAME = 300  # characters of a class or id attribute that are looked at


# Text-level elements: their class names styling ("popup" glossary links), not furniture.
_TEXT_LEVEL = frozenset(
    {"a", "em", "strong", "b", "i", "u", "abbr", "cite", "q", "sup", "sub", "small", "mark",
     "time", "code", "dfn", "kbd", "var", "s", "del", "ins"}
)  # fmt: skip


def is_chrome(el: Element) -> bool:
    """Elements whose role, class or id names page furniture."""
    if el.tag in _TEXT_LEVEL:
        return False
    if el.get("role") in ("navigation", "banner", "complementary", "dialog", "alert"):
        return True
    names = f"{el.get('class', '')[:MAX_NAME]} {el.get('id', '')[:MAX_NAME]}".strip().lower()
    return bool(names) and not _CHROME_WORDS.isdisjoint(_CLASS_WORDS.split(names))


_CELLS = frozenset({"td", "th", "cell"})  # a table row is one paragraph
LINK_START, LINK_END = "\x01", "\x02"  # around link text; split_text drops both


def element_text(root: Element, *, edges: frozenset[str] = _PARAGRAPH_EDGES) -> str:
    """Text with a blank line at paragraph ``edges``, a newline for each line break,
    and link text between LINK_START and LINK_END."""
    out: list[str] = []
    stack: list[Element | str] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
            continue
        if node.tail and node is not root:
            stack.append(_flat(node.tail))
        tag = node.tag
        if not isinstance(tag, str) or tag in _SKIP or (node is not root and is_chrome(node)):
            continue
        if tag == "br" or tag == "lb":
            out.append("\n")
            continue
        if tag in edges:
            out.append("\n\n")
            stack.append("\n\n")
        elif tag in _CELLS:
            out.append(" ")
            stack.append(" ")
        elif tag == "a" or tag == "ref":
            out.append(LINK_START)
            stack.append(LINK_END)
        stack.extend(reversed(node))
        if node.text:
            out.append(_flat(node.text))
    return "".join(out)


def _flat(text: str) -> str:
    """Source line breaks are spaces; only markup breaks lines."""
    return text.replace("\r", " ").replace("\n", " ") if "\n" in text or "\r" in text else text
