"""Text pieces of item HTML made of simple paragraphs, read without building a tree.

Most feed items are paragraphs, lists and quotes with links and emphasis in them. For those,
this gives exactly the pieces that ``monitor.text.normalize`` gets from walking lxml's tree
("\\n\\n" at each block's edges, "\\n" for <br>, the text between) for a fraction of the CPU.
It answers None, and the caller takes the full path, whenever anything could make libxml2's tree
differ from the markup as written: an unknown or misnested tag, an element that libxml2 would
close early (a block inside a paragraph or inside inline markup), a class that may be furniture,
a comment, an unusual entity, a carriage return, a non-character. Written against libxml2 2.14
(whose HTML5 tokenizer keeps white space between elements); tests/test_simplehtml.py checks it
against the installed one.
"""

from __future__ import annotations

import re
from html.entities import html5

from monitor.text import furniture

# Elements read here, each with what it may contain: "block" elements may hold blocks,
# "phrasing" ones only text, inline elements and <br>.
_BLOCKS = frozenset({"div", "blockquote", "li", "section", "article", "figure", "figcaption"})
_PHRASING = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6"})
_LISTS = frozenset({"ul", "ol"})  # only <li>
_INLINE = frozenset(
    {"a", "b", "strong", "i", "em", "span", "u", "s", "small", "sub", "sup", "code", "cite"}
)
_EDGES = _BLOCKS | _PHRASING | _LISTS  # a paragraph starts and ends at each of these
_VOID = frozenset({"br", "img"})  # no content, no end tag
# A start or end tag, its attributes checked apart (most tags have none).
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)([^<>]*)>")
_SPACE = "[ \t\n\f]"  # white space to the HTML tokenizer
_ATTRIBUTES = re.compile(
    f"(?:{_SPACE}+[A-Za-z_:][-A-Za-z0-9_:.]*"
    f"(?:{_SPACE}*={_SPACE}*(?:\"[^\"]*\"|'[^']*'|[^ \t\n\f\"'=`]+))?)*{_SPACE}*"
)
_ATTRIBUTE = re.compile(
    r"([A-Za-z_:][-A-Za-z0-9_:.]*)"
    r"(?:[ \t\n\f]*=[ \t\n\f]*(?:\"([^\"<>]*)\"|'([^'<>]*)'|([^ \t\n\f\"'=<>`]+)))?"
)
_NAMED = ("amp", "lt", "gt", "quot", "apos", "nbsp", "mdash", "ndash", "hellip")
_QUOTES = ("lsquo", "rsquo", "ldquo", "rdquo")
_ENTITY = re.compile(
    r"&(?:(" + "|".join(_NAMED + _QUOTES) + r");|#([0-9]{1,7});|#[xX]([0-9a-fA-F]{1,6});)"
)
_NAMED_TEXT = {name: html5[name + ";"] for name in _NAMED + _QUOTES}


def _character(code: int) -> str | None:
    """The character a numeric reference names, when every HTML parser reads it the same."""
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFDCF:
        return chr(code)
    if 0xFDF0 <= code <= 0x10FFFF and code & 0xFFFE != 0xFFFE:
        return chr(code)
    return None  # controls, C1 (windows-1252 in HTML5), surrogates, non-characters


def _unescaped(text: str) -> str | None:
    if "&" not in _ENTITY.sub("", text):
        out: list[str] = []
        at = 0
        for found in _ENTITY.finditer(text):
            name, decimal, hexadecimal = found.groups()
            if name:
                character: str | None = _NAMED_TEXT[name]
            else:
                character = _character(int(decimal) if decimal else int(hexadecimal, 16))
            if character is None:
                return None
            out.append(text[at : found.start()])
            out.append(character)
            at = found.end()
        out.append(text[at:])
        return "".join(out)
    return None


def _plain_class(attributes: str) -> bool:
    """The tag's one class attribute names no furniture (and has no entity to decode)."""
    classes = [m.group(2, 3, 4) for m in _ATTRIBUTE.finditer(attributes) if m[1].lower() == "class"]
    if len(classes) != 1:
        return False
    value = next((v for v in classes[0] if v is not None), "")
    return "&" not in value and not furniture.may_be_furniture(value)


def simple_pieces(html: str, *, item: bool) -> list[str] | None:
    """The text pieces of ``html`` as the lxml walk makes them, or None if it is not simple.

    ``html`` has had its control characters blanked already. ``item``: the walk skips item
    furniture (told by class); else it skips no element of those read here.
    """
    if "\r" in html or "\ufffe" in html or "\uffff" in html:
        return None  # libxml2 rewrites these
    parts = _TAG.split(html)  # text, then (closing "/", name, attributes, text) per tag
    out: list[str] = []
    append = out.append
    stack: list[str] = []
    following = iter(parts)
    text = next(following)
    tags = zip(following, following, following, following, strict=True)
    while True:
        if text:
            if "<" in text:
                return None  # a comment, a declaration or a tag not as written above
            if "&" in text:
                unescaped = _unescaped(text)
                if unescaped is None:
                    return None
                text = unescaped
            if stack and stack[-1] in _LISTS and not text.isspace():
                return None
            append(text)
        tag = next(tags, None)
        if tag is None:
            break
        closing, name, attributes, text = tag
        if not name.islower():
            name = name.lower()
        self_closing = False
        if attributes:
            self_closing = attributes.endswith("/")
            if self_closing:
                attributes = attributes[:-1]
            if _ATTRIBUTES.fullmatch(attributes) is None:
                return None
            if item and "class" in attributes.lower() and not _plain_class(attributes):
                return None
        if name in _VOID:
            if closing or (stack and stack[-1] in _LISTS):
                return None
            if name == "br":
                append("\n")
            continue
        if self_closing:
            return None
        if closing:
            if not stack or stack.pop() != name:
                return None
        else:
            parent = stack[-1] if stack else ""
            if parent in _LISTS:
                if name != "li":
                    return None
            elif name == "li" or (name not in _INLINE and name not in _EDGES):
                return None  # <li> outside a list, or an element not read here
            elif (parent in _PHRASING or parent in _INLINE) and (
                name not in _INLINE or name == parent
            ):
                return None  # libxml2 would close the parent here
            stack.append(name)
        if name in _EDGES:
            append("\n\n")
    if stack:
        return None
    return out
