"""The article in a web page: headline, body paragraphs, published time, author.

``extract_article`` parses a page once with lxml, reads the metadata itself
(JSON-LD, meta tags), takes the body from our Readability-style extractor and asks
trafilatura (a dependency) when ours may have missed text; the paragraphs are then
cleaned into the story format (DESIGN.md section 3). An install where trafilatura
cannot be imported runs our extractor alone, with one warning.

Every page is bounded: at most MAX_BYTES of HTML, NUL bytes removed, lxml's nesting
limit (256), at most MAX_ELEMENTS elements and MAX_TEXT characters of article text,
and a TIME_BUDGET after which retries are skipped and an unfinished extraction
gives up. It never raises on bad input: a page without an article gives an Article
with no paragraphs (and the headline, time and author if the page states them).
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from types import ModuleType
from typing import Any

from lxml import etree

from monitor.articles.body import Deadline, OutOfTime, readability_article, text_of
from monitor.articles.meta import Metadata, read_metadata
from monitor.articles.paragraphs import Piece, body_paragraphs, split_text
from monitor.articles.render import element_text

log = logging.getLogger(__name__)

MAX_BYTES = 5_000_000  # bytes of HTML read; the rest of a bigger page is ignored
MAX_ELEMENTS = 20_000  # elements kept; the largest test page has 10,000
MAX_TEXT = 1_000_000  # characters of article text
TRAFILATURA_MAX_CHARS = 2_000_000  # bigger pages are left to our extractor alone
TIME_BUDGET = 0.75  # seconds of CPU time; normal pages take some 30 ms, the largest 0.4 s
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([-\w.:]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")
_PARSER = etree.HTMLParser(
    remove_comments=True, remove_pis=True, no_network=True, collect_ids=False
)


@functools.cache
def trafilatura_module() -> ModuleType | None:
    """trafilatura, imported on first need, or None when it cannot be imported.

    Imported late because most pages never need it, while its import costs some 0.13 s of
    CPU and 7 MB in every process that loads this module: each command of the CLI, each
    parse worker.
    """
    try:
        import trafilatura
    except ImportError as exc:  # installed without it (--no-deps), or without lxml_html_clean
        log.warning("trafilatura cannot be imported (%s): our extractor reads pages alone", exc)
        return None
    return trafilatura


@dataclass(frozen=True, kw_only=True, slots=True)
class Article:
    headline: str
    paragraphs: tuple[str, ...]
    published: datetime | None = None  # timezone-aware
    author: str | None = None
    method: str = "empty"  # "trafilatura", "readability" or "empty": which path gave the body

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)


EMPTY = Article(headline="", paragraphs=())


def decode(html: str | bytes) -> str:
    """Text of at most MAX_BYTES of a page, in its declared or sniffed encoding, without
    NUL characters or lone surrogates (lxml turns other control characters into U+FFFD)."""
    if isinstance(html, str):
        text = html[:MAX_BYTES]
    else:
        data = html[:MAX_BYTES]
        text = _decode_bytes(data)
    text = text.replace("\x00", "")
    if isinstance(html, str) and not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates, which lxml refuses
            text = _SURROGATE.sub("\ufffd", text)
    return _XML_DECLARATION.sub("", text, count=1)


# Labels a browser ignores in a page (or that are not text encodings at all).
_NOT_PAGE_ENCODINGS = (
    "utf-7", "utf-8", "utf-16", "utf-32", "idna", "punycode", "unicode", "raw-unicode",
    "raw_unicode", "undefined",
)  # fmt: skip
_SURROGATE = re.compile("[\ud800-\udfff]")


def _decode_bytes(data: bytes) -> str:
    """Decoded by BOM; else as UTF-8 when it is valid UTF-8 (pages are often re-saved as
    UTF-8 with their old charset label left in); else by the declared charset; else cp1252.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:  # a character cut by the byte cap
            return data[: exc.start].decode("utf-8")
    declared = _META_CHARSET.search(data[:4096])
    if declared:
        try:
            name = codecs.lookup(declared.group(1).decode("ascii")).name
        except (LookupError, UnicodeDecodeError):
            name = ""
        if name and not name.startswith(_NOT_PAGE_ENCODINGS):
            if name in ("latin-1", "iso8859-1", "ascii"):
                name = "cp1252"  # what browsers do with these labels
            try:
                return data.decode(name, errors="replace")
            except (LookupError, ValueError):  # not a text encoding ("rot13", "hex")
                pass
    return data.decode("cp1252", errors="replace")


