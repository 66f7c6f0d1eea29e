"""Plain-text paragraphs of an extracted article, cleaned into the story format.

The extractors keep what a reader view shows; a story (DESIGN.md section 3) also
leaves out the furniture that sits inside an article: the headline repeated, lines that
are nothing but a link ("related stories"), and the few stock lines of news sites
("Advertisement", "Continue reading the main story"). Bylines, datelines, figures and
captions are content, kept wherever they stand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.articles.render import LINK_END, LINK_START
from monitor.text.normalize import BLANK_LINES, clean_text, word_count
from monitor.text.pagetext import is_prose

_FOLD = re.compile(r"\W+")
_LINKED = re.compile(f"{LINK_START}([^{LINK_END}]*){LINK_END}")
_STOCK = re.compile(
    r"(?i)^\W*(advertisement|advertising|anzeige|publicité|sponsored( content)?|"
    r"continue reading( the main story)?|story continues below( advertisement)?|"
    r"(sign up|subscribe) (for|to) (our|the) \w+( newsletters?)?|read more|read next|"
    r"more on this( story)?|related( articles| stories| coverage| content)?|"
    r"share( this)?( article| story| page)?( on \w+)?|skip (to|this) \w+( \w+)?|"
    r"click here.*|follow us( on \w+)?|(photo|image|video)( credit)?: .*)\W*$"
)
MAX_LINK_LINE_WORDS = 20  # a longer paragraph made of links is content
MIN_LINK_LIST = 3  # this many link lines in a row inside the body are content (a list)


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    linked: float  # share of the text that is link text


def split_text(text: str) -> list[Piece]:
    """Paragraphs of element text: blank lines separate them, one line break joins."""
    pieces = []
    for block in BLANK_LINES.split(text):
        paragraph = clean_text(block.replace(LINK_START, "").replace(LINK_END, ""))
        if not paragraph:
            continue
        linked = sum(len(m.group(1).strip()) for m in _LINKED.finditer(block))
        pieces.append(Piece(paragraph, min(1.0, linked / len(paragraph))))
    return pieces


def fold(text: str) -> str:
    """Text for comparisons: case, punctuation and spacing ignored."""
    return _FOLD.sub(" ", text.casefold()).strip()


def _prose(text: str) -> bool:
    return len(text) > 500 or is_prose(text)


def _short(text: str, words: int) -> bool:
    """At most this many words (cheap for long texts)."""
    return len(text) <= 40 * words and word_count(text) <= words


def _repeats_headline(paragraph: str, headline: str) -> bool:
    p, h = fold(paragraph), fold(headline)
    return bool(p) and (p == h or (len(p) >= 0.6 * len(h) and h.startswith(p)))


def _link_line(piece: Piece) -> bool:
    return piece.linked >= 0.9 and _short(piece.text, MAX_LINK_LINE_WORDS)


def _without_link_lines(pieces: list[Piece], last_prose: int) -> list[Piece]:
    """Lines that are only a link ("related stories") left out, but not link lists in
    the body (MIN_LINK_LIST or more in a row before the last prose paragraph)."""
    out: list[Piece] = []
    i = 0
    while i < len(pieces):
        if not _link_line(pieces[i]):
            out.append(pieces[i])
            i += 1
            continue
        j = i
        while j < len(pieces) and _link_line(pieces[j]):
            j += 1
        if j - i >= MIN_LINK_LIST and j <= last_prose:
            out.extend(pieces[i:j])
        i = j
    return out


def body_paragraphs(pieces: list[Piece], headline: str) -> list[str]:
    """Story body: furniture, a repeated headline and repeated short lines left out."""
    kept = [
        p
        for i, p in enumerate(pieces)
        if not (i < 3 and headline and _repeats_headline(p.text, headline))
        and not (_short(p.text, 8) and _STOCK.match(p.text))
    ]
    prose = [i for i, p in enumerate(kept) if _prose(p.text)]
    if prose:
        kept = _without_link_lines(kept, prose[-1])
    out: list[str] = []
    seen: set[str] = set()
    for piece in kept:
        key = fold(piece.text)
        if key in seen and _short(piece.text, 8) and not _prose(piece.text):
            continue
        seen.add(key)
        out.append(piece.text)
    return out