def parse(text: str) -> etree._Element | None:
    """The lxml tree of a page (at most MAX_ELEMENTS), or None when there is none."""
    if not text.strip():
        return None
    try:
        root = etree.fromstring(text, _PARSER)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None
    if root is not None:
        _cut_after(root, MAX_ELEMENTS)
    return root


def _cut_after(root: etree._Element, limit: int) -> None:
    """Drop everything after the first ``limit`` elements in document order."""
    for count, el in enumerate(root.iter()):
        if count < limit:
            continue
        node: etree._Element | None = el
        while node is not None:
            parent = node.getparent()
            if parent is not None:
                for sibling in list(node.itersiblings()):
                    parent.remove(sibling)
            node = parent
        el.getparent().remove(el)  # type: ignore[union-attr]
        return


def _trafilatura_paragraphs(trafilatura: ModuleType, text: str, url: str | None) -> list[Piece]:
    try:
        document: Any = trafilatura.bare_extraction(
            text,
            url=url,
            fast=True,
            include_comments=False,
            include_tables=True,
            with_metadata=False,
        )
    except Exception as exc:  # a third-party bug must not cost us the story
        log.debug("trafilatura failed on %s: %r", url, exc)
        return []
    if document is None or getattr(document, "body", None) is None:
        return []
    return split_text(element_text(document.body, edges=_TRAFILATURA_EDGES))


_TRAFILATURA_EDGES = frozenset(
    {"p", "head", "list", "item", "quote", "table", "row", "code", "div"}
)


def _own_paragraphs(body: etree._Element, deadline: Deadline | None = None) -> list[Piece]:
    try:
        article = readability_article(body, deadline)
    except OutOfTime:
        return []
    return [] if article is None else split_text(element_text(article)[:MAX_TEXT])


def page_text_length(body: etree._Element) -> int:
    """Characters of text in a page body, scripts and styles left out."""
    total = 0
    for el in body.iter():
        if el.text and el.tag not in _NOT_TEXT:
            total += len(el.text.strip())
        if el.tail and el is not body:
            total += len(el.tail.strip())
    return total


_NOT_TEXT = frozenset({"script", "style", "noscript", "template"})
# Our body stands unless it has under this share of trafilatura's (or the page's) text.
MIN_SHARE = 0.5


def extract_article(
    html: str | bytes, *, url: str | None = None, use_trafilatura: bool = True
) -> Article:
    """The article of a page; ``use_trafilatura=False`` forces our own extractor.

    Our Readability-style body is taken first: it scores better than trafilatura on
    the test pages (bench/extract.py). Trafilatura, when it can be imported, is asked
    only when ours may have missed text: when ours is empty or has less than MIN_SHARE
    of the page's text; then the longer of the two wins, ours unless it has less than
    MIN_SHARE of trafilatura's. Together they score better than either alone.
    """
    deadline = Deadline(TIME_BUDGET)
    text = decode(html)
    root = parse(text)
    if root is None:
        return EMPTY
    meta = read_metadata(root)
    body = next(root.iter("body"), root)
    method, paragraphs = "readability", _own_paragraphs(body, deadline)
    if use_trafilatura and len(text) <= TRAFILATURA_MAX_CHARS and not deadline.passed():
        ours = sum(len(p.text) for p in paragraphs)
        if (
            ours < MIN_SHARE * page_text_length(body)
            and (module := trafilatura_module()) is not None
        ):
            theirs = _trafilatura_paragraphs(module, text, url)
            if ours < MIN_SHARE * sum(len(p.text) for p in theirs):
                method, paragraphs = "trafilatura", theirs
    return _article(meta, method, paragraphs, root)


def read_page(body: bytes, url: str, content_type: str) -> Article:
    """The article of a fetched page, decoded by the charset its response declared, if any.

    A module-level function, so that it can run in a parse worker process.
    """
    header = Message()
    header["content-type"] = content_type
    charset = header.get_content_charset()
    page: str | bytes = body
    if charset and not body.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        # An unknown label, or one that names no text encoding: the page's own decides.
        with contextlib.suppress(LookupError, UnicodeError, ValueError, TypeError):
            page = body.decode(charset, errors="replace")
    return extract_article(page, url=url)


def _article(meta: Metadata, method: str, paragraphs: list[Piece], root: etree._Element) -> Article:
    headline = meta.headline or ""
    if not headline:
        h1 = next(root.iter("h1"), None)
        headline = text_of(h1) if h1 is not None else ""
    body = body_paragraphs(paragraphs, headline)
    if not body and not headline:
        return EMPTY
    return Article(
        headline=headline,
        paragraphs=tuple(body),
        published=meta.published,
        author=meta.author,
        method=method if body else "empty",
    )
